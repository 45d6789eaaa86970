/**
 * Server configuration: defaults, then a config file (JSON or YAML), then THICKET_* environment
 * variables, then command-line flags; later sources win.
 */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { MQTT_DEFAULTS, type BrokerConfig } from '@thicket/broker';
import { DEFAULT_SHADOW_SETTINGS, type ShadowSettings } from './shadow/shadow-service.js';
import { DEFAULT_RULES_SETTINGS, mergeRulesInput, parseRulesSettings, rulesFromEnv, type RulesSettings } from './rules/rules-config.js';

export type Profile = 'mqtt' | 'aws';
export type LogFormat = 'auto' | 'json' | 'pretty';

export interface ServerConfig {
  /** Address the listeners bind to. */
  host: string;
  /** A port of null turns that listener off; 0 picks a free port. */
  mqttPort: number | null;
  mqttsPort: number | null;
  httpPort: number | null;
  httpsPort: number | null;
  dataDir: string;
  /** Development mode: anonymous clients are allowed. */
  dev: boolean;
  /**
   * A policy document (file) that decides for anonymous development-mode clients instead of letting
   * them do anything: try a device policy without provisioning certificates.
   */
  devPolicy: string | null;
  /** Keep all state in memory; nothing is written under dataDir. */
  ephemeral: boolean;
  /** Serve POST /_thicket/reset, which removes all state (for tests run against the server). */
  testMode: boolean;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';
  /** Log lines as JSON (for machines), `pretty` (for people), or `auto`: pretty when stdout is a terminal. */
  logFormat: LogFormat;
  /** Names clients use to reach this server: server certificate SANs and advertised endpoints. */
  hostnames: string[];
  /** MQTT behaviour: the standard (`mqtt`) or AWS IoT Core's limits and deviations (`aws`). */
  profile: Profile;
  /** fsync every store commit (survives power loss, not only a killed process). */
  fsync: boolean;
  /** Group-commit window of the store in ms (0: end of the event-loop turn). */
  commitDelayMs: number;
  /** The account and region of the first account, of development-mode clients and of the built-in CA's devices. */
  accountId: string;
  region: string;
  /** Broker limits overriding the profile's. */
  mqtt: Partial<BrokerConfig>;
  /** Device Shadow limits overriding the profile's. */
  shadow: Partial<ShadowSettings>;
  /** What rule actions may use (NATS servers) and their limits. */
  rules: RulesSettings;
  /** `postgres://...`: the stores on PostgreSQL instead of the embedded SQLite database. */
  database: string | null;
  /** NATS servers (`nats://host:port`) that link this node to the others of its cluster; needs `database`. */
  cluster: string[];
  /** This node's name in the cluster (logs, metrics, message origins). */
  nodeId: string;
  /**
   * How long a node's leases (once-per-cluster work) and heartbeat stay valid without renewal: a node
   * silent this long is taken for dead, its work and offline sessions move to another node.
   */
  clusterLeaseMs: number;
}

export const DEFAULTS: ServerConfig = {
  host: '0.0.0.0',
  mqttPort: 1883,
  mqttsPort: 8883,
  httpPort: 8080,
  httpsPort: 8443,
  dataDir: './data',
  dev: false,
  devPolicy: null,
  ephemeral: false,
  testMode: false,
  logLevel: 'info',
  logFormat: 'auto',
  hostnames: [],
  profile: 'mqtt',
  fsync: false,
  commitDelayMs: 0,
  accountId: '123456789012',
  region: 'us-east-1',
  mqtt: {},
  shadow: {},
  rules: DEFAULT_RULES_SETTINGS,
  database: null,
  cluster: [],
  nodeId: '',
  clusterLeaseMs: 15_000,
};

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const LOG_FORMATS = ['auto', 'json', 'pretty'];

/** Reads `off` / `none` / `false` as a disabled listener, otherwise a port number. */
export function parsePort(value: unknown, name: string): number | null {
  if (value === null || value === false) return null;
  const s = String(value).trim().toLowerCase();
  if (s === 'off' || s === 'none' || s === 'false' || s === 'disabled') return null;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65_535) throw new Error(`${name}: "${String(value)}" is not a port number (0-65535) or "off"`);
  return n;
}

function parseBool(value: unknown, name: string): boolean {
  if (typeof value === 'boolean') return value;
  const s = String(value).trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(s)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(s)) return false;
  throw new Error(`${name}: "${String(value)}" is not a boolean`);
}

function checked(value: string, pattern: RegExp, name: string, expected: string): string {
  if (!pattern.test(value)) throw new Error(`${name}: "${value}" is not ${expected}`);
  return value;
}

/** The database URL: PostgreSQL only (the embedded SQLite database is the default without one). */
function parseDatabase(value: unknown): string | null {
  if (value === null || value === undefined || value === '') return null;
  const s = String(value).trim();
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    throw new Error('database: not a URL; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new Error(`database: "${url.protocol}" URLs are not supported; expected postgres://USER:PASSWORD@HOST:PORT/DATABASE`);
  if (url.pathname.length < 2) throw new Error('database: the URL names no database (postgres://USER:PASSWORD@HOST:PORT/DATABASE)');
  return s;
}

/** NATS server URLs, as a list or comma-separated. */
function parseCluster(value: unknown): string[] {
  if (value === null || value === undefined || value === '' || value === false) return [];
  const list = (Array.isArray(value) ? value.map(String) : String(value).split(',')).map((v) => v.trim()).filter(Boolean);
  for (const v of list) {
    let url: URL | undefined;
    try {
      url = new URL(v);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'nats:' && url.protocol !== 'tls:') || !url.hostname)
      throw new Error(`cluster: "${v}" is not a NATS server URL (nats://HOST:PORT)`);
  }
  return list;
}

/** A node id names the node in subjects, logs and metric labels: a short word. */
function parseNodeId(value: unknown, cluster: boolean): string {
  const s = value === null || value === undefined ? '' : String(value).trim();
  if (s === '')
    return cluster
      ? hostname()
          .replace(/[^A-Za-z0-9_-]/g, '-')
          .slice(0, 64) || 'node'
      : '';
  return checked(s, /^[A-Za-z0-9_-]{1,64}$/, 'node id', 'letters, digits, "-" and "_" (at most 64)');
}

function parseLeaseMs(value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 300 || n > 600_000)
    throw new Error(`cluster lease: "${String(value)}" is not a whole number of milliseconds from 300 to 600000`);
  return n;
}

function parseDelay(value: unknown): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 1000)
    throw new Error(`commit delay: "${String(value)}" is not a whole number of milliseconds from 0 to 1000`);
  return n;
}

/** Shadow limits: known keys, whole numbers (0 turns the per-thing limits off). */
function parseShadowSettings(value: unknown): Partial<ShadowSettings> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('shadow: expected a mapping of shadow limits');
  const out: Partial<ShadowSettings> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (!(k in DEFAULT_SHADOW_SETTINGS))
      throw new Error(`shadow: unknown setting "${k}" (known: ${Object.keys(DEFAULT_SHADOW_SETTINGS).join(', ')})`);
    const n = Number(v);
    const min = k === 'maxStateBytes' || k === 'maxDepth' || k === 'maxClientTokenBytes' ? 1 : 0;
    if (v === '' || v === null || !Number.isInteger(n) || n < min)
      throw new Error(`shadow.${k}: "${String(v)}" is not a whole number of at least ${min}`);
    out[k as keyof ShadowSettings] = n;
  }
  return out;
}

/** Broker settings whose values are one of a few words. */
const MQTT_CHOICES: Partial<Record<keyof BrokerConfig, readonly string[]>> = {
  queueDropPolicy: ['newest', 'oldest'],
  receiveMaximumExceeded: ['disconnect', 'pause'],
};

/**
 * The `mqtt` section (broker limits): known keys only, whole numbers of at least 0 where the default
 * is a number, booleans where it is a boolean, one of the listed words for MQTT_CHOICES. Numbers and
 * booleans may come as strings (environment variables, flags).
 */
function parseMqttSettings(value: unknown): Partial<BrokerConfig> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new Error('mqtt: expected a mapping of broker limits');
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (!(k in MQTT_DEFAULTS)) throw new Error(`mqtt: unknown setting "${k}" (known: ${Object.keys(MQTT_DEFAULTS).join(', ')})`);
    const key = k as keyof BrokerConfig;
    const choices = MQTT_CHOICES[key];
    const def = MQTT_DEFAULTS[key];
    if (choices) {
      if (typeof v !== 'string' || !choices.includes(v)) throw new Error(`mqtt.${k}: "${String(v)}" is not one of ${choices.join(', ')}`);
      out[k] = v;
    } else if (typeof def === 'number') {
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0)
        throw new Error(`mqtt.${k}: "${String(v)}" is not a whole number of at least 0`);
      out[k] = n;
    } else if (typeof def === 'boolean') out[k] = parseBool(v, `mqtt.${k}`);
    else out[k] = v;
  }
  return out as Partial<BrokerConfig>;
}

/** Broker settings that have their own environment variable (the rest come from the config file's `mqtt` section). */
const MQTT_ENV: Record<string, keyof BrokerConfig> = {
  THICKET_MQTT_MAX_QUEUED: 'maxQueued',
  THICKET_MQTT_MAX_QUEUED_BYTES: 'maxQueuedBytes',
  THICKET_MQTT_QUEUE_DROP_POLICY: 'queueDropPolicy',
  THICKET_MQTT_RECEIVE_MAXIMUM_EXCEEDED: 'receiveMaximumExceeded',
};

/** Partial configuration from one source, before validation. */
export type ConfigInput = { [K in keyof ServerConfig]?: unknown };

const ENV: Record<string, keyof ServerConfig> = {
  THICKET_HOST: 'host',
  THICKET_MQTT_PORT: 'mqttPort',
  THICKET_MQTTS_PORT: 'mqttsPort',
  THICKET_HTTP_PORT: 'httpPort',
  THICKET_HTTPS_PORT: 'httpsPort',
  THICKET_DATA_DIR: 'dataDir',
  THICKET_DEV: 'dev',
  THICKET_DEV_POLICY: 'devPolicy',
  THICKET_EPHEMERAL: 'ephemeral',
  THICKET_TEST_MODE: 'testMode',
  THICKET_LOG_LEVEL: 'logLevel',
  THICKET_LOG_FORMAT: 'logFormat',
  THICKET_HOSTNAMES: 'hostnames',
  THICKET_PROFILE: 'profile',
  THICKET_FSYNC: 'fsync',
  THICKET_COMMIT_DELAY_MS: 'commitDelayMs',
  THICKET_ACCOUNT_ID: 'accountId',
  THICKET_REGION: 'region',
  THICKET_DATABASE: 'database',
  THICKET_CLUSTER: 'cluster',
  THICKET_NODE_ID: 'nodeId',
  THICKET_CLUSTER_LEASE_MS: 'clusterLeaseMs',
};

export function configFromEnv(env: NodeJS.ProcessEnv): ConfigInput {
  const out: ConfigInput = {};
  for (const [name, key] of Object.entries(ENV)) {
    const v = env[name];
    if (v !== undefined)
      out[key] =
        key === 'hostnames' || key === 'cluster'
          ? v
              .split(',')
              .map((s) => s.trim())
              .filter(Boolean)
          : v;
  }
  const mqtt: Record<string, string> = {};
  for (const [name, key] of Object.entries(MQTT_ENV)) if (env[name] !== undefined) mqtt[key] = env[name];
  if (Object.keys(mqtt).length > 0) out.mqtt = mqtt;
  const rules = rulesFromEnv(env);
  if (rules) out.rules = rules;
  return out;
}

export function configFromFile(path: string): ConfigInput {
  const text = readFileSync(path, 'utf8');
  let data: unknown;
  try {
    data = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new Error(`config file ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data))
    throw new Error(`config file ${path}: expected a mapping of settings`);
  const known = new Set(Object.keys(DEFAULTS));
  for (const k of Object.keys(data)) if (!known.has(k)) throw new Error(`config file ${path}: unknown setting "${k}"`);
  return data as ConfigInput;
}

function definedOnly(o: object): object {
  return Object.fromEntries(Object.entries(o).filter(([, x]) => x !== undefined));
}

/** Merges sources (later wins) over the defaults and validates every value. */
export function resolveConfig(...sources: ConfigInput[]): ServerConfig {
  // The rules section's defaults are its parsed form, not input: parseRulesSettings fills them in.
  const merged: ConfigInput = { ...DEFAULTS, rules: {} };
  for (const s of sources)
    for (const [k, v] of Object.entries(s)) {
      if (v === undefined) continue;
      // Shadow and broker limits merge key by key: a flag overrides one limit of the config file, not all.
      // Keys left undefined (flags not given) keep the earlier source's value.
      if (k === 'shadow' && v !== null && typeof v === 'object' && !Array.isArray(v))
        merged.shadow = { ...(merged.shadow as object), ...definedOnly(v) };
      else if (
        k === 'mqtt' &&
        v !== null &&
        typeof v === 'object' &&
        !Array.isArray(v) &&
        merged.mqtt !== null &&
        typeof merged.mqtt === 'object'
      )
        merged.mqtt = { ...(merged.mqtt as object), ...definedOnly(v) };
      else if (k === 'rules') merged.rules = mergeRulesInput(merged.rules, v);
      else (merged as Record<string, unknown>)[k] = v;
    }
  const profile = String(merged.profile);
  if (profile !== 'mqtt' && profile !== 'aws') throw new Error(`profile: "${profile}" is not one of mqtt, aws`);
  const logLevel = String(merged.logLevel);
  if (!LOG_LEVELS.includes(logLevel)) throw new Error(`log level: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  const logFormat = String(merged.logFormat);
  if (!LOG_FORMATS.includes(logFormat)) throw new Error(`log format: "${logFormat}" is not one of ${LOG_FORMATS.join(', ')}`);
  const hostnames = Array.isArray(merged.hostnames)
    ? merged.hostnames.map(String)
    : String(merged.hostnames ?? '')
        .split(',')
        .filter(Boolean);
  const mqtt = parseMqttSettings(merged.mqtt);
  const ephemeral = parseBool(merged.ephemeral, 'ephemeral');
  const database = parseDatabase(merged.database);
  const cluster = parseCluster(merged.cluster);
  if (cluster.length > 0 && database === null)
    throw new Error('cluster: the nodes of a cluster share their state through PostgreSQL; give --database postgres://... as well');
  if (ephemeral && database !== null) throw new Error('ephemeral: keeps state in memory; it cannot be combined with --database');
  return {
    shadow: parseShadowSettings(merged.shadow),
    host: String(merged.host),
    mqttPort: parsePort(merged.mqttPort, 'MQTT port'),
    mqttsPort: parsePort(merged.mqttsPort, 'MQTTS port'),
    httpPort: parsePort(merged.httpPort, 'HTTP port'),
    httpsPort: parsePort(merged.httpsPort, 'HTTPS port'),
    dataDir: String(merged.dataDir),
    dev: parseBool(merged.dev, 'dev'),
    devPolicy: merged.devPolicy === null || merged.devPolicy === undefined || merged.devPolicy === '' ? null : String(merged.devPolicy),
    ephemeral,
    testMode: parseBool(merged.testMode, 'testMode'),
    logLevel: logLevel as ServerConfig['logLevel'],
    logFormat: logFormat as LogFormat,
    hostnames,
    profile,
    fsync: parseBool(merged.fsync, 'fsync'),
    commitDelayMs: parseDelay(merged.commitDelayMs),
    accountId: checked(String(merged.accountId), /^\d{12}$/, 'account id', 'twelve digits'),
    region: checked(String(merged.region), /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/, 'region', 'a region name such as us-east-1'),
    mqtt,
    rules: parseRulesSettings(merged.rules),
    database,
    cluster,
    nodeId: parseNodeId(merged.nodeId, cluster.length > 0),
    clusterLeaseMs: parseLeaseMs(merged.clusterLeaseMs),
  };
}
