/**
 * The README's examples run as written (only the port is the test server's): connect and publish,
 * the queue that survives restarts, shadows, fleet provisioning by claim. Each is saved as an
 * .mjs file and run with `node` in a directory laid out as the README says (`devices/sensor-1`,
 * `claim/`), importing the built package as an application would.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CreateProvisioningClaimCommand, CreateProvisioningTemplateCommand, IoTClient } from '@aws-sdk/client-iot';
import { provision, startTestServer, tempDir, type TestServer } from './helpers.js';

const run = promisify(execFile);
const README = readFileSync(resolve(import.meta.dirname, '../README.md'), 'utf8');
// Inside the package, so that `import '@thicket/sdk'` resolves as it does for an application.
const SCRIPTS = resolve(import.meta.dirname, '.examples');

let server: TestServer;
let cwd: string;

/** The js block under a README heading. */
function example(heading: string): string {
  const at = README.indexOf(`### ${heading}\n`);
  assert.ok(at >= 0, `the README has "${heading}"`);
  const block = /```js\n([\s\S]*?)```/.exec(README.slice(at))!;
  return block[1]!.replaceAll('mqtts://localhost:8883', `mqtts://localhost:${server.ports.mqtts}`);
}

async function runExample(heading: string): Promise<string> {
  mkdirSync(SCRIPTS, { recursive: true });
  const file = join(mkdtempSync(join(SCRIPTS, 'x-')), 'example.mjs');
  writeFileSync(file, example(heading));
  const { stdout } = await run(process.execPath, [file], { cwd, timeout: 30_000 });
  return stdout;
}

before(async () => {
  server = await startTestServer();
  cwd = tempDir();
  const d = await provision(server, 'sensor-1');
  mkdirSync(join(cwd, 'devices/sensor-1'), { recursive: true });
  writeFileSync(join(cwd, 'devices/sensor-1/certificate.pem'), d.cert);
  writeFileSync(join(cwd, 'devices/sensor-1/private.key'), d.key);
  writeFileSync(join(cwd, 'devices/sensor-1/ca.pem'), server.pki.caCertPem);
});
after(async () => {
  rmSync(SCRIPTS, { recursive: true, force: true });
  await server.close();
});

test('connect with a device certificate and publish', async () => {
  await runExample('Connect with a device certificate and publish');
});

test('the queue file and the persistent session across two runs', async () => {
  const first = await runExample('A queue that survives restarts, and a persistent session');
  assert.match(first, /0 messages left over from the last run/);
  assert.match(first, /sessionPresent: false/);
  const second = await runExample('A queue that survives restarts, and a persistent session');
  assert.match(second, /0 messages left over from the last run/, 'the first run drained its queue');
  assert.match(second, /sessionPresent: true/, 'the persistent session was kept');
});

test('shadows: report, get, a version conflict', async () => {
  const out = await runExample('Shadows');
  assert.match(out, /temp: 21\.5/);
  assert.match(out, /409 Version conflict/);
});

test('fleet provisioning by claim', async () => {
  const iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  try {
    await iot.send(
      new CreateProvisioningTemplateCommand({
        templateName: 'sensor',
        enabled: true,
        provisioningRoleArn: 'arn:aws:iam::123456789012:role/Provisioning',
        templateBody: JSON.stringify({
          Parameters: { SerialNumber: { Type: 'String' }, 'AWS::IoT::Certificate::Id': { Type: 'String' } },
          Resources: {
            thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Join': ['-', ['sensor', { Ref: 'SerialNumber' }]] } } },
            certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' } } },
          },
          DeviceConfiguration: { reportEvery: '60' },
        }),
      }),
    );
    const claim = await iot.send(new CreateProvisioningClaimCommand({ templateName: 'sensor' }));
    mkdirSync(join(cwd, 'claim'), { recursive: true });
    writeFileSync(join(cwd, 'claim/certificate.pem'), claim.certificatePem!);
    writeFileSync(join(cwd, 'claim/private.key'), claim.keyPair!.PrivateKey!);
    writeFileSync(join(cwd, 'claim/ca.pem'), server.pki.caCertPem);
  } finally {
    iot.destroy();
  }
  const out = await runExample('Fleet provisioning by claim');
  assert.match(out, /sensor-0001 \{ reportEvery: '60' \}/);
  assert.match(readFileSync(join(cwd, 'device.crt'), 'utf8'), /BEGIN CERTIFICATE/);
});
