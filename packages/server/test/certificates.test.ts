/** Certificates, CA certificates and thing principals through @aws-sdk/client-iot, with the AWS rules and errors. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { rmSync } from 'node:fs';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import mqtt from 'mqtt';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreateThingCommand,
  DeleteCACertificateCommand,
  DeleteCertificateCommand,
  DeleteThingCommand,
  DescribeCACertificateCommand,
  DescribeCertificateCommand,
  DetachThingPrincipalCommand,
  GetRegistrationCodeCommand,
  IoTClient,
  ListCACertificatesCommand,
  ListCertificatesByCACommand,
  ListCertificatesCommand,
  ListPrincipalThingsCommand,
  ListPrincipalThingsV2Command,
  ListThingPrincipalsCommand,
  ListThingPrincipalsV2Command,
  RegisterCACertificateCommand,
  RegisterCertificateCommand,
  RegisterCertificateWithoutCACommand,
  UpdateCACertificateCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { ensurePki, issueClientCertificate, type Pki } from '@thicket/server';
import { ALLOW_ALL, awsError, startTestServer, tempDir, type TestServer } from './helpers.js';

x509.cryptoProvider.set(globalThis.crypto);

let server: TestServer;
let iot: IoTClient;
let foreignDir: string;
let foreign: Pki;

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  foreignDir = tempDir();
  foreign = await ensurePki(foreignDir, { hostnames: ['localhost'] });
  await iot.send(new CreatePolicyCommand({ policyName: 'all', policyDocument: ALLOW_ALL }));
});
after(async () => {
  iot.destroy();
  await server.close();
  rmSync(foreignDir, { recursive: true, force: true });
});

async function connects(cert: string, key: string, clientId: string): Promise<boolean> {
  return mqtt
    .connectAsync(`mqtts://localhost:${server.ports.mqtts}`, {
      cert,
      key,
      ca: server.pki.caCertPem,
      clientId,
      protocolVersion: 5,
      reconnectPeriod: 0,
    })
    .then(
      async (c) => {
        await c.endAsync();
        return true;
      },
      () => false,
    );
}

test('CreateKeysAndCertificate: RSA keys, id = SHA-256 of the DER, status from setAsActive; describe, list with markers, update rules', async () => {
  const c = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: false }));
  assert.match(c.keyPair!.PrivateKey!, /^-----BEGIN RSA PRIVATE KEY-----/);
  assert.match(c.keyPair!.PublicKey!, /^-----BEGIN PUBLIC KEY-----/);
  const der = new X509Certificate(c.certificatePem!).raw;
  assert.equal(c.certificateId, createHash('sha256').update(der).digest('hex'));
  assert.equal(c.certificateArn, `arn:aws:iot:us-east-1:123456789012:cert/${c.certificateId}`);
  const d = (await iot.send(new DescribeCertificateCommand({ certificateId: c.certificateId }))).certificateDescription!;
  assert.equal(d.status, 'INACTIVE');
  assert.equal(d.ownedBy, '123456789012');
  assert.ok(d.validity?.notAfter instanceof Date);
  for (let i = 0; i < 4; i++) await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  const ids: string[] = [];
  let marker: string | undefined;
  do {
    const page = await iot.send(new ListCertificatesCommand({ pageSize: 2, marker, ascendingOrder: true }));
    ids.push(...page.certificates!.map((x) => x.certificateId!));
    marker = page.nextMarker;
  } while (marker);
  assert.equal(ids[0], c.certificateId, 'ascending by creation date');
  assert.equal(new Set(ids).size, ids.length);

  await iot.send(new UpdateCertificateCommand({ certificateId: c.certificateId, newStatus: 'ACTIVE' }));
  assert.equal(
    (await awsError(iot.send(new DeleteCertificateCommand({ certificateId: c.certificateId })))).name,
    'CertificateStateException',
  );
  assert.equal((await awsError(iot.send(new DeleteCertificateCommand({ certificateId: c.certificateId })))).status, 406);
  await iot.send(new UpdateCertificateCommand({ certificateId: c.certificateId, newStatus: 'REVOKED' }));
  assert.equal(
    (await awsError(iot.send(new UpdateCertificateCommand({ certificateId: c.certificateId, newStatus: 'ACTIVE' })))).name,
    'CertificateStateException',
  );
  assert.equal(
    (await awsError(iot.send(new UpdateCertificateCommand({ certificateId: c.certificateId, newStatus: 'PENDING_TRANSFER' })))).name,
    'InvalidRequestException',
  );
  await iot.send(new DeleteCertificateCommand({ certificateId: c.certificateId }));
  assert.equal(
    (await awsError(iot.send(new DescribeCertificateCommand({ certificateId: c.certificateId })))).name,
    'ResourceNotFoundException',
  );
});

test('DeleteCertificate: refused while attached to a thing, or with policies unless forceDelete', async () => {
  const c = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: false }));
  await iot.send(new CreateThingCommand({ thingName: 'holder' }));
  await iot.send(new AttachThingPrincipalCommand({ thingName: 'holder', principal: c.certificateArn }));
  await iot.send(new AttachPolicyCommand({ policyName: 'all', target: c.certificateArn }));
  assert.equal(
    (await awsError(iot.send(new DeleteCertificateCommand({ certificateId: c.certificateId })))).name,
    'DeleteConflictException',
  );
  assert.match(
    (await awsError(iot.send(new DeleteThingCommand({ thingName: 'holder' })))).message,
    /still attached to one or more principals/,
  );
  await iot.send(new DetachThingPrincipalCommand({ thingName: 'holder', principal: c.certificateArn }));
  assert.equal(
    (await awsError(iot.send(new DeleteCertificateCommand({ certificateId: c.certificateId })))).message,
    `Certificate policies must be detached before deletion (arn: ${c.certificateArn})`,
  );
  await iot.send(new DeleteCertificateCommand({ certificateId: c.certificateId, forceDelete: true }));
});

test('CreateCertificateFromCsr: the CSR subject and key; a tampered CSR is refused', async () => {
  const keys = await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=csr-device',
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  const r = await iot.send(new CreateCertificateFromCsrCommand({ certificateSigningRequest: csr.toString('pem'), setAsActive: true }));
  const cert = new X509Certificate(r.certificatePem!);
  assert.match(cert.subject, /CN=csr-device/);
  assert.equal(
    (await iot.send(new DescribeCertificateCommand({ certificateId: r.certificateId }))).certificateDescription?.status,
    'ACTIVE',
  );
  // Flip one bit near the end of the DER: inside the signature, so it no longer verifies.
  const der = Buffer.from(csr.rawData);
  der[der.length - 5]! ^= 0x01;
  const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
  assert.equal(
    (await awsError(iot.send(new CreateCertificateFromCsrCommand({ certificateSigningRequest: tampered })))).name,
    'InvalidRequestException',
  );
});

test('a CA of the operator: registration code, proof of possession, device certificates it signed, deactivation cuts them off', async () => {
  const { registrationCode } = await iot.send(new GetRegistrationCodeCommand({}));
  assert.equal((await iot.send(new GetRegistrationCodeCommand({}))).registrationCode, registrationCode, 'stable');
  const wrong = await issueClientCertificate(foreign, { commonName: 'not-the-code' });
  const refused = await awsError(
    iot.send(new RegisterCACertificateCommand({ caCertificate: foreign.caCertPem, verificationCertificate: wrong.certificatePem })),
  );
  assert.equal(refused.name, 'RegistrationCodeValidationException');
  const verification = await issueClientCertificate(foreign, { commonName: registrationCode! });
  const ca = await iot.send(
    new RegisterCACertificateCommand({
      caCertificate: foreign.caCertPem,
      verificationCertificate: verification.certificatePem,
      setAsActive: true,
    }),
  );
  assert.match(ca.certificateArn!, /:cacert\//);
  assert.equal(
    (await iot.send(new DescribeCACertificateCommand({ certificateId: ca.certificateId }))).certificateDescription?.status,
    'ACTIVE',
  );
  assert.equal((await iot.send(new ListCACertificatesCommand({}))).certificates?.length, 1);

  const device = await issueClientCertificate(foreign, { commonName: 'own-ca-device' });
  assert.equal(await connects(device.certificatePem, device.privateKeyPem!, 'own-ca-device'), false, 'not registered yet');
  const reg = await iot.send(
    new RegisterCertificateCommand({ certificatePem: device.certificatePem, caCertificatePem: foreign.caCertPem, status: 'ACTIVE' }),
  );
  await iot.send(new AttachPolicyCommand({ policyName: 'all', target: reg.certificateArn }));
  assert.equal(await connects(device.certificatePem, device.privateKeyPem!, 'own-ca-device'), true);
  const byCa = await iot.send(new ListCertificatesByCACommand({ caCertificateId: ca.certificateId }));
  assert.deepEqual(
    byCa.certificates?.map((c) => c.certificateId),
    [reg.certificateId],
  );
  assert.equal(
    (await awsError(iot.send(new RegisterCertificateCommand({ certificatePem: device.certificatePem, status: 'ACTIVE' })))).name,
    'ResourceAlreadyExistsException',
  );

  await iot.send(new UpdateCACertificateCommand({ certificateId: ca.certificateId, newStatus: 'INACTIVE' }));
  assert.equal(await connects(device.certificatePem, device.privateKeyPem!, 'own-ca-device'), false, 'its CA is INACTIVE');
  assert.equal(
    (await awsError(iot.send(new DeleteCACertificateCommand({ certificateId: 'f'.repeat(64) })))).name,
    'ResourceNotFoundException',
  );
  await iot.send(new DeleteCACertificateCommand({ certificateId: ca.certificateId }));
});

test('RegisterCertificate refuses a certificate from an unregistered CA; RegisterCertificateWithoutCA accepts it by its exact bytes', async () => {
  const stranger = await issueClientCertificate(foreign, { commonName: 'no-ca-device' });
  const e = await awsError(iot.send(new RegisterCertificateCommand({ certificatePem: stranger.certificatePem, status: 'ACTIVE' })));
  assert.equal(e.name, 'CertificateValidationException');
  assert.equal(
    (await awsError(iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: 'not a certificate' })))).name,
    'CertificateValidationException',
  );
  const r = await iot.send(new RegisterCertificateWithoutCACommand({ certificatePem: stranger.certificatePem, status: 'ACTIVE' }));
  await iot.send(new AttachPolicyCommand({ policyName: 'all', target: r.certificateArn }));
  assert.equal(await connects(stranger.certificatePem, stranger.privateKeyPem!, 'no-ca-device'), true);
});

test('thing principals: attach (exclusive or not), list both ways (v1 and v2), conflicts, detach', async () => {
  const a = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  const b = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  for (const t of ['p-one', 'p-two']) await iot.send(new CreateThingCommand({ thingName: t }));
  await iot.send(new AttachThingPrincipalCommand({ thingName: 'p-one', principal: a.certificateArn }));
  await iot.send(new AttachThingPrincipalCommand({ thingName: 'p-two', principal: a.certificateArn }));
  await iot.send(
    new AttachThingPrincipalCommand({ thingName: 'p-one', principal: b.certificateArn, thingPrincipalType: 'EXCLUSIVE_THING' }),
  );
  assert.deepEqual(
    ((await iot.send(new ListThingPrincipalsCommand({ thingName: 'p-one' }))).principals ?? []).sort(),
    [a.certificateArn, b.certificateArn].sort(),
  );
  const v2 = await iot.send(new ListThingPrincipalsV2Command({ thingName: 'p-one', thingPrincipalType: 'EXCLUSIVE_THING' }));
  assert.deepEqual(
    v2.thingPrincipalObjects?.map((o) => o.principal),
    [b.certificateArn],
  );
  assert.deepEqual((await iot.send(new ListPrincipalThingsCommand({ principal: a.certificateArn }))).things, ['p-one', 'p-two']);
  const things2 = await iot.send(new ListPrincipalThingsV2Command({ principal: b.certificateArn }));
  assert.deepEqual(things2.principalThingObjects, [{ thingName: 'p-one', thingPrincipalType: 'EXCLUSIVE_THING' }]);
  assert.match(
    (await awsError(iot.send(new AttachThingPrincipalCommand({ thingName: 'p-two', principal: b.certificateArn })))).message,
    /exclusively/,
  );
  assert.equal(
    (
      await awsError(
        iot.send(
          new AttachThingPrincipalCommand({ thingName: 'p-two', principal: a.certificateArn, thingPrincipalType: 'EXCLUSIVE_THING' }),
        ),
      )
    ).name,
    'InvalidRequestException',
  );
  const missing = `arn:aws:iot:us-east-1:123456789012:cert/${'0'.repeat(64)}`;
  assert.equal(
    (await awsError(iot.send(new AttachThingPrincipalCommand({ thingName: 'p-one', principal: missing })))).name,
    'ResourceNotFoundException',
  );
  await iot.send(new DetachThingPrincipalCommand({ thingName: 'p-two', principal: a.certificateArn }));
  assert.deepEqual((await iot.send(new ListPrincipalThingsCommand({ principal: a.certificateArn }))).things, ['p-one']);
});
