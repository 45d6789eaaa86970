/** What a load generator reports back for one scenario against one peer. */

/** Percent of one core over the measured interval; null where /proc is not readable. */
export interface CpuShare {
  broker: number | null;
  loadgen: number;
  /** All other processes on the machine: a high figure means the run was disturbed. */
  other: number | null;
}

export interface ThroughputMeasurement {
  kind: 'throughput';
  /** Messages delivered to subscribers inside the measured interval, per second. */
  perSecond: number;
  /** PUBLISH packets written by the publishers over the whole run (warm-up included). */
  published: number;
  /** Deliveries the subscribers should have seen: published × subscribers. */
  expected: number;
  received: number;
  /** (expected - received) / expected, after the drain. */
  lossPct: number;
  /** Deliveries whose sequence number was not above the last one seen from that publisher. */
  orderErrors: number;
  /** QoS 1: PUBACKs the publishers got; every one of these is a promise of delivery. */
  acked: number | null;
  /** False when the subscribers were still receiving when the drain timed out. */
  drained: boolean;
  cpu: CpuShare;
}

export interface LatencyMeasurement {
  kind: 'latency';
  rate: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  published: number;
  received: number;
  lossPct: number;
  cpu: CpuShare;
}

export interface ConnectionMeasurement {
  kind: 'connections';
  storm: number;
  stormPerSecond: number;
  stormFailed: number;
  idle: number;
  idleFailed: number;
  rssBeforeKb: number | null;
  rssAfterKb: number | null;
  kbPerConnection: number | null;
  /** CPU during the storm. */
  cpu: CpuShare;
}

export type Measurement = ThroughputMeasurement | LatencyMeasurement | ConnectionMeasurement;

export type RunResult =
  { scenario: string; peer: string; ok: true; measurement: Measurement } | { scenario: string; peer: string; ok: false; error: string };
