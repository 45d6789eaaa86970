/**
 * One publisher to one subscriber at a fixed rate. Both ends live in this process, so the send
 * time carried in the payload and the receive time come from the same clock.
 */
import { closeAll, connectAll, lost, sleep, type Endpoint, type RawClient } from '../clients.js';
import { PUBLISH, AckBatch, PublishTemplate, connectPacket, readPublish, subscribePacket, type PublishView } from '../protocol.js';
import { cpuMeter, type CpuTarget } from '../proc-stats.js';
import type { LatencyMeasurement } from '../results.js';
import type { QoS, Timing } from '../scenarios.js';

const SETUP_TIMEOUT_MS = 15_000;
const DRAIN_MS = 1_000;

/** `sideCounter`: read at the start and end of the measured interval (rule evaluations), reported per second. */
export async function runLatency(
  to: Endpoint,
  brokerPid: CpuTarget,
  rate: number,
  qos: QoS,
  timing: Timing,
  sideCounter?: () => Promise<number>,
): Promise<LatencyMeasurement & { sidePerSecond?: number }> {
  const run = Date.now().toString(36).slice(-5);
  const clients: RawClient[] = [];
  try {
    clients.push(...(await connectAll(to, 2, 2, (i) => connectPacket(`l${run}-${i}`, 60), SETUP_TIMEOUT_MS)));
    const [sub, pub] = clients as [RawClient, RawClient];
    await sub.subscribe(subscribePacket('bench/latency', qos), SETUP_TIMEOUT_MS);
    const template = new PublishTemplate('bench/latency', qos, 0);

    const samples = new Float64Array(Math.ceil((rate * (timing.measureMs + 1000)) / 1000));
    let count = 0;
    let recording = false;
    let received = 0;
    const view: PublishView = { qos: 0, packetId: 0, publisher: 0, seq: 0, sentAt: 0 };
    const acks = new AckBatch();
    sub.handler = (type, flags, buf, start, end) => {
      if (type !== PUBLISH || !readPublish(flags, buf, start, end, view)) return;
      const now = performance.now();
      if (view.qos > 0) acks.add(view.packetId);
      received++;
      if (recording && count < samples.length) samples[count++] = now - view.sentAt;
    };
    sub.afterChunk = () => {
      const out = acks.take();
      if (out !== null) sub.write(out);
    };

    // A 1 ms timer sends whatever the schedule says is due, so the average rate is exact even
    // though timers fire late; the send time is stamped per write.
    let sent = 0;
    const start = performance.now();
    const pacer = setInterval(() => {
      const due = Math.floor(((performance.now() - start) * rate) / 1000) - sent;
      if (due <= 0) return;
      pub.write(template.batch(sent, due, performance.now()));
      sent += due;
    }, 1);

    const lostBefore = lost.connections;
    let cpu;
    let side0: number | undefined;
    let sidePerSecond: number | undefined;
    try {
      await sleep(timing.warmupMs);
      side0 = await sideCounter?.();
      const meter = cpuMeter(brokerPid);
      const t0 = performance.now();
      recording = true;
      await sleep(timing.measureMs);
      recording = false;
      cpu = meter.stop();
      const t1 = performance.now();
      const side1 = await sideCounter?.();
      if (side0 !== undefined && side1 !== undefined) sidePerSecond = ((side1 - side0) / (t1 - t0)) * 1000;
    } finally {
      clearInterval(pacer);
    }
    const deadline = performance.now() + DRAIN_MS;
    while (received < sent && performance.now() < deadline) await sleep(10);
    if (lost.connections > lostBefore) throw new Error(`the broker closed ${lost.connections - lostBefore} connections during the run`);
    if (count === 0) throw new Error('no message arrived during the measurement');

    const sorted = samples.subarray(0, count).sort();
    const pick = (q: number): number => sorted[Math.min(count - 1, Math.floor(q * count))]!;
    return {
      kind: 'latency',
      rate,
      samples: count,
      p50Ms: pick(0.5),
      p99Ms: pick(0.99),
      maxMs: sorted[count - 1]!,
      published: sent,
      received,
      lossPct: sent === 0 ? 0 : (Math.max(0, sent - received) / sent) * 100,
      cpu,
      ...(sidePerSecond !== undefined ? { sidePerSecond } : {}),
    };
  } finally {
    closeAll(clients);
  }
}
