/** Retained messages: store, replace, delete, wildcard rules per profile, retain handling, expiry, `$` topics. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { AWS_PROFILE, SqliteStore } from '@thicket/broker';
import { collect, publish, reasonOf, sleep, TestBroker, tempDir, TRANSPORTS, uid, waitFor, withBroker } from './helpers.js';

describe('retained messages', { concurrency: true }, () => {
  for (const transport of TRANSPORTS) {
    for (const version of [4, 5] as const) {
      test(`${transport} v${version}: a retained message is stored, replaced, and sent with RETAIN=1 on subscribe`, () =>
        withBroker({}, async (tb) => {
          const topic = `r/${uid()}`;
          const pub = await tb.connect({ protocolVersion: version, transport });
          await publish(pub, topic, 'first', { qos: 1, retain: true });
          await publish(pub, topic, 'second', { qos: 1, retain: true });
          assert.equal(tb.broker.retained('', topic)?.payload.toString(), 'second');
          const sub = await tb.connect({ protocolVersion: version, transport });
          const got = collect(sub);
          await sub.subscribeAsync(topic, { qos: 1 });
          const m = await got.next();
          assert.equal(m.payload.toString(), 'second');
          assert.equal(m.packet.retain, true);
          assert.equal(m.packet.qos, 1);
          assert.deepEqual(await got.settle(100), got.messages.slice(0, 1));
          // A live retained publish to an existing subscription has RETAIN=0 (no Retain As Published).
          await publish(pub, topic, 'third', { qos: 1, retain: true });
          const live = await got.next();
          assert.equal(live.payload.toString(), 'third');
          assert.equal(live.packet.retain, false);
        }));
    }
  }

  test('an empty retained payload deletes the message and still reaches current subscribers', () =>
    withBroker({}, async (tb) => {
      const topic = `del/${uid()}`;
      const pub = await tb.connect({ protocolVersion: 5 });
      await publish(pub, topic, 'keep', { qos: 1, retain: true });
      const early = await tb.connect({ protocolVersion: 4 });
      const earlyGot = collect(early);
      await early.subscribeAsync(topic, { qos: 1 });
      await earlyGot.next();
      const before = tb.broker.retainedCount;
      await publish(pub, topic, '', { qos: 1, retain: true });
      const empty = await earlyGot.next();
      assert.equal(empty.payload.length, 0);
      assert.equal(tb.broker.retained('', topic), null);
      assert.equal(tb.broker.retainedCount, before - 1);
      const late = await tb.connect({ protocolVersion: 5 });
      const lateGot = collect(late);
      await late.subscribeAsync(topic, { qos: 1 });
      assert.deepEqual(await lateGot.settle(150), []);
      // Deleting what does not exist is harmless, and a non-retained publish does not store.
      await publish(pub, topic, '', { qos: 0, retain: true });
      await publish(pub, topic, 'not retained', { qos: 1 });
      assert.equal(tb.broker.retained('', topic), null);
    }));

  test('default profile: wildcard subscriptions receive every matching retained message, `a/#` includes `a`', () =>
    withBroker({}, async (tb) => {
      const base = `w${uid()}`;
      for (const t of [base, `${base}/a`, `${base}/a/b`, `${base}/c`, `${base}x/a`])
        tb.broker.publish({ topic: t, payload: t, retain: true, qos: 1 });
      const cases: Array<[string, string[]]> = [
        [`${base}/#`, [base, `${base}/a`, `${base}/a/b`, `${base}/c`]],
        [`${base}/+`, [`${base}/a`, `${base}/c`]],
        [`${base}/+/b`, [`${base}/a/b`]],
        [`+/a`, [`${base}/a`, `${base}x/a`]],
        [`${base}`, [base]],
      ];
      for (const [filter, want] of cases) {
        const c = await tb.connect({ protocolVersion: 5 });
        const got = collect(c);
        await c.subscribeAsync(filter, { qos: 1 });
        await got.count(want.length);
        const all = await got.settle(80);
        assert.deepEqual(all.map((m) => m.topic).sort(), [...want].sort(), filter);
        assert.ok(all.every((m) => m.packet.retain));
      }
    }));

  test('AWS profile: only exact-match subscriptions receive the retained message; `a/#` does not match `a`', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      const base = `aws${uid()}`;
      tb.broker.publish({ topic: `${base}/a`, payload: 'x', retain: true, qos: 1 });
      tb.broker.publish({ topic: base, payload: 'parent', retain: true, qos: 1 });
      const wild = await tb.connect({ protocolVersion: 5 });
      const wildGot = collect(wild);
      await wild.subscribeAsync([`${base}/#`, `${base}/+`], { qos: 1 });
      const exact = await tb.connect({ protocolVersion: 4 });
      const exactGot = collect(exact);
      await exact.subscribeAsync(`${base}/a`, { qos: 1 });
      assert.equal((await exactGot.next()).packet.retain, true);
      assert.deepEqual(await wildGot.settle(150), []);
      // Live messages still reach wildcard subscriptions (with RETAIN=0); `a/#` does not match `a`.
      tb.broker.publish({ topic: base, payload: 'parent live', qos: 1 });
      tb.broker.publish({ topic: `${base}/a`, payload: 'live', retain: true, qos: 1 });
      const live = await wildGot.next();
      assert.equal(live.payload.toString(), 'live');
      assert.equal(live.packet.retain, false);
      assert.deepEqual(
        (await wildGot.settle(100)).map((m) => m.payload.toString()),
        ['live'],
        'one copy for overlapping subscriptions and no parent match',
      );
    }));

  test('AWS profile: retained publish to a reserved topic is refused (PUBACK 0x87)', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      const { client } = await tb.rawConnected(5);
      client.send({ cmd: 'publish', topic: '$aws/things/t/shadow/update', payload: 'x', qos: 1, messageId: 1, retain: true, dup: false });
      assert.equal(reasonOf(await client.next('puback')), 0x87);
      client.send({ cmd: 'publish', topic: '$SYS/x', payload: 'x', qos: 1, messageId: 2, retain: false, dup: false });
      assert.equal(reasonOf(await client.next('puback')), 0x87);
      assert.equal(tb.broker.retainedCount, 0);
    }));

  test('retain handling 0 sends on every subscribe, 1 only for a new subscription, 2 never', () =>
    withBroker({}, async (tb) => {
      const topic = `rh/${uid()}`;
      tb.broker.publish({ topic, payload: 'kept', retain: true, qos: 1 });
      for (const [rh, expected] of [
        [0, 2],
        [1, 1],
        [2, 0],
      ] as const) {
        const c = await tb.connect({ protocolVersion: 5 });
        const got = collect(c);
        await c.subscribeAsync(topic, { qos: 1, rh });
        await c.subscribeAsync(topic, { qos: 1, rh });
        if (expected) await got.count(expected);
        assert.equal((await got.settle(120)).length, expected, `retain handling ${rh}`);
      }
    }));

  test('retain as published keeps RETAIN=1 on live deliveries; without it (and for v3.1.1) RETAIN=0', () =>
    withBroker({}, async (tb) => {
      const topic = `rap/${uid()}`;
      const rap = await tb.connect({ protocolVersion: 5 });
      const rapGot = collect(rap);
      await rap.subscribeAsync(topic, { qos: 1, rap: true });
      const plain = await tb.connect({ protocolVersion: 5 });
      const plainGot = collect(plain);
      await plain.subscribeAsync(topic, { qos: 1, rap: false });
      const v4 = await tb.connect({ protocolVersion: 4 });
      const v4Got = collect(v4);
      await v4.subscribeAsync(topic, { qos: 1 });
      const pub = await tb.connect({ protocolVersion: 5 });
      await publish(pub, topic, 'r', { qos: 1, retain: true });
      await publish(pub, topic, 'n', { qos: 1, retain: false });
      assert.deepEqual(
        (await rapGot.count(2)).map((m) => m.packet.retain),
        [true, false],
      );
      assert.deepEqual(
        (await plainGot.count(2)).map((m) => m.packet.retain),
        [false, false],
      );
      assert.deepEqual(
        (await v4Got.count(2)).map((m) => m.packet.retain),
        [false, false],
      );
    }));

  test('retained messages expire with their Message Expiry Interval; the remaining interval is sent', () =>
    withBroker({}, async (tb) => {
      const short = `exp/${uid()}`;
      const long = `exp/${uid()}`;
      const pub = await tb.connect({ protocolVersion: 5 });
      await publish(pub, short, 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } });
      await publish(pub, long, 'long', { qos: 1, retain: true, properties: { messageExpiryInterval: 10 } });
      const c1 = await tb.connect({ protocolVersion: 5 });
      const g1 = collect(c1);
      await c1.subscribeAsync(short, { qos: 1 });
      assert.equal((await g1.next()).packet.properties?.messageExpiryInterval, 1);
      await sleep(1300);
      const c2 = await tb.connect({ protocolVersion: 5 });
      const g2 = collect(c2);
      await c2.subscribeAsync([short, long], { qos: 1 });
      const m = await g2.next();
      assert.equal(m.topic, long);
      const left = m.packet.properties?.messageExpiryInterval ?? 0;
      assert.ok(left >= 5 && left <= 9, `remaining interval ${left}`);
      assert.deepEqual(await g2.settle(100), [m], 'the expired message is not sent');
      assert.equal(tb.broker.retained('', short), null);
      // A v3.1.1 subscriber gets the message without properties.
      const v4 = await tb.connect({ protocolVersion: 4 });
      const g4 = collect(v4);
      await v4.subscribeAsync(long, { qos: 1 });
      assert.equal((await g4.next()).payload.toString(), 'long');
    }));

  test('`$` topics are not matched by `#` or `+/...` subscriptions, retained or live, but by `$SYS/#`', () =>
    withBroker({}, async (tb) => {
      tb.broker.publish({ topic: '$SYS/broker/x', payload: 'sys', retain: true, qos: 1 });
      const all = await tb.connect({ protocolVersion: 5 });
      const allGot = collect(all);
      await all.subscribeAsync(['#', '+/broker/x', '+/+/+'], { qos: 1 });
      const sys = await tb.connect({ protocolVersion: 4 });
      const sysGot = collect(sys);
      await sys.subscribeAsync('$SYS/#', { qos: 1 });
      assert.equal((await sysGot.next()).payload.toString(), 'sys');
      tb.broker.publish({ topic: '$SYS/broker/x', payload: 'live', qos: 1 });
      assert.equal((await sysGot.next()).payload.toString(), 'live');
      tb.broker.publish({ topic: 'plain/broker/x', payload: 'plain', qos: 1 });
      assert.deepEqual(
        (await allGot.count(1)).map((m) => m.topic),
        ['plain/broker/x'],
      );
      assert.equal((await allGot.settle(100)).length, 1);
    }));

  test('retained delivery QoS is the minimum of the stored QoS and the subscription QoS', () =>
    withBroker({}, async (tb) => {
      const t0 = `rq/${uid()}`;
      const t2 = `rq/${uid()}`;
      tb.broker.publish({ topic: t0, payload: 'q0', retain: true, qos: 0 });
      tb.broker.publish({ topic: t2, payload: 'q2', retain: true, qos: 2 });
      const c = await tb.connect({ protocolVersion: 5 });
      const got = collect(c);
      await c.subscribeAsync({ [t0]: { qos: 2 }, [t2]: { qos: 1 } });
      const msgs = await got.count(2);
      const byTopic = Object.fromEntries(msgs.map((m) => [m.topic, m.packet.qos]));
      assert.deepEqual(byTopic, { [t0]: 0, [t2]: 1 });
    }));

  test('retained messages (with properties) survive a restart on the same SQLite file', async () => {
    const tmp = tempDir();
    try {
      const file = join(tmp.dir, 'broker.db');
      const topic = `persist/${uid()}`;
      const a = await TestBroker.start({ store: new SqliteStore(file) });
      const pub = await a.connect({ protocolVersion: 5 });
      await publish(pub, topic, 'durable', {
        qos: 1,
        retain: true,
        properties: { contentType: 'text/plain', userProperties: { k: 'v' }, correlationData: Buffer.from([1, 2]) },
      });
      await publish(pub, `${topic}/gone`, 'x', { qos: 1, retain: true });
      await publish(pub, `${topic}/gone`, '', { qos: 1, retain: true });
      await a.close();
      const b = await TestBroker.start({ store: new SqliteStore(file) });
      try {
        assert.equal(b.broker.retainedCount, 1);
        const sub = await b.connect({ protocolVersion: 5 });
        const got = collect(sub);
        await sub.subscribeAsync(`${topic}/#`, { qos: 1 });
        const m = await got.next();
        assert.equal(m.payload.toString(), 'durable');
        assert.equal(m.packet.properties?.contentType, 'text/plain');
        assert.deepEqual({ ...m.packet.properties?.userProperties }, { k: 'v' });
        assert.deepEqual(m.packet.properties?.correlationData, Buffer.from([1, 2]));
        assert.deepEqual(await got.settle(100), [m]);
      } finally {
        await b.close();
      }
    } finally {
      tmp.remove();
    }
  });

  test('retainAvailable=false: a retained PUBLISH gets DISCONNECT 0x9A and is not stored', () =>
    withBroker({ retainAvailable: false }, async (tb) => {
      const { client, connack } = await tb.rawConnected(5);
      assert.equal(connack.properties?.retainAvailable, false);
      client.send({ cmd: 'publish', topic: 'x', payload: 'x', qos: 1, messageId: 1, retain: true, dup: false });
      const [d] = await client.closedWith();
      assert.equal(reasonOf(d!), 0x9a);
      await waitFor(() => tb.broker.connectionCount === 0, 'the connection to go');
      assert.equal(tb.broker.retainedCount, 0);
    }));
});
