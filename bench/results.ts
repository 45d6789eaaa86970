/** What a load generator reports back for one scenario against one peer. */

/** Percent of one core over the measured interval; null where /proc is not readable. */
export interface CpuShare {
  broker: number | null;
  loadgen: number;
  /** All other processes on the machine: a high figure means the run was disturbed. */
  other: number | null;
  /** Bench --cluster: `broker` is the sum of these (the nodes, nats, postgres). */
  parts?: Record<string, number | null>;
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
  /** With topic rules: rule evaluations per second in the measured interval, and what the engine dropped or failed over the run. */
  rules?: { evaluatedPerSecond: number; dropped: number; actionsFailed: number };
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
  /** With topic rules: rule evaluations per second in the measured interval, and what the engine dropped or failed over the run. */
  rules?: { evaluatedPerSecond: number; dropped: number; actionsFailed: number };
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

export interface ShadowMeasurement {
  kind: 'shadow';
  devices: number;
  /** Updates accepted inside the measured interval, per second. */
  perSecond: number;
  /** Latency from writing an update to reading its `/update/accepted`, measured interval only. */
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Over the whole run, warm-up and drain included. */
  sent: number;
  accepted: number;
  rejected: number;
  /** Updates still without an answer when the drain timed out. */
  unanswered: number;
  /** Accepted documents whose version was not the previous one plus one. */
  versionErrors: number;
  /** Answers whose clientToken was not the one of the update in flight. */
  tokenErrors: number;
  firstRejection: string | null;
  /** Updates per second offered in total, or null for the closed loop. */
  rate: number | null;
  /** Paced runs: turns skipped because the device's previous update was still unanswered. */
  behind: number;
  cpu: CpuShare;
}

export interface JobsMeasurement {
  kind: 'jobs';
  devices: number;
  /** CreateJob's answer time (the executions are created inside it). */
  createMs: number;
  /** From sending CreateJob to the last device's accepted SUCCEEDED. */
  completionMs: number;
  /** Executions run to SUCCEEDED per second over the whole job. */
  perSecond: number;
  /** From sending CreateJob to a device's notify-next. */
  notifyP50Ms: number;
  notifyP99Ms: number;
  /** A device request (start-next, update) to its accepted answer. */
  requestP50Ms: number;
  requestP99Ms: number;
  jobStatus: string;
  succeeded: number;
  cpu: CpuShare;
}

export type Measurement = ThroughputMeasurement | LatencyMeasurement | ConnectionMeasurement | ShadowMeasurement | JobsMeasurement;

export type RunResult =
  { scenario: string; peer: string; ok: true; measurement: Measurement } | { scenario: string; peer: string; ok: false; error: string };
