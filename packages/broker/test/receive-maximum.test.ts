/**
 * MQTT 5 Receive Maximum on the server side (§3.3.4, §4.9): with `receiveMaximumExceeded:
 * 'disconnect'` (the mqtt profile's default) a client with more QoS 1/2 publishes unacknowledged than
 * the Receive Maximum in CONNACK gets DISCONNECT 0x93; with 'pause' (the aws profile's default) the
 * broker stops reading from it instead. MQTT 3.1.1 clients have no Receive Maximum and are paused.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IPublishPacket } from 'mqtt-packet';
import { AWS_PROFILE, MQTT_DEFAULTS } from '@thicket/broker';
import { reasonOf, sleep, uid, withBroker, type RawClient, type TestBroker } from './helpers.js';

const qos2 = (id: number, topic = 'rm/q2'): Parameters<RawClient['send']>[0] => ({
  cmd: 'publish',
  topic,
  payload: `p${id}`,
  qos: 2,
  messageId: id,
  dup: false,
  retain: false,
});

/** A subscriber that never acknowledges, so that publishers to `topic` have acknowledgements waiting (maxQueued 1). */
async function stuckSubscriber(tb: TestBroker, topic: string): Promise<RawClient> {
  const { client } = await tb.rawConnected(4);
  client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
  await client.next('suback');
  return client;
}

describe('receive maximum (server)', { concurrency: true }, () => {
  test('defaults: the mqtt profile disconnects, the aws profile pauses', () => {
    assert.equal(MQTT_DEFAULTS.receiveMaximumExceeded, 'disconnect');
    assert.equal(AWS_PROFILE.receiveMaximumExceeded, 'pause');
  });

  test('QoS 2: a fourth open exchange past Receive Maximum 3 gets DISCONNECT 0x93 with a reason string, counted', () =>
    withBroker({ maxInflight: 3 }, async (tb) => {
      const { client, connack } = await tb.rawConnected(5);
      assert.equal(connack.properties?.receiveMaximum, 3);
      for (let id = 1; id <= 3; id++) client.send(qos2(id));
      const recs = await client.take(3);
      assert.deepEqual(
        recs.map((p) => [p.cmd, reasonOf(p) ?? 0]),
        [
          ['pubrec', 0],
          ['pubrec', 0],
          ['pubrec', 0],
        ],
      );
      // PUBREC sent but no PUBCOMP yet: all three still count (§4.9).
      client.send(qos2(4));
      const [d] = await client.closedWith();
      assert.equal(d?.cmd, 'disconnect');
      assert.equal(reasonOf(d!), 0x93);
      assert.equal(
        (d as { properties?: { reasonString?: string } }).properties?.reasonString,
        'more than 3 QoS 1 and QoS 2 publishes without their acknowledgement (Receive Maximum)',
      );
      assert.equal(tb.broker.stats.protocolErrors.receive_maximum_exceeded, 1);
    }));

  test('QoS 2: a client that waits for PUBCOMP before the next one, and retransmits with DUP, stays connected', () =>
    withBroker({ maxInflight: 2 }, async (tb) => {
      const { client } = await tb.rawConnected(5);
      client.send(qos2(1));
      client.send(qos2(2));
      await client.take(2);
      // A retransmission of an exchange already counted does not count again.
      client.send({ ...qos2(2), dup: true } as Parameters<RawClient['send']>[0]);
      assert.equal((await client.next('pubrec')).messageId, 2);
      client.send({ cmd: 'pubrel', messageId: 1 });
      assert.equal((await client.next('pubcomp')).messageId, 1);
      client.send(qos2(3));
      assert.equal((await client.next('pubrec')).messageId, 3);
      // A PUBREL for an id that was never counted (or is unknown) frees nothing it should not.
      client.send({ cmd: 'pubrel', messageId: 99 });
      assert.equal(reasonOf(await client.next('pubcomp')), 0x92);
      client.send(qos2(4));
      const [d] = await client.closedWith();
      assert.equal(reasonOf(d!), 0x93, 'ids 2 and 3 are open: a third exceeds 2');
    }));

  test('QoS 1: publishes whose PUBACK waits for a congested subscriber count; one past the limit gets 0x93', () =>
    withBroker({ maxInflight: 2, maxQueued: 1 }, async (tb) => {
      const topic = `rm/${uid()}`;
      await stuckSubscriber(tb, topic);
      const { client: pub } = await tb.rawConnected(5);
      // 1 and 2 go in flight to the subscriber and are acknowledged; 3 and 4 wait for its queue.
      for (let i = 1; i <= 4; i++) pub.send({ cmd: 'publish', topic, payload: String(i), qos: 1, messageId: i, dup: false, retain: false });
      const early = await pub.take(2);
      assert.deepEqual(
        early.map((p) => [p.cmd, (p as { messageId: number }).messageId]),
        [
          ['puback', 1],
          ['puback', 2],
        ],
      );
      assert.deepEqual(await pub.drainFor(100), []);
      pub.send({ cmd: 'publish', topic, payload: '5', qos: 1, messageId: 5, dup: false, retain: false });
      const [d] = await pub.closedWith();
      assert.equal(d?.cmd, 'disconnect');
      assert.equal(reasonOf(d!), 0x93);
    }));

  test('QoS 1 at full speed within the limit: no disconnect, every PUBACK in order', () =>
    withBroker({ maxInflight: 10 }, async (tb) => {
      const topic = `rm/${uid()}`;
      const sub = await tb.connect({ protocolVersion: 5 });
      const got: string[] = [];
      sub.on('message', (_t, p) => got.push(p.toString()));
      await sub.subscribeAsync(topic, { qos: 1 });
      const { client: pub } = await tb.rawConnected(5);
      let next = 1;
      const acked: number[] = [];
      // Keep exactly Receive Maximum unacknowledged: the most a conforming client may.
      for (; next <= 10; next++)
        pub.send({ cmd: 'publish', topic, payload: String(next), qos: 1, messageId: next, dup: false, retain: false });
      while (acked.length < 200) {
        const ack = await pub.next('puback');
        acked.push(ack.messageId!);
        if (next <= 200) {
          pub.send({ cmd: 'publish', topic, payload: String(next), qos: 1, messageId: next, dup: false, retain: false });
          next++;
        }
      }
      assert.deepEqual(
        acked,
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      assert.equal(pub.isClosed, false);
      assert.equal(tb.broker.stats.protocolErrors.receive_maximum_exceeded, undefined);
    }));

  test('MQTT 3.1.1 has no Receive Maximum: the broker stops reading instead of disconnecting, also in the mqtt profile', () =>
    withBroker({ maxInflight: 2 }, async (tb) => {
      const { client } = await tb.rawConnected(4);
      for (let id = 1; id <= 5; id++) client.send(qos2(id));
      assert.deepEqual(
        (await client.take(5)).map((p) => p.cmd),
        ['pubrec', 'pubrec', 'pubrec', 'pubrec', 'pubrec'],
      );
      for (let id = 1; id <= 5; id++) client.send({ cmd: 'pubrel', messageId: id });
      assert.equal((await client.take(5)).filter((p) => p.cmd === 'pubcomp').length, 5);
      assert.equal(client.isClosed, false);
    }));

  for (const [name, options] of [
    ['the aws profile', { ...AWS_PROFILE }],
    ['receiveMaximumExceeded "pause" in the mqtt profile', { receiveMaximumExceeded: 'pause' as const }],
  ] as const) {
    test(`${name}: an MQTT 5 client past the limit is slowed, not disconnected, and nothing is lost`, () =>
      withBroker({ ...options, maxInflight: 2, maxQueued: 1 }, async (tb) => {
        const topic = `rm/${uid()}`;
        const sub = await stuckSubscriber(tb, topic);
        const { client: pub } = await tb.rawConnected(5);
        for (let i = 1; i <= 8; i++)
          pub.send({ cmd: 'publish', topic, payload: String(i), qos: 1, messageId: i, dup: false, retain: false });
        await pub.take(2);
        await sleep(100);
        assert.equal(pub.isClosed, false);
        assert.equal(tb.broker.stats.messagesIn[1], 4, 'the rest is not read while two acknowledgements wait');
        const seen: string[] = [];
        while (seen.length < 8) {
          const [p] = (await sub.takePublishes(1)) as IPublishPacket[];
          seen.push(p!.payload.toString());
          sub.send({ cmd: 'puback', messageId: p!.messageId });
        }
        assert.deepEqual(seen, ['1', '2', '3', '4', '5', '6', '7', '8']);
        assert.equal((await pub.take(6)).length, 6);
        assert.equal(pub.isClosed, false);
      }));
  }

  test('the aws profile with receiveMaximumExceeded "disconnect": 0x93', () =>
    withBroker({ ...AWS_PROFILE, receiveMaximumExceeded: 'disconnect', maxInflight: 2, maxQueued: 1 }, async (tb) => {
      const topic = `rm/${uid()}`;
      await stuckSubscriber(tb, topic);
      const { client: pub } = await tb.rawConnected(5);
      for (let i = 1; i <= 5; i++) pub.send({ cmd: 'publish', topic, payload: String(i), qos: 1, messageId: i, dup: false, retain: false });
      const packets = await pub.closedWith();
      assert.deepEqual(
        packets.map((p) => [p.cmd, reasonOf(p) ?? 0]),
        [
          ['puback', 0],
          ['puback', 0],
          ['disconnect', 0x93],
        ],
      );
    }));
});
