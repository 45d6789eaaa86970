/** The domain store on SQLite and PostgreSQL: configurations and server certificates, what goes with them in one transaction, conditional writes, a database of an earlier version, two nodes on one database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace } from '../src/accounts/namespace.js';
import type { AwsError } from '../src/aws/errors.js';
import { DomainConfigurations, domainConfigurationArn } from '../src/domains/domain-configurations.js';
import { DomainStore, domainMigrations, type DomainRow, type ServerCertificateRow } from '../src/domains/domain-store.js';
import { acmArn, ServerCertificates } from '../src/domains/server-certificates.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { TagStore, tagMigrations } from '../src/tags/tag-store.js';
import { onBothEngines } from './store-engines.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const EU: Namespace = { accountId: '123456789012', region: 'eu-west-1' };
// Past 2^31 ms: epoch milliseconds need 64-bit columns.
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0, 250);

async function open(engine: SqlEngine): Promise<{ store: DomainStore; tags: TagStore }> {
  await migrate(engine, { tags: tagMigrations, domains: domainMigrations });
  return { store: await DomainStore.open(engine), tags: new TagStore(engine) };
}

function cert(id: string, over: Partial<ServerCertificateRow> = {}): ServerCertificateRow {
  return {
    id,
    certificatePem: `-----BEGIN CERTIFICATE-----\n${id}\n-----END CERTIFICATE-----\n`,
    chainPem: '',
    privateKeyPem: `-----BEGIN PRIVATE KEY-----\n${id}\n-----END PRIVATE KEY-----\n`,
    origin: 'ISSUED',
    createdAt: T0,
    ...over,
  };
}

function domain(name: string, over: Partial<DomainRow> = {}, ns = NS): DomainRow {
  return {
    name,
    id: `id${name}`.slice(0, 5),
    domainName: `${name}.example.com`,
    domainType: 'CUSTOMER_MANAGED',
    serviceType: 'DATA',
    status: 'ENABLED',
    authorizerName: null,
    allowAuthorizerOverride: null,
    securityPolicy: 'IoTSecurityPolicy_TLS13_1_2_2022_10',
    serverCertificateArn: acmArn(ns, `cert-${name}`),
    serverCertificateConfig: null,
    authenticationType: 'DEFAULT',
    applicationProtocol: 'DEFAULT',
    clientCertificateConfig: null,
    createdAt: T0,
    lastStatusChange: T0,
    ...over,
  };
}

const names = (rows: DomainRow[]): string[] => rows.map((d) => d.name);

function services(store: DomainStore, tags: TagStore): { configurations: DomainConfigurations; certificates: ServerCertificates } {
  // Neither call below issues or parses a certificate: the PKI is never asked.
  const certificates = new ServerCertificates(store, { caCertPem: '', caKeyPem: '' }, () => {});
  const configurations = new DomainConfigurations({
    store,
    certificates,
    tags,
    authorizerExists: () => true,
    reservedHostnames: () => [],
    managedDomainSuffix: () => 'localhost',
    changed: () => {},
    disabled: () => {},
  });
  return { configurations, certificates };
}

onBothEngines('domain store', (engines) => {
  test('insert with its issued certificate and read back every field; by host name, by service type; count; who uses what', async () => {
    const { store } = await open(await engines.open());
    const full = domain('b', {
      domainType: 'AWS_MANAGED',
      serviceType: 'CREDENTIAL_PROVIDER',
      authorizerName: 'auth',
      allowAuthorizerOverride: false,
      serverCertificateConfig: { enableOCSPCheck: true, nested: { a: [1, 2] } },
      clientCertificateConfig: { clientCertificateCallbackArn: 'arn:x' },
      lastStatusChange: T0 + 7,
    });
    assert.equal(await store.insert(NS, full, cert('cert-b')), true);
    assert.equal(
      await store.insert(NS, domain('a', { authorizerName: 'auth', allowAuthorizerOverride: true }), cert('cert-a', { createdAt: T0 + 1 })),
      true,
    );
    await store.insertCertificate(NS, cert('imported', { origin: 'IMPORTED', chainPem: 'chain', createdAt: T0 - 1 }));
    assert.equal(await store.insert(NS, domain('c', { serverCertificateArn: acmArn(NS, 'imported') }), undefined), true);
    assert.equal(await store.insert(EU, domain('eu', {}, EU), undefined), true);
    await store.reload();

    assert.deepEqual(store.domain(NS, 'b'), full);
    assert.deepEqual(store.byDomainName('b.example.com'), { ns: NS, row: full });
    assert.deepEqual(store.byDomainName('eu.example.com')?.ns, EU);
    assert.equal(store.byDomainName('none.example.com'), undefined);
    assert.deepEqual(names(store.domains(NS)), ['a', 'b', 'c']);
    assert.deepEqual(names(store.domains(NS, 'CREDENTIAL_PROVIDER')), ['b']);
    assert.equal(await store.count(NS), 3);
    assert.deepEqual(store.usingAuthorizer(NS, 'auth'), ['a', 'b']);
    assert.deepEqual(store.usingAuthorizer(EU, 'auth'), []);
    assert.deepEqual(store.usingCertificate(NS, acmArn(NS, 'imported')), ['c']);
    assert.deepEqual(store.certificate(NS, 'imported'), cert('imported', { origin: 'IMPORTED', chainPem: 'chain', createdAt: T0 - 1 }));
    assert.deepEqual(
      store.certificates(NS).map((c) => c.id),
      ['imported', 'cert-b', 'cert-a'],
    );
    assert.equal(store.certificate(EU, 'imported'), undefined);
  });

  test('a taken name, or a host name taken in any namespace, stores neither the configuration, its certificate nor its tags', async () => {
    const { store, tags } = await open(await engines.open());
    await store.insert(NS, domain('a'), cert('cert-a'));
    const clash = domain('a', { domainName: 'other.example.com', id: 'zzzzz' });
    const arn = domainConfigurationArn(NS, clash);
    assert.equal(await store.insert(NS, clash, cert('cert-x'), tags.putting(arn, [{ Key: 'k', Value: 'v' }])), false);
    const sameHost = domain('b', { domainName: 'a.example.com' }, EU);
    assert.equal(
      await store.insert(EU, sameHost, cert('cert-y'), tags.putting(domainConfigurationArn(EU, sameHost), [{ Key: 'k' }])),
      false,
    );
    assert.equal(store.certificate(NS, 'cert-x'), undefined);
    assert.equal(store.certificate(EU, 'cert-y'), undefined);
    assert.deepEqual(await tags.list(arn), []);
    assert.deepEqual(await tags.list(domainConfigurationArn(EU, sameHost)), []);
    assert.equal(store.domain(EU, 'b'), undefined);
    await store.reload();
    assert.deepEqual(
      store.certificates(NS).map((c) => c.id),
      ['cert-a'],
    );
    assert.deepEqual(store.certificates(EU), []);
  });

  test('an update applies only to the row it read; delete takes the issued certificate and the tags along, only while the row is unchanged', async () => {
    const { store, tags } = await open(await engines.open());
    let changes = 0;
    store.onChange(() => changes++);
    const d = domain('a', { status: 'DISABLED' });
    const arn = domainConfigurationArn(NS, d);
    await store.insert(NS, d, cert('cert-a'), tags.putting(arn, [{ Key: 'k', Value: 'v' }]));
    const next = { ...d, securityPolicy: 'other', clientCertificateConfig: { x: 1 } };
    assert.equal(await store.update(NS, d, next), true);
    assert.equal(changes, 0, 'its own writes are not news to the store');
    assert.equal(await store.update(NS, d, { ...d, status: 'ENABLED' }), false);
    assert.ok(changes > 0, 'a write that met another writer tells');
    assert.deepEqual(store.domain(NS, 'a'), next);
    assert.deepEqual(store.byDomainName('a.example.com')?.row, next);

    assert.equal(await store.delete(NS, d, 'cert-a', tags.removing(arn)), false);
    assert.deepEqual(store.domain(NS, 'a'), next);
    assert.ok(store.certificate(NS, 'cert-a'));
    assert.deepEqual(await tags.list(arn), [{ Key: 'k', Value: 'v' }]);

    assert.equal(await store.delete(NS, next, 'cert-a', tags.removing(arn)), true);
    assert.equal(store.domain(NS, 'a'), undefined);
    assert.equal(store.byDomainName('a.example.com'), undefined);
    assert.equal(store.certificate(NS, 'cert-a'), undefined);
    assert.deepEqual(await tags.list(arn), []);
    await store.reload();
    assert.equal(store.certificate(NS, 'cert-a'), undefined);
    assert.equal(await store.delete(NS, next, 'cert-a'), false, 'gone already');
  });

  test('a certificate is deleted only while no configuration of its namespace presents it; an imported one outlives its configuration', async () => {
    const { store } = await open(await engines.open());
    await store.insertCertificate(NS, cert('imp', { origin: 'IMPORTED' }));
    const d = domain('a', { status: 'DISABLED', serverCertificateArn: acmArn(NS, 'imp') });
    await store.insert(NS, d, undefined);
    assert.equal(await store.deleteCertificate(NS, 'imp', acmArn(NS, 'imp')), false);
    assert.ok(store.certificate(NS, 'imp'));
    // Only an ISSUED certificate goes with its configuration.
    assert.equal(await store.delete(NS, d, 'imp'), true);
    assert.ok(store.certificate(NS, 'imp'));
    await store.reload();
    assert.ok(store.certificate(NS, 'imp'));
    assert.equal(await store.deleteCertificate(NS, 'imp', acmArn(NS, 'imp')), true);
    assert.equal(store.certificate(NS, 'imp'), undefined);
    assert.equal(await store.deleteCertificate(NS, 'imp', acmArn(NS, 'imp')), false);
  });

  test('clear removes every configuration and certificate', async () => {
    const { store } = await open(await engines.open());
    await store.insert(NS, domain('a'), cert('cert-a'));
    await store.insert(EU, domain('b', {}, EU), cert('cert-b'));
    await store.clear();
    assert.equal(store.byDomainName('a.example.com'), undefined);
    assert.deepEqual(store.certificates(EU), []);
    await store.reload();
    assert.deepEqual(store.domains(NS), []);
    assert.equal(await store.count(EU), 0);
    assert.deepEqual(store.certificates(NS), []);
  });

  test('two nodes on one database: each sees the other after reload; a stale update, delete or certificate delete decides again on what is there', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    let bChanged = 0;
    b.store.onChange(() => bChanged++);
    const A = services(a.store, a.tags);
    const B = services(b.store, b.tags);
    await a.store.insertCertificate(NS, cert('imp', { origin: 'IMPORTED' }));
    const x = domain('x', { status: 'DISABLED' });
    await a.store.insert(NS, x, cert('cert-x'), a.tags.putting(domainConfigurationArn(NS, x), [{ Key: 'k', Value: 'v' }]));
    assert.equal(b.store.byDomainName('x.example.com'), undefined);
    await b.store.reload();
    assert.equal(bChanged, 1, 'a reload tells (the SNI contexts are dropped)');
    assert.equal(b.store.byDomainName('x.example.com')?.row.status, 'DISABLED');

    // a enables it; b, still holding DISABLED, would delete it: the database refuses and b answers as AWS does.
    await A.configurations.update(NS, 'x', { domainConfigurationStatus: 'ENABLED' });
    await assert.rejects(
      B.configurations.delete(NS, 'x'),
      (e: AwsError) => e.code === 'InvalidRequestException' && /is ENABLED/.test(e.message),
    );
    assert.equal(b.store.domain(NS, 'x')?.status, 'ENABLED');

    // A stale update merges with what a wrote.
    await A.configurations.update(NS, 'x', { authorizerConfig: { defaultAuthorizerName: 'auth' } });
    await B.configurations.update(NS, 'x', { domainConfigurationStatus: 'DISABLED' });
    await a.store.reload();
    assert.equal(a.store.domain(NS, 'x')?.authorizerName, 'auth');
    assert.equal(a.store.domain(NS, 'x')?.status, 'DISABLED');

    // b would delete the imported certificate nobody used when it last read; a meanwhile made y present it.
    await b.store.reload();
    await a.store.insert(NS, domain('y', { status: 'DISABLED', serverCertificateArn: acmArn(NS, 'imp') }), undefined);
    await assert.rejects(
      B.certificates.delete(NS, 'imp'),
      (e: AwsError) => e.code === 'DeleteConflictException' && /used by domain configuration y/.test(e.message),
    );
    assert.ok(b.store.certificate(NS, 'imp'));
    await B.configurations.delete(NS, 'y');

    await B.configurations.delete(NS, 'x');
    await a.store.reload();
    assert.equal(a.store.domain(NS, 'x'), undefined);
    assert.equal(a.store.certificate(NS, 'cert-x'), undefined, 'the certificate issued for it went with it');
    assert.deepEqual(await a.tags.list(domainConfigurationArn(NS, x)), [], 'and its tags');
    await A.certificates.delete(NS, 'imp');
    await assert.rejects(B.certificates.delete(NS, 'imp'), (e: AwsError) => e.code === 'ResourceNotFoundException');
  });
});

test('a database made before migrations keeps its configurations and certificates (the store created the tables)', async () => {
  const db = openDatabase(null);
  // The former schema, as domain-store.ts created it.
  db.exec(`
CREATE TABLE IF NOT EXISTS domain_configurations (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL,
  domain_name TEXT NOT NULL UNIQUE, domain_type TEXT NOT NULL, service_type TEXT NOT NULL, status TEXT NOT NULL,
  authorizer_name TEXT, allow_authorizer_override INTEGER,
  security_policy TEXT NOT NULL, server_certificate_arn TEXT,
  server_certificate_config TEXT, authentication_type TEXT NOT NULL, application_protocol TEXT NOT NULL,
  client_certificate_config TEXT, created_at INTEGER NOT NULL, last_status_change INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS server_certificates (
  account_id TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL,
  certificate_pem TEXT NOT NULL, chain_pem TEXT NOT NULL, private_key_pem TEXT NOT NULL,
  origin TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, id)) WITHOUT ROWID;
`);
  const old = domain('old', { status: 'DISABLED', allowAuthorizerOverride: true, serverCertificateConfig: { enableOCSPCheck: false } });
  db.prepare('INSERT INTO domain_configurations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    NS.accountId,
    NS.region,
    old.name,
    old.id,
    old.domainName,
    old.domainType,
    old.serviceType,
    old.status,
    null,
    1,
    old.securityPolicy,
    old.serverCertificateArn,
    JSON.stringify(old.serverCertificateConfig),
    old.authenticationType,
    old.applicationProtocol,
    null,
    T0,
    T0,
  );
  const c = cert('cert-old');
  db.prepare('INSERT INTO server_certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(
    NS.accountId,
    NS.region,
    c.id,
    c.certificatePem,
    c.chainPem,
    c.privateKeyPem,
    c.origin,
    c.createdAt,
  );
  const { store } = await open(sqliteEngine(db));
  assert.deepEqual(store.domain(NS, 'old'), old);
  assert.deepEqual(store.byDomainName('old.example.com')?.row, old);
  assert.deepEqual(store.certificate(NS, 'cert-old'), c);
  // The old table's unique host name still decides, and conditional writes match the rows it holds.
  assert.equal(await store.insert(EU, domain('again', { domainName: 'old.example.com' }, EU), undefined), false);
  assert.equal(await store.delete(NS, old, 'cert-old'), true);
  assert.equal(store.certificate(NS, 'cert-old'), undefined);
  db.close();
});
