/** Sessions: clean/persistent, expiry, offline queue and its bound, takeover, DISCONNECT expiry, restart on SQLite. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { IPublishPacket } from 'mqtt-packet';
import { MemoryStore, SqliteStore } from '@thicket/broker';
import { publish, reasonOf, sleep, TestBroker, tempDir, TRANSPORTS, uid, waitFor, withBroker, type Version } from './helpers.js';

const persistent = (version: Version, seconds = 60): { clean: false; properties?: { sessionExpiryInterval: number } } =>
  version === 5 ? { clean: false, properties: { sessionExpiryInterval: seconds } } : { clean: false };

describe('sessions', { concurrency: true }, () => {
  for (const version of [4, 5] as const) {
    test(`v${version}: a persistent session keeps its subscriptions; a clean one does not`, () =>
      withBroker({}, async (tb) => {
        const id = uid();
        const topic = `s/${uid()}`;
        const a = await tb.connect({ protocolVersion: version, clientId: id, ...persistent(version) });
        await a.subscribeAsync(topic, { qos: 1 });
        await a.endAsync();
        const { client: b, got } = await tb.connectCollect({ protocolVersion: version, clientId: id, ...persistent(version) });
        tb.broker.publish({ topic, payload: 'still subscribed', qos: 1 });
        assert.equal((await got.next()).payload.toString(), 'still subscribed');
        await b.endAsync();
        // Clean session / clean start: the stored session is discarded.
        const { client: c, got: gotC } = await tb.connectCollect({ protocolVersion: version, clientId: id, clean: true });
        tb.broker.publish({ topic, payload: 'nobody', qos: 1 });
        assert.deepEqual(await gotC.settle(150), []);
        await c.endAsync();
        await waitFor(() => tb.broker.sessionCount === 0, 'the clean session to end');
      }));

    test(`v${version}: QoS 1/2 messages are queued while offline and delivered in order on resume; QoS 0 is not`, () =>
      withBroker({}, async (tb) => {
        const id = uid();
        const topic = `off/${uid()}`;
        const a = await tb.connect({ protocolVersion: version, clientId: id, ...persistent(version) });
        await a.subscribeAsync(topic, { qos: 2 });
        await a.endAsync();
        const pub = await tb.connect({ protocolVersion: 5 });
        await publish(pub, topic, 'q1-a', { qos: 1 });
        await publish(pub, topic, 'q0', { qos: 0 });
        await publish(pub, topic, 'q2', { qos: 2 });
        await publish(pub, topic, 'q1-b', { qos: 1 });
        await waitFor(() => tb.broker.stats.dropped.offline_qos0 === 1, 'the QoS 0 drop');
        assert.equal(tb.broker.queuedCount, 3);
        // Read on the wire: mqtt.js reports a QoS 2 message only after PUBREL.
        const { client: b } = await tb.rawConnected(version, { clientId: id, ...persistent(version) });
        const msgs = await b.takePublishes(3);
        assert.deepEqual(
          msgs.map((m) => [m.payload.toString(), m.qos]),
          [
            ['q1-a', 1],
            ['q2', 2],
            ['q1-b', 1],
          ],
        );
        assert.deepEqual(await b.drainFor(100), []);
        assert.equal(tb.broker.queuedCount, 0);
      }));
  }

  test('v5: clean start discards the old session; session expiry 0 ends the session at disconnect', () =>
    withBroker({}, async (tb) => {
      const id = uid();
      const topic = `cs/${uid()}`;
      const a = await tb.connect({ protocolVersion: 5, clientId: id, ...persistent(5) });
      await a.subscribeAsync(topic, { qos: 1 });
      await a.endAsync();
      tb.broker.publish({ topic, payload: 'queued', qos: 1 });
      assert.equal(tb.broker.queuedCount, 1);
      // Clean start with an expiry: a fresh, empty session that itself persists.
      const { client: b, got } = await tb.connectCollect({
        protocolVersion: 5,
        clientId: id,
        clean: true,
        properties: { sessionExpiryInterval: 60 },
      });
      assert.deepEqual(await got.settle(150), []);
      assert.equal(tb.broker.queuedCount, 0);
      await b.endAsync();
      // Clean start 0 with expiry 0: resumes but ends when this connection closes.
      const c = await tb.connect({ protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 0 } });
      await c.subscribeAsync(topic, { qos: 1 });
      await c.endAsync();
      await waitFor(() => tb.broker.sessionCount === 0, 'the session to end');
      tb.broker.publish({ topic, payload: 'lost', qos: 1 });
      const { connack } = await tb.rawConnected(5, { clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
      assert.equal(connack.sessionPresent, false);
    }));

  for (const policy of ['newest', 'oldest'] as const) {
    test(`queue bound: maxQueued=3 with drop policy "${policy}" keeps the ${policy === 'newest' ? 'first' : 'last'} three, counts the drops`, () =>
      withBroker({ maxQueued: 3, queueDropPolicy: policy }, async (tb) => {
        const id = uid();
        const topic = `qb/${uid()}`;
        const a = await tb.connect({ protocolVersion: 5, clientId: id, ...persistent(5) });
        await a.subscribeAsync(topic, { qos: 1 });
        await a.endAsync();
        for (let i = 0; i < 7; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
        assert.equal(tb.broker.stats.dropped.queue_full, 4);
        assert.equal(tb.broker.queuedCount, 3);
        const { got } = await tb.connectCollect({ protocolVersion: 5, clientId: id, ...persistent(5) });
        await got.count(3);
        assert.deepEqual(
          (await got.settle(100)).map((m) => m.payload.toString()),
          policy === 'newest' ? ['0', '1', '2'] : ['4', '5', '6'],
        );
      }));
  }

  test('a connected subscriber whose queue is over the bound holds QoS 1 publishers back instead of dropping', () =>
    withBroker({ maxInflight: 2, maxQueued: 3 }, async (tb) => {
      const topic = `qo/${uid()}`;
      const { client: sub } = await tb.rawConnected(4);
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await sub.next('suback');
      const { client: pub } = await tb.rawConnected(4);
      for (let i = 1; i <= 8; i++) pub.send({ cmd: 'publish', topic, payload: String(i), qos: 1, messageId: i, dup: false, retain: false });
      // 2 in flight to the subscriber + 2 queued are acknowledged; the 5th fills the queue to its bound and waits.
      const early = await pub.take(4);
      assert.deepEqual(
        early.map((p) => (p as { messageId: number }).messageId),
        [1, 2, 3, 4],
      );
      assert.deepEqual(await pub.drainFor(150), []);
      const seen: string[] = [];
      while (seen.length < 8) {
        const [p] = await sub.takePublishes(1);
        seen.push(p!.payload.toString());
        sub.send({ cmd: 'puback', messageId: p!.messageId });
      }
      assert.deepEqual(seen, ['1', '2', '3', '4', '5', '6', '7', '8']);
      const late = await pub.take(4);
      assert.deepEqual(
        late.map((p) => (p as { messageId: number }).messageId),
        [5, 6, 7, 8],
      );
      assert.equal(tb.broker.stats.dropped.queue_full, 0);
    }));

  for (const [oldT, newT] of [
    ['tcp', 'ws'],
    ['ws', 'tcp'],
  ] as const) {
    test(`takeover (${oldT} -> ${newT}): the old connection is closed (v5: DISCONNECT 0x8E), the session moves on`, () =>
      withBroker({}, async (tb) => {
        const id = uid();
        const topic = `to/${uid()}`;
        const { client: old5 } = await tb.rawConnected(5, { clientId: id, ...persistent(5) }, oldT);
        old5.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
        await old5.next('suback');
        const disconnects: string[] = [];
        tb.broker.on('client:disconnected', (_c, reason: string) => disconnects.push(reason));
        const { client: new5, connack } = await tb.rawConnected(5, { clientId: id, ...persistent(5) }, newT);
        assert.equal(connack.sessionPresent, true);
        const [d] = await old5.closedWith();
        assert.equal(d?.cmd, 'disconnect');
        assert.equal(reasonOf(d!), 0x8e);
        assert.deepEqual(disconnects, ['DUPLICATE_CLIENTID']);
        tb.broker.publish({ topic, payload: 'to the new one', qos: 1 });
        assert.equal(((await new5.next('publish')) as IPublishPacket).payload.toString(), 'to the new one');
        assert.equal(tb.broker.openConnections, 1);

        // v3.1.1: the old connection is just closed.
        const id4 = uid();
        const { client: old4 } = await tb.rawConnected(4, { clientId: id4 }, oldT);
        await tb.rawConnected(4, { clientId: id4 }, newT);
        assert.deepEqual(await old4.closedWith(), []);
        assert.equal(tb.broker.openConnections, 2);
      }));
  }

  test('takeover of a QoS 1 delivery in flight: the new connection gets it again with DUP', () =>
    withBroker({}, async (tb) => {
      const id = uid();
      const topic = `tf/${uid()}`;
      const { client: a } = await tb.rawConnected(5, { clientId: id, ...persistent(5) });
      a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await a.next('suback');
      tb.broker.publish({ topic, payload: 'inflight', qos: 1 });
      const p = (await a.next('publish')) as IPublishPacket;
      const { client: b } = await tb.rawConnected(5, { clientId: id, ...persistent(5) });
      const again = (await b.next('publish')) as IPublishPacket;
      assert.equal(again.payload.toString(), 'inflight');
      assert.equal(again.dup, true);
      assert.equal(again.messageId, p.messageId);
    }));

  test('a session expires after its interval: not present, subscriptions and queue gone', () =>
    withBroker({}, async (tb) => {
      const id = uid();
      const topic = `se/${uid()}`;
      const a = await tb.connect({ protocolVersion: 5, clientId: id, ...persistent(5, 1) });
      await a.subscribeAsync(topic, { qos: 1 });
      await a.endAsync();
      tb.broker.publish({ topic, payload: 'x', qos: 1 });
      assert.equal(tb.broker.sessionCount, 1);
      await waitFor(() => tb.broker.sessionCount === 0, 'the session to expire', 3000);
      assert.equal(tb.broker.queuedCount, 0);
      const { connack } = await tb.rawConnected(5, { clientId: id, ...persistent(5) });
      assert.equal(connack.sessionPresent, false);
    }));

  test('a session does not expire while its client is connected, nor before the interval', () =>
    withBroker({}, async (tb) => {
      const id = uid();
      const a = await tb.connect({ protocolVersion: 5, clientId: id, ...persistent(5, 2) });
      await sleep(1200);
      await a.endAsync();
      await sleep(1000);
      const { connack } = await tb.rawConnected(5, { clientId: id, ...persistent(5, 2) });
      assert.equal(connack.sessionPresent, true);
    }));

  test('v3.1.1 persistent sessions live for maxSessionExpiry', () =>
    withBroker({ maxSessionExpiry: 1 }, async (tb) => {
      const id = uid();
      const a = await tb.connect({ protocolVersion: 4, clientId: id, clean: false });
      await a.endAsync();
      assert.equal(tb.broker.sessionCount, 1);
      await waitFor(() => tb.broker.sessionCount === 0, 'the session to expire', 3000);
    }));

  test('DISCONNECT may lower the session expiry (0 ends the session) but not raise it from 0 (0x82)', () =>
    withBroker({}, async (tb) => {
      const id = uid();
      // 60 -> 0 at DISCONNECT: the session ends.
      const { client: a } = await tb.rawConnected(5, { clientId: id, ...persistent(5, 60) });
      a.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
      await a.waitClosed();
      await waitFor(() => tb.broker.sessionCount === 0, 'the session to end');

      // 0 -> 60 at DISCONNECT: protocol error; the server answers DISCONNECT 0x82 and sends the will.
      const { client: watcher, got: will } = await tb.connectCollect({ protocolVersion: 5 });
      await watcher.subscribeAsync('will/raise', { qos: 1 });
      const { client: b } = await tb.rawConnected(5, {
        clientId: uid(),
        will: { topic: 'will/raise', payload: Buffer.from('w'), qos: 1, retain: false },
      });
      b.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } });
      const [d] = await b.closedWith();
      assert.equal(reasonOf(d!), 0x82);
      assert.equal((await will.next()).payload.toString(), 'w');
      assert.equal(tb.broker.stats.protocolErrors.protocol_error, 1);

      // 1 -> 60 at DISCONNECT: the longer expiry holds.
      const id3 = uid();
      const { client: c } = await tb.rawConnected(5, { clientId: id3, ...persistent(5, 1) });
      c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 60 } });
      await c.waitClosed();
      await sleep(1500);
      const { connack } = await tb.rawConnected(5, { clientId: id3, ...persistent(5, 60) });
      assert.equal(connack.sessionPresent, true);
    }));

  test('a persistent session survives a Broker restart on the same SQLite file (queue, subscriptions, in-flight)', async () => {
    const tmp = tempDir();
    const file = join(tmp.dir, 'sessions.db');
    const boxes: TestBroker[] = [];
    try {
      const id5 = uid('p5');
      const id4 = uid('p4');
      const topic = `restart/${uid()}`;
      const a = await TestBroker.start({ store: new SqliteStore(file) });
      boxes.push(a);
      // v5 client: one unacknowledged QoS 1 delivery in flight, then offline.
      const { client: r5 } = await a.rawConnected(5, { clientId: id5, ...persistent(5, 600) });
      r5.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
      await r5.next('suback');
      const v4 = await a.connect({ protocolVersion: 4, clientId: id4, clean: false });
      await v4.subscribeAsync(`${topic}/#`, { qos: 1 });
      await v4.endAsync();
      const pub = await a.connect({ protocolVersion: 5 });
      await publish(pub, topic, 'inflight', { qos: 1 });
      const first = (await r5.next('publish')) as IPublishPacket;
      assert.equal(first.payload.toString(), 'inflight');
      r5.destroy();
      await r5.waitClosed();
      await publish(pub, topic, 'queued-1', { qos: 1, properties: { userProperties: { a: '1' } } });
      await publish(pub, topic, 'queued-2', { qos: 2 });
      await a.close();

      // Restart 1: one more message arrives for both offline sessions.
      const b = await TestBroker.start({ store: new SqliteStore(file) });
      boxes.push(b);
      assert.equal(b.broker.sessionCount, 2);
      const pub2 = await b.connect({ protocolVersion: 5 });
      await publish(pub2, topic, 'after-restart', { qos: 1 });
      await b.close();

      // Restart 2: everything is still there, in order, exactly once.
      const c = await TestBroker.start({ store: new SqliteStore(file) });
      boxes.push(c);
      const { client: again5, connack } = await c.rawConnected(5, { clientId: id5, ...persistent(5, 600) });
      assert.equal(connack.sessionPresent, true);
      const redo = (await again5.next('publish')) as IPublishPacket;
      assert.equal(redo.payload.toString(), 'inflight');
      assert.equal(redo.dup, true);
      again5.send({ cmd: 'puback', messageId: redo.messageId });
      const restPackets = await again5.takePublishes(3);
      const rest = restPackets.map((p) => p.payload.toString());
      assert.deepEqual({ ...restPackets[0]!.properties?.userProperties }, { a: '1' }, 'queued properties survive');
      assert.deepEqual(rest, ['queued-1', 'queued-2', 'after-restart']);
      assert.deepEqual(await again5.drainFor(150), []);

      const { got: got4 } = await c.connectCollect({ protocolVersion: 4, clientId: id4, clean: false });
      const msgs = await got4.count(4);
      assert.deepEqual(
        msgs.map((m) => m.payload.toString()),
        ['inflight', 'queued-1', 'queued-2', 'after-restart'],
      );
      // Subscriptions came back too.
      c.broker.publish({ topic: `${topic}/live`, payload: 'live', qos: 1 });
      assert.equal((await got4.next()).payload.toString(), 'live');
      assert.deepEqual(await got4.settle(100), [...msgs, got4.messages[4]!]);
    } finally {
      for (const b of boxes) await b.close();
      tmp.remove();
    }
  });

  test('subscription options (identifier, no local, QoS) survive a restart', async () => {
    const tmp = tempDir();
    const file = join(tmp.dir, 'options.db');
    const boxes: TestBroker[] = [];
    try {
      const id = uid();
      const topic = `opt/${uid()}`;
      const a = await TestBroker.start({ store: new SqliteStore(file) });
      boxes.push(a);
      const { client } = await a.rawConnected(5, { clientId: id, ...persistent(5, 600) });
      client.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: [{ topic, qos: 1, nl: true }],
        properties: { subscriptionIdentifier: 42 },
      });
      await client.next('suback');
      client.send({ cmd: 'disconnect' });
      await client.waitClosed();
      await a.close();
      const b = await TestBroker.start({ store: new SqliteStore(file) });
      boxes.push(b);
      const { client: again, connack } = await b.rawConnected(5, { clientId: id, ...persistent(5, 600) });
      assert.equal(connack.sessionPresent, true);
      again.send({ cmd: 'publish', topic, payload: 'own', qos: 1, messageId: 1, dup: false, retain: false });
      await again.next('puback');
      b.broker.publish({ topic, payload: 'other', qos: 2 });
      const [p] = await again.takePublishes(1);
      assert.equal(p!.payload.toString(), 'other', 'No Local still holds');
      assert.equal(p!.qos, 1, 'granted QoS still holds');
      assert.equal(p!.properties?.subscriptionIdentifier, 42);
      assert.deepEqual(await again.drainFor(80), []);
    } finally {
      for (const b of boxes) await b.close();
      tmp.remove();
    }
  });

  test('a QoS 2 publish received before a restart is not delivered again when the client retransmits it after', async () => {
    const tmp = tempDir();
    const file = join(tmp.dir, 'qos2.db');
    const boxes: TestBroker[] = [];
    try {
      const pubId = uid();
      const subId = uid();
      const topic = `q2r/${uid()}`;
      const a = await TestBroker.start({ store: new SqliteStore(file) });
      boxes.push(a);
      const { client: sub } = await a.rawConnected(4, { clientId: subId, ...persistent(4) });
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
      await sub.next('suback');
      sub.send({ cmd: 'disconnect' });
      await sub.waitClosed();
      const { client: pub } = await a.rawConnected(4, { clientId: pubId, ...persistent(4) });
      pub.send({ cmd: 'publish', topic, payload: 'once', qos: 2, messageId: 9, dup: false, retain: false });
      await pub.next('pubrec');
      pub.destroy();
      await a.close();

      const b = await TestBroker.start({ store: new SqliteStore(file) });
      boxes.push(b);
      const { client: again } = await b.rawConnected(4, { clientId: pubId, ...persistent(4) });
      again.send({ cmd: 'publish', topic, payload: 'once', qos: 2, messageId: 9, dup: true, retain: false });
      await again.next('pubrec');
      again.send({ cmd: 'pubrel', messageId: 9 });
      await again.next('pubcomp');
      const { client: sub2 } = await b.rawConnected(4, { clientId: subId, ...persistent(4) });
      const [p] = await sub2.takePublishes(1);
      assert.equal(p!.payload.toString(), 'once');
      sub2.send({ cmd: 'pubrec', messageId: p!.messageId });
      assert.deepEqual(
        (await sub2.drainFor(150)).filter((x) => x.cmd === 'publish'),
        [],
        'exactly one copy',
      );
    } finally {
      for (const x of boxes) await x.close();
      tmp.remove();
    }
  });

  test('after a restart, the SQLite store holds exactly the undelivered queue (no stale or overwritten rows)', async () => {
    const tmp = tempDir();
    const file = join(tmp.dir, 'rows.db');
    const boxes: TestBroker[] = [];
    try {
      const id = uid();
      const topic = `rows/${uid()}`;
      const a = await TestBroker.start({ store: new SqliteStore(file) });
      boxes.push(a);
      const c1 = await a.connect({ protocolVersion: 5, clientId: id, ...persistent(5, 600) });
      await c1.subscribeAsync(topic, { qos: 1 });
      await c1.endAsync();
      a.broker.publish({ topic, payload: 'a', qos: 1 });
      a.broker.publish({ topic, payload: 'b', qos: 1 });
      await a.close();
      const b = await TestBroker.start({ store: new SqliteStore(file) });
      boxes.push(b);
      b.broker.publish({ topic, payload: 'c', qos: 1 });
      await b.broker.whenDurable();
      const store = b.broker.store as SqliteStore;
      const rows = store.db
        .prepare('SELECT q.seq, m.payload FROM mqtt_queue q JOIN mqtt_messages m ON m.id = q.message_id ORDER BY q.seq')
        .all() as Array<{
        seq: number;
        payload: Buffer;
      }>;
      assert.deepEqual(
        rows.map((r) => r.payload.toString()),
        ['a', 'b', 'c'],
      );
      assert.equal(new Set(rows.map((r) => r.seq)).size, 3);
    } finally {
      for (const b of boxes) await b.close();
      tmp.remove();
    }
  });

  test('a new Broker on the same MemoryStore restores sessions, queues and retained messages', async () => {
    const store = new MemoryStore();
    const id = uid();
    const topic = `mem/${uid()}`;
    const a = await TestBroker.start({ store });
    try {
      const c = await a.connect({ protocolVersion: 5, clientId: id, ...persistent(5, 600) });
      await c.subscribeAsync(topic, { qos: 1 });
      await c.endAsync();
      a.broker.publish({ topic, payload: 'one', qos: 1 });
      a.broker.publish({ topic: `${topic}/r`, payload: 'kept', qos: 1, retain: true });
    } finally {
      await a.close();
    }
    const b = await TestBroker.start({ store });
    try {
      b.broker.publish({ topic, payload: 'two', qos: 1 });
      assert.equal(b.broker.retained('', `${topic}/r`)?.payload.toString(), 'kept');
    } finally {
      await b.close();
    }
    const c = await TestBroker.start({ store });
    try {
      const { client } = await c.rawConnected(5, { clientId: id, ...persistent(5, 600) });
      const msgs = await client.takePublishes(2);
      assert.deepEqual(
        msgs.map((m) => m.payload.toString()),
        ['one', 'two'],
      );
      assert.deepEqual(await client.drainFor(80), []);
    } finally {
      await c.close();
    }
  });

  test('a v5 session expiry beyond maxSessionExpiry is capped and announced', () =>
    withBroker({ maxSessionExpiry: 30 }, async (tb) => {
      const { connack } = await tb.rawConnected(5, { clientId: uid(), ...persistent(5, 3600) });
      assert.equal(connack.properties?.sessionExpiryInterval, 30);
    }));

  for (const transport of TRANSPORTS) {
    test(`${transport}: many clients with persistent sessions each get their own queued messages`, () =>
      withBroker({}, async (tb) => {
        const ids = Array.from({ length: 5 }, () => uid());
        for (const id of ids) {
          const c = await tb.connect({ protocolVersion: 5, clientId: id, transport, ...persistent(5) });
          await c.subscribeAsync(`own/${id}`, { qos: 1 });
          await c.endAsync();
        }
        for (const id of ids) tb.broker.publish({ topic: `own/${id}`, payload: id, qos: 1 });
        for (const id of ids) {
          const { got } = await tb.connectCollect({ protocolVersion: 5, clientId: id, transport, ...persistent(5) });
          assert.equal((await got.next()).payload.toString(), id);
          assert.equal((await got.settle(50)).length, 1);
        }
      }));
  }
});
