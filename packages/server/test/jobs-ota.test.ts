/**
 * OTA through Jobs: a job document names a stored file by placeholders; the device receives a
 * presigned HTTPS URL and the file's SHA-256 in its execution, downloads and checks it. Documents
 * may themselves be stored files; a live job's files cannot be deleted.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import mqtt from 'mqtt';
import { CreateJobCommand, CancelJobCommand, IoTClient, CreateThingCommand } from '@aws-sdk/client-iot';
import { awsError, startTestServer, type TestServer } from './helpers.js';
import { filesApi, get, sha256, uploaded } from './files-helpers.js';

let server: TestServer;
let iot: IoTClient;
const firmware = randomBytes(300_000);

before(async () => {
  server = await startTestServer({ dev: true });
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  await iot.send(new CreateThingCommand({ thingName: 'ota-dev' }));
  await uploaded(server, 'fw-1.2.bin', firmware);
  await uploaded(
    server,
    'install.json',
    Buffer.from(
      JSON.stringify({ operation: 'install', url: '${thicket:PresignedUrl:fw-1.2.bin}', size: '${thicket:FileSize:fw-1.2.bin}' }),
    ),
  );
});
after(async () => {
  iot.destroy();
  await server.close();
});

interface Execution {
  jobId: string;
  status: string;
  jobDocument: { operation: string; url: string; sha256?: string; size?: string };
}

async function startNext(client: mqtt.MqttClient): Promise<Execution> {
  const answer = new Promise<Execution>((resolve) =>
    client.once('message', (_t, p) => resolve((JSON.parse(p.toString()) as { execution: Execution }).execution)),
  );
  await client.publishAsync('$aws/things/ota-dev/jobs/start-next', JSON.stringify({ clientToken: 'ota' }), { qos: 1 });
  return answer;
}

test('a device gets a presigned HTTPS URL and the digest in its job document, downloads the file and verifies it', async () => {
  const document = JSON.stringify({
    operation: 'firmware-update',
    url: '${thicket:PresignedUrl:fw-1.2.bin}',
    sha256: '${thicket:FileSha256:fw-1.2.bin}',
  });
  await iot.send(
    new CreateJobCommand({
      jobId: 'ota-1',
      targets: [server.platform.thingArn('ota-dev')],
      document,
      presignedUrlConfig: { expiresInSec: 300 },
    }),
  );
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId: 'ota-dev' });
  try {
    const e = await startNext(device);
    assert.equal(e.jobId, 'ota-1');
    assert.equal(e.status, 'IN_PROGRESS');
    assert.equal(e.jobDocument.sha256, sha256(firmware));
    const url = new URL(e.jobDocument.url);
    assert.equal(url.protocol, 'https:');
    const expires = Number(url.searchParams.get('expires'));
    assert.ok(Math.abs(expires - (Date.now() / 1000 + 300)) < 10, `the URL expires after presignedUrlConfig.expiresInSec (${expires})`);

    const got = await get(e.jobDocument.url, server.pki.caCertPem);
    assert.equal(got.status, 200);
    assert.equal(sha256(got.body), e.jobDocument.sha256);

    // GetJobDocument shows the placeholders: URLs are made for devices only.
    const stored = (await import('@aws-sdk/client-iot')).GetJobDocumentCommand;
    const asAdmin = await iot.send(new stored({ jobId: 'ota-1' }));
    assert.equal(asAdmin.document, document);

    // The file is in use while the job runs.
    await assert.rejects(
      filesApi(server, 'DELETE', '/fw-1.2.bin'),
      /^Error: ConflictException: file 'fw-1.2.bin' is referenced by job ota-1 \(IN_PROGRESS\)/,
    );
    await device.publishAsync('$aws/things/ota-dev/jobs/ota-1/update', JSON.stringify({ status: 'SUCCEEDED' }), { qos: 1 });
  } finally {
    await device.endAsync();
  }
});

test('a job document kept as a file (documentSource thicket:files/<name>); missing files are refused at CreateJob', async () => {
  await iot.send(
    new CreateJobCommand({ jobId: 'ota-2', targets: [server.platform.thingArn('ota-dev')], documentSource: 'thicket:files/install.json' }),
  );
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId: 'ota-dev' });
  try {
    const e = await startNext(device);
    assert.equal(e.jobId, 'ota-2');
    assert.equal(e.jobDocument.operation, 'install');
    assert.equal(e.jobDocument.size, String(firmware.length));
    assert.match(e.jobDocument.url, /^https:\/\/.*\/_thicket\/files\/fw-1\.2\.bin\/content\?/);
  } finally {
    await device.endAsync();
  }

  const missing = await awsError(
    iot.send(
      new CreateJobCommand({
        jobId: 'ota-3',
        targets: [server.platform.thingArn('ota-dev')],
        document: '{"url":"${thicket:PresignedUrl:nope.bin}"}',
      }),
    ),
  );
  assert.equal(missing.name, 'InvalidRequestException');
  assert.match(missing.message, /references file 'nope.bin', which does not exist/);
  const badSource = await awsError(
    iot.send(
      new CreateJobCommand({
        jobId: 'ota-4',
        targets: [server.platform.thingArn('ota-dev')],
        documentSource: 'https://s3.amazonaws.com/b/k',
      }),
    ),
  );
  assert.equal(badSource.name, 'InvalidRequestException');
  assert.match(badSource.message, /thicket:files\/<fileName>/);

  // Once no live job needs them, the files can go.
  await iot.send(new CancelJobCommand({ jobId: 'ota-2', force: true }));
  await filesApi(server, 'DELETE', '/fw-1.2.bin');
});
