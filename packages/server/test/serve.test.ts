/** `thicket serve` as a process: first start, files and modes, HTTP endpoints, metrics, SIGTERM, `certs issue`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { spawnServer, tempDir } from './helpers.js';

const PORTS = ['--mqtt-port', '0', '--mqtts-port', '0', '--http-port', '0', '--https-port', '0'];

test('first start creates the CA, server certificate and admin key with safe modes, and prints every endpoint', async () => {
  const dataDir = tempDir();
  try {
    const s = await spawnServer(['--data-dir', dataDir, ...PORTS]);
    const mode = (f: string): number => statSync(join(dataDir, f)).mode & 0o777;
    assert.equal(mode('ca.key'), 0o600);
    assert.equal(mode('server.key'), 0o600);
    assert.equal(mode('credentials'), 0o600);
    const banner = s.output.join('\n');
    for (const want of [
      `mqtt://127.0.0.1:${s.ports.mqtt}`,
      `mqtts://127.0.0.1:${s.ports.mqtts}`,
      `ws://127.0.0.1:${s.ports.http}/mqtt`,
      `wss://127.0.0.1:${s.ports.https}/mqtt`,
      'Admin access key',
    ]) {
      assert.ok(banner.includes(want), `banner shows ${want}`);
    }
    const secret = /aws_secret_access_key = (\S+)/.exec(readFileSync(join(dataDir, 'credentials'), 'utf8'))![1]!;
    assert.ok(!banner.includes(secret), 'the secret key is never printed');

    const base = `http://127.0.0.1:${s.ports.http}`;
    const health = await fetch(`${base}/healthz`);
    assert.equal(health.status, 200);
    assert.equal(((await health.json()) as { status: string }).status, 'ok');
    assert.equal(await (await fetch(`${base}/ca.pem`)).text(), readFileSync(join(dataDir, 'ca.pem'), 'utf8'));

    s.proc.kill('SIGTERM');
    assert.equal((await s.exited).code, 0);

    // A second start keeps the CA.
    const caBefore = readFileSync(join(dataDir, 'ca.pem'), 'utf8');
    const again = await spawnServer(['--data-dir', dataDir, ...PORTS]);
    assert.equal(readFileSync(join(dataDir, 'ca.pem'), 'utf8'), caBefore);
    again.proc.kill('SIGTERM');
    await again.exited;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('SIGTERM sends MQTT 5 clients DISCONNECT 0x8B and exits cleanly', async () => {
  const dataDir = tempDir();
  try {
    const s = await spawnServer(['--dev', '--data-dir', dataDir, ...PORTS]);
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${s.ports.mqtt}`, { protocolVersion: 5, reconnectPeriod: 0 });
    const disconnect = new Promise<number | undefined>((r) => client.on('disconnect', (p) => r(p.reasonCode)));
    s.proc.kill('SIGTERM');
    assert.equal(await disconnect, 0x8b);
    assert.equal((await s.exited).code, 0);
    client.end(true);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('/metrics reports connections, messages by QoS, and dropped messages', async () => {
  const dataDir = tempDir();
  try {
    const s = await spawnServer(['--dev', '--data-dir', dataDir, ...PORTS]);
    const url = `mqtt://127.0.0.1:${s.ports.mqtt}`;
    const sub = await mqtt.connectAsync(url, { protocolVersion: 5 });
    await sub.subscribeAsync('m/#', { qos: 1 });
    const pub = await mqtt.connectAsync(url, { protocolVersion: 4 });
    await pub.publishAsync('m/1', 'x', { qos: 1 });
    await pub.publishAsync('m/2', 'y', { qos: 0, retain: true });
    await new Promise((r) => setTimeout(r, 100));
    const text = await (await fetch(`http://127.0.0.1:${s.ports.http}/metrics`)).text();
    const value = (line: string): number => {
      const found = text.split('\n').find((l) => l.startsWith(line + ' '));
      assert.ok(found, `metric ${line} present`);
      return Number(found.slice(line.length + 1));
    };
    assert.equal(value('thicket_mqtt_connections'), 2);
    assert.ok(value('thicket_mqtt_messages_received_total{qos="1"}') >= 1);
    assert.ok(value('thicket_mqtt_messages_sent_total{qos="1"}') >= 1);
    assert.equal(value('thicket_mqtt_retained_messages'), 1);
    assert.ok(value('thicket_mqtt_received_bytes_total{qos="0"}') > 0);
    assert.ok(text.includes('thicket_mqtt_messages_dropped_total{reason="queue_full"}'));
    assert.ok(text.includes('thicket_mqtt_messages_queued'));
    await sub.endAsync();
    await pub.endAsync();
    s.proc.kill('SIGTERM');
    await s.exited;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
