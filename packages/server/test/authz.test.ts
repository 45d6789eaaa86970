/** IoT policies deciding CONNECT, PUBLISH, SUBSCRIBE and every delivery, as AWS IoT decides them. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import {
  AddThingToThingGroupCommand,
  AttachPolicyCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateThingGroupCommand,
  IoTClient,
  RemoveThingFromThingGroupCommand,
} from '@aws-sdk/client-iot';
import { ALLOW_ALL, provision, startTestServer, tlsOptions, type Device, type TestServer } from './helpers.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012';
const policy = (...statements: object[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const THING_SCOPED = policy(
  {
    Effect: 'Allow',
    Action: 'iot:Connect',
    Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}`,
    Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
  },
  { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/devices/\${iot:Connection.Thing.ThingName}/*` },
  { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/devices/\${iot:Connection.Thing.ThingName}/*` },
  { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/devices/\${iot:Connection.Thing.ThingName}/*` },
);

let server: TestServer;
let iot: IoTClient;
const clients: MqttClient[] = [];

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  for (const c of clients) c.end(true);
  iot.destroy();
  await server.close();
});

async function connect(d: Device, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtts://localhost:${server.ports.mqtts}`, {
    ...tlsOptions(server, d),
    clientId: d.thingName,
    protocolVersion: 5,
    reconnectPeriod: 0,
    ...opts,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

async function refused(d: Device, opts: mqtt.IClientOptions = {}): Promise<number | undefined> {
  try {
    await connect(d, opts);
    return undefined;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

async function pubackCode(c: MqttClient, topic: string, opts: mqtt.IClientPublishOptions = {}): Promise<number> {
  try {
    await c.publishAsync(topic, 'x', { qos: 1, ...opts });
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

test('a thing-scoped policy: own topics allowed, another device topics refused (v5 reason codes, v3.1.1 closed)', async () => {
  const a = await provision(server, 'scoped-a', THING_SCOPED);
  await provision(server, 'scoped-b', THING_SCOPED);
  const c = await connect(a);
  assert.equal(await pubackCode(c, 'devices/scoped-a/temp'), 0);
  assert.equal(await pubackCode(c, 'devices/scoped-b/temp'), 0x87);
  // mqtt.js rejects a SUBACK that refuses any filter; the packet rides on the error.
  const suback = await c.subscribeAsync(['devices/scoped-a/#', 'devices/scoped-b/#', '#'], { qos: 1 }).then(
    () => assert.fail('expected refusals'),
    (err: { packet?: { granted?: number[]; reasonCodes?: number[] } }) => err.packet,
  );
  assert.deepEqual(suback?.granted ?? suback?.reasonCodes, [1, 0x87, 0x87]);
  const v3 = await connect(a, { protocolVersion: 4, clientId: 'scoped-a' });
  const closed = new Promise<void>((r) => v3.once('close', () => r()));
  v3.publish('devices/scoped-b/temp', 'x', { qos: 1 });
  await closed;
});

test('a client id claiming another thing is refused, for non-exclusive and exclusive attachments', async () => {
  const a = await provision(server, 'claim-a', THING_SCOPED);
  await provision(server, 'claim-b', THING_SCOPED);
  assert.equal(await refused(a, { clientId: 'claim-b' }), 0x87);
  assert.equal(await refused(a, { clientId: 'claim-b', protocolVersion: 4 }), 5);
  const x = await provision(server, 'exclusive-x', THING_SCOPED, { exclusive: true });
  // With an exclusive attachment the connection is thing exclusive-x whatever its client id, so client/other is not allowed.
  assert.equal(await refused(x, { clientId: 'someone-else' }), 0x87);
  assert.ok((await connect(x)).connected);
});

test('iot:Receive is checked per delivery: a denied message is dropped silently', async () => {
  const watcher = await provision(
    server,
    'watcher',
    policy(
      { Effect: 'Allow', Action: ['iot:Connect', 'iot:Subscribe'], Resource: '*' },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/public/*` },
    ),
  );
  const talker = await provision(server, 'talker');
  const w = await connect(watcher);
  await w.subscribeAsync('#', { qos: 1 });
  const got: string[] = [];
  w.on('message', (t) => got.push(t));
  const t = await connect(talker);
  await t.publishAsync('secret/x', 's', { qos: 1 });
  await t.publishAsync('public/x', 'p', { qos: 1 });
  for (let i = 0; i < 50 && got.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(got, ['public/x']);
});

test('a policy change applies at once to connected clients, with no reconnect', async () => {
  const d = await provision(server, 'changing', ALLOW_ALL);
  const c = await connect(d);
  assert.equal(await pubackCode(c, 'changing/now'), 0);
  await iot.send(
    new CreatePolicyVersionCommand({
      policyName: d.policyName,
      setAsDefault: true,
      policyDocument: policy(
        { Effect: 'Allow', Action: 'iot:*', Resource: '*' },
        { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/changing/*` },
      ),
    }),
  );
  assert.equal(await pubackCode(c, 'changing/now'), 0x87, 'explicit deny wins over allow');
  assert.equal(await pubackCode(c, 'elsewhere'), 0);
});

test('policies attached to a thing group apply to its things (and its child groups), and stop when the thing leaves', async () => {
  const d = await provision(server, 'grouped', policy({ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'building' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'wing', parentGroupName: 'building' }));
  await iot.send(
    new CreatePolicyCommand({
      policyName: 'building-pub',
      policyDocument: policy({ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/building/*` }),
    }),
  );
  await iot.send(new AttachPolicyCommand({ policyName: 'building-pub', target: `${ARN}:thinggroup/building` }));
  const c = await connect(d);
  assert.equal(await pubackCode(c, 'building/alarm'), 0x87);
  await iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'wing', thingName: 'grouped' }));
  assert.equal(await pubackCode(c, 'building/alarm'), 0, 'inherited from the parent group');
  await iot.send(new RemoveThingFromThingGroupCommand({ thingGroupName: 'wing', thingName: 'grouped' }));
  assert.equal(await pubackCode(c, 'building/alarm'), 0x87);
});

test('retained publishes need iot:RetainPublish; a will on a forbidden topic fails CONNECT; persistent sessions follow iot:ConnectAttributes', async () => {
  const d = await provision(
    server,
    'attrs',
    policy(
      {
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: '*',
        Condition: { 'ForAllValues:StringEquals': { 'iot:ConnectAttributes': ['LastWill'] } },
      },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/attrs/*` },
    ),
  );
  const c = await connect(d);
  assert.equal(await pubackCode(c, 'attrs/value'), 0);
  assert.equal(await pubackCode(c, 'attrs/value', { retain: true }), 0x87);
  assert.equal(await refused(d, { will: { topic: 'elsewhere/will', payload: Buffer.from('bye'), qos: 0, retain: false } }), 0x87);
  assert.ok((await connect(d, { will: { topic: 'attrs/will', payload: Buffer.from('bye'), qos: 0, retain: false } })).connected);
  assert.equal(await refused(d, { clean: false, properties: { sessionExpiryInterval: 60 } }), 0x87, 'PersistentConnect is not allowed');
});

test('policy variables are matched literally: a client id of "#" gains nothing', async () => {
  const d = await provision(
    server,
    'literal',
    policy(
      { Effect: 'Allow', Action: 'iot:Connect', Resource: '*' },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/\${iot:ClientId}` },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/\${iot:ClientId}` },
    ),
  );
  const sneaky = await connect(d, { clientId: '#' });
  const granted = await sneaky.subscribeAsync('#', { qos: 1 });
  assert.equal(granted[0]!.qos, 1, 'the literal filter "#" equals the substituted value');
  const got: string[] = [];
  sneaky.on('message', (t) => got.push(t));
  const talker = await provision(server, 'talker-2');
  const t = await connect(talker);
  await t.publishAsync('victim/data', 'secret', { qos: 1 });
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(got, [], '"#" in the policy resource is a literal character, so nothing is received');
});
