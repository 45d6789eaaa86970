/**
 * Nothing acknowledged is lost: the server is killed with SIGKILL in the middle of a QoS 1 stream;
 * after a restart on the same data directory, persistent-session subscribers get every message
 * whose PUBACK reached the publisher, in publish order.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { spawnServer, tempDir, sleep } from './helpers.js';

const LISTENERS = ['--mqtts-port', 'off', '--http-port', 'off', '--https-port', 'off', '--mqtt-port', '0', '--log-level', 'info'];

function seqs(list: Buffer[]): number[] {
  return list.map((p) => Number(p.toString()));
}

/** Asserts `received` holds every acked sequence number and that first deliveries are in order. */
function assertComplete(name: string, received: number[], acked: Set<number>): void {
  const seen = new Set<number>();
  let last = -1;
  for (const n of received) {
    if (seen.has(n)) continue; // a QoS 1 redelivery
    assert.ok(n > last, `${name}: ${n} arrived after ${last}`);
    last = n;
    seen.add(n);
  }
  const missing = [...acked].filter((n) => !seen.has(n));
  assert.deepEqual(missing, [], `${name}: ${missing.length} acknowledged messages lost`);
}

async function collectUntilQuiet(client: MqttClient, sink: Buffer[], quietMs = 1500, maxMs = 30_000): Promise<void> {
  const start = Date.now();
  let lastCount = -1;
  let lastChange = Date.now();
  while (Date.now() - start < maxMs) {
    await sleep(100);
    if (sink.length !== lastCount) {
      lastCount = sink.length;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > quietMs) return;
  }
}

test('kill -9 during a QoS 1 stream loses no acknowledged message', async () => {
  const dataDir = tempDir();
  // The offline queue is bounded (1000 by default, then messages drop by policy); lift the bound for
  // this stream. A 20 ms group-commit window puts many acknowledged-or-not publishes in each
  // uncommitted batch, so an acknowledgement sent before its commit would show as a loss.
  const config = join(dataDir, 'thicket.yaml');
  writeFileSync(config, 'commitDelayMs: 20\nmqtt:\n  maxQueued: 100000\n');
  try {
    const first = await spawnServer(['--dev', '--config', config, '--data-dir', dataDir, ...LISTENERS]);
    const url1 = `mqtt://127.0.0.1:${first.ports.mqtt}`;

    // An offline MQTT 5 subscriber and an online MQTT 3.1.1 one, both with persistent sessions.
    const offline = await mqtt.connectAsync(url1, {
      clientId: 'offline-sub',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
      reconnectPeriod: 0,
    });
    await offline.subscribeAsync('stream/#', { qos: 1 });
    await offline.endAsync();
    const online = await mqtt.connectAsync(url1, { clientId: 'online-sub', protocolVersion: 4, clean: false, reconnectPeriod: 0 });
    await online.subscribeAsync('stream/#', { qos: 1 });
    const onlineGot: Buffer[] = [];
    online.on('message', (_t, p) => onlineGot.push(p));
    online.on('error', () => {});

    const publisher = await mqtt.connectAsync(url1, { clientId: 'publisher', protocolVersion: 4, reconnectPeriod: 0 });
    publisher.on('error', () => {});
    const acked = new Set<number>();
    let next = 0;
    let killed = false;
    const pump = async (): Promise<void> => {
      while (!killed) {
        const n = next++;
        try {
          await publisher.publishAsync('stream/data', String(n), { qos: 1 });
          acked.add(n);
        } catch {
          return;
        }
      }
    };
    const pumps = Array.from({ length: 16 }, () => pump());
    while (acked.size < 1500) await sleep(20);
    first.proc.kill('SIGKILL');
    killed = true;
    await first.exited;
    publisher.end(true);
    online.end(true);
    await Promise.allSettled(pumps);
    assert.ok(acked.size >= 1500);

    const second = await spawnServer(['--dev', '--config', config, '--data-dir', dataDir, ...LISTENERS]);
    try {
      const url2 = `mqtt://127.0.0.1:${second.ports.mqtt}`;
      const offlineGot: Buffer[] = [];
      const offline2 = mqtt.connect(url2, {
        clientId: 'offline-sub',
        protocolVersion: 5,
        clean: false,
        properties: { sessionExpiryInterval: 3600 },
        reconnectPeriod: 0,
      });
      offline2.on('message', (_t, p) => offlineGot.push(p));
      const online2 = mqtt.connect(url2, { clientId: 'online-sub', protocolVersion: 4, clean: false, reconnectPeriod: 0 });
      online2.on('message', (_t, p) => onlineGot.push(p));
      const [ack5] = (await Promise.all([
        new Promise((r) => offline2.once('connect', r)),
        new Promise((r) => online2.once('connect', r)),
      ])) as Array<{ sessionPresent: boolean }>;
      assert.equal(ack5!.sessionPresent, true);
      await collectUntilQuiet(offline2, offlineGot);
      await collectUntilQuiet(online2, onlineGot);
      assertComplete('offline MQTT 5 session', seqs(offlineGot), acked);
      assertComplete('online MQTT 3.1.1 session', seqs(onlineGot), acked);
      await offline2.endAsync();
      await online2.endAsync();
    } finally {
      second.proc.kill('SIGTERM');
      await second.exited;
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
