/**
 * How a routed message travels between nodes: one NATS message whose data is a small binary header
 * followed by the MQTT payload. A header in the data costs less than NATS headers (a text block the
 * client parses into a map per message) plus a JSON document, on the path every forwarded message
 * takes twice (encoded at its origin, decoded at each node that takes it).
 *
 *   u8  version (1)
 *   u8  flags: qos (bits 0-1), retain (2), confirm (3), expiry (4), publisher id (5), properties (6)
 *   f64 sequence number at the origin, f64 created at (epoch ms), [f64 expires at]
 *   u16 length + origin (node id and boot, UTF-8)
 *   [u16 length + publisher's client id]     for No Local
 *   [u32 length + MQTT 5 properties as JSON]  correlation data in base64
 *   the payload
 */
import { Message, type MessageProperties, type QoS } from '@thicket/broker';

const VERSION = 1;
const RETAIN = 4;
const CONFIRM = 8;
const EXPIRY = 16;
const PUBLISHER = 32;
const PROPERTIES = 64;

export interface Routed {
  /** The origin node's boot. */
  origin: string;
  seq: number;
  /** The origin waits for a confirmation that the message is stored. */
  confirm: boolean;
  msg: Message;
}

export function encodeRouted(origin: string, seq: number, msg: Message, confirm: boolean): Buffer {
  let flags = msg.qos & 3;
  if (msg.retain) flags |= RETAIN;
  if (confirm) flags |= CONFIRM;
  if (msg.expiresAt !== 0) flags |= EXPIRY;
  const publisher = msg.origin;
  if (publisher !== undefined) flags |= PUBLISHER;
  let props: string | undefined;
  const p = msg.properties;
  for (const _ in p) {
    const { correlationData, ...rest } = p;
    props = JSON.stringify(correlationData ? { ...rest, correlationData: correlationData.toString('base64') } : rest);
    flags |= PROPERTIES;
    break;
  }
  const originLen = Buffer.byteLength(origin);
  const publisherLen = publisher === undefined ? 0 : Buffer.byteLength(publisher);
  const propsLen = props === undefined ? 0 : Buffer.byteLength(props);
  const size =
    2 +
    16 +
    (flags & EXPIRY ? 8 : 0) +
    2 +
    originLen +
    (publisher === undefined ? 0 : 2 + publisherLen) +
    (props === undefined ? 0 : 4 + propsLen);
  const out = Buffer.allocUnsafe(size + msg.payload.length);
  out[0] = VERSION;
  out[1] = flags;
  out.writeDoubleBE(seq, 2);
  out.writeDoubleBE(msg.createdAt, 10);
  let at = 18;
  if (flags & EXPIRY) at = out.writeDoubleBE(msg.expiresAt, at);
  at = out.writeUInt16BE(originLen, at);
  at += out.write(origin, at);
  if (publisher !== undefined) {
    at = out.writeUInt16BE(publisherLen, at);
    at += out.write(publisher, at);
  }
  if (props !== undefined) {
    at = out.writeUInt32BE(propsLen, at);
    at += out.write(props, at);
  }
  msg.payload.copy(out, at);
  return out;
}

/** The message a frame carries on `topic`; undefined for a frame this version cannot read. */
export function decodeRouted(data: Uint8Array, topic: string): Routed | undefined {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (buf.length < 20 || buf[0] !== VERSION) return undefined;
  try {
    const flags = buf[1]!;
    const seq = buf.readDoubleBE(2);
    const createdAt = buf.readDoubleBE(10);
    let at = 18;
    let expiresAt = 0;
    if (flags & EXPIRY) {
      expiresAt = buf.readDoubleBE(at);
      at += 8;
    }
    const originLen = buf.readUInt16BE(at);
    const origin = buf.toString('utf8', at + 2, (at += 2 + originLen));
    let publisher: string | undefined;
    if (flags & PUBLISHER) {
      const n = buf.readUInt16BE(at);
      publisher = buf.toString('utf8', at + 2, (at += 2 + n));
    }
    let properties: MessageProperties = {};
    if (flags & PROPERTIES) {
      const n = buf.readUInt32BE(at);
      const { correlationData, ...rest } = JSON.parse(buf.toString('utf8', at + 4, (at += 4 + n))) as Omit<
        MessageProperties,
        'correlationData'
      > & {
        correlationData?: string;
      };
      properties = correlationData === undefined ? rest : { ...rest, correlationData: Buffer.from(correlationData, 'base64') };
    }
    if (at > buf.length) return undefined;
    // A copy: the received bytes are a view into the NATS client's read buffer.
    const msg = new Message(
      topic,
      Buffer.from(buf.subarray(at)),
      (flags & 3) as QoS,
      (flags & RETAIN) !== 0,
      properties,
      createdAt,
      expiresAt,
    );
    msg.origin = publisher;
    return { origin, seq, confirm: (flags & CONFIRM) !== 0, msg };
  } catch {
    return undefined;
  }
}
