/**
 * PostgreSQL store (`pg`): the same tables and semantics as the SQLite store, for brokers whose
 * system of record is a PostgreSQL server (issue 15, scale-out).
 *
 * Group commit: writes are issued synchronously and kept in memory, the last write per row winning
 * (a row put then deleted in one batch is only deleted). A batch is applied as a handful of
 * multi-row statements (`unnest` arrays, one per column), in one transaction; its afterCommit
 * callbacks run after COMMIT. A batch starts once its commitDelayMs has passed (0: at the end of the
 * current turn of the event loop) and the previous commit finished, whichever is later: while one
 * commit is in flight, new writes form the next batch.
 *
 * Failures: a batch that fails (database down, connection lost) is kept and retried with backoff
 * until it lands, before any later batch; its callbacks run only then, so nothing is acknowledged
 * that is not durable. Every write is an upsert, a delete or an update to given values, so applying
 * a batch again after a COMMIT whose answer was lost changes nothing. `healthy` tells whether the
 * last commit attempt succeeded; each change is logged once and reported to onHealthChange.
 *
 * `pg` is loaded by `open()`, so brokers on other stores never load it.
 */
import type pg from 'pg';
import type { BrokerLogger } from '../broker-types.js';
import { adoptSession, dropElsewhere, type HolderCheck, type Query } from './postgres-adopt.js';
import { Batch, INBOUND, MESSAGES, QUEUE, RETAINED, SESSIONS, SUBSCRIPTIONS } from './postgres-batch.js';
import {
  messageFromRow,
  QUEUE_PAGE_COLUMNS,
  queueEntryFromRow,
  queueItemFromRow,
  retainedFromRow,
  sessionsFromRows,
  type Row,
} from './rows.js';
import type {
  BrokerStore,
  MovedSession,
  StoredMessage,
  StoredQueueEntry,
  StoredQueueItem,
  StoredSession,
  StoredState,
  StoredSubscription,
} from './types.js';

const SCHEMA_VERSION = 1;

// `node`: each node of a cluster writes and reads back only its own sessions, messages and queues
// (message ids are per node); retained messages are the cluster's.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS mqtt_store_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mqtt_sessions (
  node TEXT NOT NULL, mount TEXT NOT NULL, client_id TEXT NOT NULL, protocol_version INTEGER NOT NULL,
  expiry_interval BIGINT NOT NULL, disconnected_at BIGINT,
  PRIMARY KEY (node, mount, client_id));
CREATE INDEX IF NOT EXISTS mqtt_sessions_by_client ON mqtt_sessions (mount, client_id);
CREATE TABLE IF NOT EXISTS mqtt_subscriptions (
  node TEXT NOT NULL, mount TEXT NOT NULL, client_id TEXT NOT NULL, filter TEXT NOT NULL, qos SMALLINT NOT NULL,
  no_local BOOLEAN NOT NULL, retain_as_published BOOLEAN NOT NULL, retain_handling SMALLINT NOT NULL,
  subscription_id INTEGER,
  PRIMARY KEY (node, mount, client_id, filter));
CREATE TABLE IF NOT EXISTS mqtt_messages (
  node TEXT NOT NULL, id BIGINT NOT NULL, topic TEXT NOT NULL, payload BYTEA NOT NULL, qos SMALLINT NOT NULL,
  retain BOOLEAN NOT NULL, properties TEXT, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
  PRIMARY KEY (node, id));
CREATE TABLE IF NOT EXISTS mqtt_queue (
  node TEXT NOT NULL, mount TEXT NOT NULL, client_id TEXT NOT NULL, seq BIGINT NOT NULL, message_id BIGINT NOT NULL,
  qos SMALLINT NOT NULL, retain BOOLEAN NOT NULL, subscription_ids TEXT, packet_id INTEGER NOT NULL,
  state SMALLINT NOT NULL,
  PRIMARY KEY (node, mount, client_id, seq));
CREATE TABLE IF NOT EXISTS mqtt_inbound_qos2 (
  node TEXT NOT NULL, mount TEXT NOT NULL, client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
  PRIMARY KEY (node, mount, client_id, packet_id));
CREATE TABLE IF NOT EXISTS mqtt_retained (
  mount TEXT NOT NULL, topic TEXT NOT NULL, payload BYTEA NOT NULL, qos SMALLINT NOT NULL,
  properties TEXT, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
  PRIMARY KEY (mount, topic));
`;

const INT8_OID = 20;
/** Reads that must agree with each other see one snapshot. */
const SNAPSHOT = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database`; or `pool`. */
  connectionString?: string;
  /** A pool the caller owns (and ends): it should have an 'error' listener, as idle connections break when the server restarts. */
  pool?: pg.Pool;
  /** Collect writes for this long before committing (0: until the end of the current turn of the event loop). */
  commitDelayMs?: number;
  log?: BrokerLogger;
  onHealthChange?: (healthy: boolean) => void;
  /** This node's name in a cluster sharing the database ('' for a single node): whose sessions it writes and loads. */
  node?: string;
  /** Backoff between attempts of a failed commit: from retryMinMs, doubling up to retryMaxMs (defaults 100 and 5000). */
  retryMinMs?: number;
  retryMaxMs?: number;
}

const silent: BrokerLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** What a log line may say of an error: never the connection settings. */
function describe(err: unknown): { message: string; code?: string } {
  if (!(err instanceof Error)) return { message: String(err) };
  // A connection refused on every address of a host name is an AggregateError without a message of its own.
  const message = err.message || (err instanceof AggregateError ? err.errors.map((e: Error) => e.message).join('; ') : err.name);
  return { message, code: (err as { code?: string }).code };
}

export class PostgresStore implements BrokerStore {
  private batch: Batch;
  readonly node: string;
  /** The batch being committed, or waiting to be tried again. */
  private inflight: Batch | null = null;
  /** The current batch's delay has passed (or flush() asked): it starts when `inflight` is done. */
  private due = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  private state: StoredState | null;
  private isHealthy = true;
  private downSince = 0;
  private readonly healthListeners = new Set<(healthy: boolean) => void>();
  private closing: Promise<void> | null = null;
  private closed = false;
  private readonly commitDelayMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;
  private readonly log: BrokerLogger;
  /** Commits done, and attempts that failed (and were tried again). */
  readonly stats = { commits: 0, failedAttempts: 0 };

  private constructor(
    readonly pool: pg.Pool,
    private readonly ownsPool: boolean,
    private readonly types: { getTypeParser: typeof pg.types.getTypeParser },
    state: StoredState,
    options: PostgresStoreOptions,
  ) {
    this.state = state;
    this.node = options.node ?? '';
    this.batch = new Batch(this.node);
    this.commitDelayMs = options.commitDelayMs ?? 0;
    this.retryMinMs = options.retryMinMs ?? 100;
    this.retryMaxMs = options.retryMaxMs ?? 5000;
    this.log = options.log ?? silent;
    if (options.onHealthChange) this.healthListeners.add(options.onHealthChange);
  }

  /** Connects, creates the tables if absent and reads the whole state (what load() returns). */
  static async open(options: PostgresStoreOptions): Promise<PostgresStore> {
    const { default: pgm } = await import('pg');
    const log = options.log ?? silent;
    let pool = options.pool;
    const ownsPool = !pool;
    if (!pool) {
      if (!options.connectionString) throw new Error('PostgresStore.open needs a connectionString or a pool');
      pool = new pgm.Pool({
        connectionString: options.connectionString,
        max: 4,
        connectionTimeoutMillis: 5000,
        keepAlive: true,
        application_name: 'thicket-broker',
      });
      // An idle connection that breaks (server restart) must not take the process down; the pool replaces it.
      pool.on('error', (err) => log.debug({ err: describe(err) }, 'a PostgreSQL connection of the broker store failed'));
    }
    const types = {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? Number : pgm.types.getTypeParser(oid, format)) as typeof pgm.types.getTypeParser,
    };
    try {
      await transaction(pool, 'BEGIN', async (q) => {
        // Two nodes starting on an empty database must not both create the tables.
        await q({ text: "SELECT pg_advisory_xact_lock(hashtext('thicket.broker.schema'))" });
        await q({ text: SCHEMA });
        const v = await q({ text: 'SELECT max(version) AS version FROM mqtt_store_schema' });
        const version = v[0]?.version as number | null;
        if (version === null || version === undefined)
          await q({ text: 'INSERT INTO mqtt_store_schema VALUES ($1)', values: [SCHEMA_VERSION] });
        else if (version > SCHEMA_VERSION)
          throw new Error(`the broker tables are at schema version ${version}, newer than this Thicket (${SCHEMA_VERSION})`);
      });
      const state = await transaction(pool, SNAPSHOT, (q) => readState(q, types, options.node ?? ''));
      return new PostgresStore(pool, ownsPool, types, state, options);
    } catch (err) {
      if (ownsPool) await pool.end().catch(() => undefined);
      throw err;
    }
  }

  get healthy(): boolean {
    return this.isHealthy;
  }

  /** Calls `listener` on every change of `healthy`; returns a function that removes it. */
  onHealthChange(listener: (healthy: boolean) => void): () => void {
    this.healthListeners.add(listener);
    return () => this.healthListeners.delete(listener);
  }

  get pending(): boolean {
    return this.batch.writes > 0 || this.inflight !== null;
  }

  /** The state open() read (once: a broker loads at start; a later reader calls open again). */
  load(): StoredState {
    const state = this.state;
    if (!state) throw new Error('PostgresStore.load() returns what open() read, once: open the store again to read it anew');
    this.state = null;
    return state;
  }

  private write(): Batch {
    if (this.closed) throw new Error('PostgresStore is closed');
    const b = this.batch;
    b.writes++;
    if (!this.due && !this.timer) {
      this.timer = this.commitDelayMs > 0 ? setTimeout(this.onDue, this.commitDelayMs) : setImmediate(this.onDue);
    }
    return b;
  }

  private readonly onDue = (): void => {
    this.timer = null;
    this.due = true;
    this.pump();
  };

  /** Starts the current batch if it is due and no commit is in flight. */
  private pump(): void {
    if (this.inflight || !this.due) return;
    this.due = false;
    const b = this.batch;
    if (b.writes === 0 && b.callbacks.length === 0) return;
    this.batch = new Batch(this.node);
    this.inflight = b;
    void this.commit(b);
  }

  private async commit(b: Batch): Promise<void> {
    const statements = b.statements();
    let delay = this.retryMinMs;
    for (;;) {
      try {
        if (statements.length > 0) await this.run(statements);
        break;
      } catch (err) {
        this.stats.failedAttempts++;
        this.setHealth(false, err);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, this.retryMaxMs);
      }
    }
    this.stats.commits++;
    this.setHealth(true);
    this.inflight = null;
    this.pump();
    for (const cb of b.callbacks) {
      try {
        cb();
      } catch (err) {
        this.log.error({ err }, 'an afterCommit callback of the PostgreSQL broker store threw');
      }
    }
  }

  /** One statement commits by itself; several run in one transaction. */
  private async run(statements: pg.QueryConfig[]): Promise<void> {
    if (statements.length === 1) await withClient(this.pool, (client) => client.query(statements[0]!));
    else
      await transaction(this.pool, 'BEGIN', async (q) => {
        for (const st of statements) await q(st);
      });
  }

  private setHealth(healthy: boolean, err?: unknown): void {
    if (healthy === this.isHealthy) return;
    this.isHealthy = healthy;
    if (!healthy) {
      this.downSince = Date.now();
      this.log.warn({ err: describe(err) }, 'PostgreSQL broker store: commit failed; writes are held (not acknowledged) and retried');
    } else {
      this.log.info({ downMs: Date.now() - this.downSince }, 'PostgreSQL broker store: commits resumed');
    }
    for (const l of this.healthListeners) {
      try {
        l(healthy);
      } catch (e) {
        this.log.error({ err: e }, 'an onHealthChange listener of the PostgreSQL broker store threw');
      }
    }
  }

  putSession(s: Omit<StoredSession, 'subscriptions' | 'inboundQos2'>): void {
    this.write().putSession(s);
  }

  deleteSession(mount: string, clientId: string): void {
    this.write().deleteSession(mount, clientId);
  }

  putSubscription(mount: string, clientId: string, sub: StoredSubscription): void {
    this.write().putSubscription(mount, clientId, sub);
  }

  deleteSubscription(mount: string, clientId: string, key: string): void {
    this.write().deleteSubscription(mount, clientId, key);
  }

  putInboundQos2(mount: string, clientId: string, packetId: number): void {
    this.write().putInboundQos2(mount, clientId, packetId);
  }

  deleteInboundQos2(mount: string, clientId: string, packetId: number): void {
    this.write().deleteInboundQos2(mount, clientId, packetId);
  }

  putMessage(m: StoredMessage): void {
    this.write().putMessage(m);
  }

  deleteMessage(id: number): void {
    this.write().deleteMessage(id);
  }

  putQueueEntry(e: StoredQueueEntry): void {
    this.write().putQueueEntry(e);
  }

  updateQueueEntry(mount: string, clientId: string, seq: number, packetId: number, state: 0 | 1 | 2): void {
    this.write().updateQueueEntry(mount, clientId, seq, packetId, state);
  }

  deleteQueueEntry(mount: string, clientId: string, seq: number): void {
    this.write().deleteQueueEntry(mount, clientId, seq);
  }

  putRetained(mount: string, m: StoredMessage): void {
    this.write().putRetained(mount, m);
  }

  deleteRetained(mount: string, topic: string): void {
    this.write().deleteRetained(mount, topic);
  }

  /** Drops everything: the batch in flight (if any) lands first, then the next one empties every table. */
  clear(): void {
    const old = this.batch;
    this.batch = new Batch(this.node);
    this.batch.callbacks.push(...old.callbacks);
    this.write().cleared = true;
  }

  afterCommit(callback: () => void): void {
    if (this.batch.writes > 0) this.batch.callbacks.push(callback);
    else if (this.inflight) this.inflight.callbacks.push(callback);
    else queueMicrotask(callback);
  }

  flush(): void {
    if (this.timer) {
      if (this.commitDelayMs > 0) clearTimeout(this.timer as NodeJS.Timeout);
      else clearImmediate(this.timer as NodeJS.Immediate);
      this.timer = null;
    }
    if (this.batch.writes === 0) return;
    this.due = true;
    this.pump();
  }

  /** Resolves once every write issued so far is committed (starting the current batch now). */
  private durable(): Promise<void> {
    return new Promise((resolve) => {
      this.afterCommit(resolve);
      this.flush();
    });
  }

  /**
   * Up to `limit` queue entries of a session with a seq above `afterSeq`, in seq order, with their
   * messages, writes issued so far included: the asynchronous pageQueue (a network database cannot
   * read synchronously; sessions read their spilled entries back in the background). Waits for the
   * commit of pending writes, and so for the database while it is down.
   */
  async pageQueueAsync(mount: string, clientId: string, afterSeq: number, limit: number): Promise<StoredQueueItem[]> {
    await this.durable();
    const rows = await this.select(
      `SELECT ${QUEUE_PAGE_COLUMNS} FROM mqtt_queue q JOIN mqtt_messages m ON m.node = q.node AND m.id = q.message_id
       WHERE q.node = $5 AND q.mount = $1 AND q.client_id = $2 AND q.seq > $3 ORDER BY q.seq LIMIT $4`,
      [mount, clientId, afterSeq, limit, this.node],
    );
    return rows.map(queueItemFromRow);
  }

  /** The other nodes holding rows of a session (a client that connected to them before). */
  async holders(mount: string, clientId: string): Promise<string[]> {
    const rows = await this.select('SELECT node FROM mqtt_sessions WHERE mount = $1 AND client_id = $2 AND node <> $3', [
      mount,
      clientId,
      this.node,
    ]);
    return rows.map((r) => r.node as string);
  }

  /** The session another node holds for a client, as claim would move it (the live one first), or null. */
  async sessionElsewhere(mount: string, clientId: string): Promise<StoredSession | null> {
    const held = await this.select(
      `SELECT * FROM mqtt_sessions WHERE mount = $1 AND client_id = $2 AND node <> $3 ORDER BY disconnected_at DESC NULLS FIRST LIMIT 1`,
      [mount, clientId, this.node],
    );
    if (held.length === 0) return null;
    const subs = await this.select('SELECT * FROM mqtt_subscriptions WHERE mount = $1 AND client_id = $2 AND node = $3', [
      mount,
      clientId,
      held[0]!.node,
    ]);
    return sessionsFromRows(held, subs, [])[0] ?? null;
  }

  /**
   * Moves a session another node held into this node's rows (adoptSession, postgres-adopt.ts): its
   * subscriptions, inbound QoS 2 ids and whole queue, with copies of its messages under ids from
   * `newMessageId`. Null when no other node holds it. The other node's message rows stay: it
   * releases them itself (or they go when it starts again). With `check`, a holder that is alive and
   * did not let go keeps the session (HolderAliveError).
   */
  async adoptSession(mount: string, clientId: string, newMessageId: () => number, check?: HolderCheck): Promise<MovedSession | null> {
    await this.durable();
    return transaction(this.pool, 'BEGIN', (q) => adoptSession(q, this.types, this.node, mount, clientId, newMessageId, check));
  }

  /** Removes every other node's rows of a session (a client starting clean here); `check` as for adoptSession. */
  async dropElsewhere(mount: string, clientId: string, check?: HolderCheck): Promise<void> {
    await transaction(this.pool, 'BEGIN', (q) => dropElsewhere(q, this.node, mount, clientId, check));
  }

  private async select(text: string, values: unknown[]): Promise<Row[]> {
    return (await this.pool.query({ text, values, types: this.types })).rows as Row[];
  }

  /** Commits what is pending (retrying while the database is down) and ends the pool if the store made it. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.pending) await this.durable();
      this.closed = true;
      if (this.ownsPool)
        await this.pool.end().catch((err: unknown) => this.log.warn({ err: describe(err) }, 'closing the PostgreSQL pool failed'));
    })();
    return this.closing;
  }
}

/** Runs `body` in a transaction on one connection of the pool. */
/**
 * Runs `body` on one connection of the pool. A connection that dies mid-query also emits 'error' on
 * its client, which nobody else listens to while it is held; a broken one is closed rather than lent again.
 */
async function withClient<T>(pool: pg.Pool, body: (client: pg.PoolClient, broke: (e: Error) => void) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error): void => void (broken ??= err);
  client.on('error', onError);
  try {
    return await body(client, onError);
  } finally {
    client.removeListener('error', onError);
    client.release(broken);
  }
}

/** Runs `body` in a transaction on one connection of the pool. */
function transaction<T>(pool: pg.Pool, begin: string, body: (q: Query) => Promise<T>): Promise<T> {
  return withClient(pool, async (client, broke) => {
    await client.query(begin);
    try {
      const out = await body(async (q) => (await client.query(q)).rows as Row[]);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch(broke);
      throw err;
    }
  });
}

async function readState(q: Query, types: { getTypeParser: typeof pg.types.getTypeParser }, node: string): Promise<StoredState> {
  const all = (t: { name: string }, order = ''): Promise<Row[]> =>
    t === RETAINED
      ? q({ text: `SELECT * FROM ${t.name}${order}`, types })
      : q({ text: `SELECT * FROM ${t.name} WHERE node = $1${order}`, values: [node], types });
  return {
    sessions: sessionsFromRows(await all(SESSIONS), await all(SUBSCRIPTIONS), await all(INBOUND)),
    messages: (await all(MESSAGES)).map(messageFromRow),
    queue: (await all(QUEUE, ' ORDER BY seq')).map(queueEntryFromRow),
    retained: (await all(RETAINED)).map(retainedFromRow),
  };
}
