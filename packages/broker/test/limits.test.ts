/** Per-client limits: subscriptions, filters per SUBSCRIBE, publish rate, in-flight window, queue, slow consumers. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt-packet';
import { AWS_PROFILE } from '@thicket/broker';
import { collect, reasonOf, sleep, uid, waitFor, withBroker } from './helpers.js';

const sub = (topics: string[], qos: 0 | 1 | 2 = 1): Array<{ topic: string; qos: 0 | 1 | 2 }> => topics.map((topic) => ({ topic, qos }));

describe('limits', { concurrency: true }, () => {
  test('max subscriptions per client: beyond it v5 gets 0x97, v3.1.1 0x80; re-subscribing does not count', () =>
    withBroker({ maxSubscriptionsPerClient: 3 }, async (tb) => {
      const { client: v5 } = await tb.rawConnected(5);
      v5.send({ cmd: 'subscribe', messageId: 1, subscriptions: sub(['a', 'b', 'c', 'd', 'e']) });
      const ack = await v5.next('suback');
      assert.deepEqual(ack.granted, [1, 1, 1, 0x97, 0x97]);
      assert.match(ack.properties?.reasonString ?? '', /at most 3/);
      v5.send({ cmd: 'subscribe', messageId: 2, subscriptions: sub(['a', 'b'], 0) });
      assert.deepEqual((await v5.next('suback')).granted, [0, 0], 'replacing existing subscriptions is allowed');
      v5.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['c'] });
      await v5.next('unsuback');
      v5.send({ cmd: 'subscribe', messageId: 4, subscriptions: sub(['d', 'e']) });
      assert.deepEqual((await v5.next('suback')).granted, [1, 0x97]);
      // The refused subscription really does not exist.
      tb.broker.publish({ topic: 'e', payload: 'x', qos: 1 });
      tb.broker.publish({ topic: 'd', payload: 'y', qos: 1 });
      assert.equal(((await v5.next('publish')) as IPublishPacket).topic, 'd');
      assert.deepEqual(await v5.drainFor(80), []);

      const { client: v4 } = await tb.rawConnected(4);
      v4.send({ cmd: 'subscribe', messageId: 1, subscriptions: sub(['a', 'b', 'c', 'd']) });
      assert.deepEqual((await v4.next('suback')).granted, [1, 1, 1, 0x80]);
    }));

  test('max filters per SUBSCRIBE: a longer SUBSCRIBE is refused whole (0x97 / 0x80)', () =>
    withBroker({ maxFiltersPerSubscribe: 2 }, async (tb) => {
      const { client: v5 } = await tb.rawConnected(5);
      v5.send({ cmd: 'subscribe', messageId: 1, subscriptions: sub(['a', 'b', 'c']) });
      assert.deepEqual((await v5.next('suback')).granted, [0x97, 0x97, 0x97]);
      v5.send({ cmd: 'subscribe', messageId: 2, subscriptions: sub(['a', 'b']) });
      assert.deepEqual((await v5.next('suback')).granted, [1, 1]);
      tb.broker.publish({ topic: 'c', payload: 'x', qos: 1 });
      assert.deepEqual(await v5.drainFor(80), []);
      const { client: v4 } = await tb.rawConnected(4);
      v4.send({ cmd: 'subscribe', messageId: 1, subscriptions: sub(['a', 'b', 'c']) });
      assert.deepEqual((await v4.next('suback')).granted, [0x80, 0x80, 0x80]);
    }));

  test('AWS profile: 8 filters per SUBSCRIBE and 50 subscriptions per connection', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      const { client } = await tb.rawConnected(5);
      const nine = Array.from({ length: 9 }, (_, i) => `f/${i}`);
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: sub(nine) });
      assert.deepEqual(
        (await client.next('suback')).granted,
        nine.map(() => 0x97),
      );
      for (let batch = 0; batch < 7; batch++) {
        const filters = Array.from({ length: 8 }, (_, i) => `s/${batch * 8 + i}`);
        client.send({ cmd: 'subscribe', messageId: 2 + batch, subscriptions: sub(filters) });
        const granted = (await client.next('suback')).granted as number[];
        const expected = filters.map((_, i) => (batch * 8 + i < 50 ? 1 : 0x97));
        assert.deepEqual(granted, expected, `batch ${batch}`);
      }
    }));

  test('per-client publish rate: v5 excess QoS 1 gets PUBACK 0x97 and is not routed; the next second is fine again', () =>
    withBroker({ maxPublishRate: 5 }, async (tb) => {
      const topic = `rate/${uid()}`;
      const watcher = await tb.connect({ protocolVersion: 5 });
      const got = collect(watcher);
      await watcher.subscribeAsync(topic, { qos: 1 });
      const { client } = await tb.rawConnected(5);
      // Align with a fresh rate window: the window starts with the first publish.
      for (let i = 1; i <= 8; i++)
        client.send({ cmd: 'publish', topic, payload: String(i), qos: 1, messageId: i, dup: false, retain: false });
      client.send({ cmd: 'publish', topic, payload: 'q0', qos: 0, dup: false, retain: false });
      const acks = [];
      for (let i = 0; i < 8; i++) acks.push(await client.next('puback'));
      assert.deepEqual(
        acks.map((a) => [a.messageId, a.reasonCode ?? 0]),
        [1, 2, 3, 4, 5, 6, 7, 8].map((id) => [id, id <= 5 ? 0 : 0x97]),
      );
      await got.count(5);
      assert.deepEqual(
        (await got.settle(100)).map((m) => m.payload.toString()),
        ['1', '2', '3', '4', '5'],
      );
      await sleep(1050);
      client.send({ cmd: 'publish', topic, payload: 'later', qos: 1, messageId: 9, dup: false, retain: false });
      assert.equal(reasonOf(await client.next('puback')), 0);
      assert.equal((await got.next()).payload.toString(), 'later');
    }));

  test('per-client publish rate: a v3.1.1 client over the rate is disconnected', () =>
    withBroker({ maxPublishRate: 5 }, async (tb) => {
      const { client } = await tb.rawConnected(4);
      for (let i = 1; i <= 6; i++)
        client.send({ cmd: 'publish', topic: 'r', payload: 'x', qos: 1, messageId: i, dup: false, retain: false });
      const got = await client.closedWith();
      assert.equal(got.filter((p) => p.cmd === 'puback').length, 5);
      const events: string[] = [];
      tb.broker.on('client:disconnected', (_c, reason: string) => events.push(reason));
      const { client: c2 } = await tb.rawConnected(4);
      for (let i = 1; i <= 6; i++) c2.send({ cmd: 'publish', topic: 'r', payload: 'x', qos: 0, dup: false, retain: false });
      await c2.waitClosed();
      await waitFor(() => events.length === 1, 'the disconnect event');
      assert.deepEqual(events, ['THROTTLED']);
    }));

  test('max in-flight: at most maxInflight unacknowledged deliveries, announced as Receive Maximum', () =>
    withBroker({ maxInflight: 4 }, async (tb) => {
      const topic = `inf/${uid()}`;
      for (const version of [4, 5] as const) {
        const { client, connack } = await tb.rawConnected(version, version === 5 ? { properties: { receiveMaximum: 100 } } : {});
        if (version === 5) assert.equal(connack.properties?.receiveMaximum, 4);
        client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
        await client.next('suback');
        for (let i = 0; i < 10; i++) tb.broker.publish({ topic: topic, payload: `${version}-${i}`, qos: 1 });
        const first = (await client.take(4)) as IPublishPacket[];
        assert.deepEqual(await client.drainFor(80), [], `v${version}: no fifth in flight`);
        for (const p of first) client.send({ cmd: 'puback', messageId: p.messageId });
        const next = (await client.take(4)) as IPublishPacket[];
        assert.deepEqual(await client.drainFor(80), []);
        assert.deepEqual(
          [...first, ...next].map((p) => p.payload.toString()),
          Array.from({ length: 8 }, (_, i) => `${version}-${i}`),
        );
        client.destroy();
      }
    }));

  test('max queued: a connected client that does not read keeps at most 10 × maxQueued; in-process publishes past that drop, counted', () =>
    withBroker({ maxInflight: 1, maxQueued: 2 }, async (tb) => {
      const topic = `mq/${uid()}`;
      const { client } = await tb.rawConnected(5);
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await client.next('suback');
      // 1 in flight + 20 queued (10 × the bound for a connected client); in-process publishers are not held back.
      for (let i = 0; i < 30; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
      assert.equal(tb.broker.stats.dropped.queue_full, 9);
      const got: string[] = [];
      while (got.length < 21) {
        const [p] = await client.takePublishes(1);
        got.push(p!.payload.toString());
        client.send({ cmd: 'puback', messageId: p!.messageId });
      }
      assert.deepEqual(
        got,
        Array.from({ length: 21 }, (_, i) => String(i)),
      );
    }));

  test('slow consumer: QoS 0 messages to a client that does not read are dropped past slowConsumerBytes; others are unaffected', () =>
    withBroker({ slowConsumerBytes: 64 * 1024 }, async (tb) => {
      const topic = `slow/${uid()}`;
      const { client: slow } = await tb.rawConnected(4);
      slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] });
      await slow.next('suback');
      const fast = await tb.connect({ protocolVersion: 5 });
      const got = collect(fast);
      await fast.subscribeAsync(topic, { qos: 0 });
      slow.pause();
      const payload = Buffer.alloc(16 * 1024, 1);
      let sent = 0;
      // Small bursts (well under the bound per turn) until the kernel buffers and then the broker's
      // own buffer of the paused client are full.
      const until = Date.now() + 8000;
      while (tb.broker.stats.dropped.slow_consumer === 0 && Date.now() < until) {
        for (let i = 0; i < 2; i++, sent++) tb.broker.publish({ topic, payload });
        await sleep(1);
      }
      assert.ok(tb.broker.stats.dropped.slow_consumer > 0, `drops counted after ${sent} messages`);
      await got.count(sent, 10_000);
      // The slow client recovers once it reads again.
      slow.resume();
      await slow.drainFor(200);
      slow.send({ cmd: 'pingreq' });
      await slow.next('pingresp', 3000, true);
    }));
});
