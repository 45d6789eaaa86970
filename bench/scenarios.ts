/** The benchmark's scenarios and the job a load generator receives for one of them. */

export type QoS = 0 | 1;

export type Scenario =
  /**
   * `policy`: thicket only, every client authorized by an IoT policy; compared with the same scenario without one.
   * `rules`: thicket only, with `count` topic rules on the published topics; `durable`: thicket with a data
   * directory (and so its API), as the rules scenario needs, so that its baseline runs the same way.
   */
  | {
      name: string;
      kind: 'fan-in';
      publishers: number;
      qos: QoS;
      window: number;
      policy?: { baseline: string };
      rules?: { count: number; baseline: string };
      durable?: boolean;
    }
  | { name: string; kind: 'fan-out'; subscribers: number; qos: QoS; window: number }
  /** `rules`/`durable` as for fan-in: thicket only, with topic rules on the latency topic. */
  | { name: string; kind: 'latency'; rate: number; qos: QoS; rules?: { count: number; baseline: string }; durable?: boolean }
  | { name: string; kind: 'connections'; storm: number; idle: number; concurrency: number }
  /** Thicket only (the peers have no shadow service), with its store on disk as in production. */
  | { name: string; kind: 'shadow'; devices: number; rate: number | null }
  /** Thicket only: one job to a group of `devices` things, each device running its execution over MQTT. */
  | { name: string; kind: 'jobs'; devices: number };

export interface Timing {
  warmupMs: number;
  measureMs: number;
}

/** What run.ts hands to loadgen.ts (as JSON on argv). */
export interface Job {
  scenario: Scenario;
  timing: Timing;
  host: string;
  port: number;
  /** The broker's PID, whose CPU time and RSS the load generator samples from /proc. */
  brokerPid: number;
  /**
   * A cluster's nodes (bench --cluster): client connection i goes to ports[i % ports.length], so
   * messages cross nodes; `port` is then ports[0]. Fan-in, fan-out and latency only.
   */
  ports?: number[];
  /**
   * Bench --cluster: the server-side processes by name (the nodes, nats, postgres), each PID with its
   * children; their CPU together is reported as the broker's, and each group's in `cpu.parts`.
   */
  serverPids?: Record<string, number[]>;
  /** Thicket's HTTP API, for scenarios that set up resources (jobs). */
  api?: { httpPort: number; credentialsFile: string };
}

export const PAYLOAD_BYTES = 64;

/**
 * Messages outstanding per publisher, for few and for many clients. QoS 0 windows close end to end,
 * so they are sized to keep every broker busy (beyond 256 nothing got faster); QoS 1 windows are
 * what a device library would keep in flight.
 */
const WINDOW = { 0: { few: 256, many: 32 }, 1: { few: 64, many: 16 } } as const;

export function scenarios(quick: boolean): Scenario[] {
  const list: Scenario[] = [];
  for (const qos of [0, 1] as const) {
    list.push({ name: `fanin-8-q${qos}`, kind: 'fan-in', publishers: 8, qos, window: WINDOW[qos].few });
    list.push({ name: `fanin-100-q${qos}`, kind: 'fan-in', publishers: 100, qos, window: WINDOW[qos].many });
  }
  // The cost of IoT policy decisions (publish, subscribe and every delivery) on the hot path.
  list.push({
    name: 'fanin-8-q0-policy',
    kind: 'fan-in',
    publishers: 8,
    qos: 0,
    window: WINDOW[0].few,
    policy: { baseline: 'fanin-8-q0' },
  });
  list.push({
    name: 'fanin-100-q1-policy',
    kind: 'fan-in',
    publishers: 100,
    qos: 1,
    window: WINDOW[1].many,
    policy: { baseline: 'fanin-100-q1' },
  });
  // The rules engine beside the router: 10 rules (republish + table) on every published message.
  list.push({ name: 'fanin-100-q1-durable', kind: 'fan-in', publishers: 100, qos: 1, window: WINDOW[1].many, durable: true });
  list.push({
    name: 'fanin-100-q1-rules',
    kind: 'fan-in',
    publishers: 100,
    qos: 1,
    window: WINDOW[1].many,
    durable: true,
    rules: { count: 10, baseline: 'fanin-100-q1-durable' },
  });
  for (const qos of [0, 1] as const) {
    list.push({ name: `fanout-8-q${qos}`, kind: 'fan-out', subscribers: 8, qos, window: WINDOW[qos].few });
    list.push({ name: `fanout-1000-q${qos}`, kind: 'fan-out', subscribers: 1000, qos, window: WINDOW[qos].many });
  }
  list.push({ name: 'latency-q0', kind: 'latency', rate: 2000, qos: 0 });
  list.push({ name: 'latency-q1', kind: 'latency', rate: 2000, qos: 1 });
  // 2,000 msg/s to 10 rules: 20,000 rule evaluations a second beside the routing, and what they cost its latency.
  list.push({ name: 'latency-q1-durable', kind: 'latency', rate: 2000, qos: 1, durable: true });
  list.push({
    name: 'latency-q1-rules',
    kind: 'latency',
    rate: 2000,
    qos: 1,
    durable: true,
    rules: { count: 10, baseline: 'latency-q1-durable' },
  });
  // 100 attempts in flight: mosquitto listens with a backlog of 100, and overflowing a backlog
  // measures the kernel's 1 s SYN retransmit rather than the broker.
  list.push(
    quick
      ? { name: 'connections', kind: 'connections', storm: 500, idle: 2000, concurrency: 100 }
      : { name: 'connections', kind: 'connections', storm: 2000, idle: 10_000, concurrency: 100 },
  );
  list.push({ name: 'shadow-1000-q1', kind: 'shadow', devices: 1000, rate: null });
  // Each device once a second: a fleet's everyday load, where latency is the service's, not a queue's.
  list.push({ name: 'shadow-1000-q1-1hz', kind: 'shadow', devices: 1000, rate: 1000 });
  list.push({ name: 'jobs-1000', kind: 'jobs', devices: 1000 });
  return list;
}

/** Scenarios that only thicket can run. */
export function thicketOnly(s: Scenario): boolean {
  return (
    s.kind === 'shadow' ||
    s.kind === 'jobs' ||
    (s.kind === 'fan-in' && (s.policy !== undefined || s.durable === true)) ||
    (s.kind === 'latency' && s.durable === true)
  );
}

/** The thicket scenario a thicket-only variant is compared with in the same run, and what differs. */
export function baselineOf(s: Scenario): { scenario: string; what: string } | undefined {
  if (s.kind === 'latency') return s.rules ? { scenario: s.rules.baseline, what: `${s.rules.count} rules` } : undefined;
  if (s.kind !== 'fan-in') return undefined;
  if (s.policy) return { scenario: s.policy.baseline, what: 'policy' };
  if (s.rules) return { scenario: s.rules.baseline, what: `${s.rules.count} rules` };
  return undefined;
}

/** The smoke run keeps one of each kind of code path so that it finishes in about a minute. */
export const QUICK_SET = [
  'fanin-8-q0',
  'fanin-8-q0-policy',
  'fanin-100-q1',
  'fanin-100-q1-durable',
  'fanin-100-q1-rules',
  'fanout-8-q1',
  'fanout-1000-q0',
  'latency-q0',
  'latency-q1',
  'latency-q1-durable',
  'latency-q1-rules',
  'connections',
  'shadow-1000-q1',
  'shadow-1000-q1-1hz',
  'jobs-1000',
];

export function timing(quick: boolean): Timing {
  return quick ? { warmupMs: 300, measureMs: 1000 } : { warmupMs: 1000, measureMs: 5000 };
}
