/**
 * Fan-in and fan-out: P publishers, S subscribers, every subscriber receives every publisher's
 * messages. Publishers are windowed so the figure is what the broker sustains, not how much it
 * throws away: QoS 1 counts the broker's PUBACKs; QoS 0 has no acknowledgement, so the window
 * closes on what the subscribers have received (both ends live in this process).
 */
import { closeAll, connectAll, lost, sleep, type Endpoint, type RawClient } from '../clients.js';
import { PUBACK, PUBLISH, AckBatch, PublishTemplate, connectPacket, readPublish, subscribePacket, type PublishView } from '../protocol.js';
import { cpuMeter, type CpuTarget } from '../proc-stats.js';
import type { ThroughputMeasurement } from '../results.js';
import type { QoS, Timing } from '../scenarios.js';

export interface ThroughputShape {
  publishers: number;
  subscribers: number;
  qos: QoS;
  /** Messages outstanding per publisher. */
  window: number;
  topic: (publisher: number) => string;
  filter: string;
  /** A counter read at the start and end of the measured interval (rule evaluations), reported per second. */
  sideCounter?: () => Promise<number>;
}

const SETUP_TIMEOUT_MS = 15_000;
/** A QoS 0 window whose messages were dropped would never reopen; after this it is written off. */
const STALL_MS = 500;
const DRAIN_TIMEOUT_MS = 10_000;
const DRAIN_IDLE_MS = 1_000;

class Publisher {
  sent = 0;
  acked = 0;
  /** Per publisher, the sum over subscribers of (highest sequence seen + 1). */
  seenSum = 0;
  /** Sequence numbers below this are written off as lost for window purposes (QoS 0 only). */
  writtenOff = 0;
  lastConfirmed = 0;
  lastProgressAt = 0;

  constructor(
    readonly client: RawClient,
    readonly template: PublishTemplate,
  ) {}
}

export async function runThroughput(
  to: Endpoint,
  brokerPid: CpuTarget,
  shape: ThroughputShape,
  timing: Timing,
): Promise<ThroughputMeasurement & { sidePerSecond?: number }> {
  const { qos, window, subscribers: S, publishers: P } = shape;
  const run = Date.now().toString(36).slice(-5);
  const subs = await connectAll(to, S, 100, (i) => connectPacket(`s${run}-${i}`, 60), SETUP_TIMEOUT_MS);
  const pubClients: RawClient[] = [];
  try {
    const sub = subscribePacket(shape.filter, qos);
    for (let i = 0; i < S; i += 100) await Promise.all(subs.slice(i, i + 100).map((c) => c.subscribe(sub, SETUP_TIMEOUT_MS)));
    pubClients.push(...(await connectAll(to, P, 100, (i) => connectPacket(`p${run}-${i}`, 60), SETUP_TIMEOUT_MS)));
    const pubs = pubClients.map((c, i) => new Publisher(c, new PublishTemplate(shape.topic(i), qos, i)));

    // highest[s * P + p]: the highest sequence subscriber s has seen from publisher p, or -1.
    const highest = new Int32Array(S * P).fill(-1);
    let received = 0;
    let orderErrors = 0;
    let publishing = true;

    const confirmed = (p: Publisher): number => (qos === 1 ? p.acked : Math.max(p.writtenOff, Math.floor(p.seenSum / S)));
    const refill = (p: Publisher): void => {
      if (!publishing) return;
      const outstanding = p.sent - confirmed(p);
      // Refill at half a window, so every write carries at least half a window of packets.
      if (outstanding > window / 2) return;
      const n = window - outstanding;
      p.client.write(p.template.batch(p.sent, n, performance.now()));
      p.sent += n;
    };

    subs.forEach((client, s) => {
      const view: PublishView = { qos: 0, packetId: 0, publisher: 0, seq: 0, sentAt: 0 };
      const acks = new AckBatch();
      const row = s * P;
      client.handler = (type, flags, buf, start, end) => {
        if (type !== PUBLISH || !readPublish(flags, buf, start, end, view)) return;
        if (view.qos > 0) acks.add(view.packetId);
        const p = view.publisher;
        if (p >= P) return;
        const prev = highest[row + p]!;
        if (view.seq > prev) {
          highest[row + p] = view.seq;
          pubs[p]!.seenSum += view.seq - prev;
          received++;
        } else orderErrors++;
      };
      client.afterChunk = () => {
        const out = acks.take();
        if (out !== null) client.write(out);
        if (qos === 0) for (const p of pubs) refill(p);
      };
    });
    for (const p of pubs) {
      p.client.handler = (type) => {
        if (type === PUBACK) p.acked++;
      };
      if (qos === 1) p.client.afterChunk = () => refill(p);
    }

    const stallCheck = setInterval(() => {
      const now = performance.now();
      for (const p of pubs) {
        const c = confirmed(p);
        if (c !== p.lastConfirmed || p.sent === c) {
          p.lastConfirmed = c;
          p.lastProgressAt = now;
        } else if (qos === 0 && now - p.lastProgressAt > STALL_MS) {
          p.writtenOff = p.sent;
          p.lastProgressAt = now;
          refill(p);
        }
      }
    }, 100);

    const lostBefore = lost.connections;
    try {
      const start = performance.now();
      for (const p of pubs) {
        p.lastProgressAt = start;
        refill(p);
      }
      await sleep(timing.warmupMs);
      const side0 = await shape.sideCounter?.();
      const meter = cpuMeter(brokerPid);
      const r0 = received;
      const t0 = performance.now();
      await sleep(timing.measureMs);
      const r1 = received;
      const t1 = performance.now();
      const cpu = meter.stop();
      const side1 = await shape.sideCounter?.();
      publishing = false;

      const published = (): number => pubs.reduce((n, p) => n + p.sent, 0);
      const drained = await drain(
        () => received,
        () => published() * S,
      );
      const expected = published() * S;
      if (lost.connections > lostBefore) throw new Error(`the broker closed ${lost.connections - lostBefore} connections during the run`);
      return {
        kind: 'throughput',
        perSecond: ((r1 - r0) / (t1 - t0)) * 1000,
        published: published(),
        expected,
        received,
        lossPct: expected === 0 ? 0 : (Math.max(0, expected - received) / expected) * 100,
        orderErrors,
        acked: qos === 1 ? pubs.reduce((n, p) => n + p.acked, 0) : null,
        drained,
        cpu,
        ...(side0 !== undefined && side1 !== undefined ? { sidePerSecond: ((side1 - side0) / (t1 - t0)) * 1000 } : {}),
      };
    } finally {
      clearInterval(stallCheck);
    }
  } finally {
    closeAll(pubClients);
    closeAll(subs);
  }
}

/** Waits until everything expected has arrived, or nothing has for a while, or the deadline. */
async function drain(received: () => number, expected: () => number): Promise<boolean> {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  let last = received();
  let lastChange = performance.now();
  while (received() < expected()) {
    const now = performance.now();
    if (now > deadline || now - lastChange > DRAIN_IDLE_MS) return false;
    await sleep(20);
    if (received() !== last) {
      last = received();
      lastChange = performance.now();
    }
  }
  return true;
}
