/** SUBSCRIBE and UNSUBSCRIBE: per-filter checks, authorization, SUBACK codes, retained messages (MQTT 5 §3.8–3.11). */
import { encodeSuback, encodeUnsuback } from './codec/encoder.js';
import type { QoS, SubscribePacket, UnsubscribePacket } from './codec/packets.js';
import { RC } from './codec/reason-codes.js';
import type { Properties } from './codec/packets.js';
import type { ConnectionHost } from './connection-host.js';
import type { ClientInfo } from './hooks.js';
import type { Session } from './session.js';
import type { Transport } from './transport/transport.js';
import { hasWildcard, parseFilter } from './topics.js';

/** The connection a SUBSCRIBE or UNSUBSCRIBE arrived on (after CONNECT). */
export interface SubscribingConnection {
  readonly broker: ConnectionHost<never>;
  readonly transport: Transport;
  readonly client: ClientInfo | undefined;
  readonly session: Session | null;
  readonly v5: boolean;
  /** 'open' until the connection closes. */
  readonly state: string;
  /** A reason string property, when the client asked for them. */
  reason(text: string): Properties | undefined;
  /** Closes the connection for a protocol violation with a reason code. */
  violation(code: number, message: string): void;
}

export function handleSubscribe(conn: SubscribingConnection, p: SubscribePacket): void {
  const broker = conn.broker;
  const cfg = broker.config;
  const client = conn.client!;
  const session = conn.session!;
  const subId = p.properties.subscriptionIdentifiers?.[0];
  if (subId !== undefined && !cfg.subscriptionIdentifiersAvailable) {
    return conn.violation(RC.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED, 'subscription identifiers are not supported');
  }
  if (cfg.maxFiltersPerSubscribe > 0 && p.subscriptions.length > cfg.maxFiltersPerSubscribe) {
    const codes = p.subscriptions.map(() => (conn.v5 ? RC.QUOTA_EXCEEDED : 0x80));
    conn.transport.write(
      encodeSuback(p.packetId, codes, conn.v5, conn.reason(`at most ${cfg.maxFiltersPerSubscribe} topic filters per SUBSCRIBE`)),
    );
    return;
  }
  const codes: number[] = [];
  const granted: Array<{ key: string; isNew: boolean }> = [];
  const reasons: string[] = [];
  for (const req of p.subscriptions) {
    const parsed = parseFilter(req.filter, cfg);
    let code: number;
    if (typeof parsed === 'string') {
      code = RC.TOPIC_FILTER_INVALID;
      reasons.push(parsed);
    } else if (parsed.group !== undefined && !cfg.sharedSubscriptionAvailable) {
      code = RC.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED;
    } else if (parsed.group !== undefined && req.noLocal && conn.v5) {
      return conn.violation(RC.PROTOCOL_ERROR, 'No Local must not be set on a shared subscription');
    } else if (!cfg.wildcardSubscriptionAvailable && hasWildcard(parsed.filter)) {
      code = RC.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED;
    } else if (!broker.reservedTopicAllowed(parsed.filter)) {
      code = RC.NOT_AUTHORIZED;
      reasons.push(`subscribing to "${parsed.filter}" is not allowed`);
    } else if (
      cfg.maxSubscriptionsPerClient > 0 &&
      !session.subscriptions.has(req.filter) &&
      session.subscriptions.size >= cfg.maxSubscriptionsPerClient
    ) {
      code = RC.QUOTA_EXCEEDED;
      reasons.push(`at most ${cfg.maxSubscriptionsPerClient} subscriptions per client`);
    } else {
      const qos = Math.min(req.qos, cfg.maximumQoS) as QoS;
      code = broker.hooks.authorizeSubscribe ? broker.hooks.authorizeSubscribe(client, req.filter, qos) : RC.SUCCESS;
      if (code === RC.SUCCESS) {
        const isNew = broker.subscribe(session, req, parsed, qos, subId);
        granted.push({ key: req.filter, isNew });
        code = qos;
      } else {
        reasons.push(`not authorized to subscribe to "${req.filter}"`);
      }
    }
    // MQTT 3.1.1 knows only one failure code.
    codes.push(conn.v5 || code < 0x80 ? code : 0x80);
  }
  const suback = encodeSuback(p.packetId, codes, conn.v5, reasons.length ? conn.reason(reasons.join('; ')) : undefined);
  const finish = (): void => {
    if (conn.state !== 'open') return;
    conn.transport.write(suback);
    for (const g of granted) broker.sendRetained(session, g.key, g.isNew);
    if (granted.length)
      broker.emit(
        'client:subscribed',
        client,
        granted.map((g) => g.key),
      );
  };
  // In a cluster the SUBACK waits until the other nodes know the new filters: from then on what is
  // published on any node reaches the subscription (messages may arrive before the SUBACK, §3.8.4).
  const settled = granted.length > 0 ? broker.clusterSettled() : undefined;
  if (settled === undefined) finish();
  else void settled.then(finish);
}

export function handleUnsubscribe(conn: SubscribingConnection, p: UnsubscribePacket): void {
  const broker = conn.broker;
  const session = conn.session!;
  const codes: number[] = [];
  const removed: string[] = [];
  for (const filter of p.filters) {
    const parsed = parseFilter(filter, broker.config);
    if (typeof parsed === 'string') {
      codes.push(RC.TOPIC_FILTER_INVALID);
      continue;
    }
    if (broker.unsubscribe(session, filter)) {
      codes.push(RC.SUCCESS);
      removed.push(filter);
    } else {
      codes.push(RC.NO_SUBSCRIPTION_EXISTED);
    }
  }
  conn.transport.write(encodeUnsuback(p.packetId, codes, conn.v5));
  if (removed.length) broker.emit('client:unsubscribed', conn.client!, removed);
}
