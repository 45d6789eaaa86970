/** The authorizer store on SQLite and PostgreSQL: authorizers and defaults, their tags in the same transaction, conditional writes, a database of an earlier version, two nodes on one database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { Namespace } from '../src/accounts/namespace.js';
import { AuthorizerStore, authorizerMigrations, type AuthorizerRow } from '../src/authorizers/authorizer-store.js';
import { CustomAuthorizers, authorizerArn } from '../src/authorizers/custom-authorizers.js';
import type { AwsError } from '../src/aws/errors.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { TagStore, tagMigrations } from '../src/tags/tag-store.js';
import { onBothEngines } from './store-engines.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const EU: Namespace = { accountId: '123456789012', region: 'eu-west-1' };
const OTHER: Namespace = { accountId: '210987654321', region: 'us-east-1' };
// Past 2^31 ms: epoch milliseconds need 64-bit columns.
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0, 250);

async function open(engine: SqlEngine): Promise<{ store: AuthorizerStore; tags: TagStore }> {
  await migrate(engine, { tags: tagMigrations, authorizers: authorizerMigrations });
  return { store: await AuthorizerStore.open(engine), tags: new TagStore(engine) };
}

function authorizer(name: string, over: Partial<AuthorizerRow> = {}): AuthorizerRow {
  return {
    name,
    functionArn: `https://auth.example.com/${name}`,
    tokenKeyName: 'tok',
    tokenSigningPublicKeys: { main: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n', second: 'x' },
    status: 'ACTIVE',
    signingDisabled: false,
    enableCachingForHttp: true,
    createdAt: T0,
    lastModified: T0,
    ...over,
  };
}

const service = (store: AuthorizerStore, tags: TagStore) =>
  new CustomAuthorizers({ store, tags, policyDocumentsFor: () => [], log: pino({ level: 'silent' }) });

onBothEngines('authorizer store', (engines) => {
  test('insert and read back every field; list by name, by status; by name across namespaces; count', async () => {
    const { store } = await open(await engines.open());
    await store.insert(NS, authorizer('b', { status: 'INACTIVE', tokenKeyName: null, signingDisabled: true, enableCachingForHttp: false }));
    await store.insert(NS, authorizer('a'));
    await store.insert(NS, authorizer('c'));
    await store.insert(OTHER, authorizer('a'));
    await store.insert(EU, authorizer('a', { status: 'INACTIVE' }));
    await store.reload();
    assert.deepEqual(store.authorizer(NS, 'a'), authorizer('a'));
    assert.deepEqual(
      store.authorizer(NS, 'b'),
      authorizer('b', { status: 'INACTIVE', tokenKeyName: null, signingDisabled: true, enableCachingForHttp: false }),
    );
    assert.equal(store.authorizer(NS, 'zz'), undefined);
    assert.deepEqual(
      store.authorizers(NS).map((a) => a.name),
      ['a', 'b', 'c'],
    );
    assert.deepEqual(
      store.authorizers(NS, 'ACTIVE').map((a) => a.name),
      ['a', 'c'],
    );
    assert.deepEqual(
      store.byName('a').map((m) => [m.ns.accountId, m.ns.region, m.row.status]),
      [
        ['123456789012', 'eu-west-1', 'INACTIVE'],
        ['123456789012', 'us-east-1', 'ACTIVE'],
        ['210987654321', 'us-east-1', 'ACTIVE'],
      ],
    );
    assert.deepEqual(store.byName('nope'), []);
    assert.equal(await store.count(NS), 3);
    assert.equal(await store.count(EU), 1);
  });

  test('a taken name stores neither the authorizer nor its tags; an update applies only to the row it read', async () => {
    const { store, tags } = await open(await engines.open());
    const arn = authorizerArn(NS, 'a');
    assert.equal(await store.insert(NS, authorizer('a'), tags.putting(arn, [{ Key: 'k', Value: 'v' }])), true);
    assert.equal(
      await store.insert(NS, authorizer('a', { functionArn: 'https://x' }), tags.putting(arn, [{ Key: 'k', Value: 'new' }])),
      false,
    );
    assert.deepEqual(await tags.list(arn), [{ Key: 'k', Value: 'v' }]);
    assert.equal(store.authorizer(NS, 'a')?.functionArn, authorizer('a').functionArn);

    const current = store.authorizer(NS, 'a')!;
    const next = { ...current, status: 'INACTIVE' as const, tokenSigningPublicKeys: { other: 'y' }, lastModified: T0 + 1 };
    assert.equal(await store.update(NS, current, next), true);
    assert.deepEqual(store.authorizer(NS, 'a'), next);
    assert.equal(await store.update(NS, current, { ...current, functionArn: 'https://stale' }), false);
    assert.deepEqual(store.authorizer(NS, 'a'), next);
    assert.deepEqual(store.byName('a')[0]?.row, next, 'the name index follows');
  });

  test('delete takes the tags along; it deletes nothing when the row changed or became the default', async () => {
    const { store, tags } = await open(await engines.open());
    const arn = authorizerArn(NS, 'a');
    await store.insert(NS, authorizer('a', { status: 'INACTIVE' }), tags.putting(arn, [{ Key: 'k', Value: 'v' }]));
    const seen = store.authorizer(NS, 'a')!;

    assert.equal(await store.setDefault(NS, 'a'), true);
    assert.equal(await store.delete(NS, seen, tags.removing(arn)), false);
    assert.deepEqual(store.authorizer(NS, 'a'), seen);
    assert.deepEqual(await tags.list(arn), [{ Key: 'k', Value: 'v' }], 'the tags stay with an authorizer that stays');
    assert.equal(await store.clearDefault(NS), true);

    const changed = { ...seen, functionArn: 'https://changed', lastModified: T0 + 1 };
    await store.update(NS, seen, changed);
    assert.equal(await store.delete(NS, seen, tags.removing(arn)), false);
    assert.deepEqual(await tags.list(arn), [{ Key: 'k', Value: 'v' }]);

    assert.equal(await store.delete(NS, changed, tags.removing(arn)), true);
    assert.equal(store.authorizer(NS, 'a'), undefined);
    assert.deepEqual(store.byName('a'), []);
    assert.deepEqual(await tags.list(arn), []);
    assert.equal(await store.delete(NS, changed), false, 'gone already');
  });

  test('defaults: only of an authorizer the database has, one per namespace, replaced, cleared; clear removes everything', async () => {
    const { store } = await open(await engines.open());
    assert.equal(store.hasDefaults(), false);
    assert.equal(await store.setDefault(NS, 'missing'), false);
    assert.equal(store.hasDefaults(), false);
    await store.insert(NS, authorizer('a'));
    await store.insert(NS, authorizer('b'));
    await store.insert(OTHER, authorizer('o'));
    assert.equal(await store.setDefault(OTHER, 'o'), true);
    assert.equal(await store.setDefault(NS, 'a'), true);
    assert.equal(await store.setDefault(NS, 'b'), true);
    assert.equal(store.defaultName(NS), 'b');
    await store.reload();
    assert.deepEqual(
      store.defaults().map((d) => [d.ns.accountId, d.name]),
      [
        ['123456789012', 'b'],
        ['210987654321', 'o'],
      ],
    );
    assert.equal(await store.clearDefault(NS), true);
    assert.equal(await store.clearDefault(NS), false);
    assert.equal(store.defaultName(NS), undefined);
    assert.equal(store.hasDefaults(), true);

    await store.clear();
    assert.equal(store.hasDefaults(), false);
    assert.deepEqual(store.authorizers(NS), []);
    await store.reload();
    assert.deepEqual(store.byName('o'), []);
    assert.equal(await store.count(NS), 0);
  });

  test('two nodes on one database: each sees the other after reload; a stale delete or update decides again on what is there', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    const svcA = service(a.store, a.tags);
    const svcB = service(b.store, b.tags);
    await svcA.create(NS, 'x', {
      authorizerFunctionArn: 'https://auth.example.com/x',
      signingDisabled: true,
      status: 'INACTIVE',
      tags: [{ Key: 'k', Value: 'v' }],
    });
    assert.equal(b.store.authorizer(NS, 'x'), undefined);
    await b.store.reload();
    assert.equal(b.store.authorizer(NS, 'x')?.status, 'INACTIVE');
    await assert.rejects(
      svcB.create(NS, 'x', { authorizerFunctionArn: 'https://auth.example.com/x', signingDisabled: true }),
      (e: AwsError) => e.code === 'ResourceAlreadyExistsException' && e.message === 'Authorizer x already exists',
    );

    // a makes it ACTIVE; b still holds INACTIVE, so its delete would go ahead: the database refuses it.
    await svcA.update(NS, 'x', { status: 'ACTIVE' });
    await assert.rejects(svcB.delete(NS, 'x'), (e: AwsError) => e.code === 'DeleteConflictException' && /is ACTIVE/.test(e.message));
    assert.equal(b.store.authorizer(NS, 'x')?.status, 'ACTIVE');
    assert.deepEqual(await a.tags.list(authorizerArn(NS, 'x')), [{ Key: 'k', Value: 'v' }]);

    // a makes it INACTIVE (b reads that), then the default (b does not know).
    await svcA.update(NS, 'x', { status: 'INACTIVE' });
    await b.store.reload();
    await svcA.setDefault(NS, { authorizerName: 'x' });
    assert.equal(svcB.hasDefault(), false);
    await assert.rejects(
      svcB.delete(NS, 'x'),
      (e: AwsError) => e.code === 'DeleteConflictException' && /default authorizer/.test(e.message),
    );
    assert.equal(b.store.defaultName(NS), 'x');
    assert.equal(svcB.hasDefault(), true);

    // a stale update merges with what a wrote.
    await svcA.update(NS, 'x', { tokenKeyName: 'from-a' });
    await svcB.update(NS, 'x', { enableCachingForHttp: true });
    await a.store.reload();
    assert.equal(a.store.authorizer(NS, 'x')?.tokenKeyName, 'from-a');
    assert.equal(a.store.authorizer(NS, 'x')?.enableCachingForHttp, true);

    await svcA.clearDefault(NS);
    await assert.rejects(svcB.clearDefault(NS), (e: AwsError) => e.code === 'ResourceNotFoundException');
    await svcB.delete(NS, 'x');
    await a.store.reload();
    assert.equal(a.store.authorizer(NS, 'x'), undefined);
    assert.deepEqual(await a.tags.list(authorizerArn(NS, 'x')), []);
  });
});

test('a database made before migrations keeps its authorizers and defaults (the store created the tables)', async () => {
  const db = openDatabase(null);
  // The former schema, as authorizer-store.ts created it.
  db.exec(`
CREATE TABLE IF NOT EXISTS authorizers (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, function_arn TEXT NOT NULL,
  token_key_name TEXT, token_signing_public_keys TEXT NOT NULL, status TEXT NOT NULL,
  signing_disabled INTEGER NOT NULL, enable_caching_for_http INTEGER NOT NULL,
  created_at INTEGER NOT NULL, last_modified INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS authorizers_by_name ON authorizers (name);
CREATE TABLE IF NOT EXISTS default_authorizers (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
  PRIMARY KEY (account_id, region)) WITHOUT ROWID;
`);
  db.prepare('INSERT INTO authorizers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    NS.accountId,
    NS.region,
    'old',
    'https://auth.example.com/old',
    null,
    JSON.stringify({ k: 'pem' }),
    'INACTIVE',
    1,
    0,
    T0,
    T0 + 1,
  );
  db.prepare('INSERT INTO default_authorizers VALUES (?, ?, ?)').run(NS.accountId, NS.region, 'old');
  const { store } = await open(sqliteEngine(db));
  const old = store.authorizer(NS, 'old')!;
  assert.deepEqual(old, {
    name: 'old',
    functionArn: 'https://auth.example.com/old',
    tokenKeyName: null,
    tokenSigningPublicKeys: { k: 'pem' },
    status: 'INACTIVE',
    signingDisabled: true,
    enableCachingForHttp: false,
    createdAt: T0,
    lastModified: T0 + 1,
  });
  assert.equal(store.defaultName(NS), 'old');
  // Conditional writes match the rows the former version wrote.
  assert.equal(await store.update(NS, old, { ...old, status: 'ACTIVE' }), true);
  db.close();
});
