/**
 * ListRetainedMessages and GetRetainedMessage with the real @aws-sdk/client-iot-data-plane, the
 * `aws` CLI and boto3: paging, every field (payload, qos, lastModifiedTime in ms, userProperties),
 * messages retained over MQTT 5 and over HTTP alike, expiry, deletion, bad input, and retained
 * QoS 1 publishes surviving kill -9 once answered.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import {
  GetRetainedMessageCommand,
  IoTDataPlaneClient,
  ListRetainedMessagesCommand,
  PublishCommand,
  paginateListRetainedMessages,
} from '@aws-sdk/client-iot-data-plane';
import { parseCredentialsFile } from '@thicket/server';
import { awsError, sleep, spawnServer, startTestServer, tempDir, type TestServer } from './helpers.js';
import { signedRequest } from './dataplane-helpers.js';

const run = promisify(execFile);
let server: TestServer;
let data: IoTDataPlaneClient;

before(async () => {
  server = await startTestServer({ dev: true });
  data = new IoTDataPlaneClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  data.destroy();
  await server.close();
});

const retain = (topic: string, payload: string | Buffer, extra: Partial<ConstructorParameters<typeof PublishCommand>[0]> = {}) =>
  data.send(new PublishCommand({ topic, payload: Buffer.from(payload), retain: true, qos: 1, ...extra }));

async function allTopics(client = data, maxResults?: number): Promise<string[]> {
  const out: string[] = [];
  for await (const page of paginateListRetainedMessages({ client, pageSize: maxResults }, {})) {
    out.push(...(page.retainedTopics ?? []).map((t) => t.topic!));
  }
  return out;
}

test('GetRetainedMessage returns topic, payload bytes, qos, lastModifiedTime in ms and userProperties as published', async () => {
  const before = Date.now();
  const payload = Buffer.from([0, 1, 2, 254, 255]);
  await retain('get/full', payload, { userProperties: JSON.stringify([{ a: '1' }, { b: 'two' }, { a: '3' }]) });
  const after = Date.now();
  const m = await data.send(new GetRetainedMessageCommand({ topic: 'get/full' }));
  assert.equal(m.topic, 'get/full');
  assert.deepEqual(Buffer.from(m.payload!), payload);
  assert.equal(m.qos, 1);
  assert.ok(m.lastModifiedTime! >= before && m.lastModifiedTime! <= after, `lastModifiedTime ${m.lastModifiedTime} in ms`);
  assert.deepEqual(JSON.parse(Buffer.from(m.userProperties!).toString()), [{ a: '1' }, { b: 'two' }, { a: '3' }]);

  // A QoS 0 message without user properties: qos 0, no userProperties member.
  await retain('get/plain', 'p', { qos: 0 });
  const plain = await signedRequest(server, 'GET', '/retainedMessage/get%2Fplain');
  assert.equal(plain.status, 200);
  assert.match(String(plain.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(plain.json).sort(), ['lastModifiedTime', 'payload', 'qos', 'topic']);
  assert.deepEqual([plain.json.payload, plain.json.qos], [Buffer.from('p').toString('base64'), 0]);

  // A new retained publish replaces the message and its time.
  await sleep(5);
  await retain('get/plain', 'q');
  const replaced = await data.send(new GetRetainedMessageCommand({ topic: 'get/plain' }));
  assert.equal(Buffer.from(replaced.payload!).toString(), 'q');
  assert.ok(replaced.lastModifiedTime! > (plain.json.lastModifiedTime as number));
});

test('a message retained by an MQTT 5 device is listed and read with its user properties', async () => {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { protocolVersion: 5, reconnectPeriod: 0 });
  await c.publishAsync('mqtt/retained', 'from-mqtt', { qos: 1, retain: true, properties: { userProperties: { origin: 'device' } } });
  await c.endAsync();
  const m = await data.send(new GetRetainedMessageCommand({ topic: 'mqtt/retained' }));
  assert.equal(Buffer.from(m.payload!).toString(), 'from-mqtt');
  assert.deepEqual(JSON.parse(Buffer.from(m.userProperties!).toString()), [{ origin: 'device' }]);
  assert.ok((await allTopics()).includes('mqtt/retained'));
});

test('ListRetainedMessages pages in topic order with maxResults and nextToken; summaries carry size, qos and time', async () => {
  const eu = new IoTDataPlaneClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'eu-west-2',
    credentials: server.adminKey,
  });
  try {
    const topics = ['list/e', 'list/a', 'list/c', 'list/b', 'list/d'];
    for (const t of topics)
      await eu.send(new PublishCommand({ topic: t, payload: Buffer.from(t.repeat(2)), retain: true, qos: t === 'list/c' ? 0 : 1 }));
    const first = await eu.send(new ListRetainedMessagesCommand({ maxResults: 2 }));
    assert.deepEqual(
      first.retainedTopics!.map((t) => [t.topic, t.payloadSize, t.qos]),
      [
        ['list/a', 12, 1],
        ['list/b', 12, 1],
      ],
    );
    assert.equal(typeof first.retainedTopics![0]!.lastModifiedTime, 'number');
    assert.ok(first.retainedTopics![0]!.lastModifiedTime! > 1e12, 'milliseconds');
    assert.ok(first.nextToken);
    // A message deleted between pages does not disturb the paging.
    await eu.send(new PublishCommand({ topic: 'list/c', payload: new Uint8Array(0), retain: true }));
    const second = await eu.send(new ListRetainedMessagesCommand({ maxResults: 2, nextToken: first.nextToken }));
    assert.deepEqual(
      second.retainedTopics!.map((t) => t.topic),
      ['list/d', 'list/e'],
    );
    assert.equal(second.nextToken, undefined);
    assert.deepEqual(await allTopics(eu, 1), ['list/a', 'list/b', 'list/d', 'list/e']);
    assert.deepEqual(await allTopics(eu), ['list/a', 'list/b', 'list/d', 'list/e']);
  } finally {
    eu.destroy();
  }
  // Another region is another namespace: nothing there.
  const empty = new IoTDataPlaneClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'ap-south-1',
    credentials: server.adminKey,
  });
  assert.deepEqual((await empty.send(new ListRetainedMessagesCommand({}))).retainedTopics, []);
  empty.destroy();
});

test('a retained message with a Message Expiry is gone from Get and List once it expires', async () => {
  await retain('expiring/one', 'soon', { messageExpiry: 1 });
  assert.equal(Buffer.from((await data.send(new GetRetainedMessageCommand({ topic: 'expiring/one' }))).payload!).toString(), 'soon');
  await sleep(1100);
  const gone = await awsError(data.send(new GetRetainedMessageCommand({ topic: 'expiring/one' })));
  assert.deepEqual(
    [gone.name, gone.status, gone.message],
    ['ResourceNotFoundException', 404, "No retained message exists for topic: 'expiring/one'"],
  );
  assert.ok(!(await allTopics()).includes('expiring/one'));
});

test('bad input: maxResults out of 1..200, a forged nextToken, wildcard or empty topics', async () => {
  for (const maxResults of ['0', '201', 'ten']) {
    const res = await signedRequest(server, 'GET', '/retainedMessage', { query: { maxResults } });
    assert.equal(res.status, 400, maxResults);
    assert.equal(res.json.__type, 'InvalidRequestException');
    assert.match(res.json.message!, /maxResults must be a whole number from 1 to 200/);
  }
  for (const nextToken of ['garbage', Buffer.from('{"v":{"x":1}}').toString('base64url')]) {
    const res = await signedRequest(server, 'GET', '/retainedMessage', { query: { nextToken } });
    assert.deepEqual([res.status, res.json.__type, res.json.message], [400, 'InvalidRequestException', 'The nextToken is not valid']);
  }
  for (const [path, message] of [
    ['/retainedMessage/a%2F%23', /wildcard/],
    ['/retainedMessage/a/+', /wildcard/],
    ['/retainedMessage/', /must not be empty/],
  ] as const) {
    const res = await signedRequest(server, 'GET', path);
    assert.equal(res.status, 400, path);
    assert.equal(res.json.__type, 'InvalidRequestException');
    assert.match(res.json.message!, message);
  }
  const missing = await awsError(data.send(new GetRetainedMessageCommand({ topic: 'never/retained' })));
  assert.deepEqual([missing.name, missing.status], ['ResourceNotFoundException', 404]);
});

test('aws iot-data list-retained-messages and get-retained-message; boto3 likewise', async () => {
  await retain('tool/cli', '{"ok":true}', { userProperties: JSON.stringify([{ k: 'v' }]) });
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null', AWS_PROFILE: 'default' };
  const endpoint = ['--endpoint-url', `http://127.0.0.1:${server.ports.http}`, '--region', 'us-east-1', '--output', 'json'];
  const listed = JSON.parse((await run('aws', ['iot-data', 'list-retained-messages', ...endpoint], { env })).stdout) as {
    retainedTopics: Array<{ topic: string; payloadSize: number; qos: number; lastModifiedTime: number }>;
  };
  const entry = listed.retainedTopics.find((t) => t.topic === 'tool/cli');
  assert.deepEqual([entry?.payloadSize, entry?.qos], [11, 1]);
  assert.ok(entry!.lastModifiedTime > 1e12);
  const got = JSON.parse((await run('aws', ['iot-data', 'get-retained-message', '--topic', 'tool/cli', ...endpoint], { env })).stdout) as {
    topic: string;
    payload: string;
    qos: number;
    userProperties: string;
  };
  // The CLI prints blobs base64-encoded.
  assert.equal(got.topic, 'tool/cli');
  assert.equal(Buffer.from(got.payload, 'base64').toString(), '{"ok":true}');
  assert.equal(Buffer.from(got.userProperties, 'base64').toString(), '[{"k":"v"}]');
  const failed = (await run('aws', ['iot-data', 'get-retained-message', '--topic', 'tool/none', ...endpoint], { env }).catch(
    (e: unknown) => e,
  )) as { stderr: string };
  assert.match(failed.stderr, /ResourceNotFoundException/);

  const script = `
import boto3, json, sys
c = boto3.client('iot-data', endpoint_url=sys.argv[1], region_name='us-east-1')
m = c.get_retained_message(topic='tool/cli')
pages = [p['retainedTopics'] for p in c.get_paginator('list_retained_messages').paginate(PaginationConfig={'PageSize': 1})]
print(json.dumps({'payload': m['payload'].decode(), 'qos': m['qos'], 'up': m['userProperties'].decode(), 'pages': len(pages), 'topics': [t['topic'] for p in pages for t in p]}))
`;
  const out = JSON.parse((await run('python3', ['-c', script, `http://127.0.0.1:${server.ports.http}`], { env })).stdout) as {
    payload: string;
    qos: number;
    up: string;
    pages: number;
    topics: string[];
  };
  assert.deepEqual([out.payload, out.qos, out.up], ['{"ok":true}', 1, '[{"k":"v"}]']);
  assert.ok(out.topics.includes('tool/cli'));
  assert.equal(out.pages, out.topics.length, 'one topic per page');
});

test('a retained QoS 1 publish answered 200 survives kill -9 of the server', async () => {
  const dataDir = tempDir();
  try {
    const args = ['--dev', '--data-dir', dataDir, '--mqtt-port', 'off', '--mqtts-port', 'off', '--https-port', 'off', '--http-port', '0'];
    const first = await spawnServer(args);
    const credentials = parseCredentialsFile(readFileSync(join(dataDir, 'credentials'), 'utf8'))!;
    const client = (port: number) =>
      new IoTDataPlaneClient({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', credentials, maxAttempts: 1 });
    const c1 = client(first.ports.http!);
    for (let i = 0; i < 20; i++) {
      await c1.send(new PublishCommand({ topic: `durable/${i}`, payload: Buffer.from(`v${i}`), retain: true, qos: 1 }));
    }
    first.proc.kill('SIGKILL');
    await first.exited;
    c1.destroy();
    const second = await spawnServer(args);
    const c2 = client(second.ports.http!);
    const topics = (await c2.send(new ListRetainedMessagesCommand({ maxResults: 200 }))).retainedTopics!.map((t) => t.topic);
    assert.deepEqual(topics.sort(), Array.from({ length: 20 }, (_, i) => `durable/${i}`).sort());
    assert.equal(Buffer.from((await c2.send(new GetRetainedMessageCommand({ topic: 'durable/19' }))).payload!).toString(), 'v19');
    c2.destroy();
    second.proc.kill('SIGTERM');
    await second.exited;
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
