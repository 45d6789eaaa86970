import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { Broker, listenTcp } from '@thicket/broker';

test('a QoS 1 message reaches a subscriber', async () => {
  const broker = new Broker();
  const { server, port } = await listenTcp(broker, { host: '127.0.0.1', port: 0 });
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5 });
  await sub.subscribeAsync('t/#', { qos: 1 });
  const got = new Promise<string>((resolve) => sub.on('message', (_t, p) => resolve(p.toString())));
  const pub = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 4 });
  await pub.publishAsync('t/1', 'hello', { qos: 1 });
  assert.equal(await got, 'hello');
  await sub.endAsync();
  await pub.endAsync();
  broker.close();
  server.close();
});
