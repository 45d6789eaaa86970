/**
 * Takeover across broker nodes over a real nats-server: a client id connecting to node B closes its
 * connection on node A with 0x8E and the session leaves A; an announcement older than a connection
 * made since leaves that connection alone. Fresh nodes of their own (apart from cluster-routing's).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { IClientOptions, MqttClient } from 'mqtt';
import { collect, startTwoNodes, until, type BrokerNode, type TwoNodes } from './two-broker-nodes.js';

let nodes: TwoNodes;
let a: BrokerNode;
let b: BrokerNode;
const client = (node: BrokerNode, opts?: IClientOptions): Promise<MqttClient> => nodes.client(node, opts);
const settled = (): Promise<void> => nodes.settled();

before(async () => {
  nodes = await startTwoNodes();
  ({ a, b } = nodes);
});

after(() => nodes.close());

test('a client id that connects to node B while connected to node A is disconnected from A with 0x8E, and its session leaves A', async () => {
  const first = await client(a, { clientId: 'mover', clean: false, properties: { sessionExpiryInterval: 300 } });
  await first.subscribeAsync('mover/in', { qos: 1 });
  let reason: number | undefined;
  first.once('disconnect', (p) => (reason = p.reasonCode));
  assert.equal(a.broker.isConnected('', 'mover'), true);
  const sessionsOnA = a.broker.sessionCount;
  const second = await client(b, { clientId: 'mover', clean: true });
  await until(() => reason !== undefined, 'DISCONNECT on node A');
  assert.equal(reason, 0x8e);
  await until(() => !a.broker.isConnected('', 'mover'), 'the connection on A to close');
  assert.equal(a.broker.sessionCount, sessionsOnA - 1);
  // Only the node now holding the client draws its messages.
  await second.subscribeAsync('mover/in', { qos: 1 });
  const got = collect(second);
  await settled();
  const pub = await client(a);
  await pub.publishAsync('mover/in', 'hello', { qos: 1 });
  await until(() => got.length === 1, 'the message on B');
  await second.endAsync();
});

test('an announcement older than a connection made since (clocks a little apart) leaves that connection alone', async () => {
  const c = await client(a, { clientId: 'late-news' });
  // Another node says the client connected there two seconds before this connection.
  assert.equal(a.broker.moves.takenOverElsewhere('', 'late-news', Date.now() - 2000), false);
  assert.equal(a.broker.isConnected('', 'late-news'), true);
  // Within the allowed skew the announcement wins.
  assert.equal(a.broker.moves.takenOverElsewhere('', 'late-news', Date.now() - 500), true);
  assert.equal(a.broker.isConnected('', 'late-news'), false);
  await c.endAsync(true);
});
