/**
 * Devices using the iot-data message API over HTTPS with their certificate: their IoT policies
 * decide Publish, RetainPublish, GetRetainedMessage and ListRetainedMessages exactly as for MQTT,
 * their certificate decides their namespace, and escapes in the path do not get them around either.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { IoTClient, UpdateCertificateCommand } from '@aws-sdk/client-iot';
import { GetRetainedMessageCommand, IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { awsError, provision, startTestServer, type Device, type TestServer } from './helpers.js';
import { Capture, deviceRequest } from './dataplane-helpers.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012';
let server: TestServer;
let data: IoTDataPlaneClient;
let sensor: Device;
let watcher: MqttClient;
let seen: Capture;

/** The sensor may publish under its own prefix, retain only on .../state, read retained messages under its prefix. */
const sensorPolicy = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/dev/sensor-1/*` },
    { Effect: 'Allow', Action: 'iot:RetainPublish', Resource: `${ARN}:topic/dev/sensor-1/state` },
    { Effect: 'Allow', Action: 'iot:GetRetainedMessage', Resource: `${ARN}:topic/dev/sensor-1/*` },
    { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/dev/sensor-1/forbidden` },
  ],
});

before(async () => {
  server = await startTestServer({ dev: true });
  data = new IoTDataPlaneClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  sensor = await provision(server, 'sensor-1', sensorPolicy);
  // Sees everything published in the default namespace, except retained messages from before.
  watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { protocolVersion: 5, reconnectPeriod: 0 });
  seen = new Capture(watcher);
  await watcher.subscribeAsync('#', { qos: 1, rh: 2 });
});
after(async () => {
  data.destroy();
  watcher.end(true);
  await server.close();
});

const post = (d: Device | undefined, path: string, body = 'x', headers: Record<string, string> = {}) =>
  deviceRequest(server, d, 'POST', path, body, headers);

test('a device publishes over HTTPS with its certificate; subscribers receive it with its MQTT 5 properties', async () => {
  const res = await post(sensor, '/topics/dev%2Fsensor-1%2Ftemp?qos=1&contentType=text%2Fplain', '21.5', {
    'x-amz-mqtt5-user-properties': Buffer.from('[{"unit":"C"}]').toString('base64'),
  });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.text, '');
  const m = await seen.next();
  assert.deepEqual([m.topic, m.payload.toString(), m.qos], ['dev/sensor-1/temp', '21.5', 1]);
  assert.equal(m.properties.contentType, 'text/plain');
  assert.deepEqual(m.properties.userProperties, { unit: 'C' });
  // Plain slashes work the same (AWS's curl examples).
  assert.equal((await post(sensor, '/topics/dev/sensor-1/humidity', '40')).status, 200);
  assert.equal((await seen.next()).topic, 'dev/sensor-1/humidity');
});

test("iot:Publish decides: another device's topic, an explicitly denied topic and a topic outside the prefix are 403", async () => {
  for (const path of ['/topics/dev/sensor-2/temp', '/topics/dev/sensor-1/forbidden', '/topics/dev', '/topics/dev/sensor-1']) {
    const res = await post(sensor, path);
    assert.equal(res.status, 403, path);
    assert.equal(res.headers['x-amzn-errortype'], 'ForbiddenException', path);
    assert.equal(res.json.__type, 'ForbiddenException');
    assert.match(res.json.message!, /iot:Publish on arn:aws:iot:us-east-1:123456789012:topic\//);
  }
  assert.deepEqual(await seen.settle(150), []);
});

test('iot:RetainPublish is needed for retain=true, on that very topic', async () => {
  const denied = await post(sensor, '/topics/dev/sensor-1/temp?retain=true', 'r');
  assert.equal(denied.status, 403);
  assert.match(denied.json.message!, /iot:RetainPublish on arn:aws:iot:us-east-1:123456789012:topic\/dev\/sensor-1\/temp/);
  assert.deepEqual(await seen.settle(150), [], 'a refused publish is not delivered either');
  const none = await awsError(data.send(new GetRetainedMessageCommand({ topic: 'dev/sensor-1/temp' })));
  assert.equal(none.name, 'ResourceNotFoundException');

  assert.equal((await post(sensor, '/topics/dev/sensor-1/state?retain=true&qos=1', 'ready')).status, 200);
  assert.equal((await seen.next()).topic, 'dev/sensor-1/state');
  const kept = await data.send(new GetRetainedMessageCommand({ topic: 'dev/sensor-1/state' }));
  assert.equal(Buffer.from(kept.payload!).toString(), 'ready');
});

test('escapes in the path do not get around the policy or the topic rules', async () => {
  // `..` is not a path operator in MQTT: the topic is what it says, and the policy judges it.
  for (const path of ['/topics/dev%2Fsensor-1%2F..%2F..%2Fdev%2Fsensor-2%2Fcmd', '/topics/dev/sensor-1/../../dev/sensor-2/cmd']) {
    assert.equal((await post(sensor, path)).status, 200, path);
    assert.equal((await seen.next()).topic, 'dev/sensor-1/../../dev/sensor-2/cmd', 'delivered on the literal topic only');
  }
  // Wildcards smuggled in as escapes are refused as wildcards, before the policy is asked.
  for (const path of ['/topics/dev/sensor-1/%23', '/topics/dev%2Fsensor-1%2F%2B', '/topics/dev/sensor-1/%2B/x']) {
    const res = await post(sensor, path);
    assert.equal(res.status, 400, path);
    assert.equal(res.json.__type, 'InvalidRequestException');
    assert.match(res.json.message!, /wildcard/);
  }
  // A double escape is a literal `%23` in the topic, which the policy allows under the prefix.
  assert.equal((await post(sensor, '/topics/dev/sensor-1/%2523')).status, 200);
  assert.equal((await seen.next()).topic, 'dev/sensor-1/%23');
  // Reserved topics: the policy decides like for MQTT (this policy grants nothing under $aws).
  const shadow = await post(sensor, '/topics/%24aws%2Fthings%2Fsensor-2%2Fshadow%2Fupdate', '{"state":{}}');
  assert.equal(shadow.status, 403);
  assert.deepEqual(await seen.settle(150), []);
});

test("a device cannot choose its namespace: x-thicket-account is ignored, the certificate's region decides", async () => {
  const euDevice = await provision(
    server,
    'eu-sensor',
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }] }),
    { region: 'eu-west-1' },
  );
  const res = await post(euDevice, '/topics/shared/topic?retain=true', 'from-eu', { 'x-thicket-account': '123456789012' });
  assert.equal(res.status, 200);
  assert.deepEqual(await seen.settle(150), [], 'nothing reaches the us-east-1 namespace');
  const eu = new IoTDataPlaneClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'eu-west-1',
    credentials: server.adminKey,
  });
  try {
    assert.equal(Buffer.from((await eu.send(new GetRetainedMessageCommand({ topic: 'shared/topic' }))).payload!).toString(), 'from-eu');
  } finally {
    eu.destroy();
  }
  assert.equal((await awsError(data.send(new GetRetainedMessageCommand({ topic: 'shared/topic' })))).name, 'ResourceNotFoundException');
});

test('GetRetainedMessage and ListRetainedMessages for devices: iot:GetRetainedMessage per topic, iot:ListRetainedMessages on *', async () => {
  const own = await deviceRequest(server, sensor, 'GET', '/retainedMessage/dev%2Fsensor-1%2Fstate');
  assert.equal(own.status, 200);
  assert.equal(Buffer.from(own.json.payload as string, 'base64').toString(), 'ready');
  assert.equal(own.json.topic, 'dev/sensor-1/state');

  await data.send(new PublishCommand({ topic: 'other/kept', retain: true, payload: Buffer.from('x') }));
  await seen.next();
  const other = await deviceRequest(server, sensor, 'GET', '/retainedMessage/other%2Fkept');
  assert.equal(other.status, 403);
  assert.match(other.json.message!, /iot:GetRetainedMessage on arn:aws:iot:us-east-1:123456789012:topic\/other\/kept/);
  // Refused before existence is looked at: a device cannot probe which topics hold messages.
  const missing = await deviceRequest(server, sensor, 'GET', '/retainedMessage/other%2Fmissing');
  assert.equal(missing.status, 403);

  const list = await deviceRequest(server, sensor, 'GET', '/retainedMessage');
  assert.equal(list.status, 403);
  assert.match(list.json.message!, /iot:ListRetainedMessages on \*/);

  // A policy naming the topic ARN pattern does not grant the listing: AWS's resource for it is `*`.
  const narrow = await provision(
    server,
    'lister-narrow',
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iot:ListRetainedMessages', Resource: `${ARN}:topic/*` }],
    }),
  );
  assert.equal((await deviceRequest(server, narrow, 'GET', '/retainedMessage')).status, 403);
  const lister = await provision(
    server,
    'lister',
    JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:ListRetainedMessages', Resource: '*' }] }),
  );
  const listed = await deviceRequest(server, lister, 'GET', '/retainedMessage');
  assert.equal(listed.status, 200);
  const topics = (listed.json.retainedTopics as Array<{ topic: string }>).map((t) => t.topic);
  assert.deepEqual(topics, ['dev/sensor-1/state', 'other/kept']);
  // Listing does not grant reading.
  assert.equal((await deviceRequest(server, lister, 'GET', '/retainedMessage/other%2Fkept')).status, 403);
});

test('without a certificate or signature, and with an INACTIVE certificate, nothing is published', async () => {
  const anonymous = await post(undefined, '/topics/dev/sensor-1/temp');
  assert.equal(anonymous.status, 403);
  assert.equal(anonymous.json.__type, 'MissingAuthenticationTokenException');
  const d = await provision(server, 'retired', sensorPolicy);
  const iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  await iot.send(new UpdateCertificateCommand({ certificateId: d.certificateId, newStatus: 'INACTIVE' }));
  iot.destroy();
  const inactive = await post(d, '/topics/dev/sensor-1/temp');
  assert.equal(inactive.status, 401);
  assert.equal(inactive.json.__type, 'UnauthorizedException');
  assert.match(inactive.json.message!, /INACTIVE/);
  assert.deepEqual(await seen.settle(150), []);
});
