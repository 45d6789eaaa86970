/**
 * Rows of the broker's tables as the SQL stores (SQLite, PostgreSQL) read them back: one mapping for
 * both. Columns differ only in how an engine returns flags (SQLite 0/1, PostgreSQL booleans); every
 * number comes back as a JS number (PostgreSQL's int8 is parsed as one by the store).
 */
import type { QoS } from '../codec/packets.js';
import type { MessageProperties } from '../message.js';
import type { StoredMessage, StoredQueueEntry, StoredQueueItem, StoredSession, StoredSubscription } from './types.js';

export type Row = Record<string, unknown>;

/** A session's key in maps (NUL cannot occur in a mount or client id: MQTT forbids U+0000). */
export const sessionKey = (mount: string, clientId: string): string => `${mount}\u0000${clientId}`;

/** Properties as JSON: binary correlation data travels as base64. */
export function encodeProps(p: MessageProperties): string | null {
  if (Object.keys(p).length === 0) return null;
  return JSON.stringify({ ...p, correlationData: p.correlationData?.toString('base64') });
}

export function decodeProps(s: string | null): MessageProperties {
  if (!s) return {};
  const o = JSON.parse(s) as MessageProperties & { correlationData?: string };
  const out: MessageProperties = { ...o, correlationData: undefined };
  if (o.correlationData) out.correlationData = Buffer.from(o.correlationData, 'base64');
  else delete out.correlationData;
  return out;
}

export const encodeSubscriptionIds = (ids: number[] | null): string | null => (ids ? JSON.stringify(ids) : null);

const flag = (v: unknown): boolean => v === 1 || v === true;

export function subscriptionFromRow(r: Row): StoredSubscription {
  return {
    key: r.filter as string,
    qos: r.qos as QoS,
    noLocal: flag(r.no_local),
    retainAsPublished: flag(r.retain_as_published),
    retainHandling: r.retain_handling as 0 | 1 | 2,
    subscriptionId: (r.subscription_id as number | null) ?? undefined,
  };
}

export function messageFromRow(r: Row): StoredMessage {
  return {
    id: r.id as number,
    topic: r.topic as string,
    payload: r.payload as Buffer,
    qos: r.qos as QoS,
    retain: flag(r.retain),
    properties: decodeProps(r.properties as string | null),
    createdAt: r.created_at as number,
    expiresAt: r.expires_at as number,
  };
}

export function queueEntryFromRow(r: Row): StoredQueueEntry {
  return {
    mount: r.mount as string,
    clientId: r.client_id as string,
    seq: r.seq as number,
    messageId: r.message_id as number,
    qos: r.qos as QoS,
    retain: flag(r.retain),
    subscriptionIds: r.subscription_ids ? (JSON.parse(r.subscription_ids as string) as number[]) : null,
    packetId: r.packet_id as number,
    state: r.state as 0 | 1 | 2,
  };
}

/** A retained row: its message has no id (retained messages are not queue rows). */
export function retainedFromRow(r: Row): { mount: string; message: StoredMessage } {
  return { mount: r.mount as string, message: messageFromRow({ ...r, id: 0, retain: true }) };
}

/**
 * The columns the queue page query selects: the queue row's own, and its message's with `m_qos`
 * and `m_retain` for the two names they share.
 */
export const QUEUE_PAGE_COLUMNS = `q.mount, q.client_id, q.seq, q.message_id, q.qos, q.retain, q.subscription_ids, q.packet_id,
  q.state, m.topic, m.payload, m.qos AS m_qos, m.retain AS m_retain, m.properties, m.created_at, m.expires_at`;

export function queueItemFromRow(r: Row): StoredQueueItem {
  return {
    entry: queueEntryFromRow(r),
    message: {
      id: r.message_id as number,
      topic: r.topic as string,
      payload: r.payload as Buffer,
      qos: r.m_qos as QoS,
      retain: flag(r.m_retain),
      properties: decodeProps(r.properties as string | null),
      createdAt: r.created_at as number,
      expiresAt: r.expires_at as number,
    },
  };
}

/** Sessions with their subscriptions and inbound QoS 2 ids, from the rows of the three tables. */
export function sessionsFromRows(sessionRows: Row[], subscriptionRows: Row[], inboundRows: Row[]): StoredSession[] {
  const inbound = new Map<string, number[]>();
  for (const r of inboundRows) {
    const k = sessionKey(r.mount as string, r.client_id as string);
    let list = inbound.get(k);
    if (!list) inbound.set(k, (list = []));
    list.push(r.packet_id as number);
  }
  const subs = new Map<string, StoredSubscription[]>();
  for (const r of subscriptionRows) {
    const k = sessionKey(r.mount as string, r.client_id as string);
    let list = subs.get(k);
    if (!list) subs.set(k, (list = []));
    list.push(subscriptionFromRow(r));
  }
  return sessionRows.map((r) => {
    const k = sessionKey(r.mount as string, r.client_id as string);
    return {
      mount: r.mount as string,
      clientId: r.client_id as string,
      protocolVersion: r.protocol_version as number,
      expiryInterval: r.expiry_interval as number,
      disconnectedAt: r.disconnected_at as number | null,
      subscriptions: subs.get(k) ?? [],
      inboundQos2: inbound.get(k) ?? [],
    };
  });
}
