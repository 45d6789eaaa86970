/**
 * Lifecycle events (reference §4.1): `$aws/events/presence/{connected,disconnected,connect_failed}/{clientId}`
 * and `$aws/events/subscriptions/{subscribed,unsubscribed}/{clientId}`, published through the broker
 * into the client's own namespace like any other message.
 */
import type { Broker, ClientInfo, DisconnectReason, TransportInfo } from '@thicket/broker';

/** Client ids with wildcard characters get no lifecycle events, as on AWS (they could not be subscribed to exactly). */
const eventless = (clientId: string): boolean => clientId.includes('+') || clientId.includes('#');

/** AWS resets a client's version number after about an hour without a connection. */
const VERSION_RESET_MS = 3600_000;

function ip(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

interface Extra {
  thingName?: (client: ClientInfo) => string | undefined;
}

export function publishLifecycleEvents(broker: Broker, extra: Extra = {}): () => void {
  /** Per client id: connect and its disconnect share a version number that grows per connection. */
  const versions = new Map<string, { v: number; disconnectedAt: number | null }>();
  const prune = setInterval(() => {
    const cutoff = Date.now() - VERSION_RESET_MS;
    for (const [k, e] of versions) if (e.disconnectedAt !== null && e.disconnectedAt < cutoff) versions.delete(k);
  }, 600_000);
  prune.unref();
  const key = (c: ClientInfo): string => `${c.mount}\u0000${c.clientId}`;

  const send = (mount: string, topic: string, body: Record<string, unknown>): void => {
    broker.publish({ mount, topic, payload: JSON.stringify(body), qos: 1 });
  };
  const common = (c: ClientInfo, eventType: string): Record<string, unknown> => {
    const body: Record<string, unknown> = { clientId: c.clientId, timestamp: Date.now(), eventType, sessionIdentifier: c.connectionId };
    const thingName = extra.thingName?.(c);
    if (thingName) body.thingName = thingName;
    body.principalIdentifier = c.principal ?? 'anonymous';
    return body;
  };

  const onConnected = (c: ClientInfo): void => {
    if (eventless(c.clientId)) return;
    const k = key(c);
    const v = (versions.get(k)?.v ?? -1) + 1;
    versions.set(k, { v, disconnectedAt: null });
    send(c.mount, `$aws/events/presence/connected/${c.clientId}`, {
      ...common(c, 'connected'),
      ipAddress: ip(c.transport.remoteAddress),
      versionNumber: v,
    });
  };
  const onDisconnected = (c: ClientInfo | undefined, reason: DisconnectReason): void => {
    if (!c || eventless(c.clientId)) return;
    const entry = versions.get(key(c));
    if (entry) entry.disconnectedAt = Date.now();
    send(c.mount, `$aws/events/presence/disconnected/${c.clientId}`, {
      ...common(c, 'disconnected'),
      clientInitiatedDisconnect: reason === 'CLIENT_INITIATED_DISCONNECT',
      disconnectReason: reason,
      versionNumber: entry?.v ?? 0,
    });
  };
  const onConnectFailed = (e: { clientId: string; transport: TransportInfo; principal?: string; mount?: string }): void => {
    if (eventless(e.clientId)) return;
    send(e.mount ?? '', `$aws/events/presence/connect_failed/${e.clientId}`, {
      clientId: e.clientId,
      timestamp: Date.now(),
      eventType: 'connect_failed',
      connectFailureReason: 'AUTHORIZATION_FAILED',
      principalIdentifier: e.principal ?? 'anonymous',
      ipAddress: ip(e.transport.remoteAddress),
    });
  };
  const subscriptionEvent = (eventType: 'subscribed' | 'unsubscribed') => (c: ClientInfo, topics: string[]) => {
    if (eventless(c.clientId)) return;
    send(c.mount, `$aws/events/subscriptions/${eventType}/${c.clientId}`, { ...common(c, eventType), topics });
  };
  const onSubscribed = subscriptionEvent('subscribed');
  const onUnsubscribed = subscriptionEvent('unsubscribed');

  broker.on('client:connected', onConnected);
  broker.on('client:disconnected', onDisconnected);
  broker.on('client:connectFailed', onConnectFailed);
  broker.on('client:subscribed', onSubscribed);
  broker.on('client:unsubscribed', onUnsubscribed);
  return () => {
    clearInterval(prune);
    broker.off('client:connected', onConnected);
    broker.off('client:disconnected', onDisconnected);
    broker.off('client:connectFailed', onConnectFailed);
    broker.off('client:subscribed', onSubscribed);
    broker.off('client:unsubscribed', onUnsubscribed);
  };
}
