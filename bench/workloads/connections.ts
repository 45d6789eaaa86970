/**
 * Connection storm, then idle connections. A warm-up storm (closed again) comes first, as the other
 * scenarios have a warm-up: brokers that compile their code as they run (thicket, aedes) would
 * otherwise be timed partly on their cold start. The measured storm's connections stay open and
 * become the first of the idle ones, so every connection opened after the RSS baseline counts
 * towards the memory per connection.
 */
import { closeAll, connectMany, sleep, type Endpoint, type RawClient } from '../clients.js';
import { PINGREQ_BYTES, connectPacket } from '../protocol.js';
import { cpuMeter, rssKb } from '../proc-stats.js';
import type { ConnectionMeasurement } from '../results.js';

const CONNECT_TIMEOUT_MS = 10_000;
const KEEPALIVE_S = 60;
/** Lets the broker finish per-connection work (and Node brokers a GC) before RSS is read. */
const SETTLE_MS = 1_500;
const WARMUP_CONNECTIONS = 500;

export async function runConnections(
  to: Endpoint,
  brokerPid: number,
  storm: number,
  idle: number,
  concurrency: number,
): Promise<ConnectionMeasurement> {
  const run = Date.now().toString(36).slice(-5);
  // Encoded up front so the storm's clock measures the broker, not mqtt-packet.
  const connects = Array.from({ length: idle }, (_, i) => connectPacket(`c${run}-${i}`, KEEPALIVE_S));
  const clients: RawClient[] = [];
  // Devices keep their connections alive; a broker should not get to drop idle ones for silence.
  const pinger = setInterval(
    () => {
      for (const c of clients) c.write(PINGREQ_BYTES);
    },
    (KEEPALIVE_S * 1000) / 2,
  );
  try {
    const warm = Array.from({ length: Math.min(WARMUP_CONNECTIONS, storm) }, (_, i) => connectPacket(`w${run}-${i}`, KEEPALIVE_S));
    closeAll((await connectMany(to, warm.length, concurrency, (i) => warm[i]!, CONNECT_TIMEOUT_MS)).clients);
    await sleep(500);
    const rssBeforeKb = rssKb(brokerPid);

    const meter = cpuMeter(brokerPid);
    const t0 = performance.now();
    const first = await connectMany(to, storm, concurrency, (i) => connects[i]!, CONNECT_TIMEOUT_MS);
    const elapsed = performance.now() - t0;
    const cpu = meter.stop();
    clients.push(...first.clients);

    const rest = await connectMany(to, idle - storm, concurrency, (i) => connects[storm + i]!, CONNECT_TIMEOUT_MS);
    clients.push(...rest.clients);
    await sleep(SETTLE_MS);
    const rssAfterKb = rssKb(brokerPid);
    const held = clients.filter((c) => !c.socket.destroyed).length;

    return {
      kind: 'connections',
      storm,
      stormPerSecond: (first.clients.length / elapsed) * 1000,
      stormFailed: first.failed,
      idle: held,
      idleFailed: idle - held,
      rssBeforeKb,
      rssAfterKb,
      kbPerConnection: rssBeforeKb === null || rssAfterKb === null || held === 0 ? null : (rssAfterKb - rssBeforeKb) / held,
      cpu,
    };
  } finally {
    clearInterval(pinger);
    closeAll(clients);
  }
}
