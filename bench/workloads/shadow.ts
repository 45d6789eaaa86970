/**
 * Device Shadow updates: each device has its own connection and thing, and subscribes to its
 * shadow's `/update/accepted` and `/update/rejected` at QoS 1. Without a rate, every device keeps
 * one reported-state update in flight (closed loop: the next goes out when the last was answered),
 * which finds the service's capacity; with one, the devices take turns at that many updates per
 * second in total, which shows latency without queueing. Latency is from writing the PUBLISH to
 * reading its `/update/accepted`; every accepted document must carry the device's clientToken and
 * the version after the previous one.
 */
import { generate } from 'mqtt-packet';
import { closeAll, connectAll, lost, sleep, type Endpoint, type RawClient } from '../clients.js';
import { PUBLISH, AckBatch, connectPacket } from '../protocol.js';
import { cpuMeter } from '../proc-stats.js';
import type { ShadowMeasurement } from '../results.js';
import type { Timing } from '../scenarios.js';

const SETUP_TIMEOUT_MS = 30_000;
const DRAIN_MS = 5_000;
const CONNECT_CONCURRENCY = 100;

interface Device {
  client: RawClient;
  topic: string;
  seq: number;
  sentAt: number;
  inFlight: boolean;
  /** The version of the last accepted update; 0 before the first. */
  version: number;
}

interface Tally {
  sent: number;
  accepted: number;
  rejected: number;
  versionErrors: number;
  tokenErrors: number;
  firstRejection: string | null;
  /** Paced runs: turns skipped because the device's previous update was still unanswered. */
  behind: number;
}

export async function runShadow(
  to: Endpoint,
  brokerPid: number,
  devices: number,
  rate: number | null,
  timing: Timing,
): Promise<ShadowMeasurement> {
  const run = Date.now().toString(36).slice(-5);
  const thing = (i: number): string => `bench-${run}-${i}`;
  const clients = await connectAll(to, devices, CONNECT_CONCURRENCY, (i) => connectPacket(`s${run}-${i}`, 120), SETUP_TIMEOUT_MS);
  try {
    await Promise.all(
      clients.map((c, i) => {
        const prefix = `$aws/things/${thing(i)}/shadow/update`;
        const subscribe = generate({
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [
            { topic: `${prefix}/accepted`, qos: 1 },
            { topic: `${prefix}/rejected`, qos: 1 },
          ],
        });
        return c.subscribe(subscribe, SETUP_TIMEOUT_MS);
      }),
    );

    const tally: Tally = { sent: 0, accepted: 0, rejected: 0, versionErrors: 0, tokenErrors: 0, firstRejection: null, behind: 0 };
    const samples = new Float64Array(1 << 22);
    let count = 0;
    let recording = false;
    let sending = true;

    const send = (d: Device): void => {
      d.seq++;
      const payload = `{"state":{"reported":{"seq":${d.seq},"temperature":${(20 + (d.seq % 100) / 10).toFixed(1)}}},"clientToken":"${d.seq}"}`;
      d.inFlight = true;
      tally.sent++;
      d.sentAt = performance.now();
      d.client.write(
        generate({ cmd: 'publish', topic: d.topic, payload, qos: 1, messageId: (d.seq % 65535) + 1, retain: false, dup: false }),
      );
    };

    const all: Device[] = clients.map((client, i) => {
      const d: Device = { client, topic: `$aws/things/${thing(i)}/shadow/update`, seq: 0, sentAt: 0, inFlight: false, version: 0 };
      const acks = new AckBatch();
      client.handler = (type, flags, buf, start, end) => {
        if (type !== PUBLISH) return;
        const now = performance.now();
        const topicEnd = start + 2 + buf.readUInt16BE(start);
        let p = topicEnd;
        if ((flags >> 1) & 3) {
          acks.add(buf.readUInt16BE(p));
          p += 2;
        }
        const doc = JSON.parse(buf.toString('utf8', p, end)) as { version?: number; clientToken?: string; code?: number; message?: string };
        // The last topic level is "accepted" or "rejected": eight letters either way.
        if (buf[topicEnd - 8] === 0x72 /* r */) {
          tally.rejected++;
          tally.firstRejection ??= `${doc.code ?? '?'} ${doc.message ?? ''}`;
        } else {
          tally.accepted++;
          if (recording && count < samples.length) samples[count++] = now - d.sentAt;
          if (d.version !== 0 && doc.version !== d.version + 1) tally.versionErrors++;
          d.version = doc.version ?? 0;
        }
        if (doc.clientToken !== String(d.seq)) tally.tokenErrors++;
        d.inFlight = false;
        if (sending && rate === null) send(d);
      };
      client.afterChunk = () => {
        const out = acks.take();
        if (out !== null) client.write(out);
      };
      return d;
    });

    const lostBefore = lost.connections;
    let pacer: NodeJS.Timeout | undefined;
    if (rate === null) for (const d of all) send(d);
    else {
      // As in the latency workload: a 1 ms timer sends whatever the schedule says is due.
      let turns = 0;
      const start = performance.now();
      pacer = setInterval(() => {
        const due = Math.floor(((performance.now() - start) * rate) / 1000) - turns;
        for (let k = 0; k < due; k++) {
          const d = all[turns++ % all.length]!;
          if (d.inFlight) tally.behind++;
          else send(d);
        }
      }, 1);
    }
    await sleep(timing.warmupMs);
    const meter = cpuMeter(brokerPid);
    const acceptedBefore = tally.accepted;
    const t0 = performance.now();
    recording = true;
    await sleep(timing.measureMs);
    recording = false;
    const elapsedMs = performance.now() - t0;
    const cpu = meter.stop();
    const acceptedInWindow = tally.accepted - acceptedBefore;
    sending = false;
    clearInterval(pacer);

    const deadline = performance.now() + DRAIN_MS;
    while (all.some((d) => d.inFlight) && performance.now() < deadline) await sleep(10);
    const unanswered = all.filter((d) => d.inFlight).length;
    if (lost.connections > lostBefore) throw new Error(`the broker closed ${lost.connections - lostBefore} connections during the run`);
    if (count === 0)
      throw new Error(`no update was accepted during the measurement${tally.firstRejection ? `; rejected: ${tally.firstRejection}` : ''}`);

    const sorted = samples.subarray(0, count).sort();
    const pick = (q: number): number => sorted[Math.min(count - 1, Math.floor(q * count))]!;
    return {
      kind: 'shadow',
      devices,
      perSecond: (acceptedInWindow * 1000) / elapsedMs,
      samples: count,
      p50Ms: pick(0.5),
      p99Ms: pick(0.99),
      maxMs: sorted[count - 1]!,
      sent: tally.sent,
      accepted: tally.accepted,
      rejected: tally.rejected,
      unanswered,
      versionErrors: tally.versionErrors,
      tokenErrors: tally.tokenErrors,
      firstRejection: tally.firstRejection,
      rate,
      behind: tally.behind,
      cpu,
    };
  } finally {
    closeAll(clients);
  }
}
