/**
 * The `rules` section of the server configuration: what the operator makes available to rule
 * actions. A rule names what is configured here (a NATS server by name); it can never make the
 * server connect to an address of its own choosing.
 */
import { urlProblem } from './destinations/urls.js';
import { DEFAULT_TABLE_SETTINGS, TABLE_SETTING_KEYS, parseTableSetting, type TableSettings } from '../telemetry/settings.js';

/** One NATS server (or cluster) rules may publish to. */
export interface NatsServerSettings {
  /** `nats://host:port`, `tls://host:port` or `host:port`; several for a cluster. */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
  /** A NATS credentials file (user JWT and NKey seed), read when the connection opens. */
  credsFile?: string;
  /** TLS: `true` for the system's CAs, or PEM file paths (`ca` to trust, `cert`/`key` for a client certificate). */
  tls?: { ca?: string; cert?: string; key?: string };
  /** The accounts whose rules may use this server; every account when omitted. */
  accounts?: string[];
}

export interface RuleMetricSettings {
  /** Series the cloudwatchMetric action keeps in all (each distinct account, region, namespace, name and unit). */
  maxSeries: number;
  /** Series one account may have: one account cannot use up everyone's. */
  maxSeriesPerAccount: number;
}

/**
 * How the engine holds and runs evaluations (config `rules.engine`; engine.ts says how they act).
 * A larger queue rides out longer bursts at the cost of memory and of how late evaluations run.
 */
export interface RuleEngineSettings {
  /** Rule evaluations waiting before new messages are dropped (and counted). */
  maxQueued: number;
  /** Of the time the router keeps the event loop busy, the share the engine may take (more than 0, less than 1). */
  cpuShare: number;
  /** The longest slice in ms: how long routing may wait behind the engine when it wakes from idle. */
  maxSliceMs: number;
  /** Messages of one action in flight before more fail at once (a slow endpoint must not hold everything). */
  maxInFlightPerAction: number;
}

export interface RulesSettings {
  /** NATS servers by the name a `nats` action gives in `server` (`default` when it gives none). */
  nats: Record<string, NatsServerSettings>;
  metrics: RuleMetricSettings;
  /** URL prefixes whose topic rule destinations (http action) are created ENABLED, without confirmation. */
  trustedUrlPrefixes: string[];
  /** The table actions (dynamoDBv2, timestream): PostgreSQL databases, retention, query bounds (flat keys of `rules`). */
  tables: TableSettings;
  engine: RuleEngineSettings;
}

export const DEFAULT_RULES_SETTINGS: RulesSettings = {
  nats: {},
  metrics: { maxSeries: 10_000, maxSeriesPerAccount: 1_000 },
  trustedUrlPrefixes: [],
  tables: DEFAULT_TABLE_SETTINGS,
  engine: { maxQueued: 50_000, cpuShare: 0.1, maxSliceMs: 2, maxInFlightPerAction: 1_000 },
};

const ENGINE_KEYS = ['maxQueued', 'cpuShare', 'maxSliceMs', 'maxInFlightPerAction'] as const;

const NATS_KEYS = ['servers', 'user', 'pass', 'token', 'credsFile', 'tls', 'accounts'];
const SERVER_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function list(value: unknown, name: string): string[] {
  const items = Array.isArray(value) ? value : typeof value === 'string' ? value.split(',') : undefined;
  if (!items) throw new Error(`${name}: expected a list or a comma-separated string`);
  return items.map((s) => String(s).trim()).filter(Boolean);
}

function natsUrl(raw: string, name: string): string {
  const text = raw.includes('://') ? raw : `nats://${raw}`;
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new Error(`${name}: "${raw}" is not a NATS server address (nats://host:port, tls://host:port or host:port)`);
  }
  if (u.protocol !== 'nats:' && u.protocol !== 'tls:')
    throw new Error(`${name}: "${raw}" must use nats:// or tls:// (the NATS client speaks TCP)`);
  if (u.hostname === '') throw new Error(`${name}: "${raw}" names no host`);
  return text;
}

function optionalText(o: Record<string, unknown>, key: string, name: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new Error(`${name}.${key}: expected a string`);
  return v;
}

function parseNatsServer(value: unknown, name: string): NatsServerSettings {
  if (typeof value === 'string' || Array.isArray(value)) value = { servers: value };
  if (!isMap(value)) throw new Error(`${name}: expected a mapping with servers (and optional credentials, tls, accounts)`);
  for (const k of Object.keys(value))
    if (!NATS_KEYS.includes(k)) throw new Error(`${name}: unknown setting "${k}" (known: ${NATS_KEYS.join(', ')})`);
  const servers = list(value.servers ?? '', `${name}.servers`).map((s) => natsUrl(s, `${name}.servers`));
  if (servers.length === 0) throw new Error(`${name}.servers: at least one server address is needed`);
  const out: NatsServerSettings = { servers };
  for (const k of ['user', 'pass', 'token', 'credsFile'] as const) {
    const v = optionalText(value, k, name);
    if (v !== undefined) out[k] = v;
  }
  const tls = value.tls;
  if (tls === true || tls === 'true') out.tls = {};
  else if (isMap(tls)) {
    out.tls = {};
    for (const k of Object.keys(tls))
      if (!['ca', 'cert', 'key'].includes(k)) throw new Error(`${name}.tls: unknown setting "${k}" (known: ca, cert, key)`);
    for (const k of ['ca', 'cert', 'key'] as const) {
      const v = optionalText(tls, k, `${name}.tls`);
      if (v !== undefined) out.tls[k] = v;
    }
    if ((out.tls.cert === undefined) !== (out.tls.key === undefined)) throw new Error(`${name}.tls: cert and key go together`);
  } else if (tls !== undefined && tls !== null && tls !== false && tls !== 'false')
    throw new Error(`${name}.tls: expected true or a mapping of ca, cert, key`);
  if (value.accounts !== undefined && value.accounts !== null) {
    out.accounts = list(value.accounts, `${name}.accounts`);
    for (const a of out.accounts) if (!/^\d{12}$/.test(a)) throw new Error(`${name}.accounts: "${a}" is not an account id (twelve digits)`);
  }
  return out;
}

function wholeNumber(value: unknown, name: string, min: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min)
    throw new Error(`${name}: "${String(value)}" is not a whole number of at least ${min}`);
  return n;
}

/** A number (or a numeric string, from the environment) that passes `ok`; `range` says which in the error. */
function decimal(value: unknown, name: string, ok: (n: number) => boolean, range: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n) || !ok(n)) throw new Error(`${name}: "${String(value)}" is not ${range}`);
  return n;
}

function parseEngineSetting(key: string, value: unknown, out: RuleEngineSettings): void {
  const name = `rules.engine.${key}`;
  if (key === 'maxQueued' || key === 'maxInFlightPerAction') out[key] = wholeNumber(value, name, 1);
  // A share of 1 would leave the router nothing while the queue is full.
  else if (key === 'cpuShare') out.cpuShare = decimal(value, name, (n) => n > 0 && n < 1, 'a number greater than 0 and less than 1');
  else if (key === 'maxSliceMs')
    out.maxSliceMs = decimal(value, name, (n) => n > 0 && n <= 1000, 'a number of milliseconds greater than 0 and at most 1000');
  else throw new Error(`rules.engine: unknown setting "${key}" (known: ${ENGINE_KEYS.join(', ')})`);
}

/** Validates the `rules` section (file, environment and flags merged). */
export function parseRulesSettings(value: unknown): RulesSettings {
  if (value === undefined || value === null) return DEFAULT_RULES_SETTINGS;
  if (!isMap(value)) throw new Error('rules: expected a mapping of rules engine settings');
  const out: RulesSettings = {
    nats: {},
    metrics: { ...DEFAULT_RULES_SETTINGS.metrics },
    trustedUrlPrefixes: [],
    tables: { ...DEFAULT_TABLE_SETTINGS, databases: {} },
    engine: { ...DEFAULT_RULES_SETTINGS.engine },
  };
  for (const [k, v] of Object.entries(value)) {
    if (v === undefined) continue;
    if (k === 'nats') {
      if (v === null) continue;
      if (!isMap(v)) throw new Error('rules.nats: expected a mapping of server names to NATS servers');
      for (const [server, s] of Object.entries(v)) {
        if (!SERVER_NAME.test(server))
          throw new Error(`rules.nats: "${server}" is not a server name (1 to 64 letters, digits, '_' and '-')`);
        out.nats[server] = parseNatsServer(s, `rules.nats.${server}`);
      }
    } else if (k === 'metrics') {
      if (v === null) continue;
      if (!isMap(v)) throw new Error('rules.metrics: expected a mapping (maxSeries, maxSeriesPerAccount)');
      for (const [mk, mv] of Object.entries(v)) {
        if (mv === undefined) continue;
        if (mk !== 'maxSeries' && mk !== 'maxSeriesPerAccount')
          throw new Error(`rules.metrics: unknown setting "${mk}" (known: maxSeries, maxSeriesPerAccount)`);
        out.metrics[mk] = wholeNumber(mv, `rules.metrics.${mk}`, 0);
      }
    } else if (k === 'trustedUrlPrefixes') {
      if (v === null) continue;
      out.trustedUrlPrefixes = list(v, 'rules.trustedUrlPrefixes').map((p) => {
        const problem = urlProblem(p);
        if (problem) throw new Error(`rules.trustedUrlPrefixes: "${p}" is not usable: ${problem}`);
        return p;
      });
    } else if (k === 'engine') {
      if (v === null) continue;
      if (!isMap(v)) throw new Error(`rules.engine: expected a mapping (${ENGINE_KEYS.join(', ')})`);
      for (const [ek, ev] of Object.entries(v)) if (ev !== undefined) parseEngineSetting(ek, ev, out.engine);
    } else if ((TABLE_SETTING_KEYS as readonly string[]).includes(k))
      parseTableSetting(k as (typeof TABLE_SETTING_KEYS)[number], v, out.tables);
    else
      throw new Error(`rules: unknown setting "${k}" (known: nats, metrics, trustedUrlPrefixes, engine, ${TABLE_SETTING_KEYS.join(', ')})`);
  }
  return out;
}

/**
 * Merges a later source's `rules` section over an earlier one: section by section, and NATS
 * servers by name, so that an environment variable setting the default server's addresses keeps
 * the credentials the config file gives it.
 */
export function mergeRulesInput(earlier: unknown, later: unknown): unknown {
  if (!isMap(earlier) || !isMap(later)) return later;
  const out: Record<string, unknown> = { ...earlier };
  for (const [k, v] of Object.entries(later)) {
    if (v === undefined) continue;
    const prev = out[k];
    if (k === 'nats' && isMap(prev) && isMap(v)) {
      const servers: Record<string, unknown> = { ...prev };
      for (const [name, s] of Object.entries(v)) servers[name] = isMap(servers[name]) && isMap(s) ? { ...servers[name], ...s } : s;
      out[k] = servers;
    } else if (isMap(prev) && isMap(v)) out[k] = { ...prev, ...v };
    else out[k] = v;
  }
  return out;
}

/** `THICKET_RULES_NATS_SERVERS`: the addresses of the `default` NATS server. */
export function rulesFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const servers = env.THICKET_RULES_NATS_SERVERS;
  if (servers !== undefined) out.nats = { default: { servers } };
  // `THICKET_RULES_TRUSTED_URL_PREFIXES`: comma-separated URL prefixes (http action) that need no confirmation.
  const trusted = env.THICKET_RULES_TRUSTED_URL_PREFIXES;
  if (trusted !== undefined) out.trustedUrlPrefixes = trusted;
  return Object.keys(out).length > 0 ? out : undefined;
}
