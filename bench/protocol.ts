/**
 * The MQTT 3.1.1 the load generator speaks: packets encoded once with mqtt-packet and patched in
 * copies, and an incremental frame splitter that hands out packet bodies without decoding them.
 * A general-purpose client would cost more CPU per message than the brokers under test.
 */
import { generate } from 'mqtt-packet';
import { PAYLOAD_BYTES, type QoS } from './scenarios.js';

export const CONNACK = 2;
export const PUBLISH = 3;
export const PUBACK = 4;
export const SUBACK = 9;
export const PINGRESP = 13;

export const PINGREQ_BYTES = Buffer.from([0xc0, 0]);
export const DISCONNECT_BYTES = Buffer.from([0xe0, 0]);

export function connectPacket(clientId: string, keepalive: number): Buffer {
  return generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId, clean: true, keepalive });
}

export function subscribePacket(filter: string, qos: QoS): Buffer {
  return generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos }] });
}

/**
 * Payload layout, so the receiver can check loss, order and latency without a lookup table:
 * bytes 0-3 publisher index, 4-7 sequence number, 8-15 send time (performance.now(), ms).
 */
export class PublishTemplate {
  readonly bytes: Buffer;
  readonly length: number;
  /** Offset of the packet identifier, or -1 for QoS 0. */
  private readonly idOffset: number;
  private readonly payloadOffset: number;

  constructor(topic: string, qos: QoS, publisher: number) {
    const payload = Buffer.alloc(PAYLOAD_BYTES);
    payload.writeUInt32BE(publisher, 0);
    this.bytes = generate({ cmd: 'publish', topic, payload, qos, messageId: 1, retain: false, dup: false });
    this.length = this.bytes.length;
    this.payloadOffset = this.length - PAYLOAD_BYTES;
    this.idOffset = qos > 0 ? this.payloadOffset - 2 : -1;
  }

  /** `count` PUBLISH packets back to back, sequence numbers from `firstSeq`, in one buffer for one write. */
  batch(firstSeq: number, count: number, now: number): Buffer {
    const len = this.length;
    const out = Buffer.allocUnsafe(len * count);
    for (let k = 0; k < count; k++) {
      const base = k * len;
      const seq = firstSeq + k;
      this.bytes.copy(out, base);
      if (this.idOffset >= 0) out.writeUInt16BE((seq % 65535) + 1, base + this.idOffset);
      out.writeUInt32BE(seq >>> 0, base + this.payloadOffset + 4);
      out.writeDoubleBE(now, base + this.payloadOffset + 8);
    }
    return out;
  }
}

/** Where the fields of a received PUBLISH are; valid only during the callback. */
export interface PublishView {
  qos: number;
  /** 0 for QoS 0. */
  packetId: number;
  publisher: number;
  seq: number;
  sentAt: number;
}

export type PacketHandler = (type: number, flags: number, buf: Buffer, start: number, end: number) => void;

/** Splits a byte stream into MQTT packets; a partial packet waits for the next chunk. */
export class FrameSplitter {
  private pending: Buffer | null = null;

  constructor(private readonly onPacket: PacketHandler) {}

  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    const len = buf.length;
    let pos = 0;
    while (len - pos >= 2) {
      let i = pos + 1;
      let remaining = 0;
      let mult = 1;
      let complete = false;
      while (i < len && i - pos <= 4) {
        const b = buf[i++]!;
        remaining += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (i - pos > 4) throw new Error('malformed remaining length from broker');
        break;
      }
      if (i + remaining > len) break;
      const b0 = buf[pos]!;
      this.onPacket(b0 >> 4, b0 & 0x0f, buf, i, i + remaining);
      pos = i + remaining;
    }
    if (pos < len) this.pending = buf.subarray(pos);
  }
}

/** Reads a PUBLISH body in place into `view` (reused, so nothing is allocated per message). */
export function readPublish(flags: number, buf: Buffer, start: number, end: number, view: PublishView): boolean {
  const qos = (flags >> 1) & 3;
  let p = start + 2 + buf.readUInt16BE(start);
  let packetId = 0;
  if (qos > 0) {
    packetId = buf.readUInt16BE(p);
    p += 2;
  }
  if (end - p < 16) return false;
  view.qos = qos;
  view.packetId = packetId;
  view.publisher = buf.readUInt32BE(p);
  view.seq = buf.readUInt32BE(p + 4);
  view.sentAt = buf.readDoubleBE(p + 8);
  return true;
}

/** Collects PUBACKs while a chunk is being handled, so they leave in one write per chunk. */
export class AckBatch {
  private ids = new Uint16Array(1024);
  private count = 0;

  add(id: number): void {
    if (this.count === this.ids.length) {
      const bigger = new Uint16Array(this.ids.length * 2);
      bigger.set(this.ids);
      this.ids = bigger;
    }
    this.ids[this.count++] = id;
  }

  /** The PUBACK packets collected since the last take, or null if there are none. */
  take(): Buffer | null {
    if (this.count === 0) return null;
    const out = Buffer.allocUnsafe(this.count * 4);
    for (let k = 0; k < this.count; k++) {
      out[k * 4] = 0x40;
      out[k * 4 + 1] = 2;
      out.writeUInt16BE(this.ids[k]!, k * 4 + 2);
    }
    this.count = 0;
    return out;
  }
}
