/**
 * `thicket serve`: one process with the broker, its listeners, and the HTTP(S) API.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { parsePolicyDocument, type PolicyDocument } from './policies/engine/index.js';
import type net from 'node:net';
import type tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import { Broker, listenTcp, listenTls, MemoryStore, PostgresStore, SqliteStore, type BrokerStore } from '@thicket/broker';
import { refusingWhileDown } from './cluster/availability.js';
import type { FastifyInstance } from 'fastify';
import type { ServerConfig } from './config.js';
import { ensureAdminCredentials, type AccessKey } from './credentials.js';
import { createHttpApp } from './http/app.js';
import { createMetrics } from './metrics.js';
import { ensurePki, type Pki } from './pki/index.js';
import { brokerSettings, shadowSettings } from './profile.js';
import { Registry } from 'prom-client';
import { createPlatform, type Platform } from './platform.js';
import { sqliteEngine } from './store/sql/sqlite-engine.js';
import { postgresEngine } from './store/sql/postgres-engine.js';
import { databaseHealth } from './store/sql/engine.js';
import { reportingWrites } from './cluster/change-feed.js';
import { ClusterNode } from './cluster/cluster-node.js';
import { shareIdentity } from './cluster/shared-identity.js';
import { Leases } from './cluster/leases.js';
import { randomUUID } from 'node:crypto';
import { NO_SESSION_TICKETS } from './domains/tls-contexts.js';
import { openDatabase, settle } from './store/database.js';
import { publicUrls } from './api/endpoint-routes.js';

export interface ServerPorts {
  mqtt: number | null;
  mqtts: number | null;
  http: number | null;
  https: number | null;
}

export interface ThicketServer {
  readonly config: ServerConfig;
  readonly broker: Broker;
  readonly ports: ServerPorts;
  readonly dataDir: string;
  readonly pki: Pki;
  readonly adminKey: AccessKey;
  readonly credentialsPath: string;
  readonly caPath: string;
  readonly log: Logger;
  readonly platform: Platform;
  /** This node's cluster membership (`--cluster`), or undefined for a single node. */
  readonly cluster: ClusterNode | undefined;
  stop(): Promise<void>;
}

function readDevPolicy(path: string): PolicyDocument {
  try {
    return parsePolicyDocument(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`--dev-policy ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** JSON lines on stdout, or on `destination` (the CLI passes a pretty-printing stream on a terminal). */
export function createLogger(config: Pick<ServerConfig, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = { level: config.logLevel, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  return destination === undefined ? pino(options) : pino(options, destination);
}

export async function startServer(config: ServerConfig, log: Logger = createLogger(config)): Promise<ThicketServer> {
  const dataDir = config.ephemeral ? mkdtempSync(join(tmpdir(), 'thicket-')) : resolve(config.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const hostnames = [...new Set(['localhost', ...config.hostnames])];
  // The embedded database, unless the stores are on PostgreSQL.
  const db = config.database ? undefined : openDatabase(config.ephemeral ? null : join(dataDir, 'thicket.db'), { fsync: config.fsync });
  const engine = db ? sqliteEngine(db) : postgresEngine({ connectionString: config.database!, log: log.child({ component: 'postgres' }) });
  // Nodes sharing a database share the CA, the admin key and the file-URL secret (written into dataDir).
  if (config.database) await shareIdentity(engine, dataDir);
  const pki = await ensurePki(dataDir, { hostnames });
  const credentials = ensureAdminCredentials(dataDir);
  let cluster: ClusterNode | undefined;
  // Once-per-cluster work runs where its lease is held (a single node holds them all, without a table).
  const leases =
    config.cluster.length > 0
      ? await Leases.start(engine, {
          holder: `${config.nodeId}/${randomUUID()}`,
          nodeId: config.nodeId,
          ttlMs: config.clusterLeaseMs,
          log,
        })
      : undefined;
  const sql = config.cluster.length > 0 ? reportingWrites(engine, (tables, keys) => cluster?.announce(tables, keys)) : engine;

  const defaultNamespace = { accountId: config.accountId, region: config.region };
  const pgStore = config.database
    ? await PostgresStore.open({
        connectionString: config.database,
        node: config.nodeId,
        commitDelayMs: config.commitDelayMs,
        log: log.child({ component: 'broker-store' }),
      })
    : undefined;
  const store: BrokerStore =
    pgStore ??
    (config.ephemeral || !db
      ? new MemoryStore()
      : new SqliteStore(db, { fsync: config.fsync, commitDelayMs: config.commitDelayMs, settle: () => settle(db) }));
  const devPolicy = config.devPolicy === null ? undefined : readDevPolicy(config.devPolicy);
  const platform = await createPlatform({
    db,
    sql,
    pki,
    adminKey: credentials.key,
    defaultNamespace,
    dev: config.dev,
    devPolicy,
    shadows: shadowSettings(config.profile, config.shadow),
    trustedUrlPrefixes: config.rules.trustedUrlPrefixes,
    ruleNats: config.rules.nats,
    ruleMetricLimits: config.rules.metrics,
    ruleEngine: config.rules.engine,
    ruleTables: config.rules.tables,
    leader: leases ? (name) => leases.holds(name) : undefined,
    log,
  });
  const broker = new Broker({
    ...brokerSettings(config.profile, config.mqtt),
    store,
    hooks: config.database
      ? refusingWhileDown(platform.use('authz').authorizer, {
          storeUp: () => pgStore?.healthy ?? true,
          linkUp: config.cluster.length > 0 ? () => cluster?.connected ?? true : undefined,
        })
      : platform.use('authz').authorizer,
    logger: log.child({ component: 'broker' }),
  });
  platform.connect(broker);
  if (config.cluster.length > 0) {
    try {
      cluster = await ClusterNode.join(broker, platform, {
        servers: config.cluster,
        nodeId: config.nodeId,
        sessions: pgStore,
        leases,
        engine,
        log,
      });
    } catch (err) {
      broker.close();
      await pgStore?.close();
      await platform.stop();
      await leases?.stop();
      await engine.close();
      db?.close();
      throw err;
    }
  }
  const metrics = Registry.merge([createMetrics(broker), ...platform.metrics()]);
  // Every series says which node it is from, so one Prometheus can scrape all nodes of a cluster.
  if (config.cluster.length > 0) metrics.setDefaultLabels({ node: config.nodeId });

  const servers: net.Server[] = [];
  const apps: FastifyInstance[] = [];
  const ports: ServerPorts = { mqtt: null, mqtts: null, http: null, https: null };
  const host = config.host;
  // Domain configurations' certificates by SNI on both TLS listeners (the default one otherwise).
  const sni = platform.use('domains').sni.callback;
  // listenTls spreads these into tls.createServer's options, which is where SNICallback belongs.
  const tlsWithSni: tls.TlsOptions = {
    key: pki.serverKeyPem,
    cert: pki.serverCertPem,
    ca: [pki.caCertPem],
    SNICallback: sni,
    secureOptions: NO_SESSION_TICKETS,
  };
  try {
    if (config.mqttPort !== null) {
      const l = await listenTcp(broker, { host, port: config.mqttPort });
      servers.push(l.server);
      ports.mqtt = l.port;
    }
    if (config.mqttsPort !== null) {
      const l = await listenTls(broker, {
        host,
        port: config.mqttsPort,
        secureContext: tlsWithSni,
        requestCert: true,
      });
      servers.push(l.server);
      ports.mqtts = l.port;
    }
    const httpLog = log.child({ component: 'http' });
    const node = cluster;
    const ctx = {
      broker,
      metrics,
      caCertPem: pki.caCertPem,
      log: httpLog,
      accounts: platform.use('accounts').store,
      routes: platform.routes,
      files: platform.use('files').files,
      devices: (certificate: Buffer, sourceIp: string, servername: string | undefined) =>
        platform.use('authz').authorizer.httpCaller(certificate, sourceIp, servername),
      endpoints: () => publicUrls(platform.endpoints),
      reset: config.testMode ? () => platform.reset() : undefined,
      health: async () => ({
        database: await databaseHealth(engine),
        ...(pgStore ? { brokerStore: pgStore.healthy ? 'ok' : 'commits failing; acknowledgements held' } : {}),
        ...(cluster ? { cluster: cluster.connected ? 'ok' : 'NATS unreachable' } : {}),
      }),
      writes: node && { mark: () => node.writeMark(), applied: (mark: number) => node.applied(mark) },
    };
    if (config.httpPort !== null) {
      const app = createHttpApp(ctx);
      apps.push(app);
      await app.listen({ host, port: config.httpPort });
      ports.http = (app.server.address() as net.AddressInfo).port;
    }
    if (config.httpsPort !== null) {
      const app = createHttpApp(ctx, {
        key: pki.serverKeyPem,
        cert: pki.serverCertPem,
        ca: [pki.caCertPem],
        SNICallback: sni,
        secureOptions: NO_SESSION_TICKETS,
      });
      apps.push(app);
      await app.listen({ host, port: config.httpsPort });
      ports.https = (app.server.address() as net.AddressInfo).port;
    }
  } catch (err) {
    for (const s of servers) s.close();
    for (const a of apps) await a.close();
    broker.close();
    await pgStore?.close();
    await cluster?.stop();
    await platform.stop();
    await leases?.stop();
    await engine.close();
    db?.close();
    throw err;
  }

  platform.endpoints = { host: config.hostnames[0] ?? (host === '0.0.0.0' || host === '::' ? 'localhost' : host), ...ports };
  if (config.testMode) log.warn('TEST MODE: POST /_thicket/reset removes all state of every account; do not use with data you keep.');
  if (config.dev) {
    log.warn('DEVELOPMENT MODE: clients may connect without credentials. Do not expose this server to a network you do not trust.');
  }
  log.info(
    {
      ports,
      dataDir,
      profile: config.profile,
      ephemeral: config.ephemeral,
      database: engine.dialect,
      ...(cluster ? { node: cluster.nodeId } : {}),
    },
    'listening',
  );

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      const closed = servers.map((s) => new Promise<void>((r) => s.close(() => r())));
      broker.close();
      // The broker's last writes commit before the pool ends (on SQLite, close() above already did).
      await pgStore?.close();
      await cluster?.stop();
      await platform.stop();
      await leases?.stop();
      await Promise.all(closed);
      for (const a of apps) await a.close();
      // On SQLite: the last group of the stores' writes commits.
      await engine.close();
      if (db?.open) db.close();
      if (config.ephemeral) rmSync(dataDir, { recursive: true, force: true });
      log.info('stopped');
    })());

  return {
    config,
    broker,
    ports,
    dataDir,
    pki,
    adminKey: credentials.key,
    credentialsPath: credentials.path,
    caPath: join(dataDir, 'ca.pem'),
    log,
    platform,
    cluster,
    stop,
  };
}
