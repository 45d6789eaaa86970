/**
 * What a connection's client may still send: QoS 1/2 publishes without their PUBACK or PUBCOMP sent
 * yet, against the Receive Maximum announced in CONNACK (MQTT 5 §4.9), and publishes per second
 * against the broker's rate limit.
 */
import type { PublishPacket } from './codec/packets.js';

export class InboundQuota {
  private unacknowledged = 0;
  /** QoS 2 packet ids counted in `unacknowledged` until their PUBCOMP. */
  private countedQos2: Set<number> | null = null;
  private rateWindowStart = 0;
  private rateCount = 0;

  /** Counts a QoS 1/2 publish; false when more than `receiveMaximum` are unacknowledged. */
  count(p: PublishPacket, receiveMaximum: number): boolean {
    if (++this.unacknowledged > receiveMaximum) return false;
    if (p.qos === 2) (this.countedQos2 ??= new Set()).add(p.packetId);
    return true;
  }

  /** The exchange of a counted publish ended (PUBACK, PUBCOMP, or a PUBREC with an error). */
  uncount(packetId: number, qos: 1 | 2): void {
    if (qos === 2 && !this.countedQos2?.delete(packetId)) return;
    this.unacknowledged--;
  }

  /** Counts a publish in the current one-second window; false past `limit`. */
  withinRate(limit: number): boolean {
    const now = Date.now();
    if (now - this.rateWindowStart >= 1000) {
      this.rateWindowStart = now;
      this.rateCount = 0;
    }
    return ++this.rateCount <= limit;
  }
}
