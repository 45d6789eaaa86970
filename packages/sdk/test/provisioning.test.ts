/**
 * Fleet provisioning by claim against the real server's provisioning service: a claim certificate
 * gets a new certificate (keys made by the server, or from the device's CSR), RegisterThing runs the
 * template, and the device connects with what it got; rejections arrive as typed errors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateProvisioningTemplateCommand, DescribeCertificateCommand, DescribeThingCommand, IoTClient } from '@aws-sdk/client-iot';
import { connectDevice, ProvisioningClient, ProvisioningRejectedError, provisionByClaim } from '@thicket/sdk';
import { mtlsOptions, provision, scratch, startTestServer, type Device, type TestServer } from './helpers.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012';
let server: TestServer;
let iot: IoTClient;
let claim: Device;

/** A claim certificate's usual policy: connect, and the provisioning topics only. */
const CLAIM_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: '*' },
    {
      Effect: 'Allow',
      Action: ['iot:Publish', 'iot:Receive'],
      Resource: [
        `${ARN}:topic/$aws/certificates/create/*`,
        `${ARN}:topic/$aws/certificates/create-from-csr/*`,
        `${ARN}:topic/$aws/provisioning-templates/sensor/provision/*`,
      ],
    },
    {
      Effect: 'Allow',
      Action: 'iot:Subscribe',
      Resource: [
        `${ARN}:topicfilter/$aws/certificates/create/*`,
        `${ARN}:topicfilter/$aws/certificates/create-from-csr/*`,
        `${ARN}:topicfilter/$aws/provisioning-templates/sensor/provision/*`,
      ],
    },
  ],
});

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  claim = await provision(server, 'claim', CLAIM_POLICY);
  await iot.send(
    new CreateProvisioningTemplateCommand({
      templateName: 'sensor',
      enabled: true,
      provisioningRoleArn: 'arn:aws:iam::123456789012:role/provisioning',
      templateBody: JSON.stringify({
        Parameters: { SerialNumber: { Type: 'String' } },
        Resources: {
          thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Join': ['', ['sensor-', { Ref: 'SerialNumber' }]] } } },
          certificate: {
            Type: 'AWS::IoT::Certificate',
            Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
          },
          policy: {
            Type: 'AWS::IoT::Policy',
            Properties: {
              PolicyDocument: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }] }),
            },
          },
        },
        DeviceConfiguration: { Fleet: 'north' },
      }),
    }),
  );
});
after(async () => {
  iot.destroy();
  await server.close();
});

const claimOptions = () => ({
  url: `mqtts://127.0.0.1:${server.ports.mqtts}`,
  claim: { cert: claim.cert, key: claim.key, ca: server.pki.caCertPem, servername: 'localhost' },
});

test('provisionByClaim: new keys and certificate, RegisterThing, and the device connects with them', async () => {
  const got = await provisionByClaim({ ...claimOptions(), templateName: 'sensor', parameters: { SerialNumber: '0001' } });
  assert.equal(got.thingName, 'sensor-0001');
  assert.deepEqual(got.deviceConfiguration, { Fleet: 'north' });
  assert.match(got.certificatePem, /BEGIN CERTIFICATE/);
  assert.match(got.privateKey!, /PRIVATE KEY/);
  const cert = await iot.send(new DescribeCertificateCommand({ certificateId: got.certificateId }));
  assert.equal(cert.certificateDescription?.status, 'ACTIVE');
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'sensor-0001' }))).thingName, 'sensor-0001');

  const d = { thingName: got.thingName, cert: got.certificatePem, key: got.privateKey! } as Device;
  const device = await connectDevice(mtlsOptions(server, d, { reconnect: false }));
  await device.publish('sensor-0001/hello', 'hi');
  await device.close();
});

test('provisionByClaim with a CSR: the private key never leaves the device', async () => {
  const dir = scratch();
  const key = join(dir, 'device.key');
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key]);
  const csr = execFileSync('openssl', ['req', '-new', '-key', key, '-subj', '/CN=sensor-0002'], { encoding: 'utf8' });
  const got = await provisionByClaim({ ...claimOptions(), templateName: 'sensor', parameters: { SerialNumber: '0002' }, csr });
  assert.equal(got.thingName, 'sensor-0002');
  assert.equal(got.privateKey, undefined);
  const d = { thingName: got.thingName, cert: got.certificatePem, key: readFileSync(key, 'utf8') } as Device;
  const device = await connectDevice(mtlsOptions(server, d, { reconnect: false }));
  await device.close();
});

test('rejections carry statusCode, errorCode and errorMessage', async () => {
  const device = await connectDevice({ ...mtlsOptions(server, claim), reconnect: false });
  try {
    const client = new ProvisioningClient(device);
    await assert.rejects(
      client.registerThing('sensor', { certificateOwnershipToken: 'not-a-token', parameters: { SerialNumber: '9' } }),
      (e: unknown) => {
        assert.ok(e instanceof ProvisioningRejectedError, String(e));
        assert.equal(typeof e.statusCode, 'number');
        assert.ok(e.statusCode >= 400 && e.statusCode < 500, `status ${e.statusCode}`);
        assert.equal(typeof e.errorCode, 'string');
        assert.ok(e.errorMessage.length > 0);
        return true;
      },
    );
    await assert.rejects(
      client.createCertificateFromCsr('not a csr'),
      (e: unknown) => e instanceof ProvisioningRejectedError && e.statusCode === 400,
    );
    // Requests go one at a time; one that failed does not hold up the next.
    const keys = await client.createKeysAndCertificate();
    assert.match(keys.certificateOwnershipToken, /\S/);
  } finally {
    await device.close();
  }
});
