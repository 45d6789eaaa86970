/**
 * iot-data Publish over HTTP with SigV4: the real @aws-sdk/client-iot-data-plane and `aws iot-data
 * publish`, MQTT 5 and 3.1.1 subscribers receiving every property, QoS and retain, the same routing
 * as MQTT (shadow service, namespaces), and the input an attacker or a buggy client would send.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { GetRetainedMessageCommand, GetThingShadowCommand, IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { awsError, startTestServer, type TestServer } from './helpers.js';
import { Capture, signedRequest } from './dataplane-helpers.js';

const run = promisify(execFile);
let server: TestServer;
let data: IoTDataPlaneClient;
const clients: MqttClient[] = [];

before(async () => {
  server = await startTestServer({ dev: true });
  data = new IoTDataPlaneClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  data.destroy();
  for (const c of clients) c.end(true);
  await server.close();
});

/** An MQTT subscriber in the default namespace (development mode: anonymous clients land there). */
async function subscriber(filter: string, protocolVersion: 4 | 5 = 5, rh: 0 | 2 = 0): Promise<Capture> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { protocolVersion, reconnectPeriod: 0 });
  clients.push(c);
  const capture = new Capture(c);
  await c.subscribeAsync(filter, { qos: 1, rh });
  return capture;
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('PublishCommand with every MQTT 5 field: the subscriber receives topic, bytes, QoS and each property', async () => {
  const sub = await subscriber('sdk/+/full');
  const payload = Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f]);
  const out = await data.send(
    new PublishCommand({
      topic: 'sdk/a/full',
      qos: 1,
      payload,
      contentType: 'application/x-thing',
      responseTopic: 'sdk/replies/7',
      messageExpiry: 300,
      correlationData: Buffer.from([1, 2, 3, 250]).toString('base64'),
      payloadFormatIndicator: 'UNSPECIFIED_BYTES',
      userProperties: JSON.stringify([{ deviceName: 'alpha' }, { deviceCnt: '45' }, { deviceName: 'beta' }]),
    }),
  );
  assert.equal(out.$metadata.httpStatusCode, 200);
  const m = await sub.next();
  assert.equal(m.topic, 'sdk/a/full');
  assert.deepEqual(m.payload, payload);
  assert.equal(m.qos, 1);
  assert.equal(m.retain, false);
  assert.equal(m.properties.contentType, 'application/x-thing');
  assert.equal(m.properties.responseTopic, 'sdk/replies/7');
  assert.deepEqual(m.properties.correlationData, Buffer.from([1, 2, 3, 250]));
  assert.equal(m.properties.payloadFormatIndicator, false);
  const expiry = m.properties.messageExpiryInterval as number;
  assert.ok(expiry >= 299 && expiry <= 300, `message expiry ${expiry}`);
  // mqtt.js groups repeated names; the order within a name is the order sent.
  assert.deepEqual(m.properties.userProperties, { deviceName: ['alpha', 'beta'], deviceCnt: '45' });

  await data.send(new PublishCommand({ topic: 'sdk/b/full', payload: Buffer.from('héllo'), payloadFormatIndicator: 'UTF8_DATA', qos: 0 }));
  const utf8 = await sub.next();
  assert.equal(utf8.payload.toString(), 'héllo');
  assert.equal(utf8.properties.payloadFormatIndicator, true);
  assert.equal(utf8.qos, 0, 'QoS 0 as published, though the subscription is QoS 1');
  assert.equal(utf8.properties.userProperties, undefined);
});

test('an MQTT 3.1.1 subscriber receives the message without properties; the default QoS is 0', async () => {
  const sub = await subscriber('v4/#', 4);
  await data.send(new PublishCommand({ topic: 'v4/x', payload: Buffer.from('plain'), contentType: 'text/plain' }));
  const m = await sub.next();
  assert.deepEqual([m.topic, m.payload.toString(), m.qos], ['v4/x', 'plain', 0]);
  assert.deepEqual(m.properties, {});
});

test('the HTTP answer: 200, empty body, a request id; the topic may come percent-encoded or with plain slashes; the body may be empty', async () => {
  const sub = await subscriber('raw/#');
  const encoded = await signedRequest(server, 'POST', '/topics/raw%2Fenc%2Foded', { body: 'one', query: { qos: '1' } });
  assert.equal(encoded.status, 200);
  assert.equal(encoded.text, '');
  assert.match(String(encoded.headers['x-amzn-requestid']), /^[0-9a-f-]{36}$/);
  assert.deepEqual([(await sub.next()).topic], ['raw/enc/oded']);
  // AWS's own curl and Python examples put the topic in the path with plain slashes.
  assert.equal((await signedRequest(server, 'POST', '/topics/raw/plain/slashes', { body: 'two' })).status, 200);
  assert.equal((await sub.next()).topic, 'raw/plain/slashes');
  // A literal `%2F` inside the topic (sent as %252F) stays a literal, not a level separator.
  assert.equal((await signedRequest(server, 'POST', '/topics/raw%2Fpercent%252Fsign', { body: 'three' })).status, 200);
  assert.equal((await sub.next()).topic, 'raw/percent%2Fsign');
  assert.equal((await signedRequest(server, 'POST', '/topics/raw/empty')).status, 200);
  const empty = await sub.next();
  assert.deepEqual([empty.topic, empty.payload.length], ['raw/empty', 0]);
});

test('retain: a later subscriber gets the message with RETAIN set; an empty retained publish deletes it', async () => {
  await data.send(new PublishCommand({ topic: 'kept/lamp', qos: 1, retain: true, payload: Buffer.from('on') }));
  const late = await subscriber('kept/lamp');
  const m = await late.next();
  assert.deepEqual([m.payload.toString(), m.retain, m.qos], ['on', true, 1]);
  await data.send(new PublishCommand({ topic: 'kept/lamp', retain: true, payload: new Uint8Array(0) }));
  const gone = await awsError(data.send(new GetRetainedMessageCommand({ topic: 'kept/lamp' })));
  assert.deepEqual([gone.name, gone.status], ['ResourceNotFoundException', 404]);
  const later = await subscriber('kept/lamp');
  assert.deepEqual(await later.settle(200), []);
});

test('a publish to $aws/things/T/shadow/update goes through the same routing: the shadow service updates the shadow', async () => {
  const sub = await subscriber('$aws/things/http-pub/shadow/update/accepted');
  await data.send(
    new PublishCommand({
      topic: '$aws/things/http-pub/shadow/update',
      qos: 1,
      payload: Buffer.from(JSON.stringify({ state: { reported: { via: 'http' } }, clientToken: 'hp' })),
    }),
  );
  const accepted = JSON.parse((await sub.next()).payload.toString()) as { clientToken: string };
  assert.equal(accepted.clientToken, 'hp');
  const shadow = JSON.parse(Buffer.from((await data.send(new GetThingShadowCommand({ thingName: 'http-pub' }))).payload!).toString()) as {
    state: unknown;
  };
  assert.deepEqual(shadow.state, { reported: { via: 'http' } });
});

test("the namespace is the signer's: a publish signed for eu-west-1 never reaches a us-east-1 subscriber", async () => {
  const sub = await subscriber('ns/check');
  const eu = new IoTDataPlaneClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'eu-west-1',
    credentials: server.adminKey,
  });
  await eu.send(new PublishCommand({ topic: 'ns/check', payload: Buffer.from('eu'), qos: 1 }));
  eu.destroy();
  await data.send(new PublishCommand({ topic: 'ns/check', payload: Buffer.from('us'), qos: 1 }));
  assert.deepEqual(
    (await sub.settle(300)).map((m) => m.payload.toString()),
    ['us'],
  );
});

test('aws iot-data publish with qos, retain and MQTT 5 options', async () => {
  const sub = await subscriber('cli/+');
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null', AWS_PROFILE: 'default' };
  const endpoint = ['--endpoint-url', `http://127.0.0.1:${server.ports.http}`, '--region', 'us-east-1'];
  // The v1 CLI on this machine sends a blob argument as given (v2 needs --cli-binary-format raw-in-base64-out).
  const result = await run(
    'aws',
    [
      'iot-data',
      'publish',
      '--topic',
      'cli/temp',
      '--qos',
      '1',
      '--retain',
      '--payload',
      '{"celsius":21.5}',
      '--content-type',
      'application/json',
      '--response-topic',
      'cli/reply',
      '--correlation-data',
      b64('req-42'),
      '--message-expiry',
      '60',
      '--payload-format-indicator',
      'UTF8_DATA',
      '--user-properties',
      '[{"unit":"C"}]',
      ...endpoint,
    ],
    { env },
  );
  assert.equal(result.stdout, '');
  const m = await sub.next();
  assert.deepEqual([m.topic, m.payload.toString(), m.qos], ['cli/temp', '{"celsius":21.5}', 1]);
  assert.equal(m.properties.contentType, 'application/json');
  assert.equal(m.properties.responseTopic, 'cli/reply');
  assert.equal(Buffer.from(m.properties.correlationData as Buffer).toString(), 'req-42');
  assert.equal(m.properties.payloadFormatIndicator, true);
  assert.deepEqual(m.properties.userProperties, { unit: 'C' });
  const retained = await data.send(new GetRetainedMessageCommand({ topic: 'cli/temp' }));
  assert.equal(Buffer.from(retained.payload!).toString(), '{"celsius":21.5}');

  const failed = (await run('aws', ['iot-data', 'publish', '--topic', 'cli/#', '--payload', 'x', ...endpoint], { env }).catch(
    (e: unknown) => e,
  )) as { stderr: string };
  assert.match(failed.stderr, /InvalidRequestException/);
  assert.match(failed.stderr, /wildcard/);
});

test('invalid topics are InvalidRequestException and nothing is delivered: wildcards (also percent-escaped), U+0000, empty', async () => {
  // Everything, without the retained messages earlier tests left.
  const sub = await subscriber('#', 5, 2);
  const cases: Array<[string, RegExp]> = [
    ['/topics/evil%2F%23', /wildcard/],
    ['/topics/evil/%23', /wildcard/],
    ['/topics/evil%2F%2B%2Fx', /wildcard/],
    ['/topics/evil/+/x', /wildcard/],
    ['/topics/evil/a%2Bb', /wildcard/],
    ['/topics/evil%00x', /U\+0000/],
    ['/topics/', /must not be empty/],
  ];
  for (const [path, message] of cases) {
    const res = await signedRequest(server, 'POST', path, { body: 'x' });
    assert.equal(res.status, 400, path);
    assert.equal(res.headers['x-amzn-errortype'], 'InvalidRequestException', path);
    assert.equal(res.json.__type, 'InvalidRequestException', path);
    assert.match(res.json.message!, message, path);
  }
  const sdk = await awsError(data.send(new PublishCommand({ topic: 'evil/#', payload: Buffer.from('x') })));
  assert.deepEqual([sdk.name, sdk.status], ['InvalidRequestException', 400]);
  assert.match(sdk.message, /topic name "evil\/#" contains a wildcard character/);
  assert.deepEqual(await sub.settle(200), []);
});

test('bad query and header values are InvalidRequestException naming the field', async () => {
  const cases: Array<[Record<string, string>, Record<string, string>, RegExp]> = [
    [{ qos: '2' }, {}, /qos must be 0 or 1, not '2'/],
    [{ qos: 'one' }, {}, /qos must be 0 or 1/],
    [{ retain: 'yes' }, {}, /retain must be true or false/],
    [{ messageExpiry: '-1' }, {}, /messageExpiry must be a whole number/],
    [{ messageExpiry: '1.5' }, {}, /messageExpiry/],
    [{ messageExpiry: '4294967296' }, {}, /messageExpiry/],
    [{ responseTopic: 'r/#' }, {}, /responseTopic: .*wildcard/],
    [{ responseTopic: '' }, {}, /responseTopic: .*empty/],
    [{}, { 'x-amz-mqtt5-payload-format-indicator': 'UTF16' }, /UNSPECIFIED_BYTES or UTF8_DATA, not 'UTF16'/],
    [{}, { 'x-amz-mqtt5-correlation-data': 'not base64!' }, /x-amz-mqtt5-correlation-data must be base64/],
    [{}, { 'x-amz-mqtt5-user-properties': 'not base64!' }, /x-amz-mqtt5-user-properties must be base64/],
    [{}, { 'x-amz-mqtt5-user-properties': b64('{"a":"b"}') }, /JSON array/],
    [{}, { 'x-amz-mqtt5-user-properties': b64('[{"a":') }, /JSON array/],
    [{}, { 'x-amz-mqtt5-user-properties': b64('["a"]') }, /every element must be an object/],
    [{}, { 'x-amz-mqtt5-user-properties': b64('[{"n":5}]') }, /the value of "n" must be a string/],
  ];
  for (const [query, headers, message] of cases) {
    const res = await signedRequest(server, 'POST', '/topics/bad/input', { body: 'x', query, headers });
    assert.equal(res.status, 400, JSON.stringify([query, headers]));
    assert.equal(res.json.__type, 'InvalidRequestException');
    assert.match(res.json.message!, message);
  }
  // UTF8_DATA with bytes that are not UTF-8: refused like the broker refuses such an MQTT 5 PUBLISH.
  const notUtf8 = await awsError(
    data.send(new PublishCommand({ topic: 'bad/utf8', payload: Buffer.from([0xc3, 0x28]), payloadFormatIndicator: 'UTF8_DATA' })),
  );
  assert.deepEqual([notUtf8.name, notUtf8.status], ['InvalidRequestException', 400]);
  assert.match(notUtf8.message, /UTF8_DATA .* not valid UTF-8/);
});

test("a payload over the broker's packet limit is RequestEntityTooLargeException; one just under it is delivered", async () => {
  const aws = await startTestServer({ dev: true, profile: 'aws' });
  const client = new IoTDataPlaneClient({ endpoint: `http://127.0.0.1:${aws.ports.http}`, region: 'us-east-1', credentials: aws.adminKey });
  try {
    const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${aws.ports.mqtt}`, { protocolVersion: 5, reconnectPeriod: 0 });
    clients.push(sub);
    const got = new Capture(sub);
    await sub.subscribeAsync('big/one', { qos: 1 });
    const tooBig = await awsError(client.send(new PublishCommand({ topic: 'big/one', payload: Buffer.alloc(128 * 1024, 1) })));
    assert.deepEqual([tooBig.name, tooBig.status], ['RequestEntityTooLargeException', 413]);
    assert.match(tooBig.message, /more than the limit of 131072 bytes/);
    await client.send(new PublishCommand({ topic: 'big/one', payload: Buffer.alloc(128 * 1024 - 64, 2) }));
    assert.equal((await got.next()).payload.length, 128 * 1024 - 64);

    // The aws profile's topic rules: 256 bytes, 8 levels, `$` only for `$aws/`, never retained there.
    const long = await awsError(client.send(new PublishCommand({ topic: 'x'.repeat(257), payload: Buffer.from('x') })));
    assert.deepEqual([long.name, long.message], ['InvalidRequestException', 'topic name is 257 bytes, more than the limit of 256']);
    const deep = await awsError(client.send(new PublishCommand({ topic: 'a/b/c/d/e/f/g/h/i', payload: Buffer.from('x') })));
    assert.deepEqual([deep.name, deep.message], ['InvalidRequestException', 'topic name has more than 8 levels']);
    const reserved = await awsError(client.send(new PublishCommand({ topic: '$SYS/x', payload: Buffer.from('x') })));
    assert.deepEqual([reserved.name, reserved.status], ['ForbiddenException', 403]);
    assert.match(reserved.message, /reserved topic '\$SYS\/x'/);
    const retainedReserved = await awsError(
      client.send(new PublishCommand({ topic: '$aws/things/t/shadow/update', retain: true, payload: Buffer.from('{}') })),
    );
    assert.deepEqual([retainedReserved.name, retainedReserved.status], ['ForbiddenException', 403]);
    assert.deepEqual(await got.settle(100), []);
  } finally {
    client.destroy();
    await aws.close();
  }
});

test("a body over the API's 1 MiB limit gets the AWS error shape", async () => {
  const res = await signedRequest(server, 'POST', '/topics/huge', { body: Buffer.alloc(1024 * 1024 + 1) });
  assert.equal(res.status, 413);
  assert.equal(res.headers['x-amzn-errortype'], 'RequestEntityTooLargeException');
});
