/**
 * One group commit of the PostgreSQL store: the writes issued since the previous batch, the last
 * write per row winning (a row put then deleted is only deleted; an update of a row put in the same
 * batch changes the row), and the few multi-row statements that apply them (`unnest` arrays, one
 * per column, so a statement's size does not depend on its number of rows).
 *
 * Every statement is an upsert, a delete or an update to given values: applying a batch again, after
 * a COMMIT whose answer was lost, leaves the same rows.
 */
import type pg from 'pg';
import { encodeProps, encodeSubscriptionIds, sessionKey } from './rows.js';
import type { StoredMessage, StoredQueueEntry, StoredSession, StoredSubscription } from './types.js';

/** A table's columns in order with their types; the first `key` ones are its primary key. */
interface Table {
  name: string;
  cols: ReadonlyArray<readonly [string, string]>;
  key: number;
}

const table = (name: string, key: number, cols: string): Table => ({
  name,
  key,
  cols: cols.split(',').map((c) => c.trim().split(' ') as [string, string]),
});

// Each node of a cluster has its own sessions, messages and queues (the `node` column, first in
// every key); retained messages are the cluster's.
export const SESSIONS = table(
  'mqtt_sessions',
  3,
  'node text, mount text, client_id text, protocol_version int4, expiry_interval int8, disconnected_at int8',
);
export const SUBSCRIPTIONS = table(
  'mqtt_subscriptions',
  4,
  'node text, mount text, client_id text, filter text, qos int2, no_local bool, retain_as_published bool, retain_handling int2, subscription_id int4',
);
export const MESSAGES = table(
  'mqtt_messages',
  2,
  'node text, id int8, topic text, payload bytea, qos int2, retain bool, properties text, created_at int8, expires_at int8',
);
export const QUEUE = table(
  'mqtt_queue',
  4,
  'node text, mount text, client_id text, seq int8, message_id int8, qos int2, retain bool, subscription_ids text, packet_id int4, state int2',
);
export const INBOUND = table('mqtt_inbound_qos2', 4, 'node text, mount text, client_id text, packet_id int4');
export const RETAINED = table(
  'mqtt_retained',
  2,
  'mount text, topic text, payload bytea, qos int2, properties text, created_at int8, expires_at int8',
);
export const NODE_TABLES = [SESSIONS, SUBSCRIPTIONS, MESSAGES, QUEUE, INBOUND];
/** Queue row columns packet_id and state (what updateQueueEntry changes). */
const Q_PACKET_ID = 8;
const Q_STATE = 9;

/** The last write per row: a row (values in column order) to upsert, or a key to delete. */
class Writes<K> {
  readonly put = new Map<K, unknown[]>();
  readonly del = new Map<K, unknown[]>();
  set(k: K, row: unknown[]): void {
    this.del.delete(k);
    this.put.set(k, row);
  }
  remove(k: K, key: unknown[]): void {
    this.put.delete(k);
    this.del.set(k, key);
  }
}

/** A batch's writes to one session's subscriptions, queue and inbound QoS 2 ids. */
class SessionWrites {
  readonly subs = new Writes<string>();
  readonly inbound = new Writes<number>();
  readonly queue = new Writes<number>();
  /** updateQueueEntry on rows that are not in this batch: [node, mount, client_id, seq, packet_id, state]. */
  readonly queueUpdates = new Map<number, unknown[]>();
}

export class Batch {
  /** clear() came before these writes: every table is emptied first. */
  cleared = false;
  writes = 0;
  /** Sessions deleted: their subscriptions, queue and inbound ids go before the rest of the batch. */
  private readonly wiped = new Map<string, unknown[]>();
  private readonly sessions = new Writes<string>();
  private readonly bySession = new Map<string, SessionWrites>();
  private readonly messages = new Writes<number>();
  private readonly retained = new Writes<string>();
  readonly callbacks: Array<() => void> = [];

  /** `node`: whose rows the batch writes. */
  constructor(private readonly node: string) {}

  private of(mount: string, clientId: string): SessionWrites {
    const k = sessionKey(mount, clientId);
    let w = this.bySession.get(k);
    if (!w) this.bySession.set(k, (w = new SessionWrites()));
    return w;
  }

  putSession(s: Omit<StoredSession, 'subscriptions' | 'inboundQos2'>): void {
    const row = [this.node, s.mount, s.clientId, s.protocolVersion, s.expiryInterval, s.disconnectedAt];
    this.sessions.set(sessionKey(s.mount, s.clientId), row);
  }

  deleteSession(mount: string, clientId: string): void {
    const k = sessionKey(mount, clientId);
    this.sessions.remove(k, [this.node, mount, clientId]);
    // What this batch wrote to the session's rows goes with them.
    this.bySession.delete(k);
    this.wiped.set(k, [this.node, mount, clientId]);
  }

  putSubscription(mount: string, clientId: string, sub: StoredSubscription): void {
    const row = [
      this.node,
      mount,
      clientId,
      sub.key,
      sub.qos,
      sub.noLocal,
      sub.retainAsPublished,
      sub.retainHandling,
      sub.subscriptionId ?? null,
    ];
    this.of(mount, clientId).subs.set(sub.key, row);
  }

  deleteSubscription(mount: string, clientId: string, key: string): void {
    this.of(mount, clientId).subs.remove(key, [this.node, mount, clientId, key]);
  }

  putInboundQos2(mount: string, clientId: string, packetId: number): void {
    this.of(mount, clientId).inbound.set(packetId, [this.node, mount, clientId, packetId]);
  }

  deleteInboundQos2(mount: string, clientId: string, packetId: number): void {
    this.of(mount, clientId).inbound.remove(packetId, [this.node, mount, clientId, packetId]);
  }

  putMessage(m: StoredMessage): void {
    this.messages.set(m.id, [this.node, m.id, m.topic, m.payload, m.qos, m.retain, encodeProps(m.properties), m.createdAt, m.expiresAt]);
  }

  deleteMessage(id: number): void {
    this.messages.remove(id, [this.node, id]);
  }

  putQueueEntry(e: StoredQueueEntry): void {
    const w = this.of(e.mount, e.clientId);
    w.queueUpdates.delete(e.seq);
    const ids = encodeSubscriptionIds(e.subscriptionIds);
    w.queue.set(e.seq, [this.node, e.mount, e.clientId, e.seq, e.messageId, e.qos, e.retain, ids, e.packetId, e.state]);
  }

  updateQueueEntry(mount: string, clientId: string, seq: number, packetId: number, state: 0 | 1 | 2): void {
    const w = this.of(mount, clientId);
    const row = w.queue.put.get(seq);
    if (row) {
      row[Q_PACKET_ID] = packetId;
      row[Q_STATE] = state;
    } else if (!w.queue.del.has(seq)) w.queueUpdates.set(seq, [this.node, mount, clientId, seq, packetId, state]);
    // (An update of a row deleted earlier in the batch changes nothing, as in SQL.)
  }

  deleteQueueEntry(mount: string, clientId: string, seq: number): void {
    const w = this.of(mount, clientId);
    w.queueUpdates.delete(seq);
    w.queue.remove(seq, [this.node, mount, clientId, seq]);
  }

  putRetained(mount: string, m: StoredMessage): void {
    const row = [mount, m.topic, m.payload, m.qos, encodeProps(m.properties), m.createdAt, m.expiresAt];
    this.retained.set(sessionKey(mount, m.topic), row);
  }

  deleteRetained(mount: string, topic: string): void {
    this.retained.remove(sessionKey(mount, topic), [mount, topic]);
  }

  /**
   * The statements, in order: the reset if the batch cleared, the deleted sessions' rows, then one
   * statement for every other write. Within that one, each table's deletes, upserts and updates
   * touch distinct rows (one write per row survives), so they may run as parts of one statement.
   */
  statements(): pg.QueryConfig[] {
    const out: pg.QueryConfig[] = [];
    if (this.cleared) {
      // This node's rows, and the cluster's retained messages (a test-mode reset).
      const own = NODE_TABLES.map((t) => `DELETE FROM ${t.name} WHERE node = $1`);
      out.push({ text: `WITH ${own.map((d, i) => `c${i} AS (${d})`).join(', ')} DELETE FROM ${RETAINED.name}`, values: [this.node] });
    }
    if (this.wiped.size > 0) {
      const wipe = new Statement();
      const keys = [...this.wiped.values()];
      for (const t of [SUBSCRIPTIONS, QUEUE, INBOUND]) wipe.delete(t, keys, 3);
      out.push(wipe.query()!);
    }
    const s = new Statement();
    const per = [...this.bySession.values()];
    const rows = (pick: (w: SessionWrites) => Iterable<unknown[]>): unknown[][] => per.flatMap((w) => [...pick(w)]);
    s.delete(SESSIONS, [...this.sessions.del.values()]);
    s.upsert(SESSIONS, [...this.sessions.put.values()]);
    s.delete(
      SUBSCRIPTIONS,
      rows((w) => w.subs.del.values()),
    );
    s.upsert(
      SUBSCRIPTIONS,
      rows((w) => w.subs.put.values()),
    );
    s.delete(
      INBOUND,
      rows((w) => w.inbound.del.values()),
    );
    s.upsert(
      INBOUND,
      rows((w) => w.inbound.put.values()),
    );
    s.delete(MESSAGES, [...this.messages.del.values()]);
    s.upsert(MESSAGES, [...this.messages.put.values()]);
    s.delete(
      QUEUE,
      rows((w) => w.queue.del.values()),
    );
    s.upsert(
      QUEUE,
      rows((w) => w.queue.put.values()),
    );
    s.updateQueue(rows((w) => w.queueUpdates.values()));
    s.delete(RETAINED, [...this.retained.del.values()]);
    s.upsert(RETAINED, [...this.retained.put.values()]);
    const q = s.query();
    if (q) out.push(q);
    return out;
  }
}

/** One statement built of parts: with several, all but the last run as data-modifying WITH queries. */
class Statement {
  private readonly values: unknown[] = [];
  private readonly parts: string[] = [];

  /** Rows (values in column order) as `unnest($1::type[], ...)` over the first `n` columns. */
  private unnest(t: Table, rows: unknown[][], n: number): string {
    const params = t.cols.slice(0, n).map(([, type], i) => {
      this.values.push(rows.map((r) => r[i]));
      return `$${this.values.length}::${type}[]`;
    });
    return `unnest(${params.join(', ')})`;
  }

  private static match(t: Table, n: number): string {
    return t.cols
      .slice(0, n)
      .map(([c]) => `t.${c} = k.${c}`)
      .join(' AND ');
  }

  upsert(t: Table, rows: unknown[][]): void {
    if (rows.length === 0) return;
    const names = t.cols.map(([c]) => c);
    const rest = names.slice(t.key);
    const action = rest.length > 0 ? `DO UPDATE SET ${rest.map((c) => `${c} = EXCLUDED.${c}`).join(', ')}` : 'DO NOTHING';
    const source = this.unnest(t, rows, names.length);
    this.parts.push(
      `INSERT INTO ${t.name} (${names.join(', ')}) SELECT * FROM ${source} ON CONFLICT (${names.slice(0, t.key).join(', ')}) ${action}`,
    );
  }

  /** Deletes the rows whose first `n` columns (the primary key unless told) equal a key's values. */
  delete(t: Table, keys: unknown[][], n = t.key): void {
    if (keys.length === 0) return;
    const names = t.cols.slice(0, n).map(([c]) => c);
    const source = this.unnest(t, keys, n);
    this.parts.push(`DELETE FROM ${t.name} t USING ${source} AS k(${names.join(', ')}) WHERE ${Statement.match(t, n)}`);
  }

  /** Queue rows' packet_id and state, from [node, mount, client_id, seq, packet_id, state] tuples. */
  updateQueue(updates: unknown[][]): void {
    if (updates.length === 0) return;
    const t: Table = { ...QUEUE, cols: [...QUEUE.cols.slice(0, 4), QUEUE.cols[Q_PACKET_ID]!, QUEUE.cols[Q_STATE]!] };
    const source = this.unnest(t, updates, 6);
    this.parts.push(
      `UPDATE mqtt_queue t SET packet_id = k.packet_id, state = k.state FROM ${source} AS k(node, mount, client_id, seq, packet_id, state) WHERE ${Statement.match(t, 4)}`,
    );
  }

  query(): pg.QueryConfig | null {
    if (this.parts.length === 0) return null;
    const last = this.parts[this.parts.length - 1]!;
    const ctes = this.parts.slice(0, -1).map((p, i) => `w${i} AS (${p})`);
    return { text: ctes.length > 0 ? `WITH ${ctes.join(',\n')}\n${last}` : last, values: this.values };
  }
}
