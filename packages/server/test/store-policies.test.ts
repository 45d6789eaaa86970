/** The policy store on SQLite and PostgreSQL: policies, versions, attachments, conditional writes, a database of an earlier version, two nodes on one database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace } from '../src/accounts/namespace.js';
import type { AwsError } from '../src/aws/errors.js';
import { parsePolicyDocument } from '../src/policies/engine/index.js';
import { Policies } from '../src/policies/policies.js';
import { PolicyStore, policyMigrations, type PolicyRow } from '../src/policies/policy-store.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { onBothEngines } from './store-engines.js';

const ACCOUNT = '123456789012';
const NS: Namespace = { accountId: ACCOUNT, region: 'us-east-1' };
const EU: Namespace = { accountId: ACCOUNT, region: 'eu-west-1' };
// Past 2^31 ms: epoch milliseconds need 64-bit columns.
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0, 250);
const doc = (topic: string): string =>
  JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:aws:iot:*:*:topic/${topic}` }],
  });
const cert = (id: string, ns: Namespace = NS): string => `arn:aws:iot:${ns.region}:${ns.accountId}:cert/${id}`;

async function open(engine: SqlEngine): Promise<{ store: PolicyStore; policies: Policies; changed: Namespace[] }> {
  await migrate(engine, { policies: policyMigrations });
  const store = await PolicyStore.open(engine);
  const changed: Namespace[] = [];
  const policies = new Policies(store, {
    targetExists: () => true,
    groupAncestors: () => [],
    groupsOfThing: () => [],
    changed: (ns) => changed.push(ns),
    changedAll: () => {},
  });
  return { store, policies, changed };
}

function row(name: string, over: Partial<PolicyRow> = {}): PolicyRow {
  return { name, defaultVersion: 1, nextVersion: 2, createdAt: T0, lastModified: T0, generationId: `gen-${name}`, ...over };
}

const first = (topic = 'a') => ({ version: 1, document: doc(topic), createdAt: T0 });
const code = (c: string) => (e: AwsError) => e.code === c;

onBothEngines('policy store', (engines) => {
  test('policies: insert with the first version, read, list by code unit per namespace, a taken name, clear', async () => {
    const { store } = await open(await engines.open());
    for (const n of ['beta', 'Alpha', 'alpha', 'gamma']) assert.equal(await store.insertPolicy(NS, row(n), first(n)), true);
    assert.equal(await store.insertPolicy(EU, row('eu'), first()), true);
    assert.deepEqual(store.policy(NS, 'beta'), row('beta'));
    assert.deepEqual(store.version(NS, 'beta', 1), first('beta'));
    assert.deepEqual(
      store.policies(NS).map((p) => p.name),
      ['Alpha', 'alpha', 'beta', 'gamma'],
    );
    assert.deepEqual(
      store.policies(EU).map((p) => p.name),
      ['eu'],
    );
    assert.equal(await store.insertPolicy(NS, row('beta', { generationId: 'other' }), first('x')), false);
    assert.deepEqual(store.policy(NS, 'beta'), row('beta'));
    assert.deepEqual(store.version(NS, 'beta', 1), first('beta'), 'the taken name kept its version');

    await store.attach(NS, 'beta', cert('c1'), T0, 10);
    await store.clear();
    assert.deepEqual(store.policies(NS), []);
    assert.deepEqual(store.policiesOf(NS, cert('c1')), []);
    await store.reload();
    assert.deepEqual(store.policies(NS), []);
    assert.deepEqual(store.policiesOf(NS, cert('c1')), []);
  });

  test('versions: added while the row is unchanged and under the limit, newest first; default; delete all but the default', async () => {
    const { store } = await open(await engines.open());
    await store.insertPolicy(NS, row('p'), first());
    const p1 = store.policy(NS, 'p')!;
    const p2 = { ...p1, nextVersion: 3, lastModified: T0 + 1, generationId: 'g2' };
    assert.equal(await store.insertVersion(NS, p1, p2, { version: 2, document: doc('b'), createdAt: T0 + 1 }, 5), true);
    // Based on the row before: refused, and the store holds what the database holds.
    assert.equal(
      await store.insertVersion(NS, p1, { ...p1, nextVersion: 3, generationId: 'stale' }, { version: 2, document: 'x', createdAt: T0 }, 5),
      false,
    );
    assert.deepEqual(store.policy(NS, 'p'), p2);
    assert.deepEqual(
      store.versions(NS, 'p').map((v) => [v.version, v.document]),
      [
        [2, doc('b')],
        [1, doc('a')],
      ],
    );
    // At the limit: refused.
    assert.equal(
      await store.insertVersion(NS, p2, { ...p2, nextVersion: 4, generationId: 'g3' }, { version: 3, document: 'x', createdAt: T0 }, 2),
      false,
    );
    assert.equal(store.version(NS, 'p', 3), undefined);

    const p3 = { ...p2, defaultVersion: 2, lastModified: T0 + 2, generationId: 'g3' };
    assert.equal(await store.updatePolicy(NS, p2, p3), true);
    assert.equal(store.policy(NS, 'p')?.defaultVersion, 2);
    // A default that is not a version is refused.
    assert.equal(await store.updatePolicy(NS, p3, { ...p3, defaultVersion: 7, generationId: 'g4' }), false);
    assert.equal(store.policy(NS, 'p')?.defaultVersion, 2);

    assert.equal(await store.deleteVersion(NS, 'p', 2), false, 'the default stays');
    assert.equal(await store.deleteVersion(NS, 'p', 1), true);
    assert.equal(await store.deleteVersion(NS, 'p', 1), false, 'gone');
    assert.deepEqual(
      store.versions(NS, 'p').map((v) => v.version),
      [2],
    );
  });

  test('attachments: in attach order both ways, idempotent, per-target limit, detach, detach a target; delete only unattached', async () => {
    const { store } = await open(await engines.open());
    for (const n of ['p', 'q', 'r']) await store.insertPolicy(NS, row(n), first());
    assert.equal(await store.attach(NS, 'q', cert('c1'), T0 + 2, 10), true);
    assert.equal(await store.attach(NS, 'p', cert('c1'), T0 + 3, 10), true);
    assert.equal(await store.attach(NS, 'r', cert('c1'), T0 + 2, 10), true);
    assert.equal(await store.attach(NS, 'p', cert('c0'), T0 + 1, 10), true);
    assert.equal(await store.attach(NS, 'p', cert('c1'), T0 + 9, 10), false, 'attached already');
    assert.deepEqual(store.policiesOf(NS, cert('c1')), ['q', 'r', 'p']);
    assert.deepEqual(store.targets(NS, 'p'), [cert('c0'), cert('c1')]);
    assert.equal(await store.attach(NS, 'gone', cert('c1'), T0, 10), false, 'no such policy');
    assert.deepEqual(store.policiesOf(NS, cert('c1')), ['q', 'r', 'p']);
    assert.equal(await store.attach(NS, 'q', cert('c2'), T0, 1), true);
    assert.equal(await store.attach(NS, 'r', cert('c2'), T0, 1), false, 'the target has as many as it may');
    assert.deepEqual(store.policiesOf(NS, cert('c2')), ['q']);

    assert.equal(await store.deletePolicy(NS, 'p'), false, 'attached');
    assert.ok(store.policy(NS, 'p'));
    assert.equal(await store.detach(NS, 'p', cert('c1')), true);
    assert.equal(await store.detach(NS, 'p', cert('c1')), false);
    await store.detachTarget(NS, cert('c0'));
    assert.deepEqual(store.targets(NS, 'p'), []);
    assert.deepEqual(store.policiesOf(NS, cert('c0')), []);
    assert.equal(await store.deletePolicy(NS, 'p'), true);
    assert.equal(store.policy(NS, 'p'), undefined);
    assert.equal(await store.deletePolicy(NS, 'p'), false);
    await store.reload();
    assert.deepEqual(
      store.policies(NS).map((p) => p.name),
      ['q', 'r'],
    );
    assert.deepEqual(store.policiesOf(NS, cert('c1')), ['q', 'r']);
    assert.deepEqual(store.versions(NS, 'p'), [], 'its versions went with it');
  });

  test('service: AWS answers for versions, defaults, deletes and attachments', async () => {
    const { policies, changed } = await open(await engines.open());
    await policies.create(NS, 'p', { policyDocument: doc('a') });
    await assert.rejects(policies.create(NS, 'p', { policyDocument: doc('a') }), code('ResourceAlreadyExistsException'));
    for (let i = 2; i <= 5; i++) {
      const v = await policies.createVersion(NS, 'p', { policyDocument: doc(String(i)) }, i === 3 ? 'true' : undefined);
      assert.equal(v.policyVersionId, String(i));
    }
    assert.equal(policies.describe(NS, 'p').defaultVersionId, '3');
    await assert.rejects(policies.createVersion(NS, 'p', { policyDocument: doc('6') }, undefined), code('VersionsLimitExceededException'));
    await assert.rejects(policies.deleteVersion(NS, 'p', '3'), code('DeleteConflictException'));
    await policies.deleteVersion(NS, 'p', '1');
    assert.throws(() => policies.getVersion(NS, 'p', '1'), code('ResourceNotFoundException'));
    await policies.setDefaultVersion(NS, 'p', '5');
    assert.equal(policies.describe(NS, 'p').policyDocument, doc('5'));
    assert.deepEqual(policies.documents(NS, ['p']).length, 1);
    await policies.attach(NS, 'p', cert('c1'));
    await policies.attach(NS, 'p', cert('c1'));
    assert.deepEqual(policies.effectiveNames(NS, cert('c1'), undefined), ['p']);
    await assert.rejects(policies.delete(NS, 'p'), code('DeleteConflictException'));
    await policies.detachAll(NS, cert('c1'));
    await assert.rejects(policies.delete(NS, 'p'), code('DeleteConflictException'), 'more than one version');
    for (const v of ['2', '3', '4']) await policies.deleteVersion(NS, 'p', v);
    const before = changed.length;
    await policies.delete(NS, 'p');
    assert.ok(changed.length > before, 'cached decisions go');
    await assert.rejects(policies.delete(NS, 'p'), code('ResourceNotFoundException'));
    // Created again under its name: version 1 is the new document, not the one parsed before.
    await policies.create(NS, 'q', { policyDocument: doc('old') });
    assert.deepEqual(policies.documents(NS, ['q']), [parsePolicyDocument(doc('old'))]);
    await policies.delete(NS, 'q');
    await policies.create(NS, 'q', { policyDocument: doc('new') });
    assert.deepEqual(policies.documents(NS, ['q']), [parsePolicyDocument(doc('new'))]);
  });

  test('two nodes on one database: reload and refresh pick up the other node; stale writes decide again on what is there', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    await a.policies.create(NS, 'shared', { policyDocument: doc('a') });
    assert.equal(b.store.policy(NS, 'shared'), undefined, 'b has not read again yet');
    await b.store.reload();
    assert.equal(b.policies.describe(NS, 'shared').policyDocument, doc('a'));

    // a adds version 2; b, still holding the row before, adds one too: it becomes version 3.
    await a.policies.createVersion(NS, 'shared', { policyDocument: doc('v2') }, undefined);
    const viaB = await b.policies.createVersion(NS, 'shared', { policyDocument: doc('v3') }, 'true');
    assert.equal(viaB.policyVersionId, '3');
    await a.policies.refresh(NS, 'shared');
    assert.deepEqual(
      a.store.versions(NS, 'shared').map((v) => v.version),
      [3, 2, 1],
    );
    assert.equal(a.store.policy(NS, 'shared')?.defaultVersion, 3);
    assert.ok(a.changed.length > 0, 'refresh drops cached decisions');

    // a deletes version 2; b makes it the default from what it holds: not found, as AWS answers.
    await a.policies.deleteVersion(NS, 'shared', '2');
    await assert.rejects(b.policies.setDefaultVersion(NS, 'shared', '2'), code('ResourceNotFoundException'));
    assert.equal(b.store.version(NS, 'shared', 2), undefined);

    // b attaches; a, unaware, deletes: the database refuses, a learns why.
    await a.policies.deleteVersion(NS, 'shared', '1');
    await b.policies.attach(NS, 'shared', cert('c1'));
    assert.deepEqual(a.store.policiesOf(NS, cert('c1')), []);
    await assert.rejects(a.policies.delete(NS, 'shared'), code('DeleteConflictException'));
    assert.deepEqual(a.store.targets(NS, 'shared'), [cert('c1')]);

    // b detaches everything from the certificate; a re-reads the target.
    await b.policies.detachAll(NS, cert('c1'));
    await a.policies.refreshTarget(NS, cert('c1'));
    assert.deepEqual(a.store.policiesOf(NS, cert('c1')), []);

    // b deletes; a's attach from its stale copy answers as for a missing policy.
    await b.policies.delete(NS, 'shared');
    await assert.rejects(a.policies.attach(NS, 'shared', cert('c2')), code('ResourceNotFoundException'));
    assert.equal(a.store.policy(NS, 'shared'), undefined);

    // a creates it again; b, holding nothing of that name, is refused by the database.
    await a.policies.create(NS, 'shared', { policyDocument: doc('x') });
    await assert.rejects(b.policies.create(NS, 'shared', { policyDocument: doc('y') }), code('ResourceAlreadyExistsException'));
    assert.equal(b.policies.describe(NS, 'shared').policyDocument, doc('x'));
  });

  test('two nodes at once: versions numbered once each; a delete and an attach racing leave no attachment to a deleted policy', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    await a.policies.create(NS, 'race', { policyDocument: doc('a') });
    await b.store.reload();
    const made = await Promise.all([
      a.policies.createVersion(NS, 'race', { policyDocument: doc('x') }, undefined),
      b.policies.createVersion(NS, 'race', { policyDocument: doc('y') }, undefined),
    ]);
    assert.deepEqual(made.map((v) => v.policyVersionId).sort(), ['2', '3']);
    for (const v of ['2', '3']) await a.policies.deleteVersion(NS, 'race', v).catch(() => a.policies.refresh(NS, 'race'));
    await a.store.reload();
    await b.store.reload();
    assert.deepEqual(
      a.store.versions(NS, 'race').map((v) => v.version),
      [1],
    );

    for (let i = 0; i < 5; i++) {
      const name = `r${i}`;
      await a.policies.create(NS, name, { policyDocument: doc('a') });
      await b.store.reload();
      await Promise.allSettled([a.policies.delete(NS, name), b.policies.attach(NS, name, cert(`c${i}`))]);
      await a.store.reload();
      const exists = a.store.policy(NS, name) !== undefined;
      const attached = a.store.policiesOf(NS, cert(`c${i}`)).includes(name);
      assert.equal(attached, exists, `${name}: attached only to a policy that exists`);
      if (!exists) assert.deepEqual(a.store.versions(NS, name), []);
    }
  });
});

test('a database made before migrations keeps its policies, versions and attachments (the store created the tables)', async () => {
  const db = openDatabase(null);
  // The former schema, as policy-store.ts created it.
  db.exec(`
CREATE TABLE IF NOT EXISTS policies (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, default_version INTEGER NOT NULL,
  next_version INTEGER NOT NULL, created_at INTEGER NOT NULL, last_modified INTEGER NOT NULL,
  generation_id TEXT NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_versions (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, version INTEGER NOT NULL,
  document TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name, version)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS policy_targets (
  account_id TEXT NOT NULL, region TEXT NOT NULL, policy_name TEXT NOT NULL, target TEXT NOT NULL,
  attached_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, policy_name, target)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS policy_targets_by_target ON policy_targets (account_id, region, target);
`);
  db.prepare('INSERT INTO policies VALUES (?, ?, ?, ?, ?, ?, ?, ?)').run(ACCOUNT, 'us-east-1', 'old', 2, 3, T0, T0 + 5, 'gen-old');
  db.prepare('INSERT INTO policy_versions VALUES (?, ?, ?, ?, ?, ?)').run(ACCOUNT, 'us-east-1', 'old', 1, doc('one'), T0);
  db.prepare('INSERT INTO policy_versions VALUES (?, ?, ?, ?, ?, ?)').run(ACCOUNT, 'us-east-1', 'old', 2, doc('two'), T0 + 5);
  db.prepare('INSERT INTO policy_targets VALUES (?, ?, ?, ?, ?)').run(ACCOUNT, 'us-east-1', 'old', cert('c1'), T0 + 7);
  const { store, policies } = await open(sqliteEngine(db));
  assert.deepEqual(
    store.policy(NS, 'old'),
    row('old', { defaultVersion: 2, nextVersion: 3, lastModified: T0 + 5, generationId: 'gen-old' }),
  );
  assert.equal(policies.describe(NS, 'old').policyDocument, doc('two'));
  assert.deepEqual(store.policiesOf(NS, cert('c1')), ['old']);
  const v3 = await policies.createVersion(NS, 'old', { policyDocument: doc('three') }, undefined);
  assert.equal(v3.policyVersionId, '3');
  db.close();
});
