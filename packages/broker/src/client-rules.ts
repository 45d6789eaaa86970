/**
 * What the broker refuses of a client's CONNECT and PUBLISH before anything is routed, and what a
 * CONNACK grants: the checks and negotiations of the protocol, apart from the connection's state
 * machine (connection.ts) that applies them.
 */
import { isUtf8 } from 'node:buffer';
import type { ConnectPacket, Properties, PublishPacket } from './codec/packets.js';
import { RC } from './codec/reason-codes.js';
import type { ConnectionHost } from './connection-host.js';
import type { ClientInfo } from './hooks.js';
import type { BrokerConfig } from './options.js';
import { topicNameError } from './topics.js';

/** A refusal: the reason code and the reason string sent with it. */
export interface Refusal {
  code: number;
  reason: string;
}

/** The metric label of each protocol violation. */
export const KIND_OF_ERROR: Record<number, string> = {
  [RC.MALFORMED_PACKET]: 'malformed',
  [RC.PROTOCOL_ERROR]: 'protocol_error',
  [RC.PACKET_TOO_LARGE]: 'packet_too_large',
  [RC.UNSUPPORTED_PROTOCOL_VERSION]: 'unsupported_protocol',
  [RC.TOPIC_ALIAS_INVALID]: 'topic_alias_invalid',
  [RC.RECEIVE_MAXIMUM_EXCEEDED]: 'receive_maximum_exceeded',
  [RC.TOPIC_NAME_INVALID]: 'topic_name_invalid',
  [RC.QOS_NOT_SUPPORTED]: 'qos_not_supported',
  [RC.RETAIN_NOT_SUPPORTED]: 'retain_not_supported',
  [RC.SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED]: 'subscription_identifiers_not_supported',
};

const refusal = (code: number, reason: string): Refusal => ({ code, reason });

/** What a CONNECT with client id `clientId` (assigned already if it sent none) asks for that is refused before authentication. */
export function connectRefusal(p: ConnectPacket, clientId: string, host: ConnectionHost<unknown>): Refusal | undefined {
  const cfg = host.config;
  if (Buffer.byteLength(clientId) > cfg.maxClientIdLength) {
    return refusal(RC.CLIENT_IDENTIFIER_NOT_VALID, `client id longer than ${cfg.maxClientIdLength} bytes`);
  }
  const method = p.properties.authenticationMethod;
  if (method !== undefined) return refusal(RC.BAD_AUTHENTICATION_METHOD, `authentication method "${method}" is not supported`);
  const will = p.will;
  if (will) {
    const err = topicNameError(will.topic, cfg);
    if (err) return refusal(RC.TOPIC_NAME_INVALID, `will ${err}`);
    // The same reserved-topic rules as for PUBLISH (publishRefusal).
    if (!host.reservedTopicAllowed(will.topic) || (will.retain && will.topic.charCodeAt(0) === 36 && cfg.reservedTopicPrefixes)) {
      return refusal(RC.NOT_AUTHORIZED, `a will on the reserved topic "${will.topic}" is not allowed`);
    }
    if (will.qos > cfg.maximumQoS) return refusal(RC.QOS_NOT_SUPPORTED, `will QoS ${will.qos} is above the maximum QoS ${cfg.maximumQoS}`);
    if (will.retain && !cfg.retainAvailable) return refusal(RC.RETAIN_NOT_SUPPORTED, 'retained messages are not available');
  }
  // Checked again after authentication, when a takeover (which adds no connection) can be told apart.
  if (cfg.maxConnections > 0 && host.connectionCount > cfg.maxConnections * 2) {
    return refusal(RC.QUOTA_EXCEEDED, `the server accepts at most ${cfg.maxConnections} connections`);
  }
  return undefined;
}

/** The keep-alive the server grants for the one a client asked for, in seconds. */
export function grantedKeepAlive(asked: number, cfg: BrokerConfig): number {
  let keepAlive = asked;
  if (cfg.maxKeepAlive > 0 && (keepAlive === 0 || keepAlive > cfg.maxKeepAlive)) keepAlive = cfg.maxKeepAlive;
  if (cfg.minKeepAlive > 0 && keepAlive > 0 && keepAlive < cfg.minKeepAlive) keepAlive = cfg.minKeepAlive;
  return keepAlive;
}

/** The session expiry a CONNECT asks for (MQTT 3.1.1: none for a clean session, the longest otherwise). */
export function askedExpiry(p: ConnectPacket, cfg: BrokerConfig): number {
  return p.protocolVersion === 5 ? (p.properties.sessionExpiryInterval ?? 0) : p.clean ? 0 : cfg.maxSessionExpiry;
}

/** What the CONNACK of an MQTT 5 client says where the server differs from what it asked or from the defaults. */
export function connackProperties(
  p: ConnectPacket,
  cfg: BrokerConfig,
  granted: { expiry: number; keepAlive: number; receiveMaximum: number; assignedClientId: string | undefined },
): Properties {
  const ack: Properties = {};
  if (granted.expiry !== askedExpiry(p, cfg)) ack.sessionExpiryInterval = granted.expiry;
  if (granted.receiveMaximum < 65_535) ack.receiveMaximum = granted.receiveMaximum;
  if (cfg.maximumQoS < 2) ack.maximumQoS = cfg.maximumQoS;
  if (!cfg.retainAvailable) ack.retainAvailable = 0;
  ack.maximumPacketSize = cfg.maxPacketSize;
  if (granted.assignedClientId !== undefined) ack.assignedClientIdentifier = granted.assignedClientId;
  if (cfg.topicAliasMaximum > 0) ack.topicAliasMaximum = cfg.topicAliasMaximum;
  if (!cfg.wildcardSubscriptionAvailable) ack.wildcardSubscriptionAvailable = 0;
  if (!cfg.subscriptionIdentifiersAvailable) ack.subscriptionIdentifierAvailable = 0;
  if (!cfg.sharedSubscriptionAvailable) ack.sharedSubscriptionAvailable = 0;
  if (granted.keepAlive !== p.keepAlive) ack.serverKeepAlive = granted.keepAlive;
  return ack;
}

/** Why a PUBLISH to `topic` is refused (invalid or reserved topic, not authorized, bad UTF-8 payload), or undefined. */
export function publishRefusal(p: PublishPacket, topic: string, client: ClientInfo, host: ConnectionHost<unknown>): Refusal | undefined {
  const cfg = host.config;
  const topicErr = topicNameError(topic, cfg);
  if (topicErr) return refusal(RC.TOPIC_NAME_INVALID, topicErr);
  if (!host.reservedTopicAllowed(topic)) return refusal(RC.NOT_AUTHORIZED, `publishing to the reserved topic "${topic}" is not allowed`);
  if (p.retain && topic.charCodeAt(0) === 36 && cfg.reservedTopicPrefixes) {
    return refusal(RC.NOT_AUTHORIZED, 'retained messages cannot be published to reserved topics');
  }
  const hooks = host.hooks;
  const rc = hooks.authorizePublish ? hooks.authorizePublish(client, topic, p.qos, p.retain) : RC.SUCCESS;
  if (rc !== RC.SUCCESS) return refusal(rc, `not authorized to publish to "${topic}"`);
  if (p.properties.payloadFormatIndicator === 1 && !isUtf8(p.payload)) {
    return refusal(RC.PAYLOAD_FORMAT_INVALID, 'the payload is marked as UTF-8 but is not');
  }
  return undefined;
}
