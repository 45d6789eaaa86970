/**
 * SQLite store (WAL). Writes are queued in memory and applied in one transaction per turn of the
 * event loop (group commit), then the afterCommit callbacks run: a QoS 1 publish for a persistent
 * session costs a share of one commit instead of a commit of its own.
 *
 * Durability: with `synchronous=NORMAL` (the default here) a commit is in the WAL file when the
 * callbacks run, so it survives the process being killed; surviving power loss needs `fsync: true`
 * (`synchronous=FULL`).
 */
import Database from 'better-sqlite3';
import type {
  BrokerStore,
  StoredMessage,
  StoredQueueEntry,
  StoredQueueItem,
  StoredSession,
  StoredState,
  StoredSubscription,
} from './types.js';
import {
  encodeProps,
  encodeSubscriptionIds,
  messageFromRow,
  QUEUE_PAGE_COLUMNS,
  queueEntryFromRow,
  queueItemFromRow,
  retainedFromRow,
  sessionsFromRows,
  type Row,
} from './rows.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS mqtt_sessions (
  mount TEXT NOT NULL, client_id TEXT NOT NULL, protocol_version INTEGER NOT NULL,
  expiry_interval INTEGER NOT NULL, disconnected_at INTEGER,
  PRIMARY KEY (mount, client_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mqtt_subscriptions (
  mount TEXT NOT NULL, client_id TEXT NOT NULL, filter TEXT NOT NULL, qos INTEGER NOT NULL,
  no_local INTEGER NOT NULL, retain_as_published INTEGER NOT NULL, retain_handling INTEGER NOT NULL,
  subscription_id INTEGER,
  PRIMARY KEY (mount, client_id, filter)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mqtt_messages (
  id INTEGER PRIMARY KEY, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
  retain INTEGER NOT NULL, properties TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS mqtt_queue (
  mount TEXT NOT NULL, client_id TEXT NOT NULL, seq INTEGER NOT NULL, message_id INTEGER NOT NULL,
  qos INTEGER NOT NULL, retain INTEGER NOT NULL, subscription_ids TEXT, packet_id INTEGER NOT NULL,
  state INTEGER NOT NULL,
  PRIMARY KEY (mount, client_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mqtt_inbound_qos2 (
  mount TEXT NOT NULL, client_id TEXT NOT NULL, packet_id INTEGER NOT NULL,
  PRIMARY KEY (mount, client_id, packet_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mqtt_retained (
  mount TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, qos INTEGER NOT NULL,
  properties TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  PRIMARY KEY (mount, topic)) WITHOUT ROWID;
`;

type Op = () => void;

export interface SqliteStoreOptions {
  /** Wait for fsync on every commit (survives power loss, not only a killed process). */
  fsync?: boolean;
  /**
   * Collect writes for this long before committing (0: commit at the end of the current turn of
   * the event loop). Longer windows make bigger transactions, for slow disks with --fsync, at the
   * cost of acknowledgement latency.
   */
  commitDelayMs?: number;
  /**
   * Ends a transaction that another user of a shared database holds open across turns of the
   * event loop (the server's group commit), so that this store's batch commits on its own and its
   * acknowledgements never go out before a commit that has not happened.
   */
  settle?: () => void;
}

export class SqliteStore implements BrokerStore {
  readonly db: Database.Database;
  private ops: Op[] = [];
  private callbacks: Array<() => void> = [];
  private scheduled = false;
  private readonly ownsDb: boolean;
  private readonly commitDelayMs: number;
  private readonly settle: () => void;
  private readonly stmt;
  private readonly commit: (ops: Op[]) => void;

  /** @param db a path, or an open database the caller shares with other stores */
  constructor(db: string | Database.Database, options: SqliteStoreOptions = {}) {
    this.db = typeof db === 'string' ? new Database(db) : db;
    this.ownsDb = typeof db === 'string';
    this.commitDelayMs = options.commitDelayMs ?? 0;
    this.settle = options.settle ?? (() => {});
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.fsync ? 'FULL' : 'NORMAL'}`);
    this.db.exec(SCHEMA);
    const d = this.db;
    this.stmt = {
      putSession: d.prepare(
        'INSERT OR REPLACE INTO mqtt_sessions (mount, client_id, protocol_version, expiry_interval, disconnected_at) VALUES (?, ?, ?, ?, ?)',
      ),
      delSession: d.prepare('DELETE FROM mqtt_sessions WHERE mount = ? AND client_id = ?'),
      delSessionSubs: d.prepare('DELETE FROM mqtt_subscriptions WHERE mount = ? AND client_id = ?'),
      delSessionQueue: d.prepare('DELETE FROM mqtt_queue WHERE mount = ? AND client_id = ?'),
      delSessionInbound: d.prepare('DELETE FROM mqtt_inbound_qos2 WHERE mount = ? AND client_id = ?'),
      putInbound: d.prepare('INSERT OR IGNORE INTO mqtt_inbound_qos2 (mount, client_id, packet_id) VALUES (?, ?, ?)'),
      delInbound: d.prepare('DELETE FROM mqtt_inbound_qos2 WHERE mount = ? AND client_id = ? AND packet_id = ?'),
      putSub: d.prepare(
        'INSERT OR REPLACE INTO mqtt_subscriptions (mount, client_id, filter, qos, no_local, retain_as_published, retain_handling, subscription_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      delSub: d.prepare('DELETE FROM mqtt_subscriptions WHERE mount = ? AND client_id = ? AND filter = ?'),
      putMsg: d.prepare(
        'INSERT OR REPLACE INTO mqtt_messages (id, topic, payload, qos, retain, properties, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      delMsg: d.prepare('DELETE FROM mqtt_messages WHERE id = ?'),
      putQueue: d.prepare(
        'INSERT OR REPLACE INTO mqtt_queue (mount, client_id, seq, message_id, qos, retain, subscription_ids, packet_id, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      updQueue: d.prepare('UPDATE mqtt_queue SET packet_id = ?, state = ? WHERE mount = ? AND client_id = ? AND seq = ?'),
      delQueue: d.prepare('DELETE FROM mqtt_queue WHERE mount = ? AND client_id = ? AND seq = ?'),
      pageQueue: d.prepare(
        `SELECT ${QUEUE_PAGE_COLUMNS}
         FROM mqtt_queue q JOIN mqtt_messages m ON m.id = q.message_id
         WHERE q.mount = ? AND q.client_id = ? AND q.seq > ? ORDER BY q.seq LIMIT ?`,
      ),
      putRetained: d.prepare(
        'INSERT OR REPLACE INTO mqtt_retained (mount, topic, payload, qos, properties, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      delRetained: d.prepare('DELETE FROM mqtt_retained WHERE mount = ? AND topic = ?'),
    };
    this.commit = this.db.transaction((ops: Op[]) => {
      for (let i = 0; i < ops.length; i++) ops[i]!();
    });
  }

  get pending(): boolean {
    return this.ops.length > 0;
  }

  load(): StoredState {
    const all = (table: string, order = ''): Row[] => this.db.prepare(`SELECT * FROM ${table}${order}`).all() as Row[];
    return {
      sessions: sessionsFromRows(all('mqtt_sessions'), all('mqtt_subscriptions'), all('mqtt_inbound_qos2')),
      messages: all('mqtt_messages').map(messageFromRow),
      queue: all('mqtt_queue', ' ORDER BY seq').map(queueEntryFromRow),
      retained: all('mqtt_retained').map(retainedFromRow),
    };
  }

  private push(op: Op): void {
    this.ops.push(op);
    if (!this.scheduled) {
      this.scheduled = true;
      if (this.commitDelayMs > 0) setTimeout(() => this.flush(), this.commitDelayMs);
      else setImmediate(() => this.flush());
    }
  }

  putSession(s: Omit<StoredSession, 'subscriptions' | 'inboundQos2'>): void {
    this.push(() => this.stmt.putSession.run(s.mount, s.clientId, s.protocolVersion, s.expiryInterval, s.disconnectedAt));
  }

  deleteSession(mount: string, clientId: string): void {
    this.push(() => {
      this.stmt.delSession.run(mount, clientId);
      this.stmt.delSessionSubs.run(mount, clientId);
      this.stmt.delSessionQueue.run(mount, clientId);
      this.stmt.delSessionInbound.run(mount, clientId);
    });
  }

  putInboundQos2(mount: string, clientId: string, packetId: number): void {
    this.push(() => this.stmt.putInbound.run(mount, clientId, packetId));
  }

  deleteInboundQos2(mount: string, clientId: string, packetId: number): void {
    this.push(() => this.stmt.delInbound.run(mount, clientId, packetId));
  }

  putSubscription(mount: string, clientId: string, sub: StoredSubscription): void {
    this.push(() =>
      this.stmt.putSub.run(
        mount,
        clientId,
        sub.key,
        sub.qos,
        sub.noLocal ? 1 : 0,
        sub.retainAsPublished ? 1 : 0,
        sub.retainHandling,
        sub.subscriptionId ?? null,
      ),
    );
  }

  deleteSubscription(mount: string, clientId: string, key: string): void {
    this.push(() => this.stmt.delSub.run(mount, clientId, key));
  }

  putMessage(m: StoredMessage): void {
    this.push(() =>
      this.stmt.putMsg.run(m.id, m.topic, m.payload, m.qos, m.retain ? 1 : 0, encodeProps(m.properties), m.createdAt, m.expiresAt),
    );
  }

  deleteMessage(id: number): void {
    this.push(() => this.stmt.delMsg.run(id));
  }

  putQueueEntry(e: StoredQueueEntry): void {
    this.push(() =>
      this.stmt.putQueue.run(
        e.mount,
        e.clientId,
        e.seq,
        e.messageId,
        e.qos,
        e.retain ? 1 : 0,
        encodeSubscriptionIds(e.subscriptionIds),
        e.packetId,
        e.state,
      ),
    );
  }

  updateQueueEntry(mount: string, clientId: string, seq: number, packetId: number, state: 0 | 1 | 2): void {
    this.push(() => this.stmt.updQueue.run(packetId, state, mount, clientId, seq));
  }

  deleteQueueEntry(mount: string, clientId: string, seq: number): void {
    this.push(() => this.stmt.delQueue.run(mount, clientId, seq));
  }

  pageQueue(mount: string, clientId: string, afterSeq: number, limit: number): StoredQueueItem[] {
    // The rows asked for may still be among the pending writes: commit them now. Their afterCommit
    // callbacks run at the flush already scheduled, which then finds nothing left to write.
    if (this.ops.length > 0) {
      const ops = this.ops;
      this.ops = [];
      this.commit(ops);
    }
    return (this.stmt.pageQueue.all(mount, clientId, afterSeq, limit) as Row[]).map(queueItemFromRow);
  }

  putRetained(mount: string, m: StoredMessage): void {
    this.push(() => this.stmt.putRetained.run(mount, m.topic, m.payload, m.qos, encodeProps(m.properties), m.createdAt, m.expiresAt));
  }

  deleteRetained(mount: string, topic: string): void {
    this.push(() => this.stmt.delRetained.run(mount, topic));
  }

  clear(): void {
    this.ops = [];
    this.db.exec(
      'DELETE FROM mqtt_sessions; DELETE FROM mqtt_subscriptions; DELETE FROM mqtt_messages; DELETE FROM mqtt_queue; DELETE FROM mqtt_retained; DELETE FROM mqtt_inbound_qos2;',
    );
  }

  afterCommit(callback: () => void): void {
    if (this.ops.length === 0 && !this.scheduled) {
      queueMicrotask(callback);
      return;
    }
    this.callbacks.push(callback);
  }

  flush(): void {
    this.scheduled = false;
    const ops = this.ops;
    const callbacks = this.callbacks;
    this.ops = [];
    this.callbacks = [];
    this.settle();
    if (ops.length > 0) this.commit(ops);
    for (const cb of callbacks) cb();
  }

  close(): void {
    this.flush();
    // A shared database belongs to whoever opened it.
    if (this.ownsDb && this.db.open) this.db.close();
  }
}
