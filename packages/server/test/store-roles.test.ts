/** The role store on SQLite and PostgreSQL: roles and role aliases, their tags in the same transaction, conditional writes, a database of an earlier version, two nodes on one database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace } from '../src/accounts/namespace.js';
import { AwsError } from '../src/aws/errors.js';
import { RoleAliases, roleAliasArn } from '../src/roles/role-aliases.js';
import { RoleStore, roleMigrations, untilApplied, type RoleAliasRow, type RoleRow } from '../src/roles/role-store.js';
import { Roles } from '../src/roles/roles.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { TagStore, tagMigrations } from '../src/tags/tag-store.js';
import { onBothEngines } from './store-engines.js';

const ACCOUNT = '123456789012';
const NS: Namespace = { accountId: ACCOUNT, region: 'us-east-1' };
const EU: Namespace = { accountId: ACCOUNT, region: 'eu-west-1' };
// Past 2^31 ms: epoch milliseconds need 64-bit columns.
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0, 250);
const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:DescribeThing', Resource: '*' }] });

async function open(engine: SqlEngine): Promise<{ store: RoleStore; tags: TagStore }> {
  await migrate(engine, { tags: tagMigrations, roles: roleMigrations });
  return { store: await RoleStore.open(engine), tags: new TagStore(engine) };
}

function role(name: string, over: Partial<RoleRow> = {}): RoleRow {
  return {
    accountId: ACCOUNT,
    name,
    roleId: `AROA${name.toUpperCase().padEnd(17, 'X')}`,
    description: `the ${name} role`,
    policy: POLICY,
    maxSessionDuration: 3600,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

function alias(name: string, over: Partial<RoleAliasRow> = {}): RoleAliasRow {
  return {
    alias: name,
    roleArn: `arn:aws:iam::${ACCOUNT}:role/r`,
    credentialDurationSeconds: 3600,
    createdAt: T0,
    lastModified: T0,
    ...over,
  };
}

const aliasNames = (rows: RoleAliasRow[]): string[] => rows.map((a) => a.alias);

onBothEngines('role store', (engines) => {
  test('roles: insert, read in any case, list by name without regard to case, a name taken in another case, count', async () => {
    const { store } = await open(await engines.open());
    for (const n of ['beta', 'Alpha', 'gamma']) assert.equal(await store.insertRole(role(n)), true);
    assert.equal(await store.insertRole(role('other', { accountId: '210987654321' })), true);
    assert.deepEqual(store.role(ACCOUNT, 'ALPHA'), role('Alpha'));
    assert.equal(store.role('210987654321', 'alpha'), undefined, 'another account has its own roles');
    assert.deepEqual(
      store.roles(ACCOUNT).map((r) => r.name),
      ['Alpha', 'beta', 'gamma'],
    );
    assert.equal(await store.countRoles(ACCOUNT), 3);
    // IAM: role names are unique whatever their case; the database refuses the second one.
    assert.equal(await store.insertRole(role('BETA', { roleId: 'AROAOTHER' })), false);
    assert.equal(store.role(ACCOUNT, 'beta')?.roleId, role('beta').roleId);
    assert.equal(await store.countRoles(ACCOUNT), 3);
  });

  test('roles: an update applies only to the row it read; delete in any case; clear', async () => {
    const { store } = await open(await engines.open());
    await store.insertRole(role('admin'));
    const first = store.role(ACCOUNT, 'admin')!;
    const next = { ...first, description: 'changed', updatedAt: T0 + 1 };
    assert.equal(await store.updateRole(first, next), true);
    assert.deepEqual(store.role(ACCOUNT, 'admin'), next);
    // Based on what it was before: refused, and the store holds what the database holds.
    assert.equal(await store.updateRole(first, { ...first, description: 'stale', updatedAt: T0 + 2 }), false);
    assert.equal(store.role(ACCOUNT, 'admin')?.description, 'changed');

    assert.equal(await store.deleteRole(ACCOUNT, 'ADMIN'), true);
    assert.equal(store.role(ACCOUNT, 'admin'), undefined);
    assert.equal(await store.deleteRole(ACCOUNT, 'admin'), false);

    await store.insertRole(role('a'));
    await store.insertAlias(NS, alias('x'));
    await store.clear();
    assert.deepEqual(store.roles(ACCOUNT), []);
    assert.equal(await store.countRoles(ACCOUNT), 0);
    assert.equal(await store.countAliases(NS), 0);
    await store.reload();
    assert.deepEqual(store.roles(ACCOUNT), []);
    assert.equal(store.alias(NS, 'x'), undefined);
  });

  test('aliases: pages after a name in either order, per namespace; count', async () => {
    const { store } = await open(await engines.open());
    for (const n of ['c', 'a', 'e', 'b', 'd', 'B']) await store.insertAlias(NS, alias(n));
    await store.insertAlias(EU, alias('z'));
    assert.deepEqual(aliasNames(store.aliases(NS, { ascending: true, limit: 10 })), ['B', 'a', 'b', 'c', 'd', 'e']);
    assert.deepEqual(aliasNames(store.aliases(NS, { ascending: true, limit: 2, after: 'a' })), ['b', 'c']);
    assert.deepEqual(aliasNames(store.aliases(NS, { ascending: false, limit: 3 })), ['e', 'd', 'c']);
    assert.deepEqual(aliasNames(store.aliases(NS, { ascending: false, limit: 10, after: 'b' })), ['a', 'B']);
    assert.deepEqual(aliasNames(store.aliases(EU, { ascending: true, limit: 10 })), ['z']);
    assert.equal(await store.countAliases(NS), 6);
    assert.equal(await store.countAliases(EU), 1);
  });

  test('aliases: created with their tags or not at all, deleted with them; an update applies only to the row it read', async () => {
    const { store, tags } = await open(await engines.open());
    const arn = roleAliasArn(NS, 'cam');
    assert.equal(await store.insertAlias(NS, alias('cam'), tags.putting(arn, [{ Key: 'k', Value: 'v' }])), true);
    assert.deepEqual(await tags.list(arn), [{ Key: 'k', Value: 'v' }]);
    // A taken name stores neither the alias nor its tags.
    assert.equal(
      await store.insertAlias(
        NS,
        alias('cam', { roleArn: 'arn:aws:iam::123456789012:role/x' }),
        tags.putting(arn, [{ Key: 'k', Value: 'new' }]),
      ),
      false,
    );
    assert.deepEqual(await tags.list(arn), [{ Key: 'k', Value: 'v' }]);
    assert.equal(store.alias(NS, 'cam')?.roleArn, alias('cam').roleArn);

    const current = store.alias(NS, 'cam')!;
    const next = { ...current, credentialDurationSeconds: 900, lastModified: T0 + 5 };
    assert.equal(await store.updateAlias(NS, current, next), true);
    assert.deepEqual(store.alias(NS, 'cam'), next);
    assert.equal(await store.updateAlias(NS, current, { ...current, credentialDurationSeconds: 1800 }), false);
    assert.equal(store.alias(NS, 'cam')?.credentialDurationSeconds, 900);

    assert.equal(await store.deleteAlias(NS, 'cam', tags.removing(arn)), true);
    assert.equal(store.alias(NS, 'cam'), undefined);
    assert.deepEqual(await tags.list(arn), []);
    assert.equal(await store.deleteAlias(NS, 'cam'), false);
  });

  test('two nodes on one database: each sees the other after reload; a stale update decides again on what is there', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    await a.store.insertRole(role('shared'));
    await a.store.insertAlias(NS, alias('door'));
    assert.equal(b.store.role(ACCOUNT, 'shared'), undefined, 'b has not read again yet');
    await b.store.reload();
    assert.deepEqual(b.store.role(ACCOUNT, 'shared'), role('shared'));
    assert.deepEqual(b.store.alias(NS, 'door'), alias('door'));
    // b creating what a created is refused by the database, not by what b holds.
    assert.equal(await b.store.insertRole(role('SHARED')), false);

    // a changes the description; b, still holding the old row, changes the session duration.
    const rolesA = new Roles({ store: a.store, now: () => T0 + 10 });
    const rolesB = new Roles({ store: b.store, now: () => T0 + 10 });
    await rolesA.update(ACCOUNT, 'shared', { description: 'from a' });
    const viaB = await rolesB.update(ACCOUNT, 'shared', { maxSessionDuration: 7200 });
    assert.equal(viaB.role.description, 'from a');
    assert.equal(viaB.role.maxSessionDuration, 7200);
    await a.store.reload();
    assert.equal(a.store.role(ACCOUNT, 'shared')?.description, 'from a');
    assert.equal(a.store.role(ACCOUNT, 'shared')?.maxSessionDuration, 7200);

    // An alias a deleted: b's update answers as for a missing alias.
    const aliasesB = new RoleAliases({ store: b.store });
    await a.store.deleteAlias(NS, 'door');
    await assert.rejects(
      aliasesB.update(NS, 'door', { credentialDurationSeconds: 900 }),
      (e: AwsError) => e.code === 'ResourceNotFoundException',
    );
    assert.equal(b.store.alias(NS, 'door'), undefined);
  });

  test('services: CreateRole and CreateRoleAlias answer a taken name as AWS does, also when only the database knows it', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    await new Roles({ store: a.store }).create(ACCOUNT, 'Admin', { policyDocument: POLICY });
    await assert.rejects(new Roles({ store: b.store }).create(ACCOUNT, 'admin', { policyDocument: POLICY }), (e: AwsError) => {
      assert.equal(e.code, 'ResourceAlreadyExistsException');
      assert.equal(e.message, 'Role with name Admin already exists.');
      return true;
    });
    const tagged = { roleArn: `arn:aws:iam::${ACCOUNT}:role/Admin`, tags: [{ Key: 'k', Value: 'v' }] };
    await new RoleAliases({ store: a.store, tags: a.tags }).create(NS, 'cam', tagged);
    await assert.rejects(
      new RoleAliases({ store: b.store, tags: b.tags }).create(NS, 'cam', { ...tagged, tags: [{ Key: 'k', Value: 'b' }] }),
      (e: AwsError) => e.code === 'ResourceAlreadyExistsException' && e.message === 'Role alias cam already exists',
    );
    assert.deepEqual(await a.tags.list(roleAliasArn(NS, 'cam')), [{ Key: 'k', Value: 'v' }]);
  });
});

test('a write that never applies ends in ConflictingResourceUpdateException', async () => {
  let attempts = 0;
  await assert.rejects(
    untilApplied('Role r', async () => {
      attempts++;
      return false;
    }),
    (e: AwsError) => e.code === 'ConflictingResourceUpdateException' && e.status === 409,
  );
  assert.equal(attempts, 10);
});

test('a database made before migrations keeps its roles and aliases (the store created the tables)', async () => {
  const db = openDatabase(null);
  // The former schema, as role-store.ts created it.
  db.exec(`
CREATE TABLE IF NOT EXISTS roles (
  account_id TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, role_id TEXT NOT NULL, description TEXT NOT NULL,
  policy TEXT NOT NULL, max_session_duration INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS role_aliases (
  account_id TEXT NOT NULL, region TEXT NOT NULL, alias TEXT NOT NULL, role_arn TEXT NOT NULL,
  credential_duration INTEGER NOT NULL, created_at INTEGER NOT NULL, last_modified INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, alias)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS role_credentials (
  access_key_id TEXT PRIMARY KEY, secret_access_key TEXT NOT NULL, token_sha256 TEXT NOT NULL,
  account_id TEXT NOT NULL, region TEXT NOT NULL, alias TEXT NOT NULL, alias_created_at INTEGER NOT NULL,
  role_arn TEXT NOT NULL, role_id TEXT NOT NULL, certificate_id TEXT NOT NULL,
  thing_name TEXT, thing_type_name TEXT, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS role_credentials_by_expiry ON role_credentials (expires_at);
`);
  db.prepare('INSERT INTO roles VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(ACCOUNT, 'Old', 'AROAOLD', 'kept', POLICY, 3600, T0, T0);
  db.prepare('INSERT INTO role_aliases VALUES (?, ?, ?, ?, ?, ?, ?)').run(
    ACCOUNT,
    'us-east-1',
    'old',
    'arn:aws:iam::123456789012:role/Old',
    900,
    T0,
    T0,
  );
  const { store } = await open(sqliteEngine(db));
  assert.deepEqual(store.role(ACCOUNT, 'old'), role('Old', { roleId: 'AROAOLD', description: 'kept' }));
  assert.deepEqual(store.alias(NS, 'old'), alias('old', { roleArn: 'arn:aws:iam::123456789012:role/Old', credentialDurationSeconds: 900 }));
  // The old table's case-insensitive key still decides.
  assert.equal(await store.insertRole(role('OLD')), false);
  db.close();
});
