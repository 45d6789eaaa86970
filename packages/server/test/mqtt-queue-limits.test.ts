/**
 * Queue bounds and Receive Maximum through `thicket serve`: the flags reach the broker, a full offline
 * queue is visible in /metrics, in one log line naming the client, and as PUBACK 0x97 to an MQTT 5
 * publisher; the profiles choose between DISCONNECT 0x93 and pausing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { spawnServer, startTestServer, tempDir } from './helpers.js';

const PORTS = ['--mqtt-port', '0', '--mqtts-port', '0', '--http-port', '0', '--https-port', '0'];

test('thicket serve --mqtt-max-queued: a full offline queue drops, counted per reason, logged once naming the client, 0x97 to MQTT 5', async () => {
  const dataDir = tempDir();
  try {
    const s = await spawnServer(['--dev', '--data-dir', dataDir, '--mqtt-max-queued', '2', ...PORTS]);
    const url = `mqtt://127.0.0.1:${s.ports.mqtt}`;
    const sub = await mqtt.connectAsync(url, {
      clientId: 'sleepy-device',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    await sub.subscribeAsync('fleet/cmd', { qos: 1 });
    await sub.endAsync();
    const pub = await mqtt.connectAsync(url, { clientId: 'operator', protocolVersion: 5 });
    const codes: Array<number | undefined> = [];
    for (let i = 0; i < 5; i++) {
      try {
        await pub.publishAsync('fleet/cmd', `c${i}`, { qos: 1 });
        codes.push(0);
      } catch (err) {
        codes.push((err as { code?: number }).code);
      }
    }
    assert.deepEqual(codes, [0, 0, 0x97, 0x97, 0x97]);
    await pub.endAsync();

    const text = await (await fetch(`http://127.0.0.1:${s.ports.http}/metrics`)).text();
    const value = (line: string): number => {
      const found = text.split('\n').find((l) => l.startsWith(line + ' '));
      assert.ok(found, `metric ${line} present`);
      return Number(found.slice(line.length + 1));
    };
    assert.equal(value('thicket_mqtt_messages_dropped_total{reason="queue_full"}'), 3);
    assert.equal(value('thicket_mqtt_messages_dropped_total{reason="queue_full_bytes"}'), 0);
    assert.equal(value('thicket_mqtt_messages_queued'), 2);
    assert.equal(value('thicket_mqtt_messages_queued_bytes'), 2 * ('fleet/cmd'.length + 2));

    const lines = s.output
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => l.reason !== undefined);
    assert.equal(lines.length, 1, `one line for three drops: ${JSON.stringify(lines)}`);
    assert.equal(lines[0]!.level, 40);
    assert.equal(lines[0]!.clientId, 'sleepy-device');
    assert.equal(lines[0]!.reason, 'queue_full');
    assert.equal(lines[0]!.msg, 'messages for client "sleepy-device" dropped (queue_full: its queue holds maxQueued messages)');

    // The two that fit arrive after all.
    const got: string[] = [];
    const back = mqtt.connect(url, {
      clientId: 'sleepy-device',
      protocolVersion: 5,
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    back.on('message', (_t, p) => got.push(p.toString()));
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, ['c0', 'c1']);
    await back.endAsync();
    s.proc.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('profiles: mqtt disconnects a client over the Receive Maximum, aws pauses it; the setting overrides either', async () => {
  for (const [input, expected] of [
    [{}, 'disconnect'],
    [{ profile: 'aws' }, 'pause'],
    [{ profile: 'aws', mqtt: { receiveMaximumExceeded: 'disconnect' } }, 'disconnect'],
    [{ mqtt: { receiveMaximumExceeded: 'pause' } }, 'pause'],
  ] as const) {
    const server = await startTestServer(input);
    try {
      assert.equal(server.broker.config.receiveMaximumExceeded, expected, JSON.stringify(input));
      assert.equal(server.broker.config.maxQueued, 100_000);
      assert.equal(server.broker.config.maxQueuedBytes, 256 * 1024 * 1024);
    } finally {
      await server.close();
    }
  }
});
