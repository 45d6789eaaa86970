/**
 * Takeover across broker nodes over a real nats-server: a client id connecting to node B closes its
 * connection on node A with 0x8E and the session leaves A; an announcement older than a connection
 * made since leaves that connection alone. Fresh nodes of their own (apart from cluster-routing's).
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { after, before, test } from 'node:test';
import { Broker, listenTcp } from '@thicket/broker';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import pino from 'pino';
import { NatsLink } from '../src/cluster/nats-link.js';
import { startNats, type NatsServer } from './nats-helpers.js';

interface Node {
  broker: Broker;
  link: NatsLink;
  server: net.Server;
  port: number;
}

let nats: NatsServer;
let a: Node;
let b: Node;
const clients: MqttClient[] = [];

async function startNode(nodeId: string): Promise<Node> {
  const broker = new Broker({});
  const { server, port } = await listenTcp(broker, { host: '127.0.0.1', port: 0 });
  const link = await NatsLink.connect(broker, { servers: nats.url, nodeId, log: pino({ level: 'silent' }) });
  return { broker, link, server, port };
}

async function client(node: Node, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${node.port}`, { reconnectPeriod: 0, protocolVersion: 5, ...opts });
  clients.push(c);
  return c;
}

function collect(c: MqttClient): string[] {
  const got: string[] = [];
  c.on('message', (_t, p) => got.push(p.toString()));
  return got;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function settled(): Promise<void> {
  await Promise.all([a.link.flush(), b.link.flush()]);
}

before(async () => {
  nats = await startNats();
  a = await startNode('a');
  b = await startNode('b');
});

after(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => {});
  for (const n of [a, b]) {
    await n.link.close();
    n.server.close();
    n.broker.close();
  }
  await nats.close();
});

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
