/** In-process API (services, publish, disconnect, reset), authorization hooks, and per-connection mount points. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt-packet';
import { type BrokerHooks, type Message } from '@thicket/broker';
import { publish, reasonOf, uid, waitFor, withBroker } from './helpers.js';

/** Mount by user name: `acct1` and `acct2` are separate topic spaces; anyone else lands in ''. */
const mounts: BrokerHooks = {
  authenticate: (r) => ({ reasonCode: 0, mount: r.username?.startsWith('acct') ? r.username : '', principal: r.username }),
};

describe('in-process API', { concurrency: true }, () => {
  test('subscribeService: without a mount it sees every namespace, with one only that mount; unsubscribe stops it', () =>
    withBroker({ hooks: mounts }, async (tb) => {
      const all: string[] = [];
      const one: string[] = [];
      const stopAll = tb.broker.subscribeService('svc/#', (m: Message, mount) => all.push(`${mount}:${m.topic}:${m.payload.toString()}`));
      tb.broker.subscribeService('svc/+', (m: Message, mount) => one.push(`${mount}:${m.topic}`), 'acct1');
      const a1 = await tb.connect({ protocolVersion: 5, username: 'acct1' });
      const a2 = await tb.connect({ protocolVersion: 4, username: 'acct2', transport: 'ws' });
      await publish(a1, 'svc/x', 'from 1', { qos: 1 });
      await publish(a2, 'svc/x', 'from 2', { qos: 1 });
      tb.broker.publish({ topic: 'svc/y', payload: 'default mount' });
      tb.broker.publish({ mount: 'acct1', topic: 'svc/z', payload: 'in-process to acct1' });
      assert.deepEqual(all, ['acct1:svc/x:from 1', 'acct2:svc/x:from 2', ':svc/y:default mount', 'acct1:svc/z:in-process to acct1']);
      assert.deepEqual(one, ['acct1:svc/x', 'acct1:svc/z']);
      stopAll();
      tb.broker.publish({ topic: 'svc/y', payload: 'unheard' });
      assert.equal(all.length, 4);
    }));

  test('a failing service handler does not stop routing to clients or other services', () =>
    withBroker({}, async (tb) => {
      const topic = `boom/${uid()}`;
      const seen: string[] = [];
      tb.broker.subscribeService(topic, () => {
        throw new Error('service bug');
      });
      tb.broker.subscribeService('boom/#', (m) => seen.push(m.topic));
      const { client, got } = await tb.connectCollect({ protocolVersion: 5 });
      await client.subscribeAsync(topic, { qos: 1 });
      const pub = await tb.connect({ protocolVersion: 5 });
      await publish(pub, topic, 'x', { qos: 1 });
      assert.equal((await got.next()).payload.toString(), 'x');
      assert.deepEqual(seen, [topic]);
    }));

  test('a service still storing what it took holds the QoS 1 PUBACK until it is done, failed or not; QoS 0 does not wait', () =>
    withBroker({}, async (tb) => {
      const topic = `store/${uid()}`;
      const done: Array<(ok: boolean) => void> = [];
      tb.broker.subscribeService(
        topic,
        () => new Promise<void>((resolve, reject) => done.push((ok) => (ok ? resolve() : reject(new Error('x'))))),
      );
      const pub = await tb.connect({ protocolVersion: 5 });
      let acked = false;
      const first = publish(pub, topic, 'a', { qos: 1 }).then(() => (acked = true));
      await waitFor(() => done.length === 1, 'the service to take the first');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(acked, false, 'no PUBACK while the service stores');
      done[0]!(true);
      await first;
      const second = publish(pub, topic, 'b', { qos: 1 });
      await waitFor(() => done.length === 2, 'the service to take the second');
      done[1]!(false);
      await second;
      await publish(pub, topic, 'c', { qos: 0 });
    }));

  test('broker.publish: QoS, retain and MQTT 5 properties reach clients of its mount only', () =>
    withBroker({ hooks: mounts }, async (tb) => {
      const topic = `pub/${uid()}`;
      const { client: c1, got: g1 } = await tb.connectCollect({ protocolVersion: 5, username: 'acct1' });
      await c1.subscribeAsync(topic, { qos: 2 });
      const { client: c2, got: g2 } = await tb.connectCollect({ protocolVersion: 5, username: 'acct2' });
      await c2.subscribeAsync(topic, { qos: 2 });
      tb.broker.publish({
        mount: 'acct1',
        topic,
        payload: Buffer.from('hello'),
        qos: 1,
        retain: true,
        properties: { contentType: 'text/plain', userProperties: [['a', '1']], correlationData: Buffer.from('id') },
      });
      const m = await g1.next();
      assert.equal(m.payload.toString(), 'hello');
      assert.equal(m.packet.qos, 1);
      assert.equal(m.packet.properties?.contentType, 'text/plain');
      assert.deepEqual(m.packet.properties?.correlationData, Buffer.from('id'));
      assert.deepEqual(await g2.settle(100), []);
      assert.equal(tb.broker.retained('acct1', topic)?.payload.toString(), 'hello');
      assert.equal(tb.broker.retained('acct2', topic), null);
      assert.equal(tb.broker.retained('nope', topic), null);
      // String payloads and defaults (QoS 0, not retained, default mount).
      const { client: c0, got: g0 } = await tb.connectCollect({ protocolVersion: 4 });
      await c0.subscribeAsync(topic, { qos: 1 });
      tb.broker.publish({ topic, payload: 'plain' });
      const p = await g0.next();
      assert.deepEqual([p.payload.toString(), p.packet.qos, p.packet.retain], ['plain', 0, false]);
      await tb.broker.whenDurable();
    }));

  test('disconnectClient: DISCONNECT 0x98, the will unless prevented, cleanSession ends the session', () =>
    withBroker({}, async (tb) => {
      const willTopic = `w/${uid()}`;
      const { client: watcher, got: wills } = await tb.connectCollect({ protocolVersion: 5 });
      await watcher.subscribeAsync(willTopic, { qos: 1 });
      const will = { topic: willTopic, payload: Buffer.from('gone'), qos: 1 as const, retain: false };
      const events: string[] = [];
      tb.broker.on('client:disconnected', (c: { clientId: string }, reason: string) => events.push(`${c.clientId}:${reason}`));

      const id1 = uid();
      const { client: a } = await tb.rawConnected(5, { clientId: id1, will, clean: false, properties: { sessionExpiryInterval: 60 } });
      assert.equal(tb.broker.disconnectClient('', id1), true);
      const [d] = await a.closedWith();
      assert.equal(reasonOf(d!), 0x98);
      assert.equal((await wills.next()).payload.toString(), 'gone');
      assert.deepEqual(events, [`${id1}:API_INITIATED_DISCONNECT`]);
      // The persistent session stays (offline): disconnecting it again reports false.
      assert.equal(tb.broker.disconnectClient('', id1), false);
      const { connack } = await tb.rawConnected(5, { clientId: id1, clean: false, properties: { sessionExpiryInterval: 60 } });
      assert.equal(connack.sessionPresent, true);

      const id2 = uid();
      const { client: b } = await tb.rawConnected(4, { clientId: id2, will, clean: false });
      assert.equal(tb.broker.disconnectClient('', id2, { preventWill: true, cleanSession: true }), true);
      assert.deepEqual(await b.closedWith(), []);
      assert.deepEqual(await wills.settle(150), wills.messages.slice(0, 1), 'no will');
      const { connack: c2 } = await tb.rawConnected(4, { clientId: id2, clean: false });
      assert.equal(c2.sessionPresent, false, 'the session was ended');

      // An offline persistent session can be ended too.
      const id3 = uid();
      const off = await tb.connect({ protocolVersion: 4, clientId: id3, clean: false });
      await off.endAsync();
      const before = tb.broker.sessionCount;
      assert.equal(tb.broker.disconnectClient('', id3, { cleanSession: true }), false);
      assert.equal(tb.broker.sessionCount, before - 1);
      assert.equal(tb.broker.disconnectClient('', 'no-such-client'), false);
      assert.equal(tb.broker.disconnectClient('other-mount', id1), false);
    }));

  test('disconnectWhere closes the matching connections only', () =>
    withBroker({ hooks: mounts }, async (tb) => {
      const { client: a } = await tb.rawConnected(5, { username: 'acct1' });
      const { client: b } = await tb.rawConnected(5, { username: 'acct2' });
      const n = tb.broker.disconnectWhere((c) => c.client?.mount === 'acct1', 'AUTH_ERROR', 0x87, 'credentials revoked');
      assert.equal(n, 1);
      const [d] = await a.closedWith();
      assert.equal(reasonOf(d!), 0x87);
      assert.equal(b.isClosed, false);
    }));

  test('reset(): closes every connection and drops sessions, subscriptions and retained messages', () =>
    withBroker({ hooks: mounts }, async (tb) => {
      const topic = `reset/${uid()}`;
      tb.broker.publish({ topic, payload: 'r', retain: true, mount: 'acct1' });
      tb.broker.publish({ topic, payload: 'r', retain: true });
      const { client: v5 } = await tb.rawConnected(5, {
        username: 'acct1',
        clientId: uid(),
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      v5.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await v5.next('suback');
      await v5.next('publish');
      const off = await tb.connect({ protocolVersion: 4, clientId: uid(), clean: false });
      await off.subscribeAsync(topic, { qos: 1 });
      await off.endAsync();
      tb.broker.publish({ topic, payload: 'queued', qos: 1 });
      assert.ok(tb.broker.sessionCount >= 2);
      tb.broker.reset();
      const [d] = await v5.closedWith();
      assert.equal(reasonOf(d!), 0x98);
      await waitFor(() => tb.broker.connectionCount === 0, 'connections to close');
      assert.equal(tb.broker.sessionCount, 0);
      assert.equal(tb.broker.retainedCount, 0);
      assert.equal(tb.broker.queuedCount, 0);
      // The broker works as new afterwards.
      const { client, got } = await tb.connectCollect({ protocolVersion: 5, username: 'acct1' });
      await client.subscribeAsync(topic, { qos: 1 });
      assert.deepEqual(await got.settle(100), [], 'no retained message survived');
      tb.broker.publish({ mount: 'acct1', topic, payload: 'after reset', qos: 1 });
      assert.equal((await got.next()).payload.toString(), 'after reset');
    }));

  test('mount points isolate topics, retained messages and sessions (same client id in two mounts)', () =>
    withBroker({ hooks: mounts }, async (tb) => {
      const topic = `iso/${uid()}`;
      const id = uid();
      const { client: s1, got: g1 } = await tb.connectCollect({
        protocolVersion: 5,
        username: 'acct1',
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      await s1.subscribeAsync(['#', topic], { qos: 1 });
      // Same client id in another mount: no takeover.
      const { client: s2, got: g2 } = await tb.connectCollect({ protocolVersion: 4, username: 'acct2', clientId: id, transport: 'ws' });
      await s2.subscribeAsync('#', { qos: 1 });
      assert.equal(s1.connected, true);
      assert.equal(tb.broker.openConnections, 2);

      const p1 = await tb.connect({ protocolVersion: 5, username: 'acct1' });
      const p2 = await tb.connect({ protocolVersion: 5, username: 'acct2' });
      await publish(p1, topic, 'one', { qos: 1, retain: true });
      await publish(p2, topic, 'two', { qos: 1, retain: true });
      assert.deepEqual(
        (await g1.count(1)).map((m) => m.payload.toString()),
        ['one'],
      );
      assert.deepEqual(
        (await g2.count(1)).map((m) => m.payload.toString()),
        ['two'],
      );
      assert.equal((await g1.settle(100)).length, 1);
      assert.equal((await g2.settle(0)).length, 1);
      assert.equal(tb.broker.retained('acct1', topic)?.payload.toString(), 'one');
      assert.equal(tb.broker.retained('acct2', topic)?.payload.toString(), 'two');
      assert.equal(tb.broker.retained('', topic), null);

      // Retained messages on subscribe come from the subscriber's own mount.
      const { client: late, got: lateGot } = await tb.connectCollect({ protocolVersion: 5, username: 'acct2' });
      await late.subscribeAsync(topic, { qos: 1 });
      assert.deepEqual(
        (await lateGot.count(1)).map((m) => m.payload.toString()),
        ['two'],
      );

      // The persistent session of `id` exists in acct1 only.
      await s1.endAsync();
      const { connack: other } = await tb.rawConnected(5, {
        username: 'acct2',
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      assert.equal(other.sessionPresent, false);
      const { connack: own } = await tb.rawConnected(5, {
        username: 'acct1',
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 60 },
      });
      assert.equal(own.sessionPresent, true);
    }));

  test('authorization hooks: publish (v5 0x87, v3.1.1 close), subscribe (0x87 / 0x80), receive (silently dropped)', () =>
    withBroker(
      {
        hooks: {
          authenticate: (r) => ({ reasonCode: 0, principal: r.username, context: { user: r.username } }),
          authorizePublish: (c, topic) => (topic.startsWith('ro/') ? 0x87 : 0),
          authorizeSubscribe: (c, filter) => (filter.startsWith('secret/') ? 0x87 : 0),
          authorizeReceive: (c, topic) => !(topic.startsWith('hidden/') && (c.context as { user?: string }).user !== 'admin'),
        },
      },
      async (tb) => {
        const { client: v5 } = await tb.rawConnected(5, { username: 'bob' });
        v5.send({ cmd: 'publish', topic: 'ro/x', payload: 'x', qos: 1, messageId: 1, dup: false, retain: false });
        assert.equal(reasonOf(await v5.next('puback')), 0x87);
        v5.send({
          cmd: 'subscribe',
          messageId: 2,
          subscriptions: [
            { topic: 'secret/a', qos: 1 },
            { topic: 'hidden/#', qos: 1 },
          ],
        });
        assert.deepEqual((await v5.next('suback')).granted, [0x87, 1]);
        const { client: admin } = await tb.rawConnected(4, { username: 'admin' });
        admin.send({
          cmd: 'subscribe',
          messageId: 1,
          subscriptions: [
            { topic: 'hidden/#', qos: 1 },
            { topic: 'secret/b', qos: 0 },
          ],
        });
        assert.deepEqual((await admin.next('suback')).granted, [1, 0x80]);
        tb.broker.publish({ topic: 'hidden/doc', payload: 'top secret', qos: 1 });
        assert.equal(((await admin.next('publish')) as IPublishPacket).payload.toString(), 'top secret');
        assert.deepEqual(await v5.drainFor(100), []);
        assert.equal(tb.broker.stats.dropped.not_authorized, 1);
        const { client: v4 } = await tb.rawConnected(4, { username: 'carol' });
        v4.send({ cmd: 'publish', topic: 'ro/x', payload: 'x', qos: 0, dup: false, retain: false });
        assert.deepEqual(await v4.closedWith(), []);
      },
    ));

  test('client events: subscribed and unsubscribed list the filters that took effect', () =>
    withBroker({}, async (tb) => {
      const events: string[] = [];
      tb.broker.on('client:subscribed', (c: { clientId: string }, filters: string[]) => events.push(`sub ${filters.join(',')}`));
      tb.broker.on('client:unsubscribed', (c: { clientId: string }, filters: string[]) => events.push(`unsub ${filters.join(',')}`));
      const { client } = await tb.rawConnected(5);
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: ['a', 'b/+', 'bad/#/x'].map((topic) => ({ topic, qos: 0 as const })) });
      await client.next('suback');
      client.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['a', 'never'] });
      await client.next('unsuback');
      assert.deepEqual(events, ['sub a,b/+', 'unsub a']);
    }));
});
