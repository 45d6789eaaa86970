/**
 * The s3 action end to end: rules created with @aws-sdk/client-iot, devices publishing over MQTT,
 * the output stored as a file of the rule's namespace and downloaded through a presigned URL; a put
 * replaces; binary output is stored raw; names that cannot be files, and files a job holds, go to
 * the error action.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateJobCommand, CreateThingCommand, CreateTopicRuleCommand, IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import type { FileInfo } from '@thicket/server';
import { awsError } from './helpers.js';
import { filesApi, get, presignedUrl, sha256, uploaded } from './files-helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';

let f: RulesFixture;
before(async () => {
  f = await rulesFixture();
});
after(() => f.close());

const ROLE = 'arn:aws:iam::123456789012:role/s3';
const s3To = (bucketName: string, key: string, extra: Record<string, unknown> = {}) => ({
  s3: { roleArn: ROLE, bucketName, key, ...extra },
});
const errorsTo = (topic: string) => ({ republish: { roleArn: ROLE, topic } });

async function createRule(
  iot: IoTClient,
  ruleName: string,
  sql: string,
  actions: object[],
  more: Record<string, unknown> = {},
): Promise<void> {
  await iot.send(new CreateTopicRuleCommand({ ruleName, topicRulePayload: { sql, actions, ...more } as never }));
}

/** Waits until the file exists with the given SHA-256 (the action runs after the publish is acknowledged). */
async function stored(name: string, content: Buffer, region = 'us-east-1'): Promise<FileInfo> {
  const deadline = Date.now() + 3000;
  for (;;) {
    try {
      const info = await filesApi<FileInfo>(f.server, 'GET', `/${name}`, undefined, { region });
      if (info.sha256 === sha256(content)) return info;
    } catch (err) {
      if (!/ResourceNotFoundException/.test((err as Error).message)) throw err;
    }
    if (Date.now() > deadline) throw new Error(`file ${name} was not stored with the expected content`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function download(name: string, region = 'us-east-1'): Promise<{ status: number; body: Buffer }> {
  return get(await presignedUrl(f.server, name, 600, region), f.server.pki.caCertPem);
}

test('a device publishes; the output is a file named <bucket>_<key>, downloadable through a presigned URL', async () => {
  await createRule(f.iot, 'archive', "SELECT temperature AS t, topic(2) AS device FROM 'dt/+/temp'", [
    s3To('telemetry', '${topic(2)}/latest.json', { cannedAcl: 'private' }),
  ]);
  const device = await f.client();
  await device.publishAsync('dt/d1/temp', JSON.stringify({ temperature: 21 }), { qos: 1 });
  const expected = Buffer.from(JSON.stringify({ t: 21, device: 'd1' }));
  const info = await stored('telemetry_d1.latest.json', expected);
  assert.equal(info.contentType, 'application/json');
  assert.equal(info.size, expected.length);
  const got = await download('telemetry_d1.latest.json');
  assert.equal(got.status, 200);
  assert.deepEqual(got.body, expected);
});

test('a put replaces the file, as an S3 put replaces the object; a URL of the old content no longer serves', async () => {
  const oldUrl = await presignedUrl(f.server, 'telemetry_d1.latest.json');
  const device = await f.client();
  await device.publishAsync('dt/d1/temp', JSON.stringify({ temperature: 35 }), { qos: 1 });
  const expected = Buffer.from(JSON.stringify({ t: 35, device: 'd1' }));
  await stored('telemetry_d1.latest.json', expected);
  assert.deepEqual((await download('telemetry_d1.latest.json')).body, expected);
  assert.equal((await get(oldUrl, f.server.pki.caCertPem)).status, 404);
  const list = await filesApi<{ files: FileInfo[] }>(f.server, 'GET', '');
  assert.deepEqual(
    list.files.map((x) => x.fileName).filter((n) => n.startsWith('telemetry_')),
    ['telemetry_d1.latest.json'],
  );
});

test('binary output is stored as its raw bytes', async () => {
  await createRule(f.iot, 'raw', "SELECT * FROM 'bin/+'", [s3To('raw-bucket', 'frames/${topic(2)}.bin')]);
  const device = await f.client();
  const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x7b, 0x22, 0x0a, 0x80]);
  await device.publishAsync('bin/cam1', bytes, { qos: 1 });
  const info = await stored('raw-bucket_frames.cam1.bin', bytes);
  assert.equal(info.contentType, 'application/octet-stream');
  assert.deepEqual((await download('raw-bucket_frames.cam1.bin')).body, bytes);
});

test('keys and buckets that cannot be a file name fail the action and reach the error action', async () => {
  await createRule(f.iot, 'hostile', "SELECT * FROM 'hostile'", [s3To('${b}', '${k}')], { errorAction: errorsTo('errors/s3') });
  const errors = await f.subscriber('errors/s3');
  const device = await f.client();
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ b: 'ok-bucket', k: 'has space' }, /file name 'ok-bucket_has space' must be 1 to 128 characters/],
    [{ b: 'ok-bucket', k: 'x'.repeat(200) }, /must be 1 to 128 characters/],
    [{ b: 'ok-bucket', k: 'a%2Fb' }, /must be 1 to 128/],
    [{ b: 'ok-bucket' }, /empty key/],
    [{ b: 'Bad_Bucket', k: 'k' }, /bucket name 'Bad_Bucket' is not valid/],
    [{ b: '', k: 'k' }, /3 to 63 characters/],
    [{ b: '192.168.1.1', k: 'k' }, /not an IP address/],
  ];
  for (const [payload, message] of cases) {
    await device.publishAsync('hostile', JSON.stringify(payload), { qos: 1 });
    const doc = JSON.parse((await errors.next()).payload.toString()) as {
      failures: { failedAction: string; failedResource: string; errorMessage: string }[];
    };
    assert.equal(doc.failures[0]!.failedAction, 'S3Action');
    assert.equal(doc.failures[0]!.failedResource, `${(payload.b as string) ?? ''}/${(payload.k as string) ?? ''}`);
    assert.match(doc.failures[0]!.errorMessage, message, JSON.stringify(payload));
  }
  // Dot segments in a key only make a flat name: nothing escapes the file store.
  await device.publishAsync('hostile', JSON.stringify({ b: 'ok-bucket', k: '../../etc/passwd' }), { qos: 1 });
  await stored('ok-bucket_......etc.passwd', Buffer.from(JSON.stringify({ b: 'ok-bucket', k: '../../etc/passwd' })));
  assert.deepEqual(await errors.settle(100), []);
});

test('a file a job references is not replaced: the action fails with the job named', async () => {
  const firmware = Buffer.from('firmware v1');
  await uploaded(f.server, 'fw-store_image.bin', firmware);
  await f.iot.send(new CreateThingCommand({ thingName: 'ota-dev' }));
  await f.iot.send(
    new CreateJobCommand({
      jobId: 'ota-1',
      targets: [f.server.platform.thingArn('ota-dev')],
      document: JSON.stringify({ url: '${thicket:PresignedUrl:fw-store_image.bin}' }),
    }),
  );
  await createRule(f.iot, 'clobber', "SELECT * FROM 'clobber'", [s3To('fw-store', 'image.bin')], {
    errorAction: errorsTo('errors/clobber'),
  });
  const errors = await f.subscriber('errors/clobber');
  const device = await f.client();
  await device.publishAsync('clobber', '{"evil":true}', { qos: 1 });
  const doc = JSON.parse((await errors.next()).payload.toString()) as { failures: { errorMessage: string }[] };
  assert.match(doc.failures[0]!.errorMessage, /referenced by job ota-1/);
  assert.deepEqual((await download('fw-store_image.bin')).body, firmware);
});

test('namespaces are isolated: the same bucket and key are different files in another region', async () => {
  const endpoint = `http://127.0.0.1:${f.server.ports.http}`;
  const eu = new IoTClient({ endpoint, region: 'eu-west-1', credentials: f.server.adminKey, maxAttempts: 1 });
  const euData = new IoTDataPlaneClient({ endpoint, region: 'eu-west-1', credentials: f.server.adminKey, maxAttempts: 1 });
  try {
    await createRule(eu, 'archive', "SELECT temperature AS t, topic(2) AS device FROM 'dt/+/temp'", [
      s3To('telemetry', '${topic(2)}/latest.json'),
    ]);
    await euData.send(new PublishCommand({ topic: 'dt/d1/temp', payload: Buffer.from(JSON.stringify({ temperature: -3 })), qos: 1 }));
    const euContent = Buffer.from(JSON.stringify({ t: -3, device: 'd1' }));
    await stored('telemetry_d1.latest.json', euContent, 'eu-west-1');
    assert.deepEqual((await download('telemetry_d1.latest.json', 'eu-west-1')).body, euContent);
    // The us-east-1 file still holds what the us-east-1 device sent.
    assert.deepEqual((await download('telemetry_d1.latest.json')).body, Buffer.from(JSON.stringify({ t: 35, device: 'd1' })));
  } finally {
    eu.destroy();
    euData.destroy();
  }
});

test('CreateTopicRule checks the fields with AWS wording', async () => {
  const noKey = await awsError(createRule(f.iot, 'nokey', "SELECT * FROM 'x'", [{ s3: { roleArn: ROLE, bucketName: 'b' } }]));
  assert.equal(noKey.name, 'InvalidRequestException');
  assert.match(
    noKey.message,
    /Value null at 'topicRulePayload.actions.1.member.s3.key' failed to satisfy constraint: Member must not be null/,
  );
  const acl = await awsError(createRule(f.iot, 'acl', "SELECT * FROM 'x'", [s3To('bucket', 'k', { cannedAcl: 'everyone' })]));
  assert.match(
    acl.message,
    /Value 'everyone' at 'topicRulePayload.actions.1.member.s3.cannedAcl' failed to satisfy constraint: Member must satisfy enum value set/,
  );
  const noRole = await awsError(createRule(f.iot, 'norole', "SELECT * FROM 'x'", [{ s3: { bucketName: 'b', key: 'k' } }]));
  assert.match(noRole.message, /s3.roleArn' failed to satisfy constraint: Member must not be null/);
});
