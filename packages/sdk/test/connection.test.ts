/**
 * Connecting a device: mutual TLS, custom authorizer tokens over TCP and WebSocket, WebSocket with a
 * certificate, reconnection with backoff after the server drops the connection, and persistent sessions.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { CreateAuthorizerCommand, CreatePolicyCommand, IoTClient } from '@aws-sdk/client-iot';
import { connectDevice, DeviceClient, PublishRejectedError, type DeviceClient as Client } from '@thicket/sdk';
import { device, dropConnection, mtlsOptions, Observer, startTestServer, until, type TestServer } from './helpers.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012';
const SECRET = 'a-secret-of-at-least-thirty-two-bytes!';
let server: TestServer;
const open: Client[] = [];

before(async () => {
  server = await startTestServer({ dev: true });
  const iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  try {
    await iot.send(
      new CreatePolicyCommand({
        policyName: 'jwt-device',
        policyDocument: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${thicket:Jwt.sub}` },
            { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/jwt/\${thicket:Jwt.sub}/*` },
            { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/jwt/\${thicket:Jwt.sub}/*` },
          ],
        }),
      }),
    );
    await iot.send(
      new CreateAuthorizerCommand({
        authorizerName: 'jwt',
        authorizerFunctionArn: 'thicket:jwt?hmacSecret=k1&policyNames=jwt-device',
        tokenSigningPublicKeys: { k1: SECRET },
        signingDisabled: true,
        status: 'ACTIVE',
      }),
    );
  } finally {
    iot.destroy();
  }
});
after(async () => {
  for (const c of open) await c.close();
  await server.close();
});

function jwt(sub: string): string {
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ exp: Math.floor(Date.now() / 1000) + 600, sub })}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

async function connected(c: Promise<Client>): Promise<Client> {
  const client = await c;
  open.push(client);
  return client;
}

test('a device connects with its certificate over mutual TLS, subscribes and publishes', async () => {
  const d = await device(server, 'conn-mtls');
  const presence = await Observer.start(server, ['$aws/events/presence/connected/conn-mtls']);
  try {
    const c = await connected(connectDevice(mtlsOptions(server, d)));
    const got = new Promise<string>((resolve) => void c.subscribe('conn-mtls/echo', (_t, p) => resolve(p.toString())));
    await c.publish('conn-mtls/echo', 'hello', { qos: 1 });
    assert.equal(await got, 'hello');
    await c.publish('conn-mtls/echo', 'zero', { qos: 0 });
    // The server saw the device's certificate (dev mode would let a client in without one).
    const [event] = await until(() => presence.payloads().length > 0 && presence.payloads(), 'the connected event');
    assert.equal((JSON.parse(event!) as { principalIdentifier: string }).principalIdentifier, d.certificateId);
  } finally {
    await presence.close();
  }
});

test('a custom authorizer token in the user name query, over TCP and WebSocket (path /mqtt)', async () => {
  for (const url of [`mqtt://127.0.0.1:${server.ports.mqtt}`, `ws://127.0.0.1:${server.ports.http}`]) {
    const c = await connected(
      connectDevice({
        url,
        clientId: 'sensor-1',
        customAuth: { authorizerName: 'jwt', username: 'any', password: jwt('sensor-1') },
        reconnect: false,
      }),
    );
    const got = new Promise<string>((resolve) => void c.subscribe('jwt/sensor-1/data', (_t, p) => resolve(p.toString())));
    await c.publish('jwt/sensor-1/data', url, { qos: 1 });
    assert.equal(await got, url);
    // The authorizer's policies apply: another device's topic is refused with a typed error.
    await assert.rejects(
      c.publish('jwt/sensor-2/data', 'x', { qos: 1 }),
      (e: unknown) => e instanceof PublishRejectedError && e.reasonCode === 0x87,
    );
    await c.close();
  }
  // A token the authorizer does not accept: CONNACK 0x87 rejects the first connect when reconnection is off.
  await assert.rejects(
    connectDevice({
      url: `mqtt://127.0.0.1:${server.ports.mqtt}`,
      clientId: 'sensor-1',
      customAuth: { authorizerName: 'jwt', username: 'any', password: jwt('sensor-1').replace(/\.[^.]+$/, '.AAAA') },
      reconnect: false,
    }),
    (e: { code?: number }) => e.code === 0x87,
  );
});

test('a device connects over secure WebSocket with its certificate', async () => {
  const d = await device(server, 'conn-wss');
  const presence = await Observer.start(server, ['$aws/events/presence/connected/conn-wss']);
  try {
    const c = await connected(
      connectDevice({ ...mtlsOptions(server, d), url: `wss://127.0.0.1:${server.ports.https}/mqtt`, reconnect: false }),
    );
    const got = new Promise<string>((resolve) => void c.subscribe('conn-wss/x', (_t, p) => resolve(p.toString())));
    await c.publish('conn-wss/x', 'over wss', { qos: 1 });
    assert.equal(await got, 'over wss');
    const [event] = await until(() => presence.payloads().length > 0 && presence.payloads(), 'the connected event');
    assert.equal((JSON.parse(event!) as { principalIdentifier: string }).principalIdentifier, d.certificateId);
  } finally {
    await presence.close();
  }
});

test('after the server drops the connection the device reconnects with backoff, restores its subscriptions and sends what it queued meanwhile', async () => {
  const d = await device(server, 'conn-drop');
  const c = await DeviceClient.create(mtlsOptions(server, d, { reconnect: { minDelayMs: 300, maxDelayMs: 600 } }));
  open.push(c);
  await c.connect();
  const echoes: string[] = [];
  await c.subscribe('conn-drop/echo', (_t, p) => echoes.push(p.toString()));
  const observer = await Observer.start(server, ['conn-drop/queued']);
  try {
    const delays: number[] = [];
    c.on('reconnecting', ({ delayMs }) => delays.push(delayMs));
    const disconnected = new Promise((r) => c.once('disconnect', r));
    assert.equal(dropConnection(server, 'conn-drop'), 1);
    await disconnected;
    assert.equal(c.connected, false);
    // Published while the connection is down: queued, sent once it is back.
    const sent = c.publish('conn-drop/queued', 'while down', { qos: 1 });
    assert.equal(c.queue.size, 1);
    const reconnected = await new Promise<{ sessionPresent: boolean }>((r) => c.once('connect', r));
    assert.equal(reconnected.sessionPresent, false);
    assert.ok(delays.length >= 1 && delays[0]! >= 300 && delays[0]! <= 600, `backoff within [min, max]: ${delays.join(', ')}`);
    await sent;
    await until(() => observer.payloads('conn-drop/queued').length === 1, 'the queued message');
    // The clean session lost the subscription; the client restored it.
    await c.publish('conn-drop/echo', 'after reconnect', { qos: 1 });
    await until(() => echoes.includes('after reconnect'), 'the echo after reconnecting');
  } finally {
    await observer.close();
  }
});

test('a persistent session keeps subscriptions and QoS 1 messages while the device is away', async () => {
  const d = await device(server, 'conn-persist');
  const options = mtlsOptions(server, d, { session: { persistent: true, expirySeconds: 600 } });
  const first = await connectDevice(options);
  await first.subscribe('conn-persist/inbox', () => {});
  await first.close();

  const sender = await Observer.start(server, []);
  await sender.client.publishAsync('conn-persist/inbox', 'kept for you', { qos: 1 });
  await sender.close();

  const second = await DeviceClient.create(options);
  open.push(second);
  const got: string[] = [];
  // Routed without subscribing: the session still holds the subscription.
  second.route('conn-persist/inbox', (_t, p) => got.push(p.toString()));
  const info = await second.connect();
  assert.equal(info.sessionPresent, true);
  await until(() => got.length === 1, 'the message kept in the session');
  assert.deepEqual(got, ['kept for you']);
});
