/**
 * Fleet provisioning by claim, end to end: a claim certificate from CreateProvisioningClaim,
 * aws-iot-device-sdk-v2's IotIdentityClientv2 (MQTT 5 and 3.1.1) creating keys or a certificate
 * from a CSR and registering the thing, the device connecting with what it got at once; and every
 * refusal with AWS's answer: bad parameters, a denying pre-provisioning hook, a disabled template,
 * a reused ownership token, a claim certificate trying device topics. CBOR requests too.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateProvisioningClaimCommand,
  CreateProvisioningTemplateCommand,
  DescribeCertificateCommand,
  DescribeThingCommand,
  IoTClient,
  ListAttachedPoliciesCommand,
  ListThingPrincipalsCommand,
  UpdateProvisioningTemplateCommand,
} from '@aws-sdk/client-iot';
import { iotidentity } from 'aws-iot-device-sdk-v2';
import { decode as decodeCbor, encode as encodeCbor } from 'cbor2';
import mqtt from 'mqtt';
import { x509 } from '../src/pki/x509.js';
import { awsError, provision, startTestServer, tlsOptions, type TestServer } from './helpers.js';
import { functionsApi, moduleFile } from './functions-helpers.js';
import { modeledError, mqtt311Connection, mqtt5Client, rrOptions, stopMqtt5 } from './sdk-helpers.js';

let server: TestServer;
let iot: IoTClient;

const ROLE = 'arn:aws:iam::123456789012:role/Provisioning';

/** Devices may publish and receive under their own thing name only: the policy variable must reach the policy engine untouched. */
const DEVICE_POLICY = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:us-east-1:123456789012:client/${iot:Connection.Thing.ThingName}' },
    {
      Effect: 'Allow',
      Action: ['iot:Publish', 'iot:Receive'],
      Resource: 'arn:aws:iot:us-east-1:123456789012:topic/d/${iot:Connection.Thing.ThingName}',
    },
    {
      Effect: 'Allow',
      Action: 'iot:Subscribe',
      Resource: 'arn:aws:iot:us-east-1:123456789012:topicfilter/d/${iot:Connection.Thing.ThingName}',
    },
  ],
};

const BODY = JSON.stringify({
  Parameters: { SerialNumber: { Type: 'String' }, 'AWS::IoT::Certificate::Id': { Type: 'String' } },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { 'Fn::Join': ['', ['sensor-', { Ref: 'SerialNumber' }]] },
        AttributePayload: { serial: { Ref: 'SerialNumber' } },
      },
    },
    certificate: { Type: 'AWS::IoT::Certificate', Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'Active' } },
    policy: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: JSON.stringify(DEVICE_POLICY) } },
  },
  DeviceConfiguration: { Fallback: 'https://example.com', Serial: { Ref: 'SerialNumber' } },
});

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  await iot.send(
    new CreateProvisioningTemplateCommand({ templateName: 'sensors', templateBody: BODY, provisioningRoleArn: ROLE, enabled: true }),
  );
});
after(async () => {
  iot.destroy();
  await server.close();
});

/** A claim certificate of the template, as a trusted user gets it. */
async function claim(templateName = 'sensors'): Promise<{ thingName: string; cert: string; key: string; certificateId: string }> {
  const c = await iot.send(new CreateProvisioningClaimCommand({ templateName }));
  assert.ok(c.expiration!.getTime() - Date.now() <= 5 * 60_000 + 1000, 'a claim certificate is valid five minutes');
  return {
    thingName: `claim-${c.certificateId!.slice(0, 8)}`,
    cert: c.certificatePem!,
    key: c.keyPair!.PrivateKey!,
    certificateId: c.certificateId!,
  };
}

/** Connects mqtt.js with a certificate; resolves once connected. */
async function connect(cert: string, key: string, clientId: string, protocolVersion: 4 | 5 = 5): Promise<mqtt.MqttClient> {
  const c = mqtt.connect(`mqtts://127.0.0.1:${server.ports.mqtts}`, {
    ...tlsOptions(server, { cert, key }),
    clientId,
    protocolVersion,
    reconnectPeriod: 0,
    connectTimeout: 5000,
  });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
  return c;
}

async function checkProvisioned(thingName: string, certificateId: string, serial: string): Promise<void> {
  const t = await iot.send(new DescribeThingCommand({ thingName }));
  assert.deepEqual(t.attributes, { serial });
  const principals = await iot.send(new ListThingPrincipalsCommand({ thingName }));
  assert.deepEqual(principals.principals, [`arn:aws:iot:us-east-1:123456789012:cert/${certificateId}`]);
  const cert = await iot.send(new DescribeCertificateCommand({ certificateId }));
  assert.equal(cert.certificateDescription?.status, 'ACTIVE');
  const policies = await iot.send(new ListAttachedPoliciesCommand({ target: principals.principals![0] }));
  assert.equal(policies.policies?.length, 1);
  assert.match(policies.policies![0]!.policyName!, /^[0-9a-f]{64}$/, 'a policy made from a template document is named by its SHA-256');
}

/** The device uses what it got: connects as its thing, publishes and receives on its own topic, and nothing else. */
async function deviceWorks(thingName: string, cert: string, key: string): Promise<void> {
  const d = await connect(cert, key, thingName);
  try {
    await d.subscribeAsync(`d/${thingName}`, { qos: 1 });
    const got = new Promise<string>((r) => d.once('message', (_t, p) => r(p.toString())));
    await d.publishAsync(`d/${thingName}`, 'hello', { qos: 1 });
    assert.equal(await got, 'hello');
    await assert.rejects(d.publishAsync('d/someone-else', 'x', { qos: 1 }), /Not authorized/, 'another thing topic is refused');
  } finally {
    await d.endAsync();
  }
}

test('aws-iot-device-sdk-v2 IotIdentityClientv2 over MQTT 5: claim → CreateKeysAndCertificate → RegisterThing → the device connects with its own certificate', async () => {
  const c = await claim();
  const client = await mqtt5Client(server, c);
  const identity = iotidentity.IotIdentityClientv2.newFromMqtt5(client, rrOptions);
  try {
    const keys = await identity.createKeysAndCertificate({});
    assert.match(keys.certificateId!, /^[0-9a-f]{64}$/);
    assert.match(keys.privateKey!, /BEGIN RSA PRIVATE KEY/);
    const pending = await iot.send(new DescribeCertificateCommand({ certificateId: keys.certificateId! }));
    assert.equal(pending.certificateDescription?.status, 'PENDING_ACTIVATION');
    const reg = await identity.registerThing({
      templateName: 'sensors',
      certificateOwnershipToken: keys.certificateOwnershipToken!,
      parameters: { SerialNumber: 'A1' },
    });
    assert.equal(reg.thingName, 'sensor-A1');
    assert.deepEqual(reg.deviceConfiguration, { Fallback: 'https://example.com', Serial: 'A1' });
    await checkProvisioned('sensor-A1', keys.certificateId!, 'A1');
    await deviceWorks('sensor-A1', keys.certificatePem!, keys.privateKey!);

    // The token was used: a second RegisterThing with it is refused.
    const again = await modeledError<{ statusCode: number; errorCode: string }>(
      identity.registerThing({
        templateName: 'sensors',
        certificateOwnershipToken: keys.certificateOwnershipToken!,
        parameters: { SerialNumber: 'A2' },
      }),
    );
    assert.equal(again.errorCode, 'InvalidCertificateOwnershipToken');
    assert.equal(again.statusCode, 400);
    await assert.rejects(iot.send(new DescribeThingCommand({ thingName: 'sensor-A2' })), /ResourceNotFound/);
  } finally {
    identity.close();
    await stopMqtt5(client);
  }
});

test('aws-iot-device-sdk-v2 over MQTT 3.1.1: CreateCertificateFromCsr with the device’s own key, then RegisterThing', async () => {
  const c = await claim();
  const connection = await mqtt311Connection(server, c);
  const identity = iotidentity.IotIdentityClientv2.newFromMqtt311(connection, rrOptions);
  try {
    const keys = await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=sensor-B1',
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    });
    const created = await identity.createCertificateFromCsr({ certificateSigningRequest: csr.toString('pem') });
    assert.equal(created.certificateId!.length, 64);
    const reg = await identity.registerThing({
      templateName: 'sensors',
      certificateOwnershipToken: created.certificateOwnershipToken!,
      parameters: { SerialNumber: 'B1' },
    });
    assert.equal(reg.thingName, 'sensor-B1');
    await checkProvisioned('sensor-B1', created.certificateId!, 'B1');
    const pkcs8 = Buffer.from(await globalThis.crypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
    const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
    await deviceWorks('sensor-B1', created.certificatePem!, keyPem);
  } finally {
    identity.close();
    await connection.disconnect();
  }
});

/** A raw request over mqtt.js: publishes and resolves with the accepted or rejected answer. */
async function request(
  client: mqtt.MqttClient,
  topic: string,
  payload: Buffer | string,
  cbor = false,
): Promise<{ ok: boolean; doc: Record<string, unknown> }> {
  await client.subscribeAsync([`${topic}/accepted`, `${topic}/rejected`], { qos: 1 });
  const answer = new Promise<{ ok: boolean; doc: Record<string, unknown> }>((resolve) => {
    const on = (t: string, p: Buffer) => {
      if (t !== `${topic}/accepted` && t !== `${topic}/rejected`) return;
      client.off('message', on);
      resolve({ ok: t.endsWith('/accepted'), doc: (cbor ? decodeCbor(p) : JSON.parse(p.toString())) as Record<string, unknown> });
    };
    client.on('message', on);
  });
  await client.publishAsync(topic, payload, { qos: 1 });
  return answer;
}

test('refusals with AWS’s answers: empty or unknown token, missing parameter, disabled template, denying hook, claim certificate on device topics', async () => {
  const c = await claim();
  const client = await connect(c.cert, c.key, c.thingName);
  try {
    const json = '$aws/provisioning-templates/sensors/provision/json';
    const empty = await request(client, json, JSON.stringify({ parameters: {} }));
    assert.deepEqual(empty, {
      ok: false,
      doc: { statusCode: 400, errorCode: 'InvalidCertificateOwnershipToken', errorMessage: 'Certificate ownership token cannot be empty.' },
    });
    const forged = await request(client, json, JSON.stringify({ certificateOwnershipToken: 'forged', parameters: {} }));
    assert.equal(forged.doc.errorCode, 'InvalidCertificateOwnershipToken');

    const keys = await request(client, '$aws/certificates/create/json', '');
    assert.ok(keys.ok);
    const token = keys.doc.certificateOwnershipToken as string;
    const missing = await request(client, json, JSON.stringify({ certificateOwnershipToken: token, parameters: {} }));
    assert.deepEqual(missing.doc, {
      statusCode: 400,
      errorCode: 'InvalidParameters',
      errorMessage: 'Cannot resolve reference value: SerialNumber',
    });
    const notString = await request(client, json, JSON.stringify({ certificateOwnershipToken: token, parameters: { SerialNumber: 5 } }));
    assert.equal(notString.doc.errorCode, 'InvalidParameters');

    // A failed attempt leaves the token usable: the same request with the parameter provisions.
    const ok = await request(client, json, JSON.stringify({ certificateOwnershipToken: token, parameters: { SerialNumber: 'C1' } }));
    assert.deepEqual(ok, {
      ok: true,
      doc: { thingName: 'sensor-C1', deviceConfiguration: { Fallback: 'https://example.com', Serial: 'C1' } },
    });

    // The claim certificate may not act as a device, nor use another template.
    await assert.rejects(client.publishAsync('$aws/things/sensor-C1/shadow/update', '{}', { qos: 1 }), /Not authorized/);
    await assert.rejects(client.publishAsync('$aws/provisioning-templates/gated/provision/json', '{}', { qos: 1 }), /Not authorized/);
  } finally {
    await client.endAsync();
  }
  const admin = await provision(server, 'provisioning-admin');
  const any = await connect(admin.cert, admin.key, admin.thingName);
  try {
    const unknown = await request(
      any,
      '$aws/provisioning-templates/nope/provision/json',
      JSON.stringify({ certificateOwnershipToken: 'x' }),
    );
    assert.deepEqual(unknown.doc, {
      statusCode: 404,
      errorCode: 'ResourceNotFound',
      errorMessage: 'The provisioning template nope does not exist',
    });
  } finally {
    await any.endAsync();
  }

  // A disabled template refuses; a hook that says no refuses; a hook's overrides apply.
  const hook = moduleFile(
    'export const handler = async (e) => e.parameters.SerialNumber === "bad" ? { allowProvisioning: false } : ' +
      '{ allowProvisioning: true, parameterOverrides: { SerialNumber: e.parameters.SerialNumber + "-checked" } };',
  );
  await functionsApi(`http://127.0.0.1:${server.ports.http}`, server.adminKey).register('gate', { module: hook, timeout: 5 });
  await iot.send(
    new CreateProvisioningTemplateCommand({
      templateName: 'gated',
      templateBody: BODY,
      provisioningRoleArn: ROLE,
      enabled: false,
      preProvisioningHook: { targetArn: 'arn:aws:lambda:us-east-1:123456789012:function:gate' },
    }),
  );
  const g = await claim('gated');
  const gc = await connect(g.cert, g.key, g.thingName);
  try {
    const topic = '$aws/provisioning-templates/gated/provision/json';
    const keys = await request(gc, '$aws/certificates/create/json', '{}');
    const token = keys.doc.certificateOwnershipToken as string;
    const disabled = await request(gc, topic, JSON.stringify({ certificateOwnershipToken: token, parameters: { SerialNumber: 'D1' } }));
    assert.equal(disabled.doc.statusCode, 403);
    assert.match(disabled.doc.errorMessage as string, /disabled/);
    await iot.send(new UpdateProvisioningTemplateCommand({ templateName: 'gated', enabled: true }));
    const no = await request(gc, topic, JSON.stringify({ certificateOwnershipToken: token, parameters: { SerialNumber: 'bad' } }));
    assert.deepEqual(no.doc.errorCode, 'ACCESS_DENIED');
    const yes = await request(gc, topic, JSON.stringify({ certificateOwnershipToken: token, parameters: { SerialNumber: 'D1' } }));
    assert.equal(yes.doc.thingName, 'sensor-D1-checked');
  } finally {
    await gc.endAsync();
  }
});

test('CBOR requests get CBOR answers; another client never sees the private key', async () => {
  const c = await claim();
  const client = await connect(c.cert, c.key, c.thingName);
  const spy = await connect(c.cert, c.key, `${c.thingName}-spy`);
  const seen: string[] = [];
  await spy.subscribeAsync(['$aws/certificates/create/cbor/accepted', '$aws/provisioning-templates/sensors/provision/cbor/accepted'], {
    qos: 1,
  });
  spy.on('message', (t) => seen.push(t));
  try {
    const keys = await request(client, '$aws/certificates/create/cbor', Buffer.from(encodeCbor({})), true);
    assert.ok(keys.ok);
    assert.match(keys.doc.privateKey as string, /PRIVATE KEY/);
    const reg = await request(
      client,
      '$aws/provisioning-templates/sensors/provision/cbor',
      Buffer.from(encodeCbor({ certificateOwnershipToken: keys.doc.certificateOwnershipToken, parameters: { SerialNumber: 'E1' } })),
      true,
    );
    assert.equal(reg.doc.thingName, 'sensor-E1');
    const bad = await request(client, '$aws/certificates/create-from-csr/cbor', Buffer.from([0xff, 0x00]), true);
    assert.equal(bad.ok, false);
    assert.equal(bad.doc.statusCode, 400);
    assert.deepEqual(
      seen.filter((t) => t.endsWith('/accepted')),
      [],
      'answers go to the requester alone',
    );
  } finally {
    await client.endAsync();
    await spy.endAsync();
  }
});

test('a certificate made over MQTT and never provisioned is deleted once its token expired; so is an expired claim certificate', async () => {
  const c = await claim();
  const client = await connect(c.cert, c.key, c.thingName);
  let id: string;
  try {
    const keys = await request(client, '$aws/certificates/create/json', '');
    id = keys.doc.certificateId as string;
  } finally {
    await client.endAsync();
  }
  const fleet = server.platform.use('provisioning').fleet;
  assert.equal(await fleet.sweep(Date.now()), 0, 'nothing expired yet');
  assert.ok((await fleet.sweep(Date.now() + 61 * 60_000)) >= 2);
  assert.equal((await awsError(iot.send(new DescribeCertificateCommand({ certificateId: id })))).name, 'ResourceNotFoundException');
  assert.equal(
    (await awsError(iot.send(new DescribeCertificateCommand({ certificateId: c.certificateId })))).name,
    'ResourceNotFoundException',
  );
});

test('a claim certificate in the wrong hands is bounded: ten certificate requests per client per minute, and a cap on certificates not yet provisioned', async () => {
  const c = await claim();
  const keys = await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = (
    await x509.Pkcs10CertificateRequestGenerator.create({ name: 'CN=x', keys, signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' } })
  ).toString('pem');
  const topic = '$aws/certificates/create-from-csr/json';
  const client = await connect(c.cert, c.key, `${c.thingName}-a`);
  try {
    const answers: Array<{ ok: boolean; doc: Record<string, unknown> }> = [];
    for (let i = 0; i < 11; i++) answers.push(await request(client, topic, JSON.stringify({ certificateSigningRequest: csr })));
    assert.equal(answers.filter((a) => a.ok).length, 10);
    assert.deepEqual(answers[10]!.doc, {
      statusCode: 429,
      errorCode: 'ThrottlingException',
      errorMessage: 'At most 10 certificate requests per client per minute',
    });
  } finally {
    await client.endAsync();
  }
  const fleet = server.platform.use('provisioning').fleet;
  const other = await connect(c.cert, c.key, `${c.thingName}-b`);
  try {
    fleet.maxOutstanding = 1;
    const capped = await request(other, topic, JSON.stringify({ certificateSigningRequest: csr }));
    assert.equal(capped.doc.errorCode, 'ThrottlingException');
    assert.match(capped.doc.errorMessage as string, /1 certificates made for provisioning and not yet provisioned/);
  } finally {
    fleet.maxOutstanding = 10_000;
    await other.endAsync();
  }
});

test('template runs at once that create the same policy: one creates it, every run uses it', async () => {
  const provisioner = server.platform.use('provisioning').provisioner;
  const ns = { accountId: '123456789012', region: 'us-east-1' };
  const policyDocument = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: 'arn:aws:iot:*:*:client/same' }],
  });
  const runs = [1, 2, 3, 4, 5].map((i) =>
    provisioner.provision(ns, {
      thing: {
        thingName: `same-policy-${i}`,
        attributes: undefined,
        thingTypeName: undefined,
        thingGroups: undefined,
        billingGroup: undefined,
        overrides: {},
      },
      certificate: undefined,
      policies: [{ policyDocument }],
      deviceConfiguration: {},
    }),
  );
  const results = await Promise.allSettled(runs);
  assert.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value.thingName : String(r.reason))),
    ['same-policy-1', 'same-policy-2', 'same-policy-3', 'same-policy-4', 'same-policy-5'],
  );
});

test('a run that fails after the certificate was activated hands it back: the token works again', async () => {
  const { CreateThingTypeCommand, DeprecateThingTypeCommand } = await import('@aws-sdk/client-iot');
  await iot.send(new CreateThingTypeCommand({ thingTypeName: 'old-model' }));
  await iot.send(new DeprecateThingTypeCommand({ thingTypeName: 'old-model' }));
  await iot.send(new CreateThingTypeCommand({ thingTypeName: 'new-model' }));
  const body = JSON.parse(BODY) as { Parameters: Record<string, unknown>; Resources: { thing: { Properties: Record<string, unknown> } } };
  body.Parameters.Model = { Type: 'String' };
  body.Resources.thing.Properties.ThingTypeName = { Ref: 'Model' };
  await iot.send(
    new CreateProvisioningTemplateCommand({
      templateName: 'typed',
      templateBody: JSON.stringify(body),
      provisioningRoleArn: ROLE,
      enabled: true,
    }),
  );
  const c = await claim('typed');
  const client = await connect(c.cert, c.key, `${c.thingName}-typed`);
  try {
    const keys = await request(client, '$aws/certificates/create/json', '');
    const token = keys.doc.certificateOwnershipToken as string;
    const topic = '$aws/provisioning-templates/typed/provision/json';
    const deprecated = await request(
      client,
      topic,
      JSON.stringify({ certificateOwnershipToken: token, parameters: { SerialNumber: 'T1', Model: 'old-model' } }),
    );
    assert.equal(deprecated.ok, false);
    assert.match(deprecated.doc.errorMessage as string, /deprecated/);
    const pending = await iot.send(new DescribeCertificateCommand({ certificateId: keys.doc.certificateId as string }));
    assert.equal(pending.certificateDescription?.status, 'PENDING_ACTIVATION');
    const ok = await request(
      client,
      topic,
      JSON.stringify({ certificateOwnershipToken: token, parameters: { SerialNumber: 'T1', Model: 'new-model' } }),
    );
    assert.equal(ok.doc.thingName, 'sensor-T1');
  } finally {
    await client.endAsync();
  }
});
