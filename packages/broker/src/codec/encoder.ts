/**
 * Encoders for the packets a server sends. PUBLISH is on the hot path: it is written into one
 * buffer sized up front, and callers reuse one encoding for every subscriber that can take the same
 * bytes (see message.ts).
 */
import type { Properties, QoS, UserProperties } from './packets.js';
import { PacketType } from './packets.js';

export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function writeVarint(buf: Buffer, pos: number, n: number): number {
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    buf[pos++] = b;
  } while (n > 0);
  return pos;
}

/** Property identifiers for the properties a server sends. */
const ID = {
  payloadFormatIndicator: 0x01,
  messageExpiryInterval: 0x02,
  contentType: 0x03,
  responseTopic: 0x08,
  correlationData: 0x09,
  subscriptionIdentifier: 0x0b,
  sessionExpiryInterval: 0x11,
  assignedClientIdentifier: 0x12,
  serverKeepAlive: 0x13,
  authenticationMethod: 0x15,
  authenticationData: 0x16,
  responseInformation: 0x1a,
  serverReference: 0x1c,
  reasonString: 0x1f,
  receiveMaximum: 0x21,
  topicAliasMaximum: 0x22,
  topicAlias: 0x23,
  maximumQoS: 0x24,
  retainAvailable: 0x25,
  userProperty: 0x26,
  maximumPacketSize: 0x27,
  wildcardSubscriptionAvailable: 0x28,
  subscriptionIdentifierAvailable: 0x29,
  sharedSubscriptionAvailable: 0x2a,
} as const;

const BYTE_PROPS = [
  'payloadFormatIndicator',
  'maximumQoS',
  'retainAvailable',
  'wildcardSubscriptionAvailable',
  'subscriptionIdentifierAvailable',
  'sharedSubscriptionAvailable',
] as const;
const U16_PROPS = ['serverKeepAlive', 'receiveMaximum', 'topicAliasMaximum', 'topicAlias'] as const;
const U32_PROPS = ['messageExpiryInterval', 'sessionExpiryInterval', 'maximumPacketSize'] as const;
const STRING_PROPS = [
  'contentType',
  'responseTopic',
  'assignedClientIdentifier',
  'authenticationMethod',
  'responseInformation',
  'serverReference',
  'reasonString',
] as const;
const BINARY_PROPS = ['correlationData', 'authenticationData'] as const;

/** Encodes a property set (without its length prefix). */
export function encodeProperties(props: Properties): Buffer {
  const parts: Buffer[] = [];
  for (const k of BYTE_PROPS) {
    const v = props[k];
    if (v !== undefined) parts.push(Buffer.from([ID[k], v]));
  }
  for (const k of U16_PROPS) {
    const v = props[k];
    if (v !== undefined) {
      const b = Buffer.allocUnsafe(3);
      b[0] = ID[k];
      b.writeUInt16BE(v, 1);
      parts.push(b);
    }
  }
  for (const k of U32_PROPS) {
    const v = props[k];
    if (v !== undefined) {
      const b = Buffer.allocUnsafe(5);
      b[0] = ID[k];
      b.writeUInt32BE(v, 1);
      parts.push(b);
    }
  }
  for (const k of STRING_PROPS) {
    const v = props[k];
    if (v !== undefined) parts.push(Buffer.from([ID[k]]), lengthPrefixed(Buffer.from(v, 'utf8')));
  }
  for (const k of BINARY_PROPS) {
    const v = props[k];
    if (v !== undefined) parts.push(Buffer.from([ID[k]]), lengthPrefixed(v));
  }
  if (props.subscriptionIdentifiers) {
    for (const id of props.subscriptionIdentifiers) {
      const b = Buffer.allocUnsafe(1 + varintSize(id));
      b[0] = ID.subscriptionIdentifier;
      writeVarint(b, 1, id);
      parts.push(b);
    }
  }
  if (props.userProperties) parts.push(encodeUserProperties(props.userProperties));
  return Buffer.concat(parts);
}

export function encodeUserProperties(pairs: UserProperties): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of pairs) {
    parts.push(Buffer.from([ID.userProperty]), lengthPrefixed(Buffer.from(k, 'utf8')), lengthPrefixed(Buffer.from(v, 'utf8')));
  }
  return Buffer.concat(parts);
}

function lengthPrefixed(b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

/** Builds a packet from its first byte and body parts. */
function packet(first: number, body: Buffer[]): Buffer {
  let len = 0;
  for (const b of body) len += b.length;
  const out = Buffer.allocUnsafe(1 + varintSize(len) + len);
  out[0] = first;
  let pos = writeVarint(out, 1, len);
  for (const b of body) {
    b.copy(out, pos);
    pos += b.length;
  }
  return out;
}

function propertiesBlock(props: Properties | undefined): Buffer {
  const p = props ? encodeProperties(props) : EMPTY_BUFFER;
  const out = Buffer.allocUnsafe(varintSize(p.length) + p.length);
  const pos = writeVarint(out, 0, p.length);
  p.copy(out, pos);
  return out;
}
const EMPTY_BUFFER = Buffer.alloc(0);

export function encodeConnack(v5: boolean, sessionPresent: boolean, code: number, props?: Properties): Buffer {
  const head = Buffer.from([sessionPresent ? 1 : 0, code]);
  return packet(PacketType.CONNACK << 4, v5 ? [head, propertiesBlock(props)] : [head]);
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP. The short form is used when it says everything (MQTT 5 §3.4.2.1). */
export function encodeAck(type: 4 | 5 | 6 | 7, packetId: number, v5: boolean, code = 0, props?: Properties): Buffer {
  const first = (type << 4) | (type === PacketType.PUBREL ? 0b0010 : 0);
  if (!v5 || (code === 0 && !hasProps(props))) {
    return Buffer.from([first, 2, packetId >> 8, packetId & 0xff]);
  }
  const id = Buffer.from([packetId >> 8, packetId & 0xff, code]);
  return hasProps(props) ? packet(first, [id, propertiesBlock(props)]) : packet(first, [id]);
}

export function encodeSuback(packetId: number, codes: number[], v5: boolean, props?: Properties): Buffer {
  const id = Buffer.from([packetId >> 8, packetId & 0xff]);
  const body = v5 ? [id, propertiesBlock(props), Buffer.from(codes)] : [id, Buffer.from(codes)];
  return packet(PacketType.SUBACK << 4, body);
}

export function encodeUnsuback(packetId: number, codes: number[], v5: boolean, props?: Properties): Buffer {
  const id = Buffer.from([packetId >> 8, packetId & 0xff]);
  return packet(PacketType.UNSUBACK << 4, v5 ? [id, propertiesBlock(props), Buffer.from(codes)] : [id]);
}

export const PINGRESP = Buffer.from([PacketType.PINGRESP << 4, 0]);

export function encodeDisconnect(code: number, props?: Properties): Buffer {
  if (code === 0 && !hasProps(props)) return Buffer.from([PacketType.DISCONNECT << 4, 0]);
  return packet(PacketType.DISCONNECT << 4, [Buffer.from([code]), propertiesBlock(props)]);
}

export function encodeAuth(code: number, props?: Properties): Buffer {
  return packet(PacketType.AUTH << 4, [Buffer.from([code]), propertiesBlock(props)]);
}

function hasProps(props: Properties | undefined): boolean {
  if (!props) return false;
  for (const k in props) if ((props as Record<string, unknown>)[k] !== undefined) return true;
  return false;
}

export interface PublishEncoding {
  /** Topic bytes; empty when a topic alias stands in for the topic. */
  topic: Buffer;
  qos: QoS;
  dup: boolean;
  retain: boolean;
  payload: Buffer;
  /** Encoded properties without their length prefix; null for MQTT 3.1.1. */
  properties: Buffer | null;
}

/** Offset of the packet identifier inside an encoded PUBLISH, so copies can be patched per receiver. */
export function publishPacketIdOffset(encoded: Buffer): number {
  let i = 1;
  while (encoded[i]! & 0x80) i++;
  i++;
  return i + 2 + encoded.readUInt16BE(i);
}

export function encodePublish(p: PublishEncoding, packetId = 0): Buffer {
  const propLen = p.properties ? p.properties.length : -1;
  const len = 2 + p.topic.length + (p.qos > 0 ? 2 : 0) + (propLen >= 0 ? varintSize(propLen) + propLen : 0) + p.payload.length;
  const out = Buffer.allocUnsafe(1 + varintSize(len) + len);
  out[0] = (PacketType.PUBLISH << 4) | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 1 : 0);
  let pos = writeVarint(out, 1, len);
  out[pos++] = p.topic.length >> 8;
  out[pos++] = p.topic.length & 0xff;
  pos += p.topic.copy(out, pos);
  if (p.qos > 0) {
    out[pos++] = packetId >> 8;
    out[pos++] = packetId & 0xff;
  }
  if (p.properties) {
    pos = writeVarint(out, pos, propLen);
    pos += p.properties.copy(out, pos);
  }
  p.payload.copy(out, pos);
  return out;
}
