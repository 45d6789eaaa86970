/** Decoded forms of the packets a server receives from clients, plus the property bag shared by all. */

export type QoS = 0 | 1 | 2;
export type ProtocolVersion = 3 | 4 | 5;

/** User properties keep their order and duplicates, as MQTT 5 §3.3.2.3.7 requires when forwarding. */
export type UserProperties = Array<[string, string]>;

export interface Properties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  userProperties?: UserProperties;
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifierAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

export interface WillPacket {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties: Properties;
}

export interface ConnectPacket {
  type: 'connect';
  protocolName: string;
  protocolVersion: ProtocolVersion;
  clean: boolean;
  keepAlive: number;
  clientId: string;
  will: WillPacket | undefined;
  username: string | undefined;
  password: Buffer | undefined;
  properties: Properties;
}

export interface PublishPacket {
  type: 'publish';
  qos: QoS;
  dup: boolean;
  retain: boolean;
  topic: string;
  packetId: number;
  payload: Buffer;
  properties: Properties;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP. */
export interface AckPacket {
  type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';
  packetId: number;
  reasonCode: number;
  properties: Properties;
}

export interface SubscriptionRequest {
  filter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: SubscriptionRequest[];
  properties: Properties;
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  filters: string[];
  properties: Properties;
}

export interface PingreqPacket {
  type: 'pingreq';
}

export interface DisconnectPacket {
  type: 'disconnect';
  reasonCode: number;
  properties: Properties;
}

export interface AuthPacket {
  type: 'auth';
  reasonCode: number;
  properties: Properties;
}

export type ClientPacket =
  ConnectPacket | PublishPacket | AckPacket | SubscribePacket | UnsubscribePacket | PingreqPacket | DisconnectPacket | AuthPacket;

/** Control packet type numbers (fixed header bits 7-4). */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;
