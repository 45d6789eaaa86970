/** MQTT 5 features: reason strings, properties, topic aliases, flow control, packet size, expiry, subscription options, shared subscriptions. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt-packet';
import { AWS_PROFILE } from '@thicket/broker';
import {
  closed,
  onceEvent,
  publish,
  rawPacket,
  reasonOf,
  sleep,
  str,
  TRANSPORTS,
  uid,
  userPropertyBytes,
  varint,
  waitFor,
  withBroker,
} from './helpers.js';

/** A v5 PUBLISH built by hand, so properties can be in any order (mqtt-packet groups repeated keys). */
function publishV5(topic: string, payload: Buffer | string, qos: 0 | 1 | 2, packetId: number, props: Buffer): Buffer {
  const id = qos > 0 ? Buffer.from([packetId >> 8, packetId & 0xff]) : Buffer.alloc(0);
  return rawPacket(0x30 | (qos << 1), Buffer.concat([str(topic), id, varint(props.length), props, Buffer.from(payload)]));
}

describe('MQTT 5', { concurrency: true }, () => {
  test('reason strings explain refusals in PUBACK, SUBACK and DISCONNECT', () =>
    withBroker(
      { hooks: { authenticate: () => ({ reasonCode: 0 }), authorizePublish: (_c, topic) => (topic.startsWith('deny/') ? 0x87 : 0) } },
      async (tb) => {
        const { client } = await tb.rawConnected(5);
        client.send({ cmd: 'publish', topic: 'deny/x', payload: 'x', qos: 1, messageId: 1, dup: false, retain: false });
        const ack = await client.next('puback');
        assert.equal(ack.reasonCode, 0x87);
        assert.match(ack.properties?.reasonString ?? '', /not authorized/);
        client.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a/#/b', qos: 0 }] });
        const suback = await client.next('suback');
        assert.deepEqual(suback.granted, [0x8f]);
        assert.match(suback.properties?.reasonString ?? '', /#/);
        client.send({ cmd: 'publish', topic: 'a/+', payload: 'x', qos: 0, dup: false, retain: false });
        const d = await client.next('disconnect');
        assert.equal(d.reasonCode, 0x90);
        assert.match(d.properties?.reasonString ?? '', /wildcard/);
      },
    ));

  test('request problem information = 0 suppresses reason strings', () =>
    withBroker({ hooks: { authenticate: () => ({ reasonCode: 0 }), authorizePublish: () => 0x87 } }, async (tb) => {
      const { client } = await tb.rawConnected(5, { properties: { requestProblemInformation: false } });
      client.send({ cmd: 'publish', topic: 'x', payload: 'x', qos: 1, messageId: 1, dup: false, retain: false });
      const ack = await client.next('puback');
      assert.equal(ack.reasonCode, 0x87);
      assert.equal(ack.properties?.reasonString, undefined);
      client.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'a/#/b', qos: 0 }] });
      const suback = await client.next('suback');
      assert.deepEqual(suback.granted, [0x8f]);
      assert.equal(suback.properties?.reasonString, undefined);
    }));

  test('user properties keep their order, repeated and interleaved keys included', () =>
    withBroker({}, async (tb) => {
      const topic = `up/${uid()}`;
      const { client: sub } = await tb.rawConnected(5);
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await sub.next('suback');
      const { client: mq, got } = await tb.connectCollect({ protocolVersion: 5, transport: 'ws' });
      await mq.subscribeAsync(topic, { qos: 1 });
      const pairs: Array<[string, string]> = [
        ['b', '1'],
        ['a', '2'],
        ['b', '3'],
        ['ü', 'ä'],
        ['a', ''],
      ];
      const { client: pub } = await tb.rawConnected(5);
      pub.send(publishV5(topic, 'payload', 1, 9, userPropertyBytes(pairs)));
      assert.equal((await pub.next('puback')).messageId, 9);
      await sub.next('publish');
      assert.ok(sub.bytes.includes(userPropertyBytes(pairs)), 'forwarded byte for byte in order');
      const m = await got.next();
      assert.deepEqual({ ...m.packet.properties?.userProperties }, { b: ['1', '3'], a: ['2', ''], ü: 'ä' });
    }));

  test('inbound topic aliases: set, use, replace; unknown alias is a protocol error', () =>
    withBroker({}, async (tb) => {
      const base = `ta/${uid()}`;
      const { client: watcher, got } = await tb.connectCollect({ protocolVersion: 4 });
      await watcher.subscribeAsync(`${base}/#`, { qos: 1 });
      const pub = await tb.connect({ protocolVersion: 5 });
      await publish(pub, `${base}/one`, '1', { qos: 1, properties: { topicAlias: 1 } });
      await publish(pub, '', '2', { qos: 1, properties: { topicAlias: 1 } });
      await publish(pub, `${base}/two`, '3', { qos: 1, properties: { topicAlias: 1 } });
      await publish(pub, '', '4', { qos: 1, properties: { topicAlias: 1 } });
      const msgs = await got.count(4);
      assert.deepEqual(
        msgs.map((m) => `${m.topic}=${m.payload.toString()}`),
        [`${base}/one=1`, `${base}/one=2`, `${base}/two=3`, `${base}/two=4`],
      );
      const { client: raw } = await tb.rawConnected(5);
      raw.send({ cmd: 'publish', topic: '', payload: 'x', qos: 0, dup: false, retain: false, properties: { topicAlias: 5 } });
      const [d] = await raw.closedWith();
      assert.equal(reasonOf(d!), 0x82);
    }));

  test('an alias above the Topic Alias Maximum (or 0) gets DISCONNECT 0x94', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      const { client } = await tb.rawConnected(5);
      client.send({ cmd: 'publish', topic: 'a', payload: 'x', qos: 0, dup: false, retain: false, properties: { topicAlias: 9 } });
      const [d] = await client.closedWith();
      assert.equal(reasonOf(d!), 0x94);
      const { client: zero } = await tb.rawConnected(5);
      // mqtt-packet will not write alias 0: patch it in.
      const bytes = publishV5('a', 'x', 0, 0, Buffer.from([0x23, 0x00, 0x00]));
      zero.send(bytes);
      const [d0] = await zero.closedWith();
      assert.equal(reasonOf(d0!), 0x94);
      assert.equal(tb.broker.stats.protocolErrors.topic_alias_invalid, 2);
    }));

  test('outbound topic aliases: the broker assigns aliases up to the client maximum; mqtt.js resolves them', () =>
    withBroker({}, async (tb) => {
      const base = `oa/${uid()}`;
      const { client: raw } = await tb.rawConnected(5, { properties: { topicAliasMaximum: 2 } });
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/#`, qos: 0 }] });
      await raw.next('suback');
      for (const t of ['a', 'a', 'b', 'c', 'b', 'a', 'c']) tb.broker.publish({ topic: `${base}/${t}`, payload: t });
      const got = (await raw.take(7)) as IPublishPacket[];
      assert.deepEqual(
        got.map((p) => [p.topic, p.properties?.topicAlias]),
        [
          [`${base}/a`, 1],
          ['', 1],
          [`${base}/b`, 2],
          [`${base}/c`, undefined],
          ['', 2],
          ['', 1],
          [`${base}/c`, undefined],
        ],
      );
      const { client: mq, got: mqGot } = await tb.connectCollect({ protocolVersion: 5, properties: { topicAliasMaximum: 4 } });
      await mq.subscribeAsync(`${base}/#`, { qos: 1 });
      for (const t of ['x', 'y', 'x', 'y', 'x']) tb.broker.publish({ topic: `${base}/${t}`, payload: t, qos: 1 });
      const msgs = await mqGot.count(5);
      assert.deepEqual(
        msgs.map((m) => m.topic),
        ['x', 'y', 'x', 'y', 'x'].map((t) => `${base}/${t}`),
      );
      // Without a Topic Alias Maximum from the client, no aliases are used.
      const { client: none } = await tb.rawConnected(5);
      none.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/#`, qos: 0 }] });
      await none.next('suback');
      tb.broker.publish({ topic: `${base}/a`, payload: '1' });
      tb.broker.publish({ topic: `${base}/a`, payload: '2' });
      const plain = (await none.take(2)) as IPublishPacket[];
      assert.deepEqual(
        plain.map((p) => [p.topic, p.properties?.topicAlias]),
        [
          [`${base}/a`, undefined],
          [`${base}/a`, undefined],
        ],
      );
    }));

  test('outbound topic alias: a message dropped as too large does not leave the client an alias it never saw', () =>
    withBroker({}, async (tb) => {
      const topic = `big/${uid()}`;
      const { client: raw } = await tb.rawConnected(5, { properties: { topicAliasMaximum: 4, maximumPacketSize: 200 } });
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] });
      await raw.next('suback');
      tb.broker.publish({ topic, payload: Buffer.alloc(500) });
      tb.broker.publish({ topic, payload: 'small' });
      const p = (await raw.next('publish')) as IPublishPacket;
      assert.equal(p.topic, topic, 'the first PUBLISH the client sees for a topic carries the topic name');
      assert.equal(tb.broker.stats.dropped.packet_too_large, 1);
    }));

  test('receive maximum (client): the server stops at the client maximum until acknowledgements arrive', () =>
    withBroker({}, async (tb) => {
      const topic = `rm/${uid()}`;
      const { client } = await tb.rawConnected(5, { properties: { receiveMaximum: 3 } });
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 2 }] });
      await client.next('suback');
      for (let i = 0; i < 10; i++) tb.broker.publish({ topic, payload: String(i), qos: i % 2 === 0 ? 1 : 2 });
      const payloads = (ps: unknown[]): string[] => (ps as IPublishPacket[]).map((p) => p.payload.toString());
      const first = (await client.take(3)) as IPublishPacket[];
      assert.deepEqual(payloads(first), ['0', '1', '2']);
      assert.deepEqual(await client.drainFor(100), [], 'nothing beyond the receive maximum');
      client.send({ cmd: 'puback', messageId: first[0]!.messageId });
      assert.deepEqual(payloads(await client.take(1)), ['3']);
      assert.deepEqual(await client.drainFor(80), []);
      // A QoS 2 delivery holds its slot until PUBCOMP, not PUBREC.
      client.send({ cmd: 'pubrec', messageId: first[1]!.messageId });
      assert.deepEqual(
        (await client.take(1)).map((p) => p.cmd),
        ['pubrel'],
      );
      assert.deepEqual(await client.drainFor(80), []);
      client.send({ cmd: 'pubcomp', messageId: first[1]!.messageId });
      assert.deepEqual(payloads(await client.take(1)), ['4']);
    }));

  test('receive maximum (server), receiveMaximumExceeded "pause": announced in CONNACK; a client that exceeds it is not disconnected', () =>
    withBroker({ maxInflight: 3, receiveMaximumExceeded: 'pause' }, async (tb) => {
      const { client, connack } = await tb.rawConnected(5);
      assert.equal(connack.properties?.receiveMaximum, 3);
      // Four QoS 2 flows open at once (no PUBREL yet): mqtt.js and others do not count the server's limit,
      // so with "pause" (the aws profile), like AWS IoT, the broker throttles instead of answering with DISCONNECT 0x93.
      for (let id = 1; id <= 4; id++)
        client.send({ cmd: 'publish', topic: 'rx', payload: 'x', qos: 2, messageId: id, dup: false, retain: false });
      const recs = await client.take(4);
      assert.deepEqual(
        recs.map((p) => p.cmd),
        ['pubrec', 'pubrec', 'pubrec', 'pubrec'],
      );
      for (let id = 1; id <= 4; id++) client.send({ cmd: 'pubrel', messageId: id });
      assert.equal((await client.take(4)).filter((p) => p.cmd === 'pubcomp').length, 4);
      assert.equal(client.isClosed, false);
    }));

  test('receive maximum (server), receiveMaximumExceeded "pause": while that many acknowledgements wait, the broker stops reading from the publisher', () =>
    withBroker({ maxInflight: 2, maxQueued: 1, receiveMaximumExceeded: 'pause' }, async (tb) => {
      const topic = `bp/${uid()}`;
      const { client: sub } = await tb.rawConnected(4);
      sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await sub.next('suback');
      const { client: pub } = await tb.rawConnected(5);
      for (let i = 1; i <= 10; i++)
        pub.send({ cmd: 'publish', topic, payload: String(i), qos: 1, messageId: i, dup: false, retain: false });
      // 1 and 2 go in flight (acked); 3 fills the subscriber's queue (waits), 4 waits too: two waiting acks = maxInflight.
      const early = await pub.take(2);
      assert.deepEqual(
        early.map((p) => (p as { messageId: number }).messageId),
        [1, 2],
      );
      await sleep(100);
      assert.equal(tb.broker.stats.messagesIn[1], 4, 'publishes 5..10 are not read while acks wait');
      const seen: string[] = [];
      while (seen.length < 10) {
        const [p] = await sub.takePublishes(1);
        seen.push(p!.payload.toString());
        sub.send({ cmd: 'puback', messageId: p!.messageId });
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 10 }, (_, i) => String(i + 1)),
      );
      const acks = [...early, ...(await pub.take(8))];
      assert.deepEqual(
        acks.map((p) => (p as { messageId: number }).messageId),
        Array.from({ length: 10 }, (_, i) => i + 1),
      );
      assert.equal(tb.broker.stats.dropped.queue_full, 0);
      assert.equal(pub.isClosed, false);
    }));

  test('maximum packet size (server): an oversize packet gets v5 DISCONNECT 0x95, v3.1.1 a close', () =>
    withBroker({ maxPacketSize: 1024 }, async (tb) => {
      const { client, connack } = await tb.rawConnected(5);
      assert.equal(connack.properties?.maximumPacketSize, 1024);
      client.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(1000), qos: 0, dup: false, retain: false });
      assert.equal(client.isClosed, false);
      client.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(1100), qos: 0, dup: false, retain: false });
      const [d] = await client.closedWith();
      assert.equal(reasonOf(d!), 0x95);
      const { client: v4 } = await tb.rawConnected(4, {}, 'ws');
      v4.send({ cmd: 'publish', topic: 'big', payload: Buffer.alloc(2000), qos: 1, messageId: 1, dup: false, retain: false });
      assert.deepEqual(await v4.closedWith(), []);
      assert.equal(tb.broker.stats.protocolErrors.packet_too_large, 2);
    }));

  test("maximum packet size (client): a message larger than the client's maximum is not sent and is counted", () =>
    withBroker({}, async (tb) => {
      const topic = `mps/${uid()}`;
      const { client } = await tb.rawConnected(5, { properties: { maximumPacketSize: 100 } });
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await client.next('suback');
      tb.broker.publish({ topic, payload: Buffer.alloc(200), qos: 1 });
      tb.broker.publish({ topic, payload: Buffer.alloc(200), qos: 0 });
      tb.broker.publish({ topic, payload: 'fits', qos: 1 });
      const got = (await client.take(1)) as IPublishPacket[];
      assert.deepEqual(
        got.map((p) => p.payload.toString()),
        ['fits'],
      );
      assert.deepEqual(await client.drainFor(80), []);
      assert.equal(tb.broker.stats.dropped.packet_too_large, 2);
      // The dropped QoS 1 message does not hold an in-flight slot.
      assert.equal(tb.broker.queuedCount, 0);
    }));

  test('an in-flight message too large for the reconnected client is dropped, not left holding a slot', () =>
    withBroker({}, async (tb) => {
      const id = uid();
      const topic = `mpr/${uid()}`;
      const persist = { clientId: id, clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } };
      const { client: a } = await tb.rawConnected(5, persist);
      a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await a.next('suback');
      tb.broker.publish({ topic, payload: Buffer.alloc(500), qos: 1 });
      await a.next('publish');
      a.destroy();
      await a.waitClosed();
      tb.broker.publish({ topic, payload: 'small', qos: 1 });
      const { client: b } = await tb.rawConnected(5, { ...persist, properties: { ...persist.properties, maximumPacketSize: 200 } });
      const [p] = await b.takePublishes(1);
      assert.equal(p!.payload.toString(), 'small');
      assert.equal(tb.broker.stats.dropped.packet_too_large, 1);
    }));

  test('message expiry: expired queued messages are not delivered; the rest carry the remaining interval', () =>
    withBroker({}, async (tb) => {
      const id = uid();
      const topic = `mx/${uid()}`;
      const a = await tb.connect({ protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
      await a.subscribeAsync(topic, { qos: 1 });
      await a.endAsync();
      const pub = await tb.connect({ protocolVersion: 5 });
      await publish(pub, topic, 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
      await publish(pub, topic, 'long', { qos: 1, properties: { messageExpiryInterval: 10 } });
      await publish(pub, topic, 'forever', { qos: 1 });
      await sleep(1300);
      const { client } = await tb.rawConnected(5, { clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
      const msgs = await client.takePublishes(2);
      assert.deepEqual(
        msgs.map((p) => p.payload.toString()),
        ['long', 'forever'],
      );
      const left = msgs[0]!.properties?.messageExpiryInterval ?? 0;
      assert.ok(left >= 5 && left <= 9, `remaining interval ${left}`);
      assert.equal(msgs[1]!.properties?.messageExpiryInterval, undefined);
      assert.equal(tb.broker.stats.dropped.expired, 1);
      assert.deepEqual(await client.drainFor(100), []);
    }));

  test('response topic, correlation data, payload format indicator and content type pass through (and are stripped for v3.1.1)', () =>
    withBroker({}, async (tb) => {
      const topic = `rr/${uid()}`;
      const { client: v5, got: got5 } = await tb.connectCollect({ protocolVersion: 5 });
      await v5.subscribeAsync(topic, { qos: 1 });
      const { client: v4, got: got4 } = await tb.connectCollect({ protocolVersion: 4, transport: 'ws' });
      await v4.subscribeAsync(topic, { qos: 1 });
      const pub = await tb.connect({ protocolVersion: 5, transport: 'ws' });
      await publish(pub, topic, '{"q":1}', {
        qos: 1,
        properties: {
          responseTopic: 'reply/to/me',
          correlationData: Buffer.from([0, 1, 2, 255]),
          payloadFormatIndicator: true,
          contentType: 'application/json',
        },
      });
      const m = await got5.next();
      assert.equal(m.packet.properties?.responseTopic, 'reply/to/me');
      assert.deepEqual(m.packet.properties?.correlationData, Buffer.from([0, 1, 2, 255]));
      assert.equal(m.packet.properties?.payloadFormatIndicator, true);
      assert.equal(m.packet.properties?.contentType, 'application/json');
      const m4 = await got4.next();
      assert.equal(m4.payload.toString(), '{"q":1}');
      assert.equal(m4.packet.properties, undefined);
    }));

  test('payload format indicator 1 with invalid UTF-8: PUBACK 0x99, not delivered', () =>
    withBroker({}, async (tb) => {
      const topic = `pfi/${uid()}`;
      const { client: sub, got } = await tb.connectCollect({ protocolVersion: 5 });
      await sub.subscribeAsync(topic, { qos: 1 });
      const { client } = await tb.rawConnected(5);
      client.send({
        cmd: 'publish',
        topic,
        payload: Buffer.from([0xc3, 0x28]),
        qos: 1,
        messageId: 1,
        dup: false,
        retain: false,
        properties: { payloadFormatIndicator: true },
      });
      assert.equal(reasonOf(await client.next('puback')), 0x99);
      client.send({
        cmd: 'publish',
        topic,
        payload: Buffer.from('ok ü'),
        qos: 1,
        messageId: 2,
        dup: false,
        retain: false,
        properties: { payloadFormatIndicator: true },
      });
      assert.equal(reasonOf(await client.next('puback')), 0);
      client.send({ cmd: 'publish', topic, payload: Buffer.from([0xff]), qos: 1, messageId: 3, dup: false, retain: false });
      assert.equal(reasonOf(await client.next('puback')), 0, 'binary payloads are not checked');
      const msgs = await got.count(2);
      assert.deepEqual(
        msgs.map((m) => m.payload.toString('hex')),
        [Buffer.from('ok ü').toString('hex'), 'ff'],
      );
      assert.equal((await got.settle(100)).length, 2);
    }));

  test('no local: a subscriber does not get its own messages; others do', () =>
    withBroker({}, async (tb) => {
      const topic = `nl/${uid()}`;
      const { client: a, got: gotA } = await tb.connectCollect({ protocolVersion: 5 });
      await a.subscribeAsync(topic, { qos: 1, nl: true });
      const { client: b, got: gotB } = await tb.connectCollect({ protocolVersion: 5 });
      await b.subscribeAsync(topic, { qos: 1 });
      await publish(a, topic, 'from a', { qos: 1 });
      await publish(b, topic, 'from b', { qos: 1 });
      assert.deepEqual(
        (await gotB.count(2)).map((m) => m.payload.toString()),
        ['from a', 'from b'],
      );
      assert.deepEqual(
        (await gotA.count(1)).map((m) => m.payload.toString()),
        ['from b'],
      );
      assert.equal((await gotA.settle(100)).length, 1);
    }));

  test('subscription identifiers: delivered with the id; overlapping subscriptions give one copy with both ids', () =>
    withBroker({}, async (tb) => {
      const base = `sid/${uid()}`;
      const { client } = await tb.rawConnected(5);
      client.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: [{ topic: `${base}/+`, qos: 1 }],
        properties: { subscriptionIdentifier: 7 },
      });
      await client.next('suback');
      client.send({
        cmd: 'subscribe',
        messageId: 2,
        subscriptions: [{ topic: `${base}/#`, qos: 0 }],
        properties: { subscriptionIdentifier: 300 },
      });
      await client.next('suback');
      client.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: `${base}/x/y`, qos: 0 }] });
      await client.next('suback');
      tb.broker.publish({ topic: `${base}/x`, payload: 'both', qos: 1 });
      const both = (await client.next('publish')) as IPublishPacket;
      assert.equal(both.qos, 1, 'the highest QoS of the overlapping subscriptions');
      const ids = both.properties?.subscriptionIdentifier;
      assert.deepEqual(Array.isArray(ids) ? [...ids].sort((x, y) => x - y) : ids, [7, 300]);
      client.send({ cmd: 'puback', messageId: both.messageId });
      tb.broker.publish({ topic: `${base}/x/y`, payload: 'one id', qos: 1 });
      const one = (await client.next('publish')) as IPublishPacket;
      assert.equal(one.properties?.subscriptionIdentifier, 300);
      assert.deepEqual(await client.drainFor(100), [], 'one copy only');
      // Re-subscribing with a new identifier replaces it.
      client.send({
        cmd: 'subscribe',
        messageId: 4,
        subscriptions: [{ topic: `${base}/#`, qos: 0 }],
        properties: { subscriptionIdentifier: 9 },
      });
      await client.next('suback');
      tb.broker.publish({ topic: `${base}/x/y`, payload: 'new id' });
      assert.equal(((await client.next('publish')) as IPublishPacket).properties?.subscriptionIdentifier, 9);
    }));

  test('AWS profile: subscription identifiers are refused with DISCONNECT 0xA1', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      const { client } = await tb.rawConnected(5);
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 1 }], properties: { subscriptionIdentifier: 1 } });
      const [d] = await client.closedWith();
      assert.equal(reasonOf(d!), 0xa1);
    }));

  test('shared subscriptions: round-robin among online v5 and v3.1.1 members; each group gets a copy', () =>
    withBroker({}, async (tb) => {
      const topic = `sh/${uid()}`;
      const members = [
        await tb.connectCollect({ protocolVersion: 5 }),
        await tb.connectCollect({ protocolVersion: 4 }),
        await tb.connectCollect({ protocolVersion: 5, transport: 'ws' }),
      ];
      for (const m of members) await m.client.subscribeAsync(`$share/g1/${topic}`, { qos: 1 });
      const other = await tb.connectCollect({ protocolVersion: 5 });
      await other.client.subscribeAsync(`$share/g2/${topic.split('/')[0]}/+`, { qos: 1 });
      const N = 9;
      for (let i = 0; i < N; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
      await other.got.count(N);
      await waitFor(() => members.reduce((n, m) => n + m.got.messages.length, 0) === N, 'all messages to group g1');
      await sleep(50);
      for (const m of members) assert.equal(m.got.messages.length, N / members.length, 'an even share');
      const all = members.flatMap((m) => m.got.payloads).sort((a, b) => Number(a) - Number(b));
      assert.deepEqual(
        all,
        Array.from({ length: N }, (_, i) => String(i)),
      );
      // A member that leaves gets nothing more; the others share its part.
      await members[0]!.client.endAsync();
      const before = members.map((m) => m.got.messages.length);
      for (let i = 0; i < 4; i++) tb.broker.publish({ topic, payload: `after-${i}`, qos: 1 });
      await waitFor(() => members.reduce((n, m) => n + m.got.messages.length, 0) === N + 4, 'the messages after a member left');
      assert.equal(members[0]!.got.messages.length, before[0]);
      assert.equal(members[1]!.got.messages.length - before[1]!, 2);
      assert.equal(members[2]!.got.messages.length - before[2]!, 2);
    }));

  test('shared subscriptions: subscribing twice does not double a member; unsubscribing leaves the group', () =>
    withBroker({}, async (tb) => {
      const topic = `shu/${uid()}`;
      const a = await tb.connectCollect({ protocolVersion: 5 });
      const b = await tb.connectCollect({ protocolVersion: 4 });
      await a.client.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
      await a.client.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
      await b.client.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
      for (let i = 0; i < 6; i++) tb.broker.publish({ topic, payload: String(i), qos: 1 });
      await waitFor(() => a.got.messages.length + b.got.messages.length === 6, 'six deliveries');
      await sleep(50);
      assert.deepEqual([a.got.messages.length, b.got.messages.length], [3, 3]);
      await b.client.unsubscribeAsync(`$share/g/${topic}`);
      for (let i = 0; i < 4; i++) tb.broker.publish({ topic, payload: `u${i}`, qos: 1 });
      await a.got.count(7);
      await sleep(50);
      assert.deepEqual([a.got.messages.length, b.got.messages.length], [7, 3]);
    }));

  test('shared subscriptions get no retained messages on subscribe; a non-shared one does', () =>
    withBroker({}, async (tb) => {
      const topic = `shr/${uid()}`;
      tb.broker.publish({ topic, payload: 'retained', retain: true, qos: 1 });
      const shared = await tb.connectCollect({ protocolVersion: 5 });
      await shared.client.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
      const plain = await tb.connectCollect({ protocolVersion: 4 });
      await plain.client.subscribeAsync(topic, { qos: 1 });
      await plain.got.next();
      assert.deepEqual(await shared.got.settle(100), []);
    }));

  test('shared subscription: an offline persistent member queues when no member is online', () =>
    withBroker({}, async (tb) => {
      const topic = `sho/${uid()}`;
      const id = uid();
      const a = await tb.connect({ protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
      await a.subscribeAsync(`$share/g/${topic}`, { qos: 1 });
      await a.endAsync();
      tb.broker.publish({ topic, payload: 'kept', qos: 1 });
      const back = await tb.connectCollect({ protocolVersion: 5, clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
      assert.equal((await back.got.next()).payload.toString(), 'kept');
    }));

  test('invalid shared subscription filters are refused (0x8F); No Local on a shared subscription is a protocol error', () =>
    withBroker({}, async (tb) => {
      const { client } = await tb.rawConnected(5);
      client.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: ['$share/g', '$share//a', '$share/g+/a', '$share/g/', '$share/g/a/#/b'].map((topic) => ({ topic, qos: 0 as const })),
      });
      assert.deepEqual((await client.next('suback')).granted, [0x8f, 0x8f, 0x8f, 0x8f, 0x8f]);
      client.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '$share/g/a', qos: 0, nl: true }] });
      const [d] = await client.closedWith();
      assert.equal(reasonOf(d!), 0x82);
    }));

  for (const transport of TRANSPORTS) {
    test(`${transport}: broker.close() sends DISCONNECT 0x8B to v5 clients and closes v3.1.1 clients`, async () => {
      const { TestBroker } = await import('./helpers.js');
      const tb = await TestBroker.start();
      try {
        const v5 = await tb.connect({ protocolVersion: 5, transport });
        const v4 = await tb.connect({ protocolVersion: 4, transport });
        const disconnect = onceEvent<[{ reasonCode?: number }]>(v5, 'disconnect');
        const closed4 = closed(v4);
        tb.broker.close();
        const [packet] = await disconnect;
        assert.equal(packet.reasonCode, 0x8b);
        await closed4;
      } finally {
        await tb.close();
      }
    });
  }

  test('an AUTH packet (no enhanced authentication offered) is a protocol error', () =>
    withBroker({}, async (tb) => {
      const { client } = await tb.rawConnected(5);
      client.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'x' } });
      const [d] = await client.closedWith();
      assert.equal(reasonOf(d!), 0x82);
    }));
});
