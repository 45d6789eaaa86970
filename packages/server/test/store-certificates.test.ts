/** The certificate store on SQLite and PostgreSQL: device and CA certificates, registration codes, conditional writes, a database of an earlier version, two nodes on one database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace } from '../src/accounts/namespace.js';
import type { AwsError } from '../src/aws/errors.js';
import { CaCertificates } from '../src/certificates/ca-certificates.js';
import { CertificateStore, certificateMigrations, type CaCertificateRow, type CertificateRow } from '../src/certificates/cert-store.js';
import { certArn, Certificates, type CertificateHooks } from '../src/certificates/certificates.js';
import { createRootCa } from '../src/pki/ca.js';
import { issueClientCertificate, type Pki } from '../src/pki/index.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { onBothEngines } from './store-engines.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const EU: Namespace = { accountId: '123456789012', region: 'eu-west-1' };
// Past 2^31 ms: epoch milliseconds need 64-bit columns.
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0, 250);

async function open(engine: SqlEngine): Promise<CertificateStore> {
  await migrate(engine, { certificates: certificateMigrations });
  return CertificateStore.open(engine);
}

function cert(id: string, over: Partial<CertificateRow> = {}): CertificateRow {
  return {
    certificateId: id,
    pem: `-----BEGIN CERTIFICATE-----\n${id}\n-----END CERTIFICATE-----\n`,
    status: 'ACTIVE',
    caCertificateId: null,
    mode: 'DEFAULT',
    createdAt: T0,
    lastModified: T0,
    customerVersion: 1,
    generationId: `gen-${id}`,
    ...over,
  };
}

function ca(id: string, over: Partial<CaCertificateRow> = {}): CaCertificateRow {
  return {
    certificateId: id,
    pem: `-----BEGIN CERTIFICATE-----\nca-${id}\n-----END CERTIFICATE-----\n`,
    status: 'ACTIVE',
    autoRegistration: 'DISABLE',
    mode: 'DEFAULT',
    registrationConfig: { templateBody: '{"Resources":{}}', roleArn: 'arn:aws:iam::123456789012:role/p' },
    createdAt: T0,
    lastModified: T0,
    customerVersion: 1,
    generationId: `gen-${id}`,
    ...over,
  };
}

const ids = (rows: Array<{ certificateId: string }>): string[] => rows.map((r) => r.certificateId);

/** A certificate authority as the server's own (only what Certificates and issuing read). */
async function authority(): Promise<Pki> {
  return { ...(await createRootCa()), serverCertPem: '', serverKeyPem: '', dataDir: '' };
}

interface Node {
  store: CertificateStore;
  certificates: Certificates;
  cas: CaCertificates;
  deactivated: string[];
  things: string[];
  policies: string[];
}

async function node(engine: SqlEngine, pki: Pki): Promise<Node> {
  const store = await open(engine);
  const n: Node = { store, deactivated: [], things: [], policies: [] } as unknown as Node;
  const hooks: CertificateHooks = {
    thingsOf: () => n.things,
    policiesOf: async () => n.policies,
    detachAllPolicies: async () => {
      n.policies = [];
    },
    deactivated: (_ns, id) => n.deactivated.push(`cert/${id}`),
  };
  n.certificates = new Certificates(store, pki, hooks);
  n.cas = new CaCertificates(store, (_ns, id) => n.deactivated.push(`cacert/${id}`));
  return n;
}

onBothEngines('certificate store', (engines) => {
  test('certificates: insert, read, every namespace of an id, listed oldest first and by CA; a taken id', async () => {
    const store = await open(await engines.open());
    assert.equal(await store.insertCertificate(NS, cert('cc', { createdAt: T0 + 1 })), true);
    assert.equal(await store.insertCertificate(NS, cert('bb')), true);
    assert.equal(await store.insertCertificate(NS, cert('aa', { createdAt: T0 + 1, caCertificateId: 'ca1' })), true);
    assert.equal(await store.insertCertificate(EU, cert('cc', { status: 'INACTIVE' })), true);
    assert.deepEqual(store.certificate(NS, 'cc'), cert('cc', { createdAt: T0 + 1 }));
    assert.equal(store.certificate(EU, 'bb'), undefined, 'another region has its own certificates');
    assert.deepEqual(ids(store.certificates(NS)), ['bb', 'aa', 'cc']);
    assert.deepEqual(ids(store.certificates(NS, 'ca1')), ['aa']);
    assert.deepEqual(ids(store.certificates(EU)), ['cc']);
    assert.deepEqual(
      store.registrations('cc').map((r) => [r.region, r.status]),
      [
        ['eu-west-1', 'INACTIVE'],
        ['us-east-1', 'ACTIVE'],
      ],
    );
    assert.deepEqual(store.registrations('zz'), []);
    // The database refuses a second certificate with the id; the store keeps what the database holds.
    assert.equal(await store.insertCertificate(NS, cert('bb', { status: 'REVOKED' })), false);
    assert.equal(store.certificate(NS, 'bb')?.status, 'ACTIVE');
    await store.reload();
    assert.deepEqual(ids(store.certificates(NS)), ['bb', 'aa', 'cc']);
    assert.deepEqual(store.certificate(NS, 'aa'), cert('aa', { createdAt: T0 + 1, caCertificateId: 'ca1' }));
  });

  test('certificates: an update or delete applies only to the row it read; clear', async () => {
    const store = await open(await engines.open());
    await store.insertCertificate(NS, cert('c1'));
    await store.insertCertificate(EU, cert('c1'));
    const first = store.certificate(NS, 'c1')!;
    const next = { ...first, status: 'INACTIVE' as const, lastModified: T0 + 1, customerVersion: 2, generationId: 'g2' };
    assert.equal(await store.updateCertificate(NS, first, next), true);
    assert.deepEqual(store.certificate(NS, 'c1'), next);
    assert.equal(store.registrations('c1').find((r) => r.region === NS.region)?.status, 'INACTIVE');
    // Based on what it was before: refused, and the store holds what the database holds.
    assert.equal(await store.updateCertificate(NS, first, { ...first, status: 'REVOKED' }), false);
    assert.equal(store.certificate(NS, 'c1')?.status, 'INACTIVE');
    assert.equal(await store.deleteCertificate(NS, first), false);
    assert.ok(store.certificate(NS, 'c1'));

    assert.equal(await store.deleteCertificate(NS, next), true);
    assert.equal(store.certificate(NS, 'c1'), undefined);
    assert.deepEqual(
      store.registrations('c1').map((r) => r.region),
      ['eu-west-1'],
    );
    assert.equal(await store.deleteCertificate(NS, next), false, 'gone');

    await store.insertCaCertificate(NS, ca('ca1'));
    await store.registrationCode(NS, () => 'code');
    await store.clear();
    assert.deepEqual(store.registrations('c1'), []);
    assert.deepEqual(store.caCertificates(NS), []);
    await store.reload();
    assert.deepEqual(store.certificates(EU), []);
    assert.equal(await store.countCaCertificates(NS), 0);
    assert.equal(await store.registrationCode(NS, () => 'new'), 'new');
  });

  test('CA certificates: insert, a taken id, listed oldest first, count; an update or delete applies only to the row it read', async () => {
    const store = await open(await engines.open());
    assert.equal(await store.insertCaCertificate(NS, ca('y', { createdAt: T0 + 5 })), true);
    assert.equal(await store.insertCaCertificate(NS, ca('x', { createdAt: T0 + 5, registrationConfig: null })), true);
    assert.equal(await store.insertCaCertificate(NS, ca('z')), true);
    assert.equal(await store.insertCaCertificate(EU, ca('z')), true);
    assert.equal(await store.insertCaCertificate(NS, ca('z', { status: 'INACTIVE' })), false);
    assert.deepEqual(ids(store.caCertificates(NS)), ['z', 'x', 'y']);
    assert.equal(await store.countCaCertificates(NS), 3);
    assert.equal(await store.countCaCertificates(EU), 1);
    assert.deepEqual(store.caCertificate(NS, 'y'), ca('y', { createdAt: T0 + 5 }));
    assert.equal(store.caCertificate(NS, 'x')?.registrationConfig, null);

    const first = store.caCertificate(NS, 'z')!;
    const next: CaCertificateRow = { ...first, status: 'INACTIVE', registrationConfig: { roleArn: 'r' }, customerVersion: 2 };
    assert.equal(await store.updateCaCertificate(NS, first, next), true);
    assert.equal(await store.updateCaCertificate(NS, first, { ...first, autoRegistration: 'ENABLE' }), false);
    assert.deepEqual(store.caCertificate(NS, 'z'), next);
    assert.equal(await store.deleteCaCertificate(NS, first), false);
    assert.equal(await store.deleteCaCertificate(NS, next), true);
    assert.equal(store.caCertificate(NS, 'z'), undefined);
    assert.ok(store.caCertificate(EU, 'z'));
    await store.reload();
    assert.deepEqual(ids(store.caCertificates(NS)), ['x', 'y']);
    assert.deepEqual(store.caCertificate(EU, 'z'), ca('z'));
  });

  test('a certificate signed by a registered CA goes in only while that CA is ACTIVE in the database', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    await a.insertCaCertificate(NS, ca('ca1'));
    await b.reload();
    const held = b.caCertificate(NS, 'ca1')!;
    // a deactivates the CA; b, still holding it ACTIVE, registers a certificate it signed.
    await a.updateCaCertificate(NS, a.caCertificate(NS, 'ca1')!, { ...ca('ca1'), status: 'INACTIVE', customerVersion: 2 });
    assert.equal(await b.insertCertificate(NS, cert('dev', { caCertificateId: 'ca1' }), held), false);
    assert.equal(b.certificate(NS, 'dev'), undefined);
    assert.equal(b.caCertificate(NS, 'ca1')?.status, 'INACTIVE', 'b read the CA again');
    assert.equal(await a.refreshCertificate(NS, 'dev'), undefined);

    await a.updateCaCertificate(NS, a.caCertificate(NS, 'ca1')!, { ...ca('ca1'), customerVersion: 3 });
    await b.refreshCa(NS, 'ca1');
    assert.equal(await b.insertCertificate(NS, cert('dev', { caCertificateId: 'ca1' }), b.caCertificate(NS, 'ca1')), true);
    assert.deepEqual(b.certificate(NS, 'dev'), cert('dev', { caCertificateId: 'ca1' }));
    assert.deepEqual(await a.refreshCertificate(NS, 'dev'), cert('dev', { caCertificateId: 'ca1' }));
    // Signed by the CA, the id taken: refused as taken.
    assert.equal(
      await a.insertCertificate(NS, cert('dev', { caCertificateId: 'ca1', status: 'INACTIVE' }), a.caCertificate(NS, 'ca1')),
      false,
    );
    assert.equal(a.certificate(NS, 'dev')?.status, 'ACTIVE');
  });

  test('registration codes: one per namespace, made once; the first writer wins on another node', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    assert.equal(await a.registrationCode(NS, () => 'first'), 'first');
    assert.equal(await a.registrationCode(NS, () => 'again'), 'first');
    assert.equal(await b.registrationCode(NS, () => 'second'), 'first', "b finds a's code in the database");
    assert.equal(await b.registrationCode(EU, () => 'eu'), 'eu');
    await a.reload();
    assert.equal(await a.registrationCode(EU, () => 'other'), 'eu');
  });

  test('two nodes on one database: reload and the key-level refreshes pick up what the other changed', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    await a.insertCertificate(NS, cert('c1'));
    await a.insertCaCertificate(NS, ca('ca1'));
    assert.equal(b.certificate(NS, 'c1'), undefined, 'b has not read again yet');
    assert.deepEqual(await b.refreshCertificate(NS, 'c1'), cert('c1'));
    assert.deepEqual(b.registrations('c1').length, 1);
    assert.deepEqual(await b.refreshCa(NS, 'ca1'), ca('ca1'));

    await a.updateCertificate(NS, a.certificate(NS, 'c1')!, cert('c1', { status: 'REVOKED', customerVersion: 2 }));
    await a.updateCaCertificate(NS, a.caCertificate(NS, 'ca1')!, ca('ca1', { status: 'INACTIVE', customerVersion: 2 }));
    await a.insertCertificate(NS, cert('c2', { status: 'INACTIVE' }));
    // What b held ACTIVE and is no longer: the connections it must close.
    assert.deepEqual(await b.reload(), {
      certificates: [{ ns: NS, certificateId: 'c1' }],
      caCertificates: [{ ns: NS, caCertificateId: 'ca1' }],
    });
    assert.deepEqual(await b.reload(), { certificates: [], caCertificates: [] });
    assert.equal(b.certificate(NS, 'c2')?.status, 'INACTIVE');
    assert.equal(b.certificate(NS, 'c1')?.status, 'REVOKED');
    assert.equal(b.registrations('c1')[0]?.status, 'REVOKED');
    assert.equal(b.caCertificate(NS, 'ca1')?.status, 'INACTIVE');

    await a.deleteCertificate(NS, a.certificate(NS, 'c1')!);
    await a.deleteCaCertificate(NS, a.caCertificate(NS, 'ca1')!);
    assert.equal(await b.refreshCertificate(NS, 'c1'), undefined);
    assert.deepEqual(b.registrations('c1'), []);
    assert.deepEqual(ids(b.certificates(NS)), ['c2']);
    assert.equal(await b.refreshCa(NS, 'ca1'), undefined);
    assert.deepEqual(b.caCertificates(NS), []);
  });

  test('services on two nodes: a node holding a stale row decides on what the database holds', async () => {
    const pki = await authority();
    const operator = await authority();
    const A = await node(await engines.open(), pki);
    const B = await node(await engines.open({ share: true }), pki);
    const one = await issueClientCertificate(operator, { commonName: 'one' });
    const two = await issueClientCertificate(operator, { commonName: 'two' });
    const { certificateId: id1 } = await A.certificates.registerWithoutCa(NS, { certificatePem: one.certificatePem, status: 'ACTIVE' });
    const { certificateId: id2 } = await A.certificates.registerWithoutCa(NS, { certificatePem: two.certificatePem });
    await B.store.reload();
    await assert.rejects(
      B.certificates.registerWithoutCa(NS, { certificatePem: one.certificatePem }),
      (e: AwsError) => e.code === 'ResourceAlreadyExistsException',
    );

    // A revokes; B, holding it ACTIVE, would make it INACTIVE: it finds it revoked.
    await A.certificates.update(NS, id1, 'REVOKED');
    assert.deepEqual(A.deactivated, [`cert/${id1}`]);
    await assert.rejects(
      B.certificates.update(NS, id1, 'INACTIVE'),
      (e: AwsError) => e.code === 'CertificateStateException' && /revoked/.test(e.message),
    );
    assert.deepEqual(B.deactivated, []);
    assert.equal(B.store.certificate(NS, id1)?.status, 'REVOKED');

    // A activates; B, holding it INACTIVE, would delete it: refused as ACTIVE, and it stays.
    await A.certificates.update(NS, id2, 'ACTIVE');
    await assert.rejects(B.certificates.delete(NS, id2, undefined), (e: AwsError) => e.code === 'CertificateStateException');
    assert.ok(await A.store.refreshCertificate(NS, id2));
    // B deactivates it on what it read again; the connections go after the write.
    await B.certificates.update(NS, id2, 'INACTIVE');
    assert.deepEqual(B.deactivated, [`cert/${id2}`]);
    assert.equal((await A.store.refreshCertificate(NS, id2))?.customerVersion, 3);

    // Attached things refuse a delete; attached policies too, unless forced (then detached first).
    B.things = ['lamp'];
    await assert.rejects(
      B.certificates.delete(NS, id2, 'true'),
      (e: AwsError) => e.code === 'DeleteConflictException' && e.message.includes(certArn(NS, id2)),
    );
    B.things = [];
    B.policies = ['p'];
    await assert.rejects(B.certificates.delete(NS, id2, undefined), (e: AwsError) => e.code === 'DeleteConflictException');
    await B.certificates.delete(NS, id2, 'true');
    assert.deepEqual(B.policies, []);
    assert.equal(await A.store.refreshCertificate(NS, id2), undefined);
    await assert.rejects(B.certificates.delete(NS, id2, undefined), (e: AwsError) => e.code === 'ResourceNotFoundException');
  });

  test('services on two nodes: CA changes made elsewhere decide registrations, updates and deletes', async () => {
    const pki = await authority();
    const operator = await authority();
    const A = await node(await engines.open(), pki);
    const B = await node(await engines.open({ share: true }), pki);
    const { certificateId: caId } = await A.cas.register(
      NS,
      { caCertificate: operator.caCertPem, certificateMode: 'SNI_ONLY' },
      { setAsActive: 'true' },
    );
    await B.store.reload();
    await assert.rejects(
      B.cas.register(NS, { caCertificate: operator.caCertPem, certificateMode: 'SNI_ONLY' }, {}),
      (e: AwsError) => e.code === 'ResourceAlreadyExistsException',
    );

    // A deactivates the CA; B, holding it ACTIVE, registers a device certificate it signed.
    await A.cas.update(NS, caId, { newStatus: 'INACTIVE' }, {});
    assert.deepEqual(A.deactivated, [`cacert/${caId}`]);
    const device = await issueClientCertificate(operator, { commonName: 'device' });
    await assert.rejects(
      B.certificates.register(NS, { certificatePem: device.certificatePem, caCertificatePem: operator.caCertPem }, 'true'),
      (e: AwsError) => e.code === 'CertificateStateException' && e.message.includes(caId),
    );
    assert.equal(B.store.certificates(NS).length, 0);

    // B, now holding it INACTIVE, deletes it while A made it ACTIVE again: refused.
    await A.cas.update(NS, caId, { newStatus: 'ACTIVE' }, {});
    await assert.rejects(B.cas.delete(NS, caId), (e: AwsError) => e.code === 'CertificateStateException');
    assert.deepEqual(B.deactivated, []);
    // B registers the device certificate (found by its signer), then deactivates and deletes the CA.
    const { certificateId } = await B.certificates.register(NS, { certificatePem: device.certificatePem }, 'true');
    assert.equal(B.store.certificate(NS, certificateId)?.caCertificateId, caId);
    await B.cas.update(NS, caId, { newStatus: 'INACTIVE', newAutoRegistrationStatus: 'ENABLE' }, { registrationConfig: { roleArn: 'r' } });
    await B.cas.delete(NS, caId);
    assert.deepEqual(B.deactivated, [`cacert/${caId}`, `cacert/${caId}`]);
    assert.equal(await A.store.refreshCa(NS, caId), undefined);

    const code = await A.cas.registrationCode(NS);
    assert.deepEqual(await B.cas.registrationCode(NS), code);
  });
});

test('a database made before migrations keeps its certificates, CA certificates and registration codes (the store created the tables)', async () => {
  const db = openDatabase(null);
  // The former schema, as cert-store.ts created it.
  db.exec(`
CREATE TABLE IF NOT EXISTS certificates (
  account_id TEXT NOT NULL, region TEXT NOT NULL, certificate_id TEXT NOT NULL, pem TEXT NOT NULL,
  status TEXT NOT NULL, ca_certificate_id TEXT, mode TEXT NOT NULL, created_at INTEGER NOT NULL,
  last_modified INTEGER NOT NULL, customer_version INTEGER NOT NULL, generation_id TEXT NOT NULL,
  PRIMARY KEY (account_id, region, certificate_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS certificates_by_id ON certificates (certificate_id);
CREATE TABLE IF NOT EXISTS ca_certificates (
  account_id TEXT NOT NULL, region TEXT NOT NULL, certificate_id TEXT NOT NULL, pem TEXT NOT NULL,
  status TEXT NOT NULL, auto_registration TEXT NOT NULL, mode TEXT NOT NULL, registration_config TEXT,
  created_at INTEGER NOT NULL, last_modified INTEGER NOT NULL, customer_version INTEGER NOT NULL,
  generation_id TEXT NOT NULL,
  PRIMARY KEY (account_id, region, certificate_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS registration_codes (
  account_id TEXT NOT NULL, region TEXT NOT NULL, code TEXT NOT NULL,
  PRIMARY KEY (account_id, region)) WITHOUT ROWID;
`);
  const old = cert('old', { status: 'INACTIVE', caCertificateId: 'oldca' });
  db.prepare('INSERT INTO certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    NS.accountId,
    NS.region,
    old.certificateId,
    old.pem,
    old.status,
    old.caCertificateId,
    old.mode,
    old.createdAt,
    old.lastModified,
    old.customerVersion,
    old.generationId,
  );
  const oldCa = ca('oldca');
  db.prepare('INSERT INTO ca_certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    NS.accountId,
    NS.region,
    oldCa.certificateId,
    oldCa.pem,
    oldCa.status,
    oldCa.autoRegistration,
    oldCa.mode,
    JSON.stringify(oldCa.registrationConfig),
    oldCa.createdAt,
    oldCa.lastModified,
    oldCa.customerVersion,
    oldCa.generationId,
  );
  db.prepare('INSERT INTO registration_codes VALUES (?, ?, ?)').run(NS.accountId, NS.region, 'oldcode');
  const store = await open(sqliteEngine(db));
  assert.deepEqual(store.certificate(NS, 'old'), old);
  assert.deepEqual(store.registrations('old'), [{ ...old, ...NS }]);
  assert.deepEqual(ids(store.certificates(NS, 'oldca')), ['old']);
  assert.deepEqual(store.caCertificate(NS, 'oldca'), oldCa);
  assert.equal(await store.registrationCode(NS, () => 'new'), 'oldcode');
  // Rows read from the old tables take conditional writes.
  assert.equal(await store.updateCertificate(NS, old, { ...old, status: 'ACTIVE', customerVersion: 2 }), true);
  assert.equal(await store.deleteCaCertificate(NS, oldCa), true);
  assert.equal(await store.insertCertificate(NS, old), false, 'the old key still decides');
  db.close();
});
