/**
 * The default offline queue holds an hour-ish burst: 100,000 QoS 1 messages for an offline persistent
 * session stay on disk (not in memory) with SQLite, survive a restart, and all arrive in order. Its
 * own file: it keeps the event loop busy for a while and would starve the timing of other tests.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import mqtt from 'mqtt';
import { MQTT_DEFAULTS, SqliteStore } from '@thicket/broker';
import { TestBroker, tempDir, uid, waitFor } from './helpers.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } } as const;

describe('offline queue: an hour away', () => {
  test('defaults hold 100,000 messages for a session away for an hour (maxQueued 100000, maxQueuedBytes 256 MiB)', () => {
    assert.equal(MQTT_DEFAULTS.maxQueued, 100_000);
    assert.equal(MQTT_DEFAULTS.maxQueuedBytes, 256 * 1024 * 1024);
    assert.equal(MQTT_DEFAULTS.queueDropPolicy, 'newest');
  });

  test('SQLite: 100,000 QoS 1 messages for an offline session stay on disk, survive a restart, and all arrive in order', async () => {
    const { dir, remove } = tempDir();
    const file = join(dir, 'broker.db');
    const N = 100_000;
    const id = uid('offline');
    const topic = `burst/${uid()}`;
    let tb: TestBroker | undefined;
    try {
      tb = await TestBroker.start({ store: new SqliteStore(file) });
      const a = await tb.connect({ clientId: id, protocolVersion: 5, ...persistent });
      await a.subscribeAsync(topic, { qos: 1 });
      await a.endAsync();
      await waitFor(() => !tb!.broker.isConnected('', id), 'the subscriber to go offline');
      gc();
      const heapBefore = process.memoryUsage().heapUsed;
      const payload = Buffer.alloc(100, 'p');
      for (let i = 0; i < N; i++) {
        payload.write(String(i).padStart(8, '0'));
        tb.broker.publish({ topic, payload: Buffer.from(payload), qos: 1 });
        if (i % 5000 === 4999) await tb.broker.whenDurable();
      }
      await tb.broker.whenDurable();
      assert.equal(tb.broker.queuedCount, N);
      assert.equal(tb.broker.queuedBytes, N * (100 + topic.length));
      assert.equal(tb.broker.stats.dropped.queue_full, 0);
      gc();
      // All in memory this took ~45 MB of heap (about 450 bytes a message); on disk it is a few MB.
      const grown = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
      assert.ok(grown < 20, `heap grew by ${grown.toFixed(1)} MB for ${N} queued messages`);
      await tb.close();

      tb = await TestBroker.start({ store: new SqliteStore(file) });
      assert.equal(tb.broker.queuedCount, N, 'the queue is back after the restart');
      // Listening from the first packet on: resumed deliveries come right after CONNACK.
      const payloads: string[] = [];
      const client = mqtt.connect(tb.url(), { clientId: id, protocolVersion: 5, reconnectPeriod: 0, ...persistent });
      client.on('message', (_t, p) => payloads.push(p.toString()));
      tb.clients.add(client);
      await waitFor(() => payloads.length >= N, `${N} messages (got ${payloads.length})`, 50_000);
      for (let i = 0; i < N; i++)
        if (payloads[i]!.slice(0, 8) !== String(i).padStart(8, '0')) assert.fail(`message ${i} is ${payloads[i]!.slice(0, 8)}`);
      await waitFor(() => tb!.broker.queuedCount === 0, 'the queue to empty');
      assert.equal(tb.broker.queuedBytes, 0);
    } finally {
      await tb?.close();
      remove();
    }
  });
});
