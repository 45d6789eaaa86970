/** Counters kept as plain numbers on the hot path; the server exports them as Prometheus metrics. */
import type { DropReason } from './session.js';

export class BrokerStats {
  connectionsAccepted = 0;
  connectionsRefused = 0;
  /** By QoS 0..2. */
  readonly messagesIn = [0, 0, 0];
  readonly messagesOut = [0, 0, 0];
  readonly bytesIn = [0, 0, 0];
  readonly bytesOut = [0, 0, 0];
  packetsIn = 0;
  packetsOut = 0;
  readonly dropped: Record<DropReason, number> = {
    queue_full: 0,
    queue_full_bytes: 0,
    expired: 0,
    offline_qos0: 0,
    slow_consumer: 0,
    packet_too_large: 0,
    not_authorized: 0,
  };
  /** Bad input by kind (malformed, protocol_error, packet_too_large, ...). */
  readonly protocolErrors: Record<string, number> = {};

  countProtocolError(kind: string): void {
    this.protocolErrors[kind] = (this.protocolErrors[kind] ?? 0) + 1;
  }
}
