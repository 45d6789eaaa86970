/** Custom authorizers end to end: configured with @aws-sdk/client-iot, used by MQTT clients over TCP and WebSocket. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import {
  CreateAuthorizerCommand,
  CreatePolicyCommand,
  IoTClient,
  SetDefaultAuthorizerCommand,
  TestInvokeAuthorizerCommand,
} from '@aws-sdk/client-iot';
import { startTestServer, type TestServer } from './helpers.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012';
const SECRET = 'a-secret-of-at-least-thirty-two-bytes!';
let server: TestServer;
let iot: IoTClient;
let hook: http.Server;
let hookCalls = 0;
const clients: MqttClient[] = [];

/** A webhook "function": token `good-<name>` authenticates principal <name>, allowed its own topics. */
function startHook(): Promise<number> {
  hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hookCalls++;
      const event = JSON.parse(body) as { token?: string; protocolData?: { mqtt?: { clientId?: string } } };
      const name = event.token?.startsWith('good-') ? event.token.slice(5) : undefined;
      res.setHeader('content-type', 'application/json');
      if (!name) {
        res.end(JSON.stringify({ isAuthenticated: false }));
        return;
      }
      res.end(
        JSON.stringify({
          isAuthenticated: true,
          principalId: name,
          disconnectAfterInSeconds: 3600,
          refreshAfterInSeconds: 300,
          policyDocuments: [
            JSON.stringify({
              Version: '2012-10-17',
              Statement: [
                { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${name}` },
                { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${ARN}:topic/hooked/${name}/*` },
                { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/hooked/${name}/*` },
              ],
            }),
          ],
        }),
      );
    });
  });
  return new Promise((r) => hook.listen(0, '127.0.0.1', () => r((hook.address() as AddressInfo).port)));
}

function jwt(claims: Record<string, unknown>): string {
  const b64 = (o: object): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ exp: Math.floor(Date.now() / 1000) + 600, ...claims })}`;
  return `${head}.${createHmac('sha256', SECRET).update(head).digest('base64url')}`;
}

async function connect(url: string, opts: mqtt.IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0, ...opts });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

async function refusedWith(url: string, opts: mqtt.IClientOptions): Promise<number | undefined> {
  return connect(url, opts).then(
    () => undefined,
    (e: { code?: number }) => e.code,
  );
}

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  const port = await startHook();
  await iot.send(
    new CreateAuthorizerCommand({
      authorizerName: 'hook',
      authorizerFunctionArn: `http://127.0.0.1:${port}/authorize`,
      tokenKeyName: 'token',
      signingDisabled: true,
      status: 'ACTIVE',
    }),
  );
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
});
after(async () => {
  for (const c of clients) c.end(true);
  iot.destroy();
  hook.close();
  await server.close();
});

test('a webhook authorizer, selected in the MQTT user name as AWS SDKs do, decides with the policies it returns', async () => {
  const url = `mqtt://127.0.0.1:${server.ports.mqtt}`;
  const username = (token: string): string => `device?x-amz-customauthorizer-name=hook&token=${token}&SDK=JavaScript&Version=1.0`;
  const c = await connect(url, { clientId: 'alpha', username: username('good-alpha') });
  await c.subscribeAsync('hooked/alpha/#', { qos: 1 });
  const got = new Promise<string>((r) => c.on('message', (_t, p) => r(p.toString())));
  await c.publishAsync('hooked/alpha/temp', '20', { qos: 1 });
  assert.equal(await got, '20');
  await assert.rejects(c.publishAsync('hooked/beta/temp', 'x', { qos: 1 }), (e: { code?: number }) => e.code === 0x87);
  assert.equal(await refusedWith(url, { clientId: 'alpha2', username: username('bad') }), 0x87);
  assert.equal(
    await refusedWith(url, { clientId: 'someone-else', username: username('good-alpha') }),
    0x87,
    'the policy allows client id alpha only',
  );
  assert.equal(await refusedWith(url, { clientId: 'v3', protocolVersion: 4, username: username('bad') }), 5);
});

test('the built-in JWT verifier maps claims to policy variables, over TCP and WebSocket', async () => {
  for (const url of [`mqtt://127.0.0.1:${server.ports.mqtt}`, `ws://127.0.0.1:${server.ports.http}/mqtt`]) {
    const c = await connect(url, {
      clientId: 'sensor-1',
      username: 'any?x-amz-customauthorizer-name=jwt',
      password: Buffer.from(jwt({ sub: 'sensor-1' })),
    });
    await c.publishAsync('jwt/sensor-1/data', 'ok', { qos: 1 });
    await assert.rejects(c.publishAsync('jwt/sensor-2/data', 'x', { qos: 1 }), (e: { code?: number }) => e.code === 0x87);
    await c.endAsync();
    const forged = jwt({ sub: 'sensor-1' }).replace(/\.[^.]+$/, '.AAAA');
    assert.equal(
      await refusedWith(url, { clientId: 'sensor-1', username: 'any?x-amz-customauthorizer-name=jwt', password: Buffer.from(forged) }),
      0x87,
    );
  }
});

test('the default authorizer applies to clients without certificates; TestInvokeAuthorizer explains a decision', async () => {
  await iot.send(new SetDefaultAuthorizerCommand({ authorizerName: 'jwt' }));
  // A plain user name: mqtt.js will not send a password without one, even in MQTT 5.
  const c = await connect(`mqtt://127.0.0.1:${server.ports.mqtt}`, {
    clientId: 'default-1',
    username: 'device',
    password: Buffer.from(jwt({ sub: 'default-1' })),
  });
  await c.publishAsync('jwt/default-1/data', 'ok', { qos: 1 });
  const before = hookCalls;
  const r = await iot.send(new TestInvokeAuthorizerCommand({ authorizerName: 'hook', token: 'good-gamma' }));
  assert.equal(r.isAuthenticated, true);
  assert.equal(r.principalId, 'gamma');
  assert.equal(r.policyDocuments?.length, 1);
  assert.ok(hookCalls > before);
});
