/** The credential store on SQLite and PostgreSQL: issued credentials kept in memory while used, read from the database on a miss (another node issued them), expired ones deleted, a database of an earlier version. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace } from '../src/accounts/namespace.js';
import type { AwsError } from '../src/aws/errors.js';
import { CredentialStore, credentialMigrations, type CredentialRow } from '../src/roles/credential-store.js';
import { CredentialsProvider } from '../src/roles/credentials-provider.js';
import { RoleAliases } from '../src/roles/role-aliases.js';
import { RoleStore, roleMigrations } from '../src/roles/role-store.js';
import { Roles } from '../src/roles/roles.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine, Statement } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { onBothEngines } from './store-engines.js';

const ACCOUNT = '123456789012';
const NS: Namespace = { accountId: ACCOUNT, region: 'us-east-1' };
// Past 2^31 ms: epoch milliseconds need 64-bit columns.
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0, 250);
const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:DescribeThing', Resource: '*' }] });

/** The engine, counting the reads that reach it. */
function counting(engine: SqlEngine): SqlEngine & { reads: number } {
  const counted = {
    dialect: engine.dialect,
    db: engine.db,
    reads: 0,
    all: <R>(q: Statement<R>) => engine.all(q),
    first<R>(q: Statement<R>) {
      counted.reads++;
      return engine.first(q);
    },
    run: (q: Statement) => engine.run(q),
    batch: (qs: readonly Statement[]) => engine.batch(qs),
    exclusive: <T>(key: string, fn: () => Promise<T>) => engine.exclusive(key, fn),
    close: () => engine.close(),
  };
  return counted;
}

async function open(engine: SqlEngine, capacity?: number) {
  await migrate(engine, { roles: { ...roleMigrations, ...credentialMigrations } });
  const sql = counting(engine);
  return { sql, credentials: new CredentialStore(sql, capacity) };
}

function credential(accessKeyId: string, over: Partial<CredentialRow> = {}): CredentialRow {
  return {
    accessKeyId,
    secretAccessKey: `secret-of-${accessKeyId}`,
    tokenSha256: 'f'.repeat(64),
    ns: NS,
    alias: 'cam',
    aliasCreatedAt: T0 - 1000,
    roleArn: `arn:aws:iam::${ACCOUNT}:role/device`,
    roleId: 'AROADEVICE',
    certificateId: 'c'.repeat(64),
    thingName: 'lamp',
    thingTypeName: null,
    expiresAt: T0 + 3600_000,
    createdAt: T0,
    ...over,
  };
}

const key = (n: number): string => `ASIA${'A'.repeat(15)}${'ABCDEFGHIJ'[n]}`;

/** A node: its roles, aliases and credentials provider over `engine`. */
async function node(engine: SqlEngine) {
  const { credentials } = await open(engine);
  const store = await RoleStore.open(engine);
  const roles = new Roles({ store });
  const aliases = new RoleAliases({ store });
  const provider = new CredentialsProvider({
    credentials,
    roles,
    aliases,
    thingsOf: () => ['lamp'],
    thingTypeOf: () => null,
    certificateActive: () => true,
  });
  return { store, roles, aliases, provider, credentials };
}

onBothEngines('credential store', (engines) => {
  test('insert, then read from memory; another store finds them in the database; unknown keys are undefined', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    const c = credential(key(0), { thingTypeName: 'bulb' });
    await a.credentials.insert(c);
    const reads = a.sql.reads;
    assert.deepEqual(await a.credentials.credential(key(0)), c);
    assert.equal(a.sql.reads, reads, 'issued here: from memory');
    assert.deepEqual(await b.credentials.credential(key(0)), c, 'issued by another node: from the database');
    assert.deepEqual(await b.credentials.credential(key(0)), c);
    assert.equal(b.sql.reads, 1, 'then kept');
    const service = credential(key(1), { alias: '', aliasCreatedAt: 0, certificateId: '', thingName: null });
    await a.credentials.insert(service);
    assert.deepEqual(await b.credentials.credential(key(1)), service, 'nulls and empty strings as written');
    assert.equal(await b.credentials.credential(key(9)), undefined);
    await assert.rejects(a.credentials.insert(credential(key(0))), 'an access key is issued once');
  });

  test('memory is bounded (least recently used go first, read again when asked); lookups at once read once', async () => {
    const a = await open(await engines.open(), 2);
    for (const n of [0, 1, 2]) await a.credentials.insert(credential(key(n)));
    const reads = a.sql.reads;
    assert.equal((await a.credentials.credential(key(2)))?.accessKeyId, key(2));
    assert.equal((await a.credentials.credential(key(1)))?.accessKeyId, key(1));
    assert.equal(a.sql.reads, reads, 'the two most recent are in memory');
    assert.equal((await a.credentials.credential(key(0)))?.accessKeyId, key(0), 'the oldest, from the database');
    assert.equal(a.sql.reads, reads + 1);

    const b = await open(await engines.open({ share: true }));
    const found = await Promise.all([1, 2, 3, 4].map(() => b.credentials.credential(key(2))));
    assert.ok(found.every((c) => c?.accessKeyId === key(2)));
    assert.equal(b.sql.reads, 1);
  });

  test('expired long ago: deleted from the database and from memory; clear', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    await a.credentials.insert(credential(key(0), { expiresAt: T0 - 1 }));
    await a.credentials.insert(credential(key(1), { expiresAt: T0 + 1 }));
    assert.equal(await a.credentials.deleteExpired(T0), 1);
    assert.equal(await a.credentials.credential(key(0)), undefined);
    assert.equal(await b.credentials.credential(key(0)), undefined);
    assert.equal((await b.credentials.credential(key(1)))?.expiresAt, T0 + 1);
    await a.credentials.clear();
    assert.equal(await a.credentials.credential(key(1)), undefined);
  });

  test('provider: credentials issued on one node sign and open on another; wrong token, expiry, a service credential', async () => {
    const a = await node(await engines.open());
    await a.roles.create(ACCOUNT, 'device', { policyDocument: POLICY });
    await a.aliases.create(NS, 'cam', { roleArn: `arn:aws:iam::${ACCOUNT}:role/device` });
    const b = await node(await engines.open({ share: true }));
    const caller = { ns: NS, certificateId: 'c'.repeat(64), allows: () => true };
    const { credentials: c } = await a.provider.issue(caller, 'cam', 'lamp');
    assert.equal(await b.provider.secretOf(c.accessKeyId), c.secretAccessKey);
    const session = await b.provider.open(c.accessKeyId, c.sessionToken, '::ffff:127.0.0.1');
    assert.equal(session.accountId, ACCOUNT);
    assert.equal(session.assumedRoleArn, `arn:aws:sts::${ACCOUNT}:assumed-role/device/${'c'.repeat(64)}`);
    assert.equal(session.decide(['iot:DescribeThing'], `arn:aws:iot:us-east-1:${ACCOUNT}:thing/lamp`), 'allow');
    assert.equal(session.decide(['iot:DeleteThing'], `arn:aws:iot:us-east-1:${ACCOUNT}:thing/lamp`), 'default-deny');

    const code = (c: string) => (e: AwsError) => e.code === c;
    await assert.rejects(b.provider.open(c.accessKeyId, 'not-the-token', '127.0.0.1'), code('UnrecognizedClientException'));
    await assert.rejects(b.provider.open(c.accessKeyId, undefined, '127.0.0.1'), code('UnrecognizedClientException'));
    await assert.rejects(b.provider.open(key(7), c.sessionToken, '127.0.0.1'), code('UnrecognizedClientException'));
    assert.equal(await b.provider.secretOf('AKIAIOSFODNN7EXAMPLE'), undefined, 'not a temporary key');
    b.provider.now = () => Date.now() + 3601_000;
    await assert.rejects(b.provider.open(c.accessKeyId, c.sessionToken, '127.0.0.1'), code('ExpiredTokenException'));
    // A day after expiry they are deleted: then simply unknown.
    b.provider.now = () => Date.now() + 3600_000 + 24 * 3600_000 + 1000;
    assert.equal(await b.provider.purge(), 1);
    await assert.rejects(b.provider.open(c.accessKeyId, c.sessionToken, '127.0.0.1'), code('UnrecognizedClientException'));
    assert.equal(await b.provider.secretOf(c.accessKeyId), undefined);
    b.provider.now = Date.now;

    // A service's credentials are usable here at once, and on the other node once written.
    const s = a.provider.issueForService(NS, `arn:aws:iam::${ACCOUNT}:role/device`)!;
    assert.equal(await a.provider.secretOf(s.accessKeyId), s.secretAccessKey);
    let found: string | undefined;
    for (let i = 0; i < 100 && found === undefined; i++) {
      found = await b.provider.secretOf(s.accessKeyId);
      if (found === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(found, s.secretAccessKey);
    assert.equal(a.provider.issueForService(NS, `arn:aws:iam::210987654321:role/device`), undefined);
  });
});

test('a database made before migrations keeps its credentials (the store created the table)', async () => {
  const db = openDatabase(null);
  // The former schema, as credential-store.ts created it.
  db.exec(`
CREATE TABLE IF NOT EXISTS role_credentials (
  access_key_id TEXT PRIMARY KEY, secret_access_key TEXT NOT NULL, token_sha256 TEXT NOT NULL,
  account_id TEXT NOT NULL, region TEXT NOT NULL, alias TEXT NOT NULL, alias_created_at INTEGER NOT NULL,
  role_arn TEXT NOT NULL, role_id TEXT NOT NULL, certificate_id TEXT NOT NULL,
  thing_name TEXT, thing_type_name TEXT, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS role_credentials_by_expiry ON role_credentials (expires_at);
`);
  const c = credential(key(0));
  db.prepare('INSERT INTO role_credentials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    c.accessKeyId,
    c.secretAccessKey,
    c.tokenSha256,
    ACCOUNT,
    'us-east-1',
    c.alias,
    c.aliasCreatedAt,
    c.roleArn,
    c.roleId,
    c.certificateId,
    c.thingName,
    c.thingTypeName,
    c.expiresAt,
    c.createdAt,
  );
  const { credentials } = await open(sqliteEngine(db));
  assert.deepEqual(await credentials.credential(key(0)), c);
  assert.equal(await credentials.deleteExpired(c.expiresAt + 1), 1);
  db.close();
});
