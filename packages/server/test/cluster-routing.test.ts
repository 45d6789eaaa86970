/**
 * Routing between broker nodes over a real nats-server: two brokers on loopback, each with its
 * NATS link, and mqtt.js clients on both. Messages cross once and in order, shared groups are
 * balanced across both nodes' members, retained messages are seen from either node, hostile topic
 * levels survive the subject escaping, and a node subscribes to NATS only for what its clients hold.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { IClientOptions, IPublishPacket, MqttClient } from 'mqtt';
import { connect } from 'nats';
import { collect, startTwoNodes, until, type BrokerNode, type TwoNodes } from './two-broker-nodes.js';

let nodes: TwoNodes;
let a: BrokerNode;
let b: BrokerNode;
const client = (node: BrokerNode, opts?: IClientOptions): Promise<MqttClient> => nodes.client(node, opts);
const settled = (): Promise<void> => nodes.settled();

before(async () => {
  // A small max_payload, so a test can publish what NATS refuses.
  nodes = await startTwoNodes({ maxPayload: 64 * 1024 });
  ({ a, b } = nodes);
});

after(() => nodes.close());

test('a QoS 1 subscriber on node A receives every message published on node B, once and in order', async () => {
  const sub = await client(a);
  const overlapping = await client(a);
  await sub.subscribeAsync('order/#', { qos: 1 });
  await overlapping.subscribeAsync('order/+', { qos: 1 });
  // Two filters on node A that both match: two NATS subscriptions, and still one copy per client.
  const got = collect(sub);
  const got2 = collect(overlapping);
  await settled();
  const pub = await client(b);
  const N = 300;
  for (let i = 0; i < N; i++) await pub.publishAsync('order/x', String(i), { qos: i % 2 === 0 ? 1 : 0 });
  await until(() => got.length >= N && got2.length >= N, `${N} messages on both clients (have ${got.length}, ${got2.length})`);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(
    got.map((m) => Number(m.payload)),
    Array.from({ length: N }, (_, i) => i),
  );
  assert.deepEqual(
    got2.map((m) => Number(m.payload)),
    Array.from({ length: N }, (_, i) => i),
  );
});

test('a subscriber on the publishing node gets its copy from its own node only (no echo through NATS)', async () => {
  const sub = await client(b);
  await sub.subscribeAsync('echo/t', { qos: 1 });
  const got = collect(sub);
  await settled();
  const pub = await client(b);
  for (let i = 0; i < 50; i++) await pub.publishAsync('echo/t', String(i), { qos: 1 });
  await until(() => got.length >= 50, '50 messages');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(got.length, 50);
});

test('a shared subscription is balanced across the members on both nodes, each message to one member', async () => {
  const onA = await client(a);
  const onB = await client(b);
  await onA.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
  await onB.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
  const gotA = collect(onA);
  const gotB = collect(onB);
  await settled();
  const pub = await client(a);
  const N = 200;
  for (let i = 0; i < N; i++) await pub.publishAsync(`jobs/${i}`, String(i), { qos: 1 });
  await until(() => gotA.length + gotB.length >= N, `${N} messages across the group (have ${gotA.length + gotB.length})`);
  await new Promise((r) => setTimeout(r, 200));
  const all = [...gotA, ...gotB].map((m) => Number(m.payload)).sort((x, y) => x - y);
  assert.deepEqual(
    all,
    Array.from({ length: N }, (_, i) => i),
  );
  assert.ok(gotA.length > N / 10 && gotB.length > N / 10, `both nodes' members served: ${gotA.length} on A, ${gotB.length} on B`);
});

test('a message retained on node B is sent to a later subscriber on node A; an empty retained message clears it everywhere', async () => {
  const pub = await client(b);
  await pub.publishAsync('state/lamp', 'on', { qos: 1, retain: true });
  await until(() => a.broker.retainedCount > 0, 'the retained message on node A');
  const late = await client(a);
  const got = collect(late);
  await late.subscribeAsync('state/+', { qos: 1 });
  await until(() => got.length === 1, 'the retained message');
  assert.deepEqual(got[0], { topic: 'state/lamp', payload: 'on' });
  await pub.publishAsync('state/lamp', '', { qos: 1, retain: true });
  await until(() => a.broker.retainedCount === 0, 'the retained message cleared on node A');
});

test('topic levels with dots, wildcard characters of NATS, spaces, tildes and non-ASCII cross nodes unchanged', async () => {
  const topics = ['odd/a.b', 'odd/*', 'odd/>', 'odd/ /x', 'odd/~7E', 'odd//empty', 'odd/ünï/😀', 'odd/$x/y'];
  const sub = await client(a);
  await sub.subscribeAsync('odd/#', { qos: 1 });
  const got = collect(sub);
  await settled();
  const pub = await client(b);
  for (const t of topics) await pub.publishAsync(t, t, { qos: 1 });
  await until(() => got.length >= topics.length, `${topics.length} messages`);
  assert.deepEqual(
    got.map((m) => m.topic),
    topics,
  );
  assert.ok(got.every((m) => m.topic === m.payload));
});

test('MQTT 5 properties travel with the message', async () => {
  const sub = await client(a);
  await sub.subscribeAsync('props/t', { qos: 1 });
  const got: IPublishPacket[] = [];
  sub.on('message', (_t, _p, packet) => got.push(packet));
  await settled();
  const pub = await client(b);
  await pub.publishAsync('props/t', 'x', {
    qos: 1,
    properties: {
      contentType: 'text/plain',
      responseTopic: 'props/reply',
      correlationData: Buffer.from([0, 1, 2, 255]),
      userProperties: { k: 'v' },
      messageExpiryInterval: 60,
    },
  });
  await until(() => got.length === 1, 'the message');
  const p = got[0]!.properties!;
  assert.equal(p.contentType, 'text/plain');
  assert.equal(p.responseTopic, 'props/reply');
  assert.deepEqual([...p.correlationData!], [0, 1, 2, 255]);
  assert.deepEqual({ ...p.userProperties }, { k: 'v' });
  assert.ok(p.messageExpiryInterval! > 55 && p.messageExpiryInterval! <= 60);
});

test('a node holds NATS subscriptions only for the filters its clients hold, and takes nothing after the last one goes', async () => {
  await settled();
  const base = a.link.subscriptionCount;
  const sub = await client(a);
  await sub.subscribeAsync('only/#', { qos: 0 });
  // `only/#` also matches `only` itself: two subjects.
  assert.equal(a.link.subscriptionCount, base + 2);
  await sub.unsubscribeAsync('only/#');
  assert.equal(a.link.subscriptionCount, base);
  await settled();
  const before = a.link.received;
  const pub = await client(b);
  for (let i = 0; i < 20; i++) await pub.publishAsync('only/x', 'x', { qos: 1 });
  await b.link.flush();
  await settled();
  assert.equal(a.link.received, before);
});

test('a node sends to NATS only what another node or a shared group needs', async () => {
  const local = await client(b);
  const got = collect(local);
  await local.subscribeAsync('mine/#', { qos: 0 });
  await settled();
  const pub = await client(b);
  const sent = (): number => b.link.forwarded;
  const publish = async (topic: string): Promise<void> => {
    await pub.publishAsync(topic, 'x', { qos: 1 });
  };
  let before = sent();
  await publish('mine/1');
  assert.equal(sent(), before, 'only a subscriber on the publishing node: nothing for NATS');
  // Node A subscribes to `#`: MQTT's `#` does not match `$` topics, so those still stay home.
  const far = await client(a);
  const farGot = collect(far);
  await far.subscribeAsync('#', { qos: 0 });
  await settled();
  before = sent();
  await publish('mine/2');
  await publish('$thicket/private');
  assert.equal(sent(), before + 1);
  await until(() => farGot.some((m) => m.topic === 'mine/2'), 'the message on node A');
  await far.unsubscribeAsync('#');
  await settled();
  before = sent();
  await publish('mine/3');
  assert.equal(sent(), before, 'node A let go');
  // A shared group served here alone still goes through NATS, which hands each message to one node.
  const member = await client(b);
  const memberGot = collect(member);
  await member.subscribeAsync('$share/g/mine/shared', { qos: 0 });
  await settled();
  before = sent();
  await publish('mine/shared');
  assert.equal(sent(), before + 1);
  await until(() => memberGot.length === 1, 'the shared message');
  await until(() => got.length === 4, 'every message on the local subscriber');
});

test('once a client holds its SUBACK, what is published on the other node reaches it (no settling in between)', async () => {
  const pub = await client(b);
  const sub = await client(a);
  const got = collect(sub);
  for (let i = 0; i < 30; i++) {
    await sub.subscribeAsync(`fresh/${i}/+`, { qos: 1 });
    await pub.publishAsync(`fresh/${i}/x`, String(i), { qos: 1 });
  }
  await until(() => got.length === 30, `30 messages (have ${got.length}: ${got.map((m) => m.payload).join(',')})`);
});

test('a node that never answers holds one SUBACK for a second at most, and no later one', async () => {
  const nc = await connect({ servers: nodes.nats.url });
  try {
    // A node that announces itself and then says nothing, as one that hangs would.
    nc.publish('thicket_interest', JSON.stringify({ o: 'ghost/1', n: 'ghost', s: 0, all: [], any: [] }));
    await nc.flush();
    await settled();
    const sub = await client(a);
    let t = Date.now();
    await sub.subscribeAsync('ghostly/1', { qos: 0 });
    const first = Date.now() - t;
    assert.ok(first >= 900 && first < 3000, `the first SUBACK took ${first} ms`);
    t = Date.now();
    await sub.subscribeAsync('ghostly/2', { qos: 0 });
    assert.ok(Date.now() - t < 500, `the second SUBACK took ${Date.now() - t} ms`);
  } finally {
    nc.publish('thicket_interest', JSON.stringify({ o: 'ghost/1', n: 'ghost', bye: 1, p: false }));
    await nc.close();
  }
});

test("a message NATS refuses (over its max_payload) still reaches the publishing node's subscribers and is acknowledged; the link counts it", async () => {
  const local = await client(b);
  const remote = await client(a);
  await local.subscribeAsync('big/t', { qos: 1 });
  await remote.subscribeAsync('big/t', { qos: 1 });
  const gotLocal = collect(local);
  const gotRemote = collect(remote);
  await settled();
  const pub = await client(b);
  const refusedBefore = b.link.notForwarded;
  // Not awaited one by one: a broken publish path would leave them unanswered, and `until` bounds the wait.
  let acked = 0;
  for (const payload of [Buffer.alloc(100 * 1024, 1), Buffer.from('small')])
    void pub.publishAsync('big/t', payload, { qos: 1 }).then(
      () => acked++,
      () => {},
    );
  await until(
    () => acked === 2 && gotLocal.length === 2 && gotRemote.length === 1,
    'both acknowledged and on node B, the small one on node A',
  );
  assert.equal(gotLocal[0]!.payload.length, 100 * 1024);
  assert.equal(gotRemote[0]!.payload, 'small');
  assert.equal(b.link.notForwarded, refusedBefore + 1);
});
