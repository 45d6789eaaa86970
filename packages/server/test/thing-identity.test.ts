/**
 * A certificate attached to thing `a` must not act as thing `b` by connecting with client id `b`:
 * thing policy variables resolve only for a thing attached to the connection's principal (AWS).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { CreateThingCommand, CreateThingTypeCommand, IoTClient } from '@aws-sdk/client-iot';
import { provision, startTestServer, tlsOptions, type Device, type TestServer } from './helpers.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012';
const policy = (...statements: object[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const allow = (action: string, resource: string, extra: object = {}): object => ({
  Effect: 'Allow',
  Action: action,
  Resource: resource,
  ...extra,
});

/** The usual device policy: its own client id and its own topics, by thing name. */
const USUAL = policy(
  allow('iot:Connect', `${ARN}:client/\${iot:Connection.Thing.ThingName}`),
  allow(['iot:Publish', 'iot:Receive'] as unknown as string, `${ARN}:topic/things/\${iot:Connection.Thing.ThingName}/*`),
  allow('iot:Subscribe', `${ARN}:topicfilter/things/\${iot:Connection.Thing.ThingName}/*`),
);

/** Any client id may connect; each thing variable guards its own topic. */
const PER_VARIABLE = policy(
  allow('iot:Connect', `${ARN}:client/*`),
  allow('iot:Publish', `${ARN}:topic/name/\${iot:Connection.Thing.ThingName}`),
  allow('iot:Publish', `${ARN}:topic/type/\${iot:Connection.Thing.ThingTypeName}`),
  allow('iot:Publish', `${ARN}:topic/owner/\${iot:Connection.Thing.Attributes[owner]}`),
  allow('iot:Publish', `${ARN}:topic/attached`, { Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } } }),
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

type Transport = 'mqtt3' | 'mqtt5' | 'wss';
const TRANSPORTS: Transport[] = ['mqtt3', 'mqtt5', 'wss'];

function url(t: Transport): string {
  return t === 'wss' ? `wss://localhost:${server.ports.https}/mqtt` : `mqtts://localhost:${server.ports.mqtts}`;
}

async function connect(t: Transport, d: Device, clientId: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url(t), {
    ...tlsOptions(server, d),
    clientId,
    protocolVersion: t === 'mqtt3' ? 4 : 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

/** The CONNACK code of a refused connection, or 0 when it was accepted. */
async function connectCode(t: Transport, d: Device, clientId: string): Promise<number> {
  try {
    const c = await connect(t, d, clientId);
    c.end(true);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

/** 0 when the QoS 1 publish was acknowledged; the reason code, or -1 when the connection was closed. */
async function publishCode(c: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve) => {
    const closed = (): void => resolve(-1);
    c.once('close', closed);
    c.publish(topic, 'x', { qos: 1 }, (err, packet) => {
      c.off('close', closed);
      const rc = (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
      resolve(err ? ((err as { code?: number }).code ?? -1) : rc);
    });
  });
}

async function subscribeGranted(c: MqttClient, filter: string): Promise<number> {
  const granted = await c.subscribeAsync(filter, { qos: 1 });
  return granted[0]!.qos;
}

for (const t of TRANSPORTS) {
  test(`${t}: a certificate attached to a cannot connect as thing b, nor take over b's session`, async () => {
    const a = await provision(server, `imp-a-${t}`, USUAL);
    const b = await provision(server, `imp-b-${t}`, USUAL);
    // Control: each device is accepted as itself and may use its own topics.
    const own = await connect(t, a, a.thingName);
    assert.equal(await publishCode(own, `things/${a.thingName}/temp`), 0);
    assert.equal(await subscribeGranted(own, `things/${a.thingName}/cmd`), 1);
    own.end(true);

    const victim = await connect(t, b, b.thingName);
    let victimClosed = false;
    victim.on('close', () => (victimClosed = true));
    // The attack: a's certificate, b's client id. Refused (v5 0x87, v3.1.1 5), b's session untouched.
    assert.equal(await connectCode(t, a, b.thingName), t === 'mqtt3' ? 5 : 0x87);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(victimClosed, false, "b's connection must survive the attempt");
    assert.equal(await publishCode(victim, `things/${b.thingName}/temp`), 0);
    victim.end(true);
  });
}

test('every thing policy variable stays unresolved for a thing the certificate is not attached to', async () => {
  await iot.send(new CreateThingTypeCommand({ thingTypeName: 'sensor' }));
  const a = await provision(server, 'var-a', PER_VARIABLE);
  // b is registered with a type and attributes, but a's certificate is not attached to it.
  await iot.send(
    new CreateThingCommand({ thingName: 'var-b', thingTypeName: 'sensor', attributePayload: { attributes: { owner: 'mallory' } } }),
  );
  const asB = await connect('mqtt5', a, 'var-b');
  assert.equal(await publishCode(asB, 'name/var-b'), 0x87, 'ThingName');
  assert.equal(await publishCode(asB, 'type/sensor'), 0x87, 'ThingTypeName');
  assert.equal(await publishCode(asB, 'owner/mallory'), 0x87, 'Attributes[owner]');
  assert.equal(await publishCode(asB, 'attached'), 0x87, 'IsAttached');
  asB.end(true);

  // Control: the same policy resolves every variable for the thing the certificate is attached to.
  const c = await provision(server, 'var-c', PER_VARIABLE);
  await iot.send(
    new CreateThingCommand({ thingName: 'var-d', thingTypeName: 'sensor', attributePayload: { attributes: { owner: 'alice' } } }),
  );
  const { AttachThingPrincipalCommand, DetachThingPrincipalCommand } = await import('@aws-sdk/client-iot');
  await iot.send(new AttachThingPrincipalCommand({ thingName: 'var-d', principal: c.certificateArn }));
  const asD = await connect('mqtt5', c, 'var-d');
  assert.equal(await publishCode(asD, 'name/var-d'), 0);
  assert.equal(await publishCode(asD, 'type/sensor'), 0);
  assert.equal(await publishCode(asD, 'owner/alice'), 0);
  assert.equal(await publishCode(asD, 'attached'), 0);
  // Detaching takes the thing away from the open connection at its next decision.
  await iot.send(new DetachThingPrincipalCommand({ thingName: 'var-d', principal: c.certificateArn }));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(await publishCode(asD, 'owner/alice'), 0x87);
  asD.end(true);
});

test('an exclusive attachment binds its thing whatever the client id', async () => {
  const e = await provision(server, 'excl-thing', PER_VARIABLE, { exclusive: true });
  const c = await connect('mqtt5', e, 'some-other-client-id');
  assert.equal(await publishCode(c, 'name/excl-thing'), 0);
  assert.equal(await publishCode(c, 'name/some-other-client-id'), 0x87);
  c.end(true);
});
