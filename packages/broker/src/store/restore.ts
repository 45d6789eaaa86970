/** Reading a broker's durable state back from its store at start. */
import type { BrokerConfig } from '../options.js';
import type { Message } from '../message.js';
import type { Delivery, Session, SessionNamespace, Subscription } from '../session.js';
import { parseFilter } from '../topics.js';
import { seedMessageId, type MessageRefs } from './message-refs.js';
import type { BrokerStore, StoredQueueEntry, StoredSession } from './types.js';
import { fromStored } from './stored-message.js';

/**
 * A stored session in memory (offline): its subscriptions in its namespace's topic tree, its inbound
 * QoS 2 ids; its queue is for the caller to restore.
 */
export function sessionFromStored(
  ns: SessionNamespace,
  s: StoredSession,
  config: BrokerConfig,
  newSession: (ns: SessionNamespace, clientId: string) => Session,
  now = Date.now(),
): Session {
  const session = newSession(ns, s.clientId);
  session.protocolVersion = s.protocolVersion;
  session.expiryInterval = s.expiryInterval;
  // A crash leaves connected sessions without a disconnect time; the restart stands in for it.
  session.disconnectedAt = s.disconnectedAt ?? now;
  session.stored = true;
  for (const id of s.inboundQos2) session.inboundQos2.add(id);
  for (const st of s.subscriptions) {
    const parsed = parseFilter(st.key, config);
    if (typeof parsed === 'string') continue;
    const sub: Subscription = {
      session,
      key: st.key,
      filter: parsed.filter,
      group: parsed.group,
      qos: st.qos,
      noLocal: st.noLocal,
      retainAsPublished: st.retainAsPublished,
      retainHandling: st.retainHandling,
      subscriptionId: st.subscriptionId,
    };
    session.subscriptions.set(st.key, sub);
    ns.tree.add(sub.filter, sub, sub.group);
  }
  ns.sessions.set(s.clientId, session);
  return session;
}

/** A queue entry read back, as the session's delivery of `msg`. */
export function deliveryOf(q: StoredQueueEntry, msg: Message): Delivery {
  return {
    msg,
    qos: q.qos,
    retain: q.retain,
    subscriptionIds: q.subscriptionIds ?? undefined,
    seq: q.seq,
    packetId: q.packetId,
    state: q.state,
  };
}

/**
 * Recreates the stored sessions (offline), their subscriptions in the topic trees, their queued
 * and in-flight deliveries, and the retained messages. Returns the sessions so the caller can
 * schedule or apply their expiry.
 */
export function loadState(
  store: BrokerStore,
  refs: MessageRefs,
  config: BrokerConfig,
  namespace: (mount: string) => SessionNamespace,
  newSession: (ns: SessionNamespace, clientId: string) => Session,
): Session[] {
  const state = store.load();
  const messages = new Map<number, Message>();
  let maxId = 0;
  for (const m of state.messages) {
    const msg = fromStored(m);
    msg.id = m.id;
    messages.set(m.id, msg);
    if (m.id > maxId) maxId = m.id;
  }
  seedMessageId(maxId);
  const now = Date.now();
  const sessions: Session[] = [];
  for (const s of state.sessions) {
    const session = sessionFromStored(namespace(s.mount), s, config, newSession, now);
    sessions.push(session);
  }
  const referenced = new Set<number>();
  for (const q of [...state.queue].sort((a, b) => a.seq - b.seq)) {
    const session = namespace(q.mount).sessions.get(q.clientId);
    const msg = messages.get(q.messageId);
    if (!session || !msg) continue;
    refs.adopt(msg.id);
    referenced.add(msg.id);
    const d = deliveryOf(q, msg);
    session.restore(d);
  }
  for (const r of state.retained) {
    const msg = fromStored(r.message);
    if (!msg.expired(now)) namespace(r.mount).retained.set(msg.topic, msg);
  }
  // Messages no queue entry points at any more (their session ended before the crash).
  for (const msg of messages.values()) if (!referenced.has(msg.id)) store.deleteMessage(msg.id);
  return sessions;
}
