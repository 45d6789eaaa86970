/** PUBLISH flows: QoS 0/1/2 in both directions, downgrade, packet ids, ordering, duplicates, retransmission. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt-packet';
import { AWS_PROFILE } from '@thicket/broker';
import { collect, publish, reasonOf, TRANSPORTS, uid, withBroker, type Version } from './helpers.js';

describe('publish and QoS', { concurrency: true }, () => {
  for (const transport of TRANSPORTS) {
    for (const pubV of [4, 5] as const) {
      for (const subV of [4, 5] as const) {
        test(`${transport}: v${pubV} publisher -> v${subV} subscriber, QoS 0/1/2 arrive at the published QoS`, () =>
          withBroker({}, async (tb) => {
            const sub = await tb.connect({ protocolVersion: subV, transport });
            const topic = `q/${uid()}`;
            await sub.subscribeAsync(topic, { qos: 2 });
            const got = collect(sub);
            const pub = await tb.connect({ protocolVersion: pubV, transport });
            for (const qos of [0, 1, 2] as const) await publish(pub, topic, `m${qos}`, { qos });
            const msgs = await got.count(3);
            assert.deepEqual(
              msgs.map((m) => [m.payload.toString(), m.packet.qos, m.packet.retain, m.packet.dup]),
              [
                ['m0', 0, false, false],
                ['m1', 1, false, false],
                ['m2', 2, false, false],
              ],
            );
            // A binary payload passes through byte for byte.
            const bin = Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80]);
            await publish(pub, topic, bin, { qos: 1 });
            assert.deepEqual((await got.next()).payload, bin);
            assert.equal(tb.broker.stats.messagesIn[1], 2);
          }));
      }
    }
  }

  test('delivery QoS is the minimum of the published QoS and the subscription QoS', () =>
    withBroker({}, async (tb) => {
      const topic = `d/${uid()}`;
      const subs = await Promise.all(([0, 1, 2] as const).map(() => tb.connect({ protocolVersion: 5 })));
      const cols = subs.map((s) => collect(s));
      for (const [i, s] of subs.entries()) await s.subscribeAsync(topic, { qos: i as 0 | 1 | 2 });
      const pub = await tb.connect({ protocolVersion: 4 });
      for (const qos of [0, 1, 2] as const) await publish(pub, topic, `p${qos}`, { qos });
      for (const [subQos, col] of cols.entries()) {
        const msgs = await col.count(3);
        assert.deepEqual(
          msgs.map((m) => m.packet.qos),
          [0, 1, 2].map((pq) => Math.min(pq, subQos)),
          `subscription QoS ${subQos}`,
        );
      }
    }));

  for (const version of [4, 5] as const) {
    test(`v${version}: packet ids: PUBACK/PUBREC/PUBCOMP echo the client's id; outbound ids are non-zero and distinct in flight`, () =>
      withBroker({}, async (tb) => {
        const topic = `ids/${uid()}`;
        const { client: sub } = await tb.rawConnected(version);
        sub.send({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic, qos: 2 }] });
        const suback = await sub.next('suback');
        assert.equal(suback.messageId, 7);
        assert.deepEqual(suback.granted, [2]);
        const { client: pub } = await tb.rawConnected(version);
        pub.send({ cmd: 'publish', topic, payload: 'a', qos: 1, messageId: 0xffff, dup: false, retain: false });
        const puback = await pub.next('puback');
        assert.equal(puback.messageId, 0xffff);
        pub.send({ cmd: 'publish', topic, payload: 'b', qos: 2, messageId: 1, dup: false, retain: false });
        assert.equal((await pub.next('pubrec')).messageId, 1);
        pub.send({ cmd: 'pubrel', messageId: 1 });
        assert.equal((await pub.next('pubcomp')).messageId, 1);
        // The subscriber holds both unacknowledged: their ids differ.
        const p1 = (await sub.next('publish')) as IPublishPacket;
        const p2 = (await sub.next('publish')) as IPublishPacket;
        assert.equal(p1.qos, 1);
        assert.equal(p2.qos, 2);
        assert.ok(p1.messageId! > 0 && p2.messageId! > 0);
        assert.notEqual(p1.messageId, p2.messageId);
        sub.send({ cmd: 'puback', messageId: p1.messageId });
        sub.send({ cmd: 'pubrec', messageId: p2.messageId });
        assert.equal((await sub.next('pubrel')).messageId, p2.messageId);
        sub.send({ cmd: 'pubcomp', messageId: p2.messageId });
        // PUBREL for an unknown id still gets a PUBCOMP (v5: 0x92 Packet Identifier not found).
        pub.send({ cmd: 'pubrel', messageId: 999 });
        const comp = await pub.next('pubcomp');
        assert.equal(comp.messageId, 999);
        if (version === 5) assert.equal(reasonOf(comp), 0x92);
        assert.deepEqual(await sub.drainFor(100), []);
      }));
  }

  // A slower subscriber builds a queue; past the congestion bound (250) the publisher's PUBACKs
  // wait for it. The publisher keeps 200 unacknowledged, over the Receive Maximum of 100, as mqtt.js
  // (which ignores the server's Receive Maximum) lets it: "pause" slows it down instead of 0x93.
  test('2,000 QoS 1 messages arrive in publish order (per subscription, both transports, both versions)', () =>
    withBroker({ maxQueued: 5000, receiveMaximumExceeded: 'pause' }, async (tb) => {
      const topic = `order/${uid()}`;
      const subs = [await tb.connect({ protocolVersion: 5 }), await tb.connect({ protocolVersion: 4, transport: 'ws' })];
      const cols = subs.map((s) => collect(s));
      for (const s of subs) await s.subscribeAsync(topic, { qos: 1 });
      const pub = await tb.connect({ protocolVersion: 5 });
      const N = 2000;
      // The publisher keeps a window of 200 unacknowledged messages, as a fast device would.
      let sent = 0;
      const inflight = new Set<Promise<unknown>>();
      while (sent < N) {
        const p = publish(pub, topic, String(sent++), { qos: 1 });
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        if (inflight.size >= 200) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      for (const col of cols) {
        const msgs = await col.count(N, 20_000);
        const seq = msgs.map((m) => Number(m.payload.toString()));
        assert.deepEqual(
          seq,
          Array.from({ length: N }, (_, i) => i),
        );
        assert.ok(msgs.every((m) => m.packet.qos === 1));
      }
      assert.equal(tb.broker.stats.dropped.queue_full, 0);
    }));

  for (const version of [4, 5] as const) {
    test(`v${version}: a QoS 2 PUBLISH repeated with the same packet id before PUBREL is delivered once`, () =>
      withBroker({}, async (tb) => {
        const topic = `dup/${uid()}`;
        const sub = await tb.connect({ protocolVersion: 5 });
        await sub.subscribeAsync(topic, { qos: 2 });
        const got = collect(sub);
        const { client: pub } = await tb.rawConnected(version);
        const packet = { cmd: 'publish', topic, payload: 'once', qos: 2, messageId: 42, dup: false, retain: false } as const;
        pub.send(packet);
        assert.equal((await pub.next('pubrec')).messageId, 42);
        pub.send({ ...packet, dup: true });
        assert.equal((await pub.next('pubrec')).messageId, 42);
        pub.send({ ...packet, dup: true });
        assert.equal((await pub.next('pubrec')).messageId, 42);
        pub.send({ cmd: 'pubrel', messageId: 42 });
        assert.equal((await pub.next('pubcomp')).messageId, 42);
        await got.count(1);
        // After the release the id is free: the same id now carries a new message.
        pub.send({ ...packet, payload: 'again' });
        await pub.next('pubrec');
        pub.send({ cmd: 'pubrel', messageId: 42 });
        await pub.next('pubcomp');
        await got.count(2);
        const all = await got.settle(150);
        assert.deepEqual(
          all.map((m) => m.payload.toString()),
          ['once', 'again'],
        );
      }));
  }

  for (const version of [4, 5] as Version[]) {
    test(`v${version}: unacknowledged QoS 1 deliveries are resent with DUP and the same packet id on reconnect`, () =>
      withBroker({}, async (tb) => {
        const clientId = uid('dup');
        const topic = `redo/${uid()}`;
        const persist = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
        const { client: a } = await tb.rawConnected(version, { clientId, clean: false, ...persist });
        a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
        await a.next('suback');
        tb.broker.publish({ topic, payload: 'one', qos: 1 });
        tb.broker.publish({ topic, payload: 'two', qos: 1 });
        const first = (await a.next('publish')) as IPublishPacket;
        const second = (await a.next('publish')) as IPublishPacket;
        assert.equal(first.dup, false);
        // Ack only the second; the first stays in flight.
        a.send({ cmd: 'puback', messageId: second.messageId });
        await new Promise((r) => setTimeout(r, 50));
        a.destroy();
        await a.waitClosed();
        const { client: b, connack } = await tb.rawConnected(version, { clientId, clean: false, ...persist });
        assert.equal(connack.sessionPresent, true);
        const again = (await b.next('publish')) as IPublishPacket;
        assert.equal(again.payload.toString(), 'one');
        assert.equal(again.dup, true);
        assert.equal(again.messageId, first.messageId);
        b.send({ cmd: 'puback', messageId: again.messageId });
        assert.deepEqual(await b.drainFor(150), []);
        // Once acknowledged, it is not sent again on the next reconnect.
        b.destroy();
        await b.waitClosed();
        const { client: c } = await tb.rawConnected(version, { clientId, clean: false, ...persist });
        assert.deepEqual(await c.drainFor(150), []);
      }));

    test(`v${version}: PUBREL is resent after reconnect for a QoS 2 delivery whose PUBREC arrived, not the PUBLISH`, () =>
      withBroker({}, async (tb) => {
        const clientId = uid('rel');
        const topic = `rel/${uid()}`;
        const persist = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
        const { client: a } = await tb.rawConnected(version, { clientId, clean: false, ...persist });
        a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
        await a.next('suback');
        tb.broker.publish({ topic, payload: 'x', qos: 2 });
        const p = (await a.next('publish')) as IPublishPacket;
        a.send({ cmd: 'pubrec', messageId: p.messageId });
        assert.equal((await a.next('pubrel')).messageId, p.messageId);
        a.destroy();
        await a.waitClosed();
        const { client: b } = await tb.rawConnected(version, { clientId, clean: false, ...persist });
        const rel = await b.next('pubrel');
        assert.equal(rel.messageId, p.messageId);
        b.send({ cmd: 'pubcomp', messageId: p.messageId });
        assert.deepEqual(await b.drainFor(150), []);
        b.destroy();
        await b.waitClosed();
        const { client: c } = await tb.rawConnected(version, { clientId, clean: false, ...persist });
        assert.deepEqual(await c.drainFor(150), []);
      }));
  }

  test('an inbound QoS 2 PUBLISH resent after a reconnect (before PUBREL) is not delivered twice', () =>
    withBroker({}, async (tb) => {
      const topic = `q2r/${uid()}`;
      const id = uid();
      const { client: sub, got } = await tb.connectCollect({ protocolVersion: 5 });
      await sub.subscribeAsync(topic, { qos: 2 });
      const { client: a } = await tb.rawConnected(4, { clientId: id, clean: false });
      const packet = { cmd: 'publish', topic, payload: 'exactly once', qos: 2, messageId: 9, dup: false, retain: false } as const;
      a.send(packet);
      await a.next('pubrec');
      a.destroy();
      await a.waitClosed();
      const { client: b } = await tb.rawConnected(4, { clientId: id, clean: false });
      b.send({ ...packet, dup: true });
      assert.equal((await b.next('pubrec')).messageId, 9);
      b.send({ cmd: 'pubrel', messageId: 9 });
      await b.next('pubcomp');
      await got.count(1);
      assert.equal((await got.settle(150)).length, 1);
    }));

  test('a QoS 2 delivery answered with an error PUBREC (v5) is finished without PUBREL', () =>
    withBroker({}, async (tb) => {
      const topic = `rec/${uid()}`;
      const { client } = await tb.rawConnected(5);
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
      await client.next('suback');
      tb.broker.publish({ topic, payload: 'x', qos: 2 });
      const p = (await client.next('publish')) as IPublishPacket;
      client.send({ cmd: 'pubrec', messageId: p.messageId, reasonCode: 0x80 });
      assert.deepEqual(await client.drainFor(150), []);
      tb.broker.publish({ topic, payload: 'y', qos: 2 });
      assert.equal(((await client.next('publish')) as IPublishPacket).payload.toString(), 'y');
    }));

  test('QoS 0 messages are not held back by unacknowledged QoS 1 deliveries', () =>
    withBroker({ maxInflight: 2 }, async (tb) => {
      const topic = `mix/${uid()}`;
      const { client } = await tb.rawConnected(4);
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await client.next('suback');
      for (let i = 0; i < 4; i++) tb.broker.publish({ topic, payload: `q1-${i}`, qos: 1 });
      tb.broker.publish({ topic, payload: 'q0', qos: 0 });
      const got = (await client.take(3)) as IPublishPacket[];
      assert.deepEqual(await client.drainFor(80), []);
      assert.deepEqual(
        got.map((p) => p.payload.toString()),
        ['q1-0', 'q1-1', 'q0'],
      );
    }));

  test('AWS profile: QoS 2 PUBLISH gets v5 DISCONNECT 0x9B and closes v3.1.1; QoS 2 subscriptions are granted QoS 1', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      const { client: v5 } = await tb.rawConnected(5);
      v5.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/b', qos: 2 }] });
      assert.deepEqual((await v5.next('suback')).granted, [1]);
      v5.send({ cmd: 'publish', topic: 'a/b', payload: 'x', qos: 2, messageId: 1, dup: false, retain: false });
      const [d] = await v5.closedWith();
      assert.equal(d?.cmd, 'disconnect');
      assert.equal(reasonOf(d!), 0x9b);
      const { client: v4 } = await tb.rawConnected(4);
      v4.send({ cmd: 'publish', topic: 'a/b', payload: 'x', qos: 2, messageId: 1, dup: false, retain: false });
      assert.deepEqual(await v4.closedWith(), []);
      assert.equal(tb.broker.stats.protocolErrors.qos_not_supported, 2);
    }));

  test('in-process publish with QoS 1 reaches MQTT subscribers of both versions and transports', () =>
    withBroker({}, async (tb) => {
      const topic = `ip/${uid()}`;
      const clients = await Promise.all(
        TRANSPORTS.flatMap((transport) => ([4, 5] as const).map((protocolVersion) => tb.connect({ transport, protocolVersion }))),
      );
      const cols = clients.map((c) => collect(c));
      for (const c of clients) await c.subscribeAsync(topic, { qos: 1 });
      tb.broker.publish({ topic, payload: 'hi', qos: 1 });
      for (const col of cols) assert.equal((await col.next()).payload.toString(), 'hi');
    }));
});
