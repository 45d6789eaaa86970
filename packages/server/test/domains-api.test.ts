/** Domain configurations and the server-certificate store over the control-plane API (@aws-sdk/client-iot, the aws CLI). */
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import {
  CreateAuthorizerCommand,
  CreateDomainConfigurationCommand,
  DeleteAuthorizerCommand,
  DeleteDomainConfigurationCommand,
  DescribeDomainConfigurationCommand,
  IoTClient,
  ListDomainConfigurationsCommand,
  ListTagsForResourceCommand,
  UpdateAuthorizerCommand,
  UpdateDomainConfigurationCommand,
} from '@aws-sdk/client-iot';
import { rmSync } from 'node:fs';
import tls from 'node:tls';
import { adminRequest, resolveConfig, startServer, type AccessKey } from '@thicket/server';
import { createAccount, startTestServer, tempDir, type TestServer } from './helpers.js';
import { api, failure, importServerCert, makeCa, makeServerCert } from './domains-helpers.js';

const run = promisify(execFile);
const ACCOUNT = '123456789012';
const OTHER = '210987654321';
let server: TestServer;
let iot: IoTClient;
let otherIot: IoTClient;
let other: AccessKey;

before(async () => {
  server = await startTestServer({ testMode: true, hostnames: ['broker.example.net'] });
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  other = await createAccount(server, OTHER);
  otherIot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: other });
});
after(async () => {
  iot.destroy();
  otherIot.destroy();
  await server.close();
});
beforeEach(() => server.platform.reset());

const certs = (credentials: AccessKey = server.adminKey) =>
  adminRequest<{ certificates: Array<Record<string, unknown>> }>({
    ...api(server, credentials),
    method: 'GET',
    path: '/_thicket/server-certificates',
  });

test('an imported server certificate gets an ACM-shaped ARN; its key is never returned', async () => {
  const pem = makeServerCert({ dnsNames: ['iot.example.com'] });
  const arn = await importServerCert(server, pem);
  assert.match(arn, /^arn:aws:acm:us-east-1:123456789012:certificate\/[0-9a-f-]{36}$/);
  const id = arn.split('/')[1]!;
  const described = await adminRequest<{ certificate: Record<string, unknown> }>({
    ...api(server),
    method: 'GET',
    path: `/_thicket/server-certificates/${id}`,
  });
  const text = JSON.stringify(described);
  assert.ok(!text.includes('PRIVATE KEY'), 'no key in DescribeServerCertificate');
  assert.equal(described.certificate.certificateArn, arn);
  assert.deepEqual(described.certificate.subjectAlternativeNames, ['iot.example.com']);
  assert.equal(described.certificate.origin, 'IMPORTED');
  assert.equal(
    new X509Certificate(described.certificate.certificatePem as string).fingerprint256,
    new X509Certificate(pem.cert).fingerprint256,
  );
  const list = await certs();
  assert.equal(list.certificates.length, 1);
  assert.ok(!JSON.stringify(list).includes('PRIVATE KEY'));
  // Another account does not see it.
  assert.equal((await certs(other)).certificates.length, 0);
});

test('importing refuses a key of another certificate, a CA certificate, no serverAuth, garbage, a broken chain', async () => {
  const ca = makeCa();
  const a = makeServerCert({ dnsNames: ['a.example.com'], ca });
  const b = makeServerCert({ dnsNames: ['b.example.com'], ca });
  const cases: Array<[{ cert: string; key: string; chain?: string }, RegExp]> = [
    [{ cert: a.cert, key: b.key }, /CertificateValidationException: The private key does not belong to the certificate/],
    [ca, /CertificateValidationException: The certificate is a CA certificate/],
    [makeServerCert({ dnsNames: ['c.example.com'], eku: null }), /CertificateValidationException: .*extended key usage serverAuth/],
    [makeServerCert({ dnsNames: ['d.example.com'], eku: 'clientAuth' }), /CertificateValidationException: .*extended key usage serverAuth/],
    [{ cert: 'not a certificate', key: a.key }, /CertificateValidationException: certificate is not a PEM-encoded X.509 certificate/],
    [
      { cert: a.cert, key: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' },
      /CertificateValidationException: privateKey is not a readable private key/,
    ],
    [
      { ...a, chain: makeCa('Unrelated CA').cert },
      /CertificateValidationException: certificateChain\[0\] did not issue the certificate before it/,
    ],
  ];
  for (const [pem, expected] of cases) {
    const f = await failure(importServerCert(server, pem));
    assert.match(f.message, expected);
    assert.ok(!f.message.includes('PRIVATE KEY'), 'no key material in the error');
  }
  // The right chain is accepted.
  assert.match(await importServerCert(server, { ...a, chain: ca.cert }), /^arn:aws:acm:/);
  assert.equal((await certs()).certificates.length, 1);
});

test('CreateDomainConfiguration with an imported certificate; Describe answers with every AWS field', async () => {
  const arn = await importServerCert(server, makeServerCert({ dnsNames: ['*.devices.example.com'] }));
  const t0 = Date.now();
  const created = await iot.send(
    new CreateDomainConfigurationCommand({
      domainConfigurationName: 'fleet-a',
      domainName: 'Fleet.Devices.Example.com.',
      serverCertificateArns: [arn],
      tags: [{ Key: 'team', Value: 'a' }],
    }),
  );
  assert.equal(created.domainConfigurationName, 'fleet-a');
  assert.match(created.domainConfigurationArn!, new RegExp(`^arn:aws:iot:us-east-1:${ACCOUNT}:domainconfiguration/fleet-a/[a-z0-9]{5}$`));
  const d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'fleet-a' }));
  const { $metadata: _m, lastStatusChangeDate, ...fields } = d;
  assert.deepEqual(fields, {
    domainConfigurationName: 'fleet-a',
    domainConfigurationArn: created.domainConfigurationArn,
    domainName: 'fleet.devices.example.com',
    serverCertificates: [{ serverCertificateArn: arn, serverCertificateStatus: 'VALID' }],
    domainConfigurationStatus: 'ENABLED',
    serviceType: 'DATA',
    domainType: 'CUSTOMER_MANAGED',
    tlsConfig: { securityPolicy: 'IoTSecurityPolicy_TLS13_1_2_2022_10' },
    authenticationType: 'DEFAULT',
    applicationProtocol: 'DEFAULT',
  });
  assert.ok(lastStatusChangeDate instanceof Date && Math.abs(lastStatusChangeDate.getTime() - t0) < 5000);
  const tags = await iot.send(new ListTagsForResourceCommand({ resourceArn: created.domainConfigurationArn }));
  assert.deepEqual(tags.tags, [{ Key: 'team', Value: 'a' }]);
});

test('without a certificate the server CA issues one for the domain; without a domain name one is generated (AWS_MANAGED)', async () => {
  await iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'issued', domainName: 'mqtt.example.org' }));
  const d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'issued' }));
  assert.equal(d.domainType, 'CUSTOMER_MANAGED');
  assert.equal(d.serverCertificates?.length, 1);
  assert.equal(d.serverCertificates![0]!.serverCertificateStatus, 'VALID');
  const id = d.serverCertificates![0]!.serverCertificateArn!.split('/')[1]!;
  const c = await adminRequest<{ certificate: { certificatePem: string; origin: string; inUseBy: string[] } }>({
    ...api(server),
    method: 'GET',
    path: `/_thicket/server-certificates/${id}`,
  });
  assert.equal(c.certificate.origin, 'ISSUED');
  assert.deepEqual(c.certificate.inUseBy, ['issued']);
  const x = new X509Certificate(c.certificate.certificatePem);
  assert.equal(x.subjectAltName, 'DNS:mqtt.example.org');
  assert.ok(x.verify(new X509Certificate(server.pki.caCertPem).publicKey), 'signed by the server CA');

  await iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'managed', serviceType: 'DATA' }));
  const m = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'managed' }));
  assert.equal(m.domainType, 'AWS_MANAGED');
  assert.match(m.domainName!, /^[a-z0-9]{14}-ats\.iot\.us-east-1\.broker\.example\.net$/);
  assert.deepEqual(m.serverCertificates, []);

  // Deleting (once DISABLED) removes the issued certificate with it.
  await iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'issued', domainConfigurationStatus: 'DISABLED' }));
  await iot.send(new DeleteDomainConfigurationCommand({ domainConfigurationName: 'issued' }));
  const left = (await certs()).certificates.map((r) => r.inUseBy);
  assert.deepEqual(left, [['managed']]);
});

test('hostile input: wildcards, over-long and malformed names, the server host, a certificate not covering the name, other accounts', async () => {
  const arn = await importServerCert(server, makeServerCert({ dnsNames: ['one.example.com'] }));
  const create = (input: Record<string, unknown>, client = iot) =>
    failure(client.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'x', ...input })));
  const expect = async (input: Record<string, unknown>, name: string, message: string | RegExp, client = iot) => {
    const f = await create(input, client);
    assert.equal(f.name, name, JSON.stringify(input).slice(0, 80));
    if (typeof message === 'string') assert.equal(f.message, message);
    else assert.match(f.message, message);
  };
  await expect(
    { domainName: '*.example.com' },
    'InvalidRequestException',
    'The domain name *.example.com contains a wildcard; a domain configuration serves one host name (its certificate may be a wildcard one)',
  );
  await expect(
    { domainName: `${'a'.repeat(250)}.com` },
    'InvalidRequestException',
    /failed to satisfy constraint: Member must have length less than or equal to 253/,
  );
  await expect({ domainName: `${'a'.repeat(64)}.example.com` }, 'InvalidRequestException', /is not a fully qualified host name/);
  await expect({ domainName: 'bad_host.example.com' }, 'InvalidRequestException', /is not a fully qualified host name/);
  await expect(
    { domainName: '127.0.0.1' },
    'InvalidRequestException',
    'The domain name 127.0.0.1 is an IP address; TLS clients send only host names as SNI',
  );
  await expect({ domainName: 'LOCALHOST' }, 'InvalidRequestException', /is not a fully qualified host name/);
  await expect(
    { domainName: 'two.example.com', serverCertificateArns: [arn] },
    'InvalidRequestException',
    `The server certificate ${arn} does not cover the domain name two.example.com (its subjectAltName names: one.example.com)`,
  );
  await expect(
    { domainName: 'one.example.com', serverCertificateArns: [arn, arn] },
    'InvalidRequestException',
    /Member must have length less than or equal to 1/,
  );
  await expect(
    { domainName: 'one.example.com', serverCertificateArns: ['arn:aws:acm:us-east-1:123456789012:certificate/%2e%2e'] },
    'InvalidRequestException',
    /regular expression pattern/,
  );
  await expect(
    { serverCertificateArns: [arn] },
    'InvalidRequestException',
    'serverCertificateArns needs a domainName: the certificate is presented for that host name',
  );
  await expect(
    { domainName: 'one.example.com', serviceType: 'FTP' },
    'InvalidRequestException',
    /enum value set: \[DATA, CREDENTIAL_PROVIDER, JOBS\]/,
  );
  await expect(
    { domainName: 'one.example.com', authorizerConfig: { defaultAuthorizerName: 'nobody' } },
    'InvalidRequestException',
    'Authorizer nobody does not exist',
  );
  // Another account cannot present this account's certificate (nor learn more than that it is not its own).
  await expect(
    { domainName: 'one.example.com', serverCertificateArns: [arn] },
    'CertificateValidationException',
    `The server certificate ${arn} does not exist in account ${OTHER} and region us-east-1`,
    otherIot,
  );
  const bad = await failure(
    iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'no spaces!', domainName: 'one.example.com' })),
  );
  assert.deepEqual(bad, {
    name: 'InvalidRequestException',
    message:
      "1 validation error detected: Value 'no spaces!' at 'domainConfigurationName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w.:-]+",
  });
  // Names with `:` are AWS's reserved default-endpoint names (iot:Data-ATS): never created.
  const reserved = await failure(
    iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'iot:Data-ATS', domainName: 'one.example.com' })),
  );
  assert.deepEqual(reserved, {
    name: 'InvalidRequestException',
    message:
      "1 validation error detected: Value 'iot:Data-ATS' at 'domainConfigurationName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w.-]+",
  });
  const long = await failure(iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'n'.repeat(129) })));
  assert.equal(long.name, 'InvalidRequestException');

  // Escapes in the path label never reach a handler as a name.
  for (const path of ['/domainConfigurations/a%2F..%2Fb', '/domainConfigurations/a%00b', '/domainConfigurations/%0d%0a']) {
    const f = await failure(adminRequest({ ...api(server), method: 'GET', path }));
    assert.match(f.message, /^InvalidRequestException: 1 validation error detected: Value '[\s\S]*' at 'domainConfigurationName'/, path);
  }
  // A host name is unique across accounts; names are unique per account.
  await iot.send(
    new CreateDomainConfigurationCommand({ domainConfigurationName: 'one', domainName: 'one.example.com', serverCertificateArns: [arn] }),
  );
  await expect(
    { domainName: 'ONE.example.com' },
    'ResourceAlreadyExistsException',
    'The domain name one.example.com is already used by a domain configuration',
  );
  await expect(
    { domainName: 'one.example.com' },
    'ResourceAlreadyExistsException',
    'The domain name one.example.com is already used by a domain configuration',
    otherIot,
  );
  const dup = await failure(
    iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'one', domainName: 'uno.example.com' })),
  );
  assert.deepEqual(dup, { name: 'ResourceAlreadyExistsException', message: 'Domain configuration one already exists' });
  // The other account may use the same configuration name for another host.
  await otherIot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'one', domainName: 'eins.example.com' }));
  assert.equal(
    (await otherIot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'one' }))).domainName,
    'eins.example.com',
  );
  const missing = await failure(otherIot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'x' })));
  assert.deepEqual(missing, { name: 'ResourceNotFoundException', message: 'Domain configuration x does not exist' });
});

test("the server's own host names (its default certificate's) cannot be taken by a configuration", async () => {
  const f = await failure(
    iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'own', domainName: 'Broker.Example.NET' })),
  );
  assert.deepEqual(f, {
    name: 'InvalidRequestException',
    message: "The domain name broker.example.net is one of the server's own host names; it is served with the default certificate",
  });
});

test('at most 10 domain configurations per account and region (LimitExceededException)', async () => {
  for (let i = 0; i < 10; i++) {
    await iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: `d${i}`, domainName: `d${i}.example.net` }));
  }
  const f = await failure(
    iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'd10', domainName: 'd10.example.net' })),
  );
  assert.deepEqual(f, {
    name: 'LimitExceededException',
    message: `You have reached the maximum number of domain configurations (10) in us-east-1 for account ${ACCOUNT}`,
  });
  // Paging with marker/pageSize, and the serviceType filter.
  const first = await iot.send(new ListDomainConfigurationsCommand({ pageSize: 4 }));
  assert.deepEqual(
    first.domainConfigurations!.map((d) => d.domainConfigurationName),
    ['d0', 'd1', 'd2', 'd3'],
  );
  assert.equal(first.domainConfigurations![0]!.serviceType, 'DATA');
  assert.match(first.domainConfigurations![0]!.domainConfigurationArn!, /:domainconfiguration\/d0\/[a-z0-9]{5}$/);
  const second = await iot.send(new ListDomainConfigurationsCommand({ pageSize: 4, marker: first.nextMarker }));
  assert.deepEqual(
    second.domainConfigurations!.map((d) => d.domainConfigurationName),
    ['d4', 'd5', 'd6', 'd7'],
  );
  const third = await iot.send(new ListDomainConfigurationsCommand({ pageSize: 4, marker: second.nextMarker }));
  assert.deepEqual(
    third.domainConfigurations!.map((d) => d.domainConfigurationName),
    ['d8', 'd9'],
  );
  assert.equal(third.nextMarker, undefined);
  assert.deepEqual((await iot.send(new ListDomainConfigurationsCommand({ serviceType: 'JOBS' }))).domainConfigurations, []);
  assert.deepEqual((await otherIot.send(new ListDomainConfigurationsCommand({}))).domainConfigurations, []);
  const badPage = await failure(iot.send(new ListDomainConfigurationsCommand({ pageSize: 251 })));
  assert.equal(badPage.name, 'InvalidRequestException');
});

test('Update: status, authorizer config and its removal; Delete only when DISABLED; an authorizer in use cannot be deleted', async () => {
  await iot.send(
    new CreateAuthorizerCommand({
      authorizerName: 'gate',
      authorizerFunctionArn: 'http://127.0.0.1:9/none',
      signingDisabled: true,
      status: 'ACTIVE',
    }),
  );
  await iot.send(
    new CreateDomainConfigurationCommand({
      domainConfigurationName: 'u',
      domainName: 'u.example.com',
      authorizerConfig: { defaultAuthorizerName: 'gate' },
    }),
  );
  let d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'u' }));
  assert.deepEqual(d.authorizerConfig, { defaultAuthorizerName: 'gate', allowAuthorizerOverride: false });
  const before = d.lastStatusChangeDate!.getTime();

  await iot.send(new UpdateAuthorizerCommand({ authorizerName: 'gate', status: 'INACTIVE' }));
  const inUse = await failure(iot.send(new DeleteAuthorizerCommand({ authorizerName: 'gate' })));
  assert.deepEqual(inUse, {
    name: 'DeleteConflictException',
    message: 'Authorizer gate is the default authorizer of domain configuration u; change or remove their authorizerConfig first',
  });

  const enabled = await failure(iot.send(new DeleteDomainConfigurationCommand({ domainConfigurationName: 'u' })));
  assert.deepEqual(enabled, {
    name: 'InvalidRequestException',
    message: 'Domain configuration u is ENABLED; set its status to DISABLED before deleting it',
  });

  const both = await failure(
    iot.send(
      new UpdateDomainConfigurationCommand({
        domainConfigurationName: 'u',
        authorizerConfig: { allowAuthorizerOverride: true },
        removeAuthorizerConfig: true,
      }),
    ),
  );
  assert.deepEqual(both, {
    name: 'InvalidRequestException',
    message: 'authorizerConfig and removeAuthorizerConfig cannot be given together',
  });

  await new Promise((r) => setTimeout(r, 20));
  const u = await iot.send(
    new UpdateDomainConfigurationCommand({
      domainConfigurationName: 'u',
      domainConfigurationStatus: 'DISABLED',
      authorizerConfig: { allowAuthorizerOverride: true },
      tlsConfig: { securityPolicy: 'IoTSecurityPolicy_TLS13_1_3_2022_10' },
      serverCertificateConfig: { enableOCSPCheck: false },
    }),
  );
  assert.equal(u.domainConfigurationName, 'u');
  d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'u' }));
  assert.equal(d.domainConfigurationStatus, 'DISABLED');
  assert.ok(d.lastStatusChangeDate!.getTime() > before);
  assert.deepEqual(d.authorizerConfig, { defaultAuthorizerName: 'gate', allowAuthorizerOverride: true });
  assert.deepEqual(d.tlsConfig, { securityPolicy: 'IoTSecurityPolicy_TLS13_1_3_2022_10' });
  assert.deepEqual(d.serverCertificateConfig, { enableOCSPCheck: false });

  await iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'u', removeAuthorizerConfig: true }));
  d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'u' }));
  assert.equal(d.authorizerConfig, undefined);
  await iot.send(new DeleteAuthorizerCommand({ authorizerName: 'gate' }));

  const status = await failure(
    iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'u', domainConfigurationStatus: 'OFF' as 'ENABLED' })),
  );
  assert.equal(status.name, 'InvalidRequestException');
  const nope = await failure(
    iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'nope', domainConfigurationStatus: 'ENABLED' })),
  );
  assert.deepEqual(nope, { name: 'ResourceNotFoundException', message: 'Domain configuration nope does not exist' });

  await iot.send(new DeleteDomainConfigurationCommand({ domainConfigurationName: 'u' }));
  const gone = await failure(iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'u' })));
  assert.equal(gone.name, 'ResourceNotFoundException');
  const again = await failure(iot.send(new DeleteDomainConfigurationCommand({ domainConfigurationName: 'u' })));
  assert.equal(again.name, 'ResourceNotFoundException');
});

test('an imported certificate in use cannot be deleted; once free it can', async () => {
  const arn = await importServerCert(server, makeServerCert({ dnsNames: ['inuse.example.com'] }));
  const id = arn.split('/')[1]!;
  await iot.send(
    new CreateDomainConfigurationCommand({ domainConfigurationName: 'c', domainName: 'inuse.example.com', serverCertificateArns: [arn] }),
  );
  const del = () => adminRequest({ ...api(server), method: 'DELETE', path: `/_thicket/server-certificates/${id}` });
  assert.equal((await failure(del())).message, `DeleteConflictException: Server certificate ${id} is used by domain configuration c`);
  await iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'c', domainConfigurationStatus: 'DISABLED' }));
  await iot.send(new DeleteDomainConfigurationCommand({ domainConfigurationName: 'c' }));
  // The imported certificate outlives the configuration (as in ACM) until deleted.
  assert.equal((await certs()).certificates.length, 1);
  await del();
  assert.equal((await certs()).certificates.length, 0);
  assert.match((await failure(del())).message, /^ResourceNotFoundException: /);
});

test('the aws CLI creates, describes, lists, updates and deletes domain configurations', async () => {
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null' };
  const aws = async (...args: string[]): Promise<Record<string, unknown>> => {
    const { stdout } = await run(
      'aws',
      ['iot', ...args, '--endpoint-url', `http://127.0.0.1:${server.ports.http}`, '--region', 'us-east-1', '--output', 'json'],
      {
        env,
      },
    );
    return stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : {};
  };
  const c = await aws(
    'create-domain-configuration',
    '--domain-configuration-name',
    'cli-dom',
    '--domain-name',
    'cli.example.com',
    '--service-type',
    'DATA',
  );
  assert.equal(c.domainConfigurationName, 'cli-dom');
  const d = await aws('describe-domain-configuration', '--domain-configuration-name', 'cli-dom');
  assert.equal(d.domainName, 'cli.example.com');
  assert.equal(d.domainConfigurationStatus, 'ENABLED');
  assert.ok(d.lastStatusChangeDate !== undefined);
  const l = await aws('list-domain-configurations');
  assert.deepEqual(l.domainConfigurations, [
    { domainConfigurationName: 'cli-dom', domainConfigurationArn: c.domainConfigurationArn, serviceType: 'DATA' },
  ]);
  const refused = await run(
    'aws',
    [
      'iot',
      'delete-domain-configuration',
      '--domain-configuration-name',
      'cli-dom',
      '--endpoint-url',
      `http://127.0.0.1:${server.ports.http}`,
      '--region',
      'us-east-1',
    ],
    { env },
  ).then(
    () => '',
    (e: { stderr: string }) => e.stderr,
  );
  assert.match(refused, /InvalidRequestException.*Domain configuration cli-dom is ENABLED; set its status to DISABLED before deleting it/);
  await aws('update-domain-configuration', '--domain-configuration-name', 'cli-dom', '--domain-configuration-status', 'DISABLED');
  assert.equal(
    (await aws('describe-domain-configuration', '--domain-configuration-name', 'cli-dom')).domainConfigurationStatus,
    'DISABLED',
  );
  await aws('delete-domain-configuration', '--domain-configuration-name', 'cli-dom');
  assert.deepEqual((await aws('list-domain-configurations')).domainConfigurations, []);
});

test('domain configurations and their certificates survive a restart of the server', async () => {
  const dataDir = tempDir();
  const config = resolveConfig({
    host: '127.0.0.1',
    mqttPort: null,
    mqttsPort: 0,
    httpPort: 0,
    httpsPort: null,
    dataDir,
    logLevel: 'silent',
  });
  const presented = (port: number): Promise<string | undefined> =>
    new Promise((resolve, reject) => {
      const sock = tls.connect({ host: '127.0.0.1', port, servername: 'kept.example.com', rejectUnauthorized: false }, () => {
        resolve(new X509Certificate(sock.getPeerCertificate().raw).subjectAltName);
        sock.destroy();
      });
      sock.on('error', reject);
    });
  let s = await startServer(config);
  try {
    const client = new IoTClient({ endpoint: `http://127.0.0.1:${s.ports.http}`, region: 'us-east-1', credentials: s.adminKey });
    await client.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'kept', domainName: 'kept.example.com' }));
    client.destroy();
    assert.equal(await presented(s.ports.mqtts!), 'DNS:kept.example.com');
    await s.stop();
    s = await startServer(config);
    assert.equal(await presented(s.ports.mqtts!), 'DNS:kept.example.com');
  } finally {
    await s.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
