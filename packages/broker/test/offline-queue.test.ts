/**
 * Offline queues of persistent sessions: queues longer than what is kept in memory (the rest is on
 * disk with SQLite), the message and byte bounds with both drop policies, and every
 * drop made visible (counters per reason, a rate-limited log line naming the client, and PUBACK /
 * PUBREC 0x97 to MQTT 5 publishers when no subscriber could take the message).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { IPublishPacket } from 'mqtt-packet';
import { SqliteStore, type BrokerLogger } from '@thicket/broker';
import { reasonOf, TestBroker, tempDir, uid, waitFor, withBroker, withTimeout, type Version } from './helpers.js';

const persistent = (version: Version, seconds = 3600): { clean: false; properties?: { sessionExpiryInterval: number } } =>
  version === 5 ? { clean: false, properties: { sessionExpiryInterval: seconds } } : { clean: false };

/** A logger that keeps warn lines. */
function capture(): { logger: BrokerLogger; warnings: Array<{ obj: Record<string, unknown>; msg: string | undefined }> } {
  const warnings: Array<{ obj: Record<string, unknown>; msg: string | undefined }> = [];
  const none = (): void => {};
  return {
    warnings,
    logger: { debug: none, info: none, error: none, warn: (obj, msg) => warnings.push({ obj: obj as Record<string, unknown>, msg }) },
  };
}

/** Connects a persistent mqtt.js client and counts its messages from the first packet on (resumed deliveries come right after CONNACK). */
function receiver(url: string, clientId: string, version: Version): { client: MqttClient; payloads: string[] } {
  const payloads: string[] = [];
  const client = mqtt.connect(url, { clientId, protocolVersion: version, reconnectPeriod: 0, ...persistent(version) });
  client.on('message', (_t, p) => payloads.push(p.toString()));
  return { client, payloads };
}

describe('offline queues', { concurrency: true }, () => {
  for (const version of [4, 5] as const) {
    test(`v${version}, SQLite: a queue longer than what is kept in memory drains in order across reconnects and a restart, and then ends cleanly`, async () => {
      const { dir, remove } = tempDir();
      const file = join(dir, 'broker.db');
      const N = 4500;
      const id = uid('paged');
      const topic = `paged/${uid()}`;
      let tb: TestBroker | undefined;
      try {
        tb = await TestBroker.start({ store: new SqliteStore(file), maxInflight: 10 });
        const a = await tb.connect({ clientId: id, protocolVersion: version, ...persistent(version) });
        await a.subscribeAsync(topic, { qos: 1 });
        await a.endAsync();
        for (let i = 0; i < N; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
        await tb.broker.whenDurable();
        // Part of it, then offline again while more arrives.
        const first = receiver(tb.url(), id, version);
        await waitFor(() => first.payloads.length >= 1500, '1500 messages', 15_000);
        await first.client.endAsync();
        const got = [...first.payloads];
        for (let i = N; i < N + 500; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
        await tb.broker.whenDurable();
        await tb.close();
        tb = await TestBroker.start({ store: new SqliteStore(file), maxInflight: 10 });
        const second = receiver(tb.url(), id, version);
        tb.clients.add(second.client);
        // Messages in flight when the first connection closed come again (QoS 1 redelivery): at most maxInflight.
        await waitFor(() => new Set([...got, ...second.payloads]).size >= N + 500, 'every message', 20_000);
        const all = [...got, ...second.payloads].map(Number);
        const redelivered = all.length - (N + 500);
        assert.ok(redelivered >= 0 && redelivered <= 10, `${redelivered} redelivered`);
        // In order: each number after the first one of its kind is the next one or a redelivery of an in-flight one.
        const firstSeen = all.filter((n, i) => all.indexOf(n) === i);
        assert.deepEqual(
          firstSeen,
          Array.from({ length: N + 500 }, (_, i) => i),
        );
        await waitFor(() => tb!.broker.queuedCount === 0, 'the queue to empty');
        // A clean start ends the session: its rows leave the store.
        await second.client.endAsync();
        tb.clients.delete(second.client);
        const c = await tb.connect({ clientId: id, protocolVersion: version, clean: true });
        await c.endAsync();
        await waitFor(() => tb!.broker.sessionCount === 0, 'the session to end');
        tb.broker.store.flush();
        const db = (tb.broker.store as SqliteStore).db;
        assert.deepEqual(db.prepare('SELECT COUNT(*) AS n FROM mqtt_queue').get(), { n: 0 });
        assert.deepEqual(db.prepare('SELECT COUNT(*) AS n FROM mqtt_messages').get(), { n: 0 });
      } finally {
        await tb?.close();
        remove();
      }
    });
  }

  test('SQLite: a session ended while most of its queue is on disk leaves no rows behind; shared messages stay for the others', async () => {
    const { dir, remove } = tempDir();
    try {
      await withBroker({ store: new SqliteStore(join(dir, 'b.db')) }, async (tb) => {
        const topic = `end/${uid()}`;
        const [gone, kept] = [uid('gone'), uid('kept')];
        for (const id of [gone, kept]) {
          const c = await tb.connect({ clientId: id, protocolVersion: 5, ...persistent(5) });
          await c.subscribeAsync(topic, { qos: 1 });
          await c.endAsync();
        }
        for (let i = 0; i < 2500; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
        await tb.broker.whenDurable();
        const c = await tb.connect({ clientId: gone, protocolVersion: 5, clean: true });
        await c.endAsync();
        await waitFor(() => tb.broker.sessionCount === 1, 'one session to end');
        await tb.broker.whenDurable();
        const db = (tb.broker.store as SqliteStore).db;
        assert.deepEqual(db.prepare('SELECT COUNT(*) AS n FROM mqtt_queue').get(), { n: 2500 });
        assert.deepEqual(db.prepare('SELECT COUNT(*) AS n FROM mqtt_messages').get(), { n: 2500 });
        const { client, payloads } = receiver(tb.url(), kept, 5);
        tb.clients.add(client);
        await waitFor(() => payloads.length >= 2500, 'the kept session to receive everything', 10_000);
        assert.deepEqual(
          payloads.map(Number),
          Array.from({ length: 2500 }, (_, i) => i),
        );
        await waitFor(() => tb.broker.queuedCount === 0, 'the queue to empty');
        await withTimeout(
          (async () => {
            for (;;) {
              await tb.broker.whenDurable();
              if ((db.prepare('SELECT COUNT(*) AS n FROM mqtt_messages').get() as { n: number }).n === 0) return;
              await new Promise((r) => setTimeout(r, 20));
            }
          })(),
          3000,
          'message rows to go',
        );
      });
    } finally {
      remove();
    }
  });

  for (const policy of ['newest', 'oldest'] as const) {
    test(`maxQueuedBytes with policy "${policy}": the queue holds at most that many bytes, drops counted as queue_full_bytes`, () =>
      withBroker({ maxQueuedBytes: 1000, queueDropPolicy: policy }, async (tb) => {
        const id = uid();
        const topic = `qb/${uid()}`.slice(0, 20).padEnd(20, 'x');
        const a = await tb.connect({ protocolVersion: 5, clientId: id, ...persistent(5) });
        await a.subscribeAsync(topic, { qos: 1 });
        await a.endAsync();
        // 80 payload + 20 topic = 100 bytes each: ten fit.
        for (let i = 0; i < 14; i++) tb.broker.publish({ topic, payload: String(i).padStart(80, '0'), qos: 1 });
        assert.equal(tb.broker.queuedCount, 10);
        assert.equal(tb.broker.queuedBytes, 1000);
        assert.equal(tb.broker.stats.dropped.queue_full_bytes, 4);
        assert.equal(tb.broker.stats.dropped.queue_full, 0);
        // A message larger than the whole bound never fits, whatever the policy.
        tb.broker.publish({ topic, payload: Buffer.alloc(1001), qos: 1 });
        assert.equal(tb.broker.stats.dropped.queue_full_bytes, 5);
        assert.equal(tb.broker.queuedCount, 10);
        const { client, payloads } = receiver(tb.url(), id, 5);
        tb.clients.add(client);
        await waitFor(() => payloads.length >= 10, 'ten messages');
        const expected = policy === 'newest' ? [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] : [4, 5, 6, 7, 8, 9, 10, 11, 12, 13];
        assert.deepEqual(payloads.map(Number), expected);
        await waitFor(() => tb.broker.queuedBytes === 0, 'the bytes to be released');
      }));
  }

  test('a drop is logged once per client per interval, naming the client and the reason; other clients get their own line', async () => {
    const { logger, warnings } = capture();
    await withBroker({ maxQueued: 2, logger }, async (tb) => {
      const topic = `log/${uid()}`;
      const [one, two] = [uid('one'), uid('two')];
      for (const id of [one, two]) {
        const c = await tb.connect({ protocolVersion: 5, clientId: id, ...persistent(5) });
        await c.subscribeAsync(topic, { qos: 1 });
        await c.endAsync();
      }
      for (let i = 0; i < 500; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
      assert.equal(tb.broker.stats.dropped.queue_full, 2 * 498);
      assert.equal(warnings.length, 2, JSON.stringify(warnings));
      const byClient = new Map(warnings.map((w) => [w.obj.clientId, w]));
      for (const id of [one, two]) {
        const w = byClient.get(id);
        assert.ok(w, `a line for ${id}`);
        assert.equal(w.obj.reason, 'queue_full');
        assert.equal(w.obj.dropped, 1);
        assert.equal(w.obj.queued, 2);
        assert.equal(w.obj.connected, false);
        assert.match(w.msg ?? '', new RegExp(`client "${id}" dropped \\(queue_full: `));
      }
    });
  });

  test('v5 publisher: PUBACK 0x97 when every matching subscriber dropped the message; 0x00 when one took it; v3.1.1 gets a plain PUBACK', () =>
    withBroker({ maxQueued: 2 }, async (tb) => {
      const topic = `q97/${uid()}`;
      const full = uid('full');
      const c = await tb.connect({ protocolVersion: 5, clientId: full, ...persistent(5) });
      await c.subscribeAsync(topic, { qos: 1 });
      await c.endAsync();
      const { client: pub } = await tb.rawConnected(5);
      const acks: Array<[number, number | undefined, string | undefined]> = [];
      for (let i = 1; i <= 3; i++) {
        pub.send({ cmd: 'publish', topic, payload: `m${i}`, qos: 1, messageId: i, dup: false, retain: false });
        const ack = await pub.next('puback');
        acks.push([ack.messageId!, reasonOf(ack), ack.properties?.reasonString]);
      }
      assert.deepEqual(acks, [
        [1, 0, undefined],
        [2, 0, undefined],
        [3, 0x97, 'no subscriber could take the message: their queues are full'],
      ]);
      assert.equal(tb.broker.stats.dropped.queue_full, 1);

      // QoS 2: PUBREC 0x97 ends the exchange; the packet id is free again at once.
      pub.send({ cmd: 'publish', topic, payload: 'q2', qos: 2, messageId: 7, dup: false, retain: false });
      const rec = await pub.next('pubrec');
      assert.equal(reasonOf(rec), 0x97);
      pub.send({ cmd: 'publish', topic, payload: 'q2 again', qos: 2, messageId: 7, dup: false, retain: false });
      assert.equal(reasonOf(await pub.next('pubrec')), 0x97, 'not taken for a retransmission');

      // Someone else takes it: success, even though the full session dropped its copy.
      const other = await tb.connect({ protocolVersion: 5, clientId: uid('ok'), ...persistent(5) });
      await other.subscribeAsync(topic, { qos: 1 });
      await other.endAsync();
      pub.send({ cmd: 'publish', topic, payload: 'm4', qos: 1, messageId: 4, dup: false, retain: false });
      assert.equal(reasonOf(await pub.next('puback')), 0);
      assert.equal(tb.broker.stats.dropped.queue_full, 4);

      // MQTT 3.1.1 has no reason codes: a normal PUBACK, and the connection stays.
      const { client: pub4 } = await tb.rawConnected(4);
      const lonely = `${topic}/lonely`;
      const d = await tb.connect({ protocolVersion: 4, clientId: uid('full4'), ...persistent(4) });
      await d.subscribeAsync(lonely, { qos: 1 });
      await d.endAsync();
      for (let i = 1; i <= 3; i++)
        pub4.send({ cmd: 'publish', topic: lonely, payload: 'x', qos: 1, messageId: i, dup: false, retain: false });
      const acks4 = await pub4.take(3);
      assert.deepEqual(
        acks4.map((p) => [p.cmd, (p as { messageId?: number }).messageId]),
        [
          ['puback', 1],
          ['puback', 2],
          ['puback', 3],
        ],
      );
      assert.equal(pub4.isClosed, false);
      assert.equal(tb.broker.stats.dropped.queue_full, 5);
    }));

  test('v5 publisher: no 0x97 when the queue drops its oldest message to take the new one', () =>
    withBroker({ maxQueued: 1, queueDropPolicy: 'oldest' }, async (tb) => {
      const topic = `old/${uid()}`;
      const id = uid();
      const c = await tb.connect({ protocolVersion: 5, clientId: id, ...persistent(5) });
      await c.subscribeAsync(topic, { qos: 1 });
      await c.endAsync();
      const { client: pub } = await tb.rawConnected(5);
      for (let i = 1; i <= 3; i++) pub.send({ cmd: 'publish', topic, payload: `m${i}`, qos: 1, messageId: i, dup: false, retain: false });
      const acks = (await pub.take(3)) as Array<{ cmd: string; reasonCode?: number }>;
      assert.deepEqual(
        acks.map((a) => [a.cmd, a.reasonCode ?? 0]),
        [
          ['puback', 0],
          ['puback', 0],
          ['puback', 0],
        ],
      );
      assert.equal(tb.broker.stats.dropped.queue_full, 2);
      const { client, payloads } = receiver(tb.url(), id, 5);
      tb.clients.add(client);
      await waitFor(() => payloads.length >= 1, 'the kept message');
      assert.deepEqual(payloads, ['m3']);
    }));

  test('a connected client that does not read keeps at most max(maxQueued, 10 × the congestion bound); past that the arriving message gets 0x97', () =>
    withBroker({ maxInflight: 1, maxQueued: 5 }, async (tb) => {
      const topic = `stuck/${uid()}`;
      const { client: sub } = await tb.rawConnected(5);
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await sub.next('suback');
      // In-process publishers are not held back: 1 in flight + 50 queued, the rest dropped.
      for (let i = 0; i < 60; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
      assert.equal(tb.broker.queuedCount, 50);
      assert.equal(tb.broker.stats.dropped.queue_full, 9);
      const { client: pub } = await tb.rawConnected(5);
      pub.send({ cmd: 'publish', topic, payload: 'late', qos: 1, messageId: 9, dup: false, retain: false });
      assert.equal(reasonOf(await pub.next('puback')), 0x97);
      const [p] = (await sub.takePublishes(1)) as IPublishPacket[];
      assert.equal(p!.payload.toString(), '0');
    }));
});
