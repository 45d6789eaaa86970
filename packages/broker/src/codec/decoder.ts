/**
 * Incremental decoder for the packets a client sends to a server (MQTT 3.1, 3.1.1 and 5.0).
 *
 * mqtt-packet's parser buffers a packet of any announced length before looking at it, maps
 * invalid UTF-8 to U+FFFD and reports every problem as a bare Error; a server needs the opposite
 * on all three counts (reject an oversize packet from its fixed header, refuse bad UTF-8, answer
 * with the reason code the specification names), so framing and decoding live here.
 */
import { isUtf8 } from 'node:buffer';
import { MqttProtocolError, RC } from './reason-codes.js';
import type {
  AckPacket,
  ClientPacket,
  ConnectPacket,
  DisconnectPacket,
  AuthPacket,
  Properties,
  ProtocolVersion,
  PublishPacket,
  QoS,
  SubscribePacket,
  SubscriptionRequest,
  UnsubscribePacket,
  WillPacket,
} from './packets.js';
import { PacketType } from './packets.js';

const MAX_VARINT = 268_435_455;

function malformed(message: string): never {
  throw new MqttProtocolError(RC.MALFORMED_PACKET, message);
}
function protocolError(message: string): never {
  throw new MqttProtocolError(RC.PROTOCOL_ERROR, message);
}

/** Which packet may carry a property: bit (1 << packet type); bit 0 stands for the will properties. */
const WILL = 1 << 0;
const P = (...types: number[]): number => types.reduce((m, t) => m | (1 << t), 0);
const { CONNECT, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT, AUTH } = PacketType;
const ACKS = P(PUBACK, PUBREC, PUBREL, PUBCOMP);

type PropKind = 'byte' | 'u16' | 'u32' | 'varint' | 'utf8' | 'binary' | 'pair';
interface PropSpec {
  name: keyof Properties;
  kind: PropKind;
  allowed: number;
}
const PROPS: Record<number, PropSpec> = {
  0x01: { name: 'payloadFormatIndicator', kind: 'byte', allowed: P(PUBLISH) | WILL },
  0x02: { name: 'messageExpiryInterval', kind: 'u32', allowed: P(PUBLISH) | WILL },
  0x03: { name: 'contentType', kind: 'utf8', allowed: P(PUBLISH) | WILL },
  0x08: { name: 'responseTopic', kind: 'utf8', allowed: P(PUBLISH) | WILL },
  0x09: { name: 'correlationData', kind: 'binary', allowed: P(PUBLISH) | WILL },
  0x0b: { name: 'subscriptionIdentifiers', kind: 'varint', allowed: P(SUBSCRIBE) },
  0x11: { name: 'sessionExpiryInterval', kind: 'u32', allowed: P(CONNECT, DISCONNECT) },
  0x15: { name: 'authenticationMethod', kind: 'utf8', allowed: P(CONNECT, AUTH) },
  0x16: { name: 'authenticationData', kind: 'binary', allowed: P(CONNECT, AUTH) },
  0x17: { name: 'requestProblemInformation', kind: 'byte', allowed: P(CONNECT) },
  0x18: { name: 'willDelayInterval', kind: 'u32', allowed: WILL },
  0x19: { name: 'requestResponseInformation', kind: 'byte', allowed: P(CONNECT) },
  0x1c: { name: 'serverReference', kind: 'utf8', allowed: P(DISCONNECT) },
  0x1f: { name: 'reasonString', kind: 'utf8', allowed: ACKS | P(DISCONNECT, AUTH) },
  0x21: { name: 'receiveMaximum', kind: 'u16', allowed: P(CONNECT) },
  0x22: { name: 'topicAliasMaximum', kind: 'u16', allowed: P(CONNECT) },
  0x23: { name: 'topicAlias', kind: 'u16', allowed: P(PUBLISH) },
  0x26: { name: 'userProperties', kind: 'pair', allowed: ~0 },
  0x27: { name: 'maximumPacketSize', kind: 'u32', allowed: P(CONNECT) },
};

export interface DecoderOptions {
  /** Largest packet accepted, fixed header included; bigger ones fail with 0x95 before their body is read. */
  maxPacketSize: number;
}

/**
 * Splits a byte stream into packets and decodes each. Throws MqttProtocolError; after a throw the
 * decoder must not be fed again (the connection is closed).
 */
export class PacketDecoder {
  /** Protocol level, known once the CONNECT's level byte has been read (0 before). */
  version: ProtocolVersion | 0 = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private need = 0;
  // Read cursor into the packet being decoded; only valid during decode().
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private end = 0;

  constructor(
    private readonly options: DecoderOptions,
    private readonly onPacket: (packet: ClientPacket, size: number) => void,
  ) {}

  feed(chunk: Buffer): void {
    let buf = chunk;
    if (this.tailBytes > 0) {
      this.tail.push(chunk);
      this.tailBytes += chunk.length;
      if (this.tailBytes < this.need) return;
      buf = Buffer.concat(this.tail, this.tailBytes);
      this.tail = [];
      this.tailBytes = 0;
    }
    let offset = 0;
    let need = 0;
    const len = buf.length;
    while (offset < len) {
      // Known from the first byte: no need to wait for the rest of a packet that cannot be CONNECT.
      if (this.version === 0 && buf[offset]! >> 4 !== CONNECT) protocolError('the first packet must be CONNECT');
      if (len - offset < 2) break;
      // Remaining length: up to four bytes of 7-bit groups.
      let remaining = 0;
      let mul = 1;
      let i = offset + 1;
      let complete = false;
      for (let n = 0; n < 4 && i < len; n++, i++) {
        const b = buf[i]!;
        remaining += (b & 0x7f) * mul;
        mul *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          i++;
          break;
        }
        if (n === 3) malformed('Remaining Length is longer than four bytes');
      }
      if (!complete) break;
      const total = i - offset + remaining;
      if (total > this.options.maxPacketSize) {
        throw new MqttProtocolError(
          RC.PACKET_TOO_LARGE,
          `packet of ${total} bytes exceeds the maximum packet size of ${this.options.maxPacketSize}`,
        );
      }
      if (offset + total > len) {
        need = total;
        break;
      }
      this.decode(buf, buf[offset]!, i, offset + total);
      this.onPacket(this.decoded!, total);
      this.decoded = undefined;
      offset += total;
    }
    if (offset < len) {
      const rest = offset === 0 ? buf : buf.subarray(offset);
      this.tail.push(rest);
      this.tailBytes = rest.length;
    }
    this.need = need;
  }

  private decoded: ClientPacket | undefined;

  private decode(buf: Buffer, first: number, start: number, end: number): void {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    const type = first >> 4;
    const flags = first & 0x0f;
    if (this.version === 0 && type !== CONNECT) protocolError('the first packet must be CONNECT');
    if (type === PUBLISH) {
      this.decoded = this.publish(flags);
      return;
    }
    const expectedFlags = type === PUBREL || type === SUBSCRIBE || type === UNSUBSCRIBE ? 0b0010 : 0;
    if (flags !== expectedFlags) malformed(`reserved flags of packet type ${type} must be ${expectedFlags}`);
    switch (type) {
      case CONNECT:
        if (this.version !== 0) protocolError('a second CONNECT was sent on the connection');
        this.decoded = this.connect();
        break;
      case PUBACK:
      case PUBREC:
      case PUBREL:
      case PUBCOMP:
        this.decoded = this.ack(type);
        break;
      case SUBSCRIBE:
        this.decoded = this.subscribe();
        break;
      case UNSUBSCRIBE:
        this.decoded = this.unsubscribe();
        break;
      case PacketType.PINGREQ:
        if (end !== start) malformed('PINGREQ has a body');
        this.decoded = { type: 'pingreq' };
        break;
      case DISCONNECT:
        this.decoded = this.disconnect();
        break;
      case AUTH:
        if (this.version !== 5) malformed('AUTH exists only in MQTT 5');
        this.decoded = this.auth();
        break;
      case 0:
        malformed('packet type 0 is reserved');
        break;
      default:
        protocolError(`packet type ${type} is sent only by servers`);
    }
    if (this.pos !== this.end) malformed(`packet type ${type} has ${this.end - this.pos} unexpected trailing bytes`);
  }

  // ---- field readers -------------------------------------------------------------------------

  private u8(): number {
    if (this.pos >= this.end) malformed('packet is shorter than its fields');
    return this.buf[this.pos++]!;
  }
  private u16(): number {
    if (this.pos + 2 > this.end) malformed('packet is shorter than its fields');
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  private u32(): number {
    if (this.pos + 4 > this.end) malformed('packet is shorter than its fields');
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  private varint(): number {
    let value = 0;
    let mul = 1;
    for (let n = 0; n < 4; n++) {
      const b = this.u8();
      value += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return value;
      mul *= 128;
    }
    malformed('Variable Byte Integer is longer than four bytes');
  }
  private binary(): Buffer {
    const n = this.u16();
    if (this.pos + n > this.end) malformed('binary field runs past the end of the packet');
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }
  utf8(): string {
    const n = this.u16();
    const s = this.pos;
    const e = s + n;
    if (e > this.end) malformed('string runs past the end of the packet');
    this.pos = e;
    return readUtf8(this.buf, s, e);
  }

  private properties(packetType: number): Properties {
    const len = this.varint();
    const stop = this.pos + len;
    if (stop > this.end) malformed('properties run past the end of the packet');
    const props: Properties = {};
    let seen = 0n;
    while (this.pos < stop) {
      const id = this.varint();
      const spec = PROPS[id];
      if (!spec) malformed(`unknown property identifier 0x${id.toString(16)}`);
      if ((spec.allowed & packetType) === 0) malformed(`property ${spec.name} is not allowed in this packet`);
      const bit = 1n << BigInt(id);
      if (spec.kind !== 'pair' && (seen & bit) !== 0n) protocolError(`property ${spec.name} appears twice`);
      seen |= bit;
      const bag = props as Record<string, unknown>;
      switch (spec.kind) {
        case 'byte':
          bag[spec.name] = this.u8();
          break;
        case 'u16':
          bag[spec.name] = this.u16();
          break;
        case 'u32':
          bag[spec.name] = this.u32();
          break;
        case 'varint': {
          const v = this.varint();
          if (v === 0) protocolError('Subscription Identifier must not be 0');
          props.subscriptionIdentifiers = [v];
          break;
        }
        case 'utf8':
          bag[spec.name] = this.utf8();
          break;
        case 'binary':
          bag[spec.name] = this.binary();
          break;
        case 'pair': {
          const k = this.utf8();
          const v = this.utf8();
          (props.userProperties ??= []).push([k, v]);
          break;
        }
      }
    }
    if (this.pos !== stop) malformed('property length does not match its contents');
    return props;
  }

  // ---- packets -------------------------------------------------------------------------------

  private connect(): ConnectPacket {
    const protocolName = this.utf8();
    const level = this.u8();
    if (protocolName !== 'MQTT' && protocolName !== 'MQIsdp') {
      throw new MqttProtocolError(RC.UNSUPPORTED_PROTOCOL_VERSION, `unknown protocol name "${protocolName}"`);
    }
    if (!((protocolName === 'MQTT' && (level === 4 || level === 5)) || (protocolName === 'MQIsdp' && level === 3))) {
      throw new MqttProtocolError(RC.UNSUPPORTED_PROTOCOL_VERSION, `unsupported protocol level ${level} for ${protocolName}`);
    }
    this.version = level as ProtocolVersion;
    const flags = this.u8();
    if (flags & 0x01) malformed('CONNECT reserved flag must be 0');
    const clean = (flags & 0x02) !== 0;
    const hasWill = (flags & 0x04) !== 0;
    const willQos = (flags >> 3) & 0x03;
    const willRetain = (flags & 0x20) !== 0;
    const hasPassword = (flags & 0x40) !== 0;
    const hasUsername = (flags & 0x80) !== 0;
    if (willQos === 3) malformed('Will QoS must not be 3');
    if (!hasWill && (willQos !== 0 || willRetain)) malformed('Will QoS and Will Retain must be 0 without a will');
    if (level !== 5 && hasPassword && !hasUsername) malformed('a password needs a user name in MQTT 3.1.1');
    const keepAlive = this.u16();
    const properties = level === 5 ? this.properties(1 << CONNECT) : {};
    if (properties.receiveMaximum === 0) protocolError('Receive Maximum must not be 0');
    if (properties.maximumPacketSize === 0) protocolError('Maximum Packet Size must not be 0');
    if (properties.requestProblemInformation !== undefined && properties.requestProblemInformation > 1) {
      protocolError('Request Problem Information must be 0 or 1');
    }
    if (properties.requestResponseInformation !== undefined && properties.requestResponseInformation > 1) {
      protocolError('Request Response Information must be 0 or 1');
    }
    if (properties.authenticationData && !properties.authenticationMethod) {
      protocolError('Authentication Data without Authentication Method');
    }
    const clientId = this.utf8();
    let will: WillPacket | undefined;
    if (hasWill) {
      const willProps = level === 5 ? this.properties(WILL) : {};
      if (willProps.payloadFormatIndicator !== undefined && willProps.payloadFormatIndicator > 1) {
        protocolError('Payload Format Indicator must be 0 or 1');
      }
      const topic = this.utf8();
      const payload = this.binary();
      will = { topic, payload, qos: willQos as QoS, retain: willRetain, properties: willProps };
    }
    const username = hasUsername ? this.utf8() : undefined;
    const password = hasPassword ? this.binary() : undefined;
    return {
      type: 'connect',
      protocolName,
      protocolVersion: level as ProtocolVersion,
      clean,
      keepAlive,
      clientId,
      will,
      username,
      password,
      properties,
    };
  }

  private publish(flags: number): PublishPacket {
    const qos = (flags >> 1) & 0x03;
    if (qos === 3) malformed('PUBLISH QoS must not be 3');
    const dup = (flags & 0x08) !== 0;
    if (dup && qos === 0) malformed('DUP must be 0 for QoS 0');
    const topic = this.utf8();
    let packetId = 0;
    if (qos > 0) {
      packetId = this.u16();
      if (packetId === 0) malformed('packet identifier must not be 0');
    }
    let properties: Properties = EMPTY;
    if (this.version === 5) {
      // The property length byte is 0 on most publishes; skip building an object for them.
      if (this.buf[this.pos] === 0 && this.pos < this.end) this.pos++;
      else properties = this.properties(1 << PUBLISH);
      if (properties.topicAlias === 0) throw new MqttProtocolError(RC.TOPIC_ALIAS_INVALID, 'Topic Alias must not be 0');
      if (properties.payloadFormatIndicator !== undefined && properties.payloadFormatIndicator > 1) {
        protocolError('Payload Format Indicator must be 0 or 1');
      }
    }
    const payload = Buffer.from(this.buf.subarray(this.pos, this.end));
    this.pos = this.end;
    return { type: 'publish', qos: qos as QoS, dup, retain: (flags & 0x01) !== 0, topic, packetId, payload, properties };
  }

  private ack(type: number): AckPacket {
    const packetId = this.u16();
    if (packetId === 0) malformed('packet identifier must not be 0');
    let reasonCode = 0;
    let properties: Properties = EMPTY;
    if (this.version === 5) {
      if (this.pos < this.end) reasonCode = this.u8();
      if (this.pos < this.end) properties = this.properties(1 << type);
    }
    const name = type === PUBACK ? 'puback' : type === PUBREC ? 'pubrec' : type === PUBREL ? 'pubrel' : 'pubcomp';
    return { type: name, packetId, reasonCode, properties };
  }

  private subscribe(): SubscribePacket {
    const packetId = this.u16();
    if (packetId === 0) malformed('packet identifier must not be 0');
    const properties = this.version === 5 ? this.properties(1 << SUBSCRIBE) : EMPTY;
    const subscriptions: SubscriptionRequest[] = [];
    while (this.pos < this.end) {
      const filter = this.utf8();
      const options = this.u8();
      const qos = options & 0x03;
      if (qos === 3) malformed('subscription QoS must not be 3');
      if (this.version === 5) {
        if (options & 0xc0) malformed('subscription options reserved bits must be 0');
        const retainHandling = (options >> 4) & 0x03;
        if (retainHandling === 3) protocolError('Retain Handling must not be 3');
        subscriptions.push({
          filter,
          qos: qos as QoS,
          noLocal: (options & 0x04) !== 0,
          retainAsPublished: (options & 0x08) !== 0,
          retainHandling: retainHandling as 0 | 1 | 2,
        });
      } else {
        if (options & 0xfc) malformed('requested QoS reserved bits must be 0');
        subscriptions.push({ filter, qos: qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 });
      }
    }
    if (subscriptions.length === 0) protocolError('SUBSCRIBE must contain at least one topic filter');
    return { type: 'subscribe', packetId, subscriptions, properties };
  }

  private unsubscribe(): UnsubscribePacket {
    const packetId = this.u16();
    if (packetId === 0) malformed('packet identifier must not be 0');
    const properties = this.version === 5 ? this.properties(1 << UNSUBSCRIBE) : EMPTY;
    const filters: string[] = [];
    while (this.pos < this.end) filters.push(this.utf8());
    if (filters.length === 0) protocolError('UNSUBSCRIBE must contain at least one topic filter');
    return { type: 'unsubscribe', packetId, filters, properties };
  }

  private disconnect(): DisconnectPacket {
    let reasonCode = 0;
    let properties: Properties = EMPTY;
    if (this.version === 5) {
      if (this.pos < this.end) reasonCode = this.u8();
      if (this.pos < this.end) properties = this.properties(1 << DISCONNECT);
    }
    return { type: 'disconnect', reasonCode, properties };
  }

  private auth(): AuthPacket {
    let reasonCode = 0;
    let properties: Properties = EMPTY;
    if (this.pos < this.end) reasonCode = this.u8();
    if (this.pos < this.end) properties = this.properties(1 << AUTH);
    return { type: 'auth', reasonCode, properties };
  }
}

const EMPTY: Properties = Object.freeze({}) as Properties;

/**
 * Decodes a UTF-8 string field, refusing what MQTT forbids in one: ill-formed UTF-8 (which covers
 * encoded surrogates) and U+0000 (MQTT 5 §1.5.4).
 */
export function readUtf8(buf: Buffer, start: number, end: number): string {
  for (let i = start; i < end; i++) {
    const b = buf[i]!;
    if (b === 0) malformed('a UTF-8 string contains U+0000');
    if (b >= 0x80) {
      const rest = buf.subarray(i, end);
      if (rest.includes(0)) malformed('a UTF-8 string contains U+0000');
      if (!isUtf8(buf.subarray(start, end))) malformed('a string is not valid UTF-8');
      return buf.toString('utf8', start, end);
    }
  }
  return buf.toString('latin1', start, end);
}

export { MAX_VARINT };
