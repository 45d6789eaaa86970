/**
 * Just-in-time registration (JITR) and provisioning (JITP) with a CA registered through the `aws`
 * CLI: a device certificate the CA signed registers itself on its first connection, with the
 * registered event AWS publishes; with a template on the CA it is provisioned and connects at once.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DescribeCertificateCommand,
  DescribeThingCommand,
  IoTClient,
  ListThingPrincipalsCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import mqtt from 'mqtt';
import { certificateId, ensurePki, issueClientCertificate, type Pki } from '../src/pki/index.js';
import { provision, startTestServer, tempDir, tlsOptions, type TestServer } from './helpers.js';

const run = promisify(execFile);

let server: TestServer;
let iot: IoTClient;
let jitr: Pki;
let jitp: Pki;

/** Registers a CA of the operator through the aws CLI, ACTIVE with auto-registration, with an optional registration config. */
async function registerCa(pki: Pki, registrationConfig?: object): Promise<string> {
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null', AWS_PROFILE: 'default' };
  const cli = async (...args: string[]): Promise<Record<string, unknown>> => {
    const endpoint = `http://127.0.0.1:${server.ports.http}`;
    const out = (await run('aws', ['iot', ...args, '--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json'], { env }))
      .stdout;
    return out.trim() ? (JSON.parse(out) as Record<string, unknown>) : {};
  };
  const { registrationCode } = (await cli('get-registration-code')) as { registrationCode: string };
  const verification = await issueClientCertificate(pki, { commonName: registrationCode });
  const dir = tempDir();
  writeFileSync(join(dir, 'ca.pem'), pki.caCertPem);
  writeFileSync(join(dir, 'verification.pem'), verification.certificatePem);
  const args = [
    'register-ca-certificate',
    '--ca-certificate',
    `file://${join(dir, 'ca.pem')}`,
    '--verification-cert',
    `file://${join(dir, 'verification.pem')}`,
    '--set-as-active',
    '--allow-auto-registration',
  ];
  if (registrationConfig) {
    writeFileSync(join(dir, 'config.json'), JSON.stringify(registrationConfig));
    args.push('--registration-config', `file://${join(dir, 'config.json')}`);
  }
  return ((await cli(...args)) as { certificateId: string }).certificateId;
}

/** Connects mqtt.js with a certificate: true when the CONNACK accepts. */
async function connects(cert: string, key: string, clientId: string): Promise<boolean> {
  const c = mqtt.connect(`mqtts://127.0.0.1:${server.ports.mqtts}`, {
    ...tlsOptions(server, { cert, key }),
    clientId,
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  const ok = await new Promise<boolean>((resolve) => {
    c.once('connect', () => resolve(true));
    c.once('error', () => resolve(false));
    c.once('close', () => resolve(false));
  });
  await c.endAsync();
  return ok;
}

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  jitr = await ensurePki(tempDir(), { hostnames: ['localhost'] });
  jitp = await ensurePki(tempDir(), { hostnames: ['localhost'] });
});
after(async () => {
  iot.destroy();
  await server.close();
});

test('JITR: the first connection registers the certificate PENDING_ACTIVATION and publishes the registered event; once activated it connects', async () => {
  const caId = await registerCa(jitr);
  const watcher = await provision(server, 'jitr-watcher');
  const w = await mqtt.connectAsync(`mqtts://127.0.0.1:${server.ports.mqtts}`, {
    ...tlsOptions(server, watcher),
    clientId: 'jitr-watcher',
  });
  const events: Array<{ topic: string; doc: Record<string, unknown> }> = [];
  await w.subscribeAsync('$aws/events/certificates/registered/#', { qos: 1 });
  w.on('message', (topic, p) => events.push({ topic, doc: JSON.parse(p.toString()) as Record<string, unknown> }));
  try {
    const device = await issueClientCertificate(jitr, { commonName: 'jitr-device' });
    const id = certificateId(device.certificatePem);
    assert.equal(await connects(device.certificatePem, device.privateKeyPem!, 'jitr-device'), false, 'refused while PENDING_ACTIVATION');
    const d = await iot.send(new DescribeCertificateCommand({ certificateId: id }));
    assert.equal(d.certificateDescription?.status, 'PENDING_ACTIVATION');
    assert.equal(d.certificateDescription?.caCertificateId, caId);
    const deadline = Date.now() + 5000;
    while (events.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(events.length, 1);
    assert.equal(events[0]!.topic, `$aws/events/certificates/registered/${caId}`);
    assert.deepEqual(
      { ...events[0]!.doc, timestamp: 0, certificateRegistrationTimestamp: 0 },
      {
        certificateId: id,
        caCertificateId: caId,
        timestamp: 0,
        certificateStatus: 'PENDING_ACTIVATION',
        awsAccountId: '123456789012',
        certificateRegistrationTimestamp: 0,
      },
    );
    // What a JITR rule's function does: activate it and give it a policy.
    await iot.send(new UpdateCertificateCommand({ certificateId: id, newStatus: 'ACTIVE' }));
    const { AttachPolicyCommand } = await import('@aws-sdk/client-iot');
    await iot.send(new AttachPolicyCommand({ policyName: watcher.policyName, target: d.certificateDescription!.certificateArn }));
    assert.equal(await connects(device.certificatePem, device.privateKeyPem!, 'jitr-device'), true);
    assert.equal(events.length, 1, 'registered once');
  } finally {
    await w.endAsync();
  }
});

test('JITP: a CA with a template provisions the thing, the ACTIVE certificate and its policy on the first connection, which is accepted', async () => {
  const templateBody = JSON.stringify({
    Parameters: {
      'AWS::IoT::Certificate::CommonName': { Type: 'String' },
      'AWS::IoT::Certificate::Id': { Type: 'String' },
    },
    Resources: {
      thing: {
        Type: 'AWS::IoT::Thing',
        Properties: {
          ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' },
          AttributePayload: { source: 'jitp' },
        },
      },
      certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' } },
      policy: {
        Type: 'AWS::IoT::Policy',
        Properties: {
          PolicyDocument:
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}"}]}',
        },
      },
    },
  });
  await registerCa(jitp, { templateBody, roleArn: 'arn:aws:iam::123456789012:role/JITP' });
  const device = await issueClientCertificate(jitp, { commonName: 'jitp-lamp' });
  const id = certificateId(device.certificatePem);
  assert.equal(await connects(device.certificatePem, device.privateKeyPem!, 'jitp-lamp'), true, 'provisioned and connected at once');
  assert.equal((await iot.send(new DescribeCertificateCommand({ certificateId: id }))).certificateDescription?.status, 'ACTIVE');
  const thing = await iot.send(new DescribeThingCommand({ thingName: 'jitp-lamp' }));
  assert.equal(thing.thingName, 'jitp-lamp');
  const principals = await iot.send(new ListThingPrincipalsCommand({ thingName: 'jitp-lamp' }));
  assert.deepEqual(principals.principals, [`arn:aws:iot:us-east-1:123456789012:cert/${id}`]);
  // The policy variable reached the policy engine: another client id is refused.
  assert.equal(await connects(device.certificatePem, device.privateKeyPem!, 'someone-else'), false);

  assert.deepEqual(thing.attributes, { source: 'jitp' });

  // A certificate the template cannot provision (its common name is no thing name) is not left behind half-made.
  const bad = await issueClientCertificate(jitp, { commonName: 'not a thing name!' });
  assert.equal(await connects(bad.certificatePem, bad.privateKeyPem!, 'bad'), false);
  await assert.rejects(iot.send(new DescribeCertificateCommand({ certificateId: certificateId(bad.certificatePem) })), /ResourceNotFound/);
});

test('a registrationConfig is checked when set; a CA may name a JITP template, which then provisions its devices', async () => {
  const { CreateProvisioningTemplateCommand, ListCACertificatesCommand, UpdateCACertificateCommand } = await import('@aws-sdk/client-iot');
  const jitrCa = certificateId(jitr.caCertPem);
  assert.ok((await iot.send(new ListCACertificatesCommand({}))).certificates!.some((c) => c.certificateId === jitrCa));
  const set = (registrationConfig: Record<string, string>) =>
    iot.send(new UpdateCACertificateCommand({ certificateId: jitrCa, registrationConfig }));
  const body = (thing: string) =>
    JSON.stringify({
      Parameters: { 'AWS::IoT::Certificate::CommonName': { Type: 'String' }, 'AWS::IoT::Certificate::Id': { Type: 'String' } },
      Resources: {
        thing: {
          Type: 'AWS::IoT::Thing',
          Properties: { ThingName: { 'Fn::Join': ['', [thing, { Ref: 'AWS::IoT::Certificate::CommonName' }]] } },
        },
        certificate: {
          Type: 'AWS::IoT::Certificate',
          Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
        },
        policy: {
          Type: 'AWS::IoT::Policy',
          Properties: { PolicyDocument: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*"}]}' },
        },
      },
    });
  await assert.rejects(set({ templateBody: '{"Resources":{}}' }), /InvalidRequestException|at least one resource/);
  await assert.rejects(set({ templateName: 'missing' }), /the provisioning template missing does not exist/);
  await iot.send(
    new CreateProvisioningTemplateCommand({
      templateName: 'fleet-kind',
      templateBody: body('x-'),
      provisioningRoleArn: 'arn:aws:iam::123456789012:role/R',
    }),
  );
  await assert.rejects(set({ templateName: 'fleet-kind' }), /FLEET_PROVISIONING template, not JITP/);
  await iot.send(
    new CreateProvisioningTemplateCommand({
      templateName: 'named-jitp',
      type: 'JITP',
      templateBody: body('named-'),
      provisioningRoleArn: 'arn:aws:iam::123456789012:role/R',
    }),
  );
  await set({ templateName: 'named-jitp' });
  const device = await issueClientCertificate(jitr, { commonName: 'lamp' });
  assert.equal(await connects(device.certificatePem, device.privateKeyPem!, 'named-lamp'), true);
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'named-lamp' }))).thingName, 'named-lamp');
});
