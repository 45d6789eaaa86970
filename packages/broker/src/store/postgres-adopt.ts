/**
 * Moving a persistent session between the nodes of a cluster: the node a client reconnects to
 * copies the session's rows from the node that held it (alive and letting go, or dead) into its own,
 * in one transaction. Messages are copied under the new node's ids (each node counts the references
 * to its own message rows in memory, so a row cannot be shared); the old node's session, subscription,
 * queue and inbound rows go, its message rows stay for it to release.
 */
import type pg from 'pg';
import { Batch, INBOUND, QUEUE, SESSIONS, SUBSCRIPTIONS } from './postgres-batch.js';
import { QUEUE_PAGE_COLUMNS, queueItemFromRow, sessionsFromRows, type Row } from './rows.js';
import type { MovedSession } from './types.js';

/** A query on the connection of a transaction. */
export type Query = (q: pg.QueryConfig) => Promise<Row[]>;

type Types = { getTypeParser: typeof pg.types.getTypeParser };

/**
 * Whether the nodes holding a session may lose it: those that let go (answered) may; any other must
 * be dead. `alive(node)` is a query that locks the node's liveness row (FOR SHARE) and returns
 * `{ alive }`: a node starting again writes that row before it loads its sessions, so it waits for a
 * move that checked it and then finds its rows gone, or the move finds it alive and refuses.
 */
export interface HolderCheck {
  answered: ReadonlySet<string>;
  alive(node: string): pg.QueryConfig;
}

/** A node holding the session is alive but did not let it go: taking its rows would run the session twice. */
export class HolderAliveError extends Error {
  readonly code = 'HOLDER_ALIVE';
  constructor(readonly node: string) {
    super(`node ${node} holds the session and is alive, but did not let it go`);
  }
}

async function ensureGone(q: Query, nodes: readonly string[], check: HolderCheck | undefined): Promise<void> {
  if (!check) return;
  for (const node of nodes) {
    if (check.answered.has(node)) continue;
    const [row] = await q(check.alive(node));
    if (row?.alive === true) throw new HolderAliveError(node);
  }
}

export async function adoptSession(
  q: Query,
  types: Types,
  node: string,
  mount: string,
  clientId: string,
  newMessageId: () => number,
  check?: HolderCheck,
): Promise<MovedSession | null> {
  const key = [mount, clientId, node];
  // Locks the rows: two nodes adopting at once take turns, and the second finds nothing left.
  const held = await q({
    text: `SELECT * FROM mqtt_sessions WHERE mount = $1 AND client_id = $2 AND node <> $3
           ORDER BY disconnected_at DESC NULLS FIRST FOR UPDATE`,
    values: key,
    types,
  });
  if (held.length === 0) return null;
  // A client connected when its node died has no disconnect time; otherwise the latest disconnect is the live session.
  const from = held[0]!.node as string;
  const own = [mount, clientId, from];
  const where = 'WHERE mount = $1 AND client_id = $2 AND node = $3';
  const subs = await q({ text: `SELECT * FROM mqtt_subscriptions ${where}`, values: own, types });
  const inbound = await q({ text: `SELECT * FROM mqtt_inbound_qos2 ${where} ORDER BY packet_id`, values: own, types });
  const queued = await q({
    text: `SELECT ${QUEUE_PAGE_COLUMNS} FROM mqtt_queue q JOIN mqtt_messages m ON m.node = q.node AND m.id = q.message_id
           WHERE q.mount = $1 AND q.client_id = $2 AND q.node = $3 ORDER BY q.seq`,
    values: own,
    types,
  });
  const session = sessionsFromRows([held[0]!], subs, inbound)[0]!;
  const ids = new Map<number, number>();
  const queue = queued.map(queueItemFromRow).map(({ entry, message }) => {
    let id = ids.get(message.id);
    if (id === undefined) ids.set(message.id, (id = newMessageId()));
    return { entry: { ...entry, messageId: id }, message: { ...message, id } };
  });
  // The copies, written as this node's own batch would write them.
  const copy = new Batch(node);
  copy.putSession(session);
  for (const s of session.subscriptions) copy.putSubscription(mount, clientId, s);
  for (const id of session.inboundQos2) copy.putInboundQos2(mount, clientId, id);
  const copied = new Set<number>();
  for (const { entry, message } of queue) {
    if (!copied.has(message.id)) copy.putMessage(message);
    copied.add(message.id);
    copy.putQueueEntry(entry);
  }
  // Checks the holders (`check`) before anything is written: a live one rolls the whole move back.
  await dropElsewhere(q, node, mount, clientId, check);
  for (const statement of copy.statements()) await q(statement);
  return { session, queue, from };
}

/** Every other node's session, subscription, queue and inbound rows of a client. */
export async function dropElsewhere(q: Query, node: string, mount: string, clientId: string, check?: HolderCheck): Promise<void> {
  const holders = await q({
    text: 'SELECT node FROM mqtt_sessions WHERE mount = $1 AND client_id = $2 AND node <> $3 FOR UPDATE',
    values: [mount, clientId, node],
  });
  // By the primary key's prefix (node, mount, client_id), for each node that has the session.
  const nodes = holders.map((r) => r.node as string);
  if (nodes.length === 0) return;
  await ensureGone(q, nodes, check);
  for (const t of [SUBSCRIPTIONS, QUEUE, INBOUND, SESSIONS])
    await q({
      text: `DELETE FROM ${t.name} WHERE node = ANY($1::text[]) AND mount = $2 AND client_id = $3`,
      values: [nodes, mount, clientId],
    });
}
