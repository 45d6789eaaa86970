/**
 * The registry store on SQLite and PostgreSQL: things, thing types, thing groups and their members,
 * billing groups, thing principals and event configurations; tags in the same transaction; writes
 * the database decides (versions, what a row needs still being there); a database of an earlier
 * version; two nodes on one database (reload and key-level refresh).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace } from '../src/accounts/namespace.js';
import type { AwsError } from '../src/aws/errors.js';
import { BillingGroups, billingGroupArn } from '../src/registry/billing-groups.js';
import { RegistryEvents } from '../src/registry/events.js';
import { RegistryStore, registryMigrations, type ThingRow } from '../src/registry/registry-store.js';
import { ThingGroups, thingGroupArn } from '../src/registry/thing-groups.js';
import { ThingTypes, thingTypeArn } from '../src/registry/thing-types.js';
import { Things, thingArn } from '../src/registry/things.js';
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
const CERT = (id: string): string => `arn:aws:iot:us-east-1:123456789012:cert/${id}`;

async function open(engine: SqlEngine) {
  await migrate(engine, { tags: tagMigrations, registry: registryMigrations });
  const store = await RegistryStore.open(engine);
  const tags = new TagStore(engine);
  const published: string[] = [];
  const events = new RegistryEvents(store, (_ns, topic) => void published.push(topic));
  const billingGroups = new BillingGroups(store, tags);
  return {
    store,
    tags,
    events,
    published,
    billingGroups,
    things: new Things(store, events, tags, billingGroups),
    types: new ThingTypes(store, events, tags),
    groups: new ThingGroups(store, events, tags),
  };
}

const code = (name: string) => (e: AwsError) => {
  assert.equal(e.code, name, e.message);
  return true;
};

const names = (rows: Array<{ thingName: string }>): string[] => rows.map((t) => t.thingName);

function thing(name: string, over: Partial<ThingRow> = {}): ThingRow {
  return { thingName: name, thingId: `id-${name}`, thingTypeName: null, attributes: { a: '1' }, version: 1, createdAt: T0, ...over };
}

onBothEngines('registry store', (engines) => {
  test('things: created, read, listed by code unit per namespace and paged; an update applies only to the version it read', async () => {
    const r = await open(await engines.open());
    for (const n of ['b', 'B', 'a', '_x']) await r.things.create(NS, n, {});
    await r.things.create(EU, 'z', {});
    assert.deepEqual(names(r.store.thingsByName(NS)), ['B', '_x', 'a', 'b']);
    assert.deepEqual(names(r.store.thingsByName(NS, { after: '_x' })), ['a', 'b']);
    assert.deepEqual(names(r.store.thingsByName(EU)), ['z']);
    const first = r.things.list(NS, { maxResults: 3 });
    assert.deepEqual(
      first.things.map((t) => t.thingName),
      ['B', '_x', 'a'],
    );
    assert.deepEqual(
      r.things.list(NS, { maxResults: 3, nextToken: first.nextToken }).things.map((t) => t.thingName),
      ['b'],
    );

    assert.equal(await r.store.insertThing(NS, thing('epoch')), true);
    assert.deepEqual(r.store.thing(NS, 'epoch'), thing('epoch'));
    // The name is taken: the database refuses, whatever this store held.
    assert.equal(await r.store.insertThing(NS, thing('epoch', { thingId: 'other' })), false);
    assert.equal(r.store.thing(NS, 'epoch')?.thingId, 'id-epoch');

    const current = r.store.thing(NS, 'epoch')!;
    const next = { ...current, attributes: { a: '2' }, version: 2 };
    assert.equal(await r.store.updateThing(NS, current, next), true);
    assert.equal(await r.store.updateThing(NS, current, { ...current, attributes: { a: 'stale' }, version: 2 }), false);
    assert.deepEqual(r.store.thing(NS, 'epoch'), next);
    await r.store.reload();
    assert.deepEqual(r.store.thing(NS, 'epoch'), next);

    // UpdateThing merges, checks expectedVersion and publishes after the write.
    await r.events.configure(NS, { THING: true });
    await r.things.update(NS, 'epoch', { attributePayload: { attributes: { b: 'x', a: '' }, merge: true }, expectedVersion: 2 });
    assert.deepEqual(r.store.thing(NS, 'epoch')?.attributes, { b: 'x' });
    await assert.rejects(r.things.update(NS, 'epoch', { expectedVersion: 2 }), code('VersionConflictException'));
    assert.deepEqual(r.published, ['$aws/events/thing/epoch/updated']);
  });

  test('deleting a thing takes its group memberships, billing group and tags with it, and is refused while a principal is attached', async () => {
    const r = await open(await engines.open());
    await r.groups.create(NS, 'g', {});
    await r.billingGroups.create(NS, 'bill', {});
    await r.things.create(NS, 'dev', { billingGroupName: 'bill' });
    await r.groups.addThing(NS, { thingGroupName: 'g', thingName: 'dev' });
    await r.tags.put(thingArn(NS, 'dev'), [{ Key: 'k', Value: 'v' }]);
    assert.equal(await r.store.attachPrincipal(NS, 'dev', CERT('c1'), false), true);

    await assert.rejects(r.things.delete(NS, 'dev'), code('InvalidRequestException'));
    // Even when this store does not know of the principal: the database refuses, and the store reads it again.
    const stale = await open(await engines.open({ share: true }));
    const held = stale.store.thing(NS, 'dev')!;
    await r.store.detachPrincipal(NS, 'dev', CERT('c1'));
    await r.store.attachPrincipal(NS, 'dev', CERT('c2'), true);
    assert.deepEqual(stale.store.principalsOf(NS, 'dev'), [{ principal: CERT('c1'), exclusive: false }]);
    assert.equal(await stale.store.deleteThing(NS, held, stale.tags.removing(thingArn(NS, 'dev'))), false);
    assert.deepEqual(stale.store.principalsOf(NS, 'dev'), [{ principal: CERT('c2'), exclusive: true }]);
    assert.deepEqual(await r.tags.list(thingArn(NS, 'dev')), [{ Key: 'k', Value: 'v' }], 'the tags stay with the thing');
    assert.deepEqual(r.store.groups.membersOf(NS, 'g'), ['dev']);

    await r.store.detachPrincipal(NS, 'dev', CERT('c2'));
    await r.things.delete(NS, 'dev');
    assert.equal(r.store.thing(NS, 'dev'), undefined);
    assert.deepEqual(r.store.groups.groupsOfThing(NS, 'dev'), []);
    assert.deepEqual(r.store.groups.membersOf(NS, 'g'), []);
    assert.deepEqual(r.store.billing.billingGroupMembers(NS, 'bill'), []);
    assert.deepEqual(await r.tags.list(thingArn(NS, 'dev')), []);
    await r.store.reload();
    assert.deepEqual(r.store.groups.membersOf(NS, 'g'), []);
    assert.equal(r.store.billing.billingGroupOf(NS, 'dev'), undefined);
    // A thing created again under the name starts in no group.
    await r.things.create(NS, 'dev', {});
    assert.deepEqual(r.store.groups.groupsOfThing(NS, 'dev'), []);
    await r.things.delete(NS, 'missing');
  });

  test('thing types: tags with the type; a thing of a deprecated or missing type is refused by the database; delete only when unused', async () => {
    const r = await open(await engines.open());
    await r.types.create(NS, 'sensor', { tags: [{ Key: 'team', Value: 'a' }], thingTypeProperties: { searchableAttributes: ['x'] } });
    assert.deepEqual(await r.tags.list(thingTypeArn(NS, 'sensor')), [{ Key: 'team', Value: 'a' }]);
    await assert.rejects(r.types.create(NS, 'sensor', {}), code('ResourceAlreadyExistsException'));
    await r.things.create(NS, 'dev', { thingTypeName: 'sensor' });
    await r.types.deprecate(NS, 'sensor', {});
    assert.equal(r.store.thingType(NS, 'sensor')?.deprecated, true);
    await assert.rejects(r.types.delete(NS, 'sensor'), code('InvalidRequestException'));
    // Written past the service: the deprecated type undoes the insert.
    assert.equal(await r.store.insertThing(NS, thing('late', { thingTypeName: 'sensor' })), false);
    assert.equal(await r.store.insertThing(NS, thing('nowhere', { thingTypeName: 'missing' })), false);
    assert.equal(r.store.thing(NS, 'late'), undefined);
    assert.equal(r.store.thing(NS, 'nowhere'), undefined);
    // The type's delete refused while a thing has it, whatever the store held.
    assert.equal(await r.store.deleteThingType(NS, r.store.thingType(NS, 'sensor')!), false);
    assert.ok(r.store.thingType(NS, 'sensor'));

    await r.things.update(NS, 'dev', { removeThingType: true });
    await r.types.delete(NS, 'sensor');
    assert.equal(r.store.thingType(NS, 'sensor'), undefined);
    assert.deepEqual(await r.tags.list(thingTypeArn(NS, 'sensor')), []);
    for (const n of ['b', 'A', 'a']) await r.types.create(NS, n, {});
    assert.deepEqual(
      r.store.thingTypes(NS).map((t) => t.name),
      ['A', 'a', 'b'],
    );
    // An update applies only to the row it read.
    const t = r.store.thingType(NS, 'a')!;
    assert.equal(await r.store.updateThingType(NS, t, { ...t, description: 'one' }), true);
    assert.equal(await r.store.updateThingType(NS, t, { ...t, description: 'two' }), false);
    assert.equal(r.store.thingType(NS, 'a')?.description, 'one');
  });

  test('thing groups: under a parent that is there, members both ways, deleted with their memberships and tags, never with children', async () => {
    const r = await open(await engines.open());
    await r.events.configure(NS, { THING_GROUP_MEMBERSHIP: true });
    await r.groups.create(NS, 'root', { tags: [{ Key: 'k', Value: 'v' }] });
    await r.groups.create(NS, 'child', { parentGroupName: 'root' });
    await r.groups.create(NS, 'other', {});
    for (const n of ['t2', 't1']) await r.things.create(NS, n, {});
    await r.groups.addThing(NS, { thingGroupName: 'child', thingName: 't1' });
    await r.groups.addThing(NS, { thingGroupName: 'child', thingName: 't2' });
    await r.groups.updateGroupsForThing(NS, { thingName: 't1', thingGroupsToAdd: ['other'] });
    assert.deepEqual(r.store.groups.membersOf(NS, 'child'), ['t1', 't2']);
    assert.deepEqual(r.store.groups.groupsOfThing(NS, 't1'), ['child', 'other']);
    assert.deepEqual(r.groups.groupsReaching(NS, 't1').sort(), ['child', 'other', 'root']);
    // One group per hierarchy; the failed request changes nothing.
    await assert.rejects(
      r.groups.updateGroupsForThing(NS, { thingName: 't1', thingGroupsToRemove: ['other'], thingGroupsToAdd: ['root'] }),
      code('InvalidRequestException'),
    );
    assert.deepEqual(r.store.groups.groupsOfThing(NS, 't1'), ['child', 'other']);

    // Past the service: a parent or thing that is not there undoes the write.
    const orphan = { name: 'orphan', id: 'x', parentName: 'gone', description: null, attributes: {}, version: 1, createdAt: T0 };
    assert.equal(await r.store.groups.insertGroup(NS, orphan), false);
    assert.equal(r.store.group(NS, 'orphan'), undefined);
    assert.equal(await r.store.groups.changeMemberships(NS, 'ghost', { add: ['other'] }), false);
    assert.deepEqual(r.store.groups.membersOf(NS, 'other'), ['t1']);

    await assert.rejects(r.groups.delete(NS, 'root'), code('InvalidRequestException'));
    await r.groups.delete(NS, 'child');
    assert.deepEqual(r.published.slice(-2), [
      '$aws/events/thingGroupMembership/thingGroup/child/thing/t1/removed',
      '$aws/events/thingGroupMembership/thingGroup/child/thing/t2/removed',
    ]);
    assert.deepEqual(r.store.groups.groupsOfThing(NS, 't1'), ['other']);
    await r.groups.delete(NS, 'root');
    assert.deepEqual(await r.tags.list(thingGroupArn(NS, 'root')), []);
    await r.store.reload();
    assert.deepEqual(
      r.store.groups.groups(NS).map((g) => g.name),
      ['other'],
    );
    assert.deepEqual(r.store.groups.membersOf(NS, 'other'), ['t1']);

    const g = r.store.group(NS, 'other')!;
    const next = { ...g, description: 'd', version: 2 };
    assert.equal(await r.store.groups.updateGroup(NS, g, next), true);
    assert.equal(await r.store.groups.updateGroup(NS, g, { ...g, version: 2 }), false);
    assert.deepEqual(r.store.group(NS, 'other'), next);
  });

  test('billing groups: one per thing, moved, removed, deleted leaving the things in none', async () => {
    const r = await open(await engines.open());
    await r.billingGroups.create(NS, 'b1', { tags: [{ Key: 'cost', Value: 'x' }] });
    await r.billingGroups.create(NS, 'b2', {});
    await r.things.create(NS, 'dev', { billingGroupName: 'b1' });
    await r.things.create(NS, 'dev2', {});
    assert.equal(r.store.billing.billingGroupOf(NS, 'dev'), 'b1');
    await r.billingGroups.addThing(NS, { billingGroupName: 'b2', thingName: 'dev' });
    await r.billingGroups.addThing(NS, { billingGroupName: 'b2', thingName: 'dev2' });
    assert.equal(r.store.billing.billingGroupOf(NS, 'dev'), 'b2');
    assert.deepEqual(r.store.billing.billingGroupMembers(NS, 'b1'), []);
    assert.deepEqual(r.store.billing.billingGroupMembers(NS, 'b2'), ['dev', 'dev2']);
    await r.billingGroups.removeThing(NS, { billingGroupName: 'b2', thingName: 'dev2' });
    assert.equal(r.store.billing.billingGroupOf(NS, 'dev2'), undefined);
    // A group that is not there undoes the write.
    assert.equal(await r.store.billing.setBillingGroupOf(NS, 'dev', 'gone'), false);
    assert.equal(r.store.billing.billingGroupOf(NS, 'dev'), 'b2');

    const g = r.store.billing.billingGroup(NS, 'b2')!;
    await r.billingGroups.update(NS, 'b2', { billingGroupProperties: { billingGroupDescription: 'd' } });
    assert.equal(await r.store.billing.updateBillingGroup(NS, g, { ...g, version: 2 }), false);
    assert.equal(r.store.billing.billingGroup(NS, 'b2')?.description, 'd');
    await assert.rejects(r.billingGroups.delete(NS, 'b2', '1'), code('VersionConflictException'));
    await r.billingGroups.delete(NS, 'b2', '2');
    await r.billingGroups.delete(NS, 'b1');
    assert.equal(r.store.billing.billingGroupOf(NS, 'dev'), undefined);
    assert.deepEqual(await r.tags.list(billingGroupArn(NS, 'b1')), []);
    await r.store.reload();
    assert.deepEqual(r.store.billing.billingGroups(NS), []);
    assert.equal(r.store.billing.billingGroupOf(NS, 'dev'), undefined);
  });

  test('principals: found from either end; an exclusive attachment is decided by the database; event configurations; clear', async () => {
    const r = await open(await engines.open());
    for (const n of ['t2', 't1', 'T3']) await r.things.create(NS, n, {});
    assert.equal(await r.store.attachPrincipal(NS, 't1', CERT('ex'), true), true);
    assert.equal(await r.store.attachPrincipal(NS, 't2', CERT('ex'), false), false);
    for (const n of ['t2', 't1', 'T3']) assert.equal(await r.store.attachPrincipal(NS, n, CERT('shared'), false), true);
    assert.equal(await r.store.attachPrincipal(NS, 't1', CERT('shared'), true), false);
    assert.equal(await r.store.attachPrincipal(NS, 'ghost', CERT('x'), false), false);
    assert.deepEqual(r.store.thingsOf(NS, CERT('shared')), [
      { thingName: 'T3', exclusive: false },
      { thingName: 't1', exclusive: false },
      { thingName: 't2', exclusive: false },
    ]);
    assert.deepEqual(r.store.principalsOf(NS, 't1'), [
      { principal: CERT('ex'), exclusive: true },
      { principal: CERT('shared'), exclusive: false },
    ]);
    assert.deepEqual(r.store.thingsOf(EU, CERT('shared')), []);
    assert.equal(await r.store.detachPrincipal(NS, 't1', CERT('shared')), true);
    assert.equal(await r.store.detachPrincipal(NS, 't1', CERT('shared')), false);
    await r.store.reload();
    assert.deepEqual(names(r.store.thingsOf(NS, CERT('shared'))), ['T3', 't2']);
    assert.deepEqual(r.store.thingsOf(NS, CERT('ex')), [{ thingName: 't1', exclusive: true }]);

    await r.events.configure(NS, { THING: true, JOB: false });
    await r.events.configure(NS, { THING: false, THING_GROUP: true });
    await r.store.reload();
    assert.equal(r.events.enabled(NS, 'THING'), false);
    assert.equal(r.events.enabled(NS, 'THING_GROUP'), true);
    assert.equal(r.events.enabled(EU, 'THING_GROUP'), false);
    assert.deepEqual(
      r.store
        .eventConfigurations(NS)
        .map((c) => c.type)
        .sort(),
      ['JOB', 'THING', 'THING_GROUP'],
    );

    await r.groups.create(NS, 'g', {});
    await r.types.create(NS, 'ty', {});
    await r.billingGroups.create(NS, 'b', {});
    await r.store.clear();
    for (const s of [r.store]) {
      assert.deepEqual(s.thingsByName(NS), []);
      assert.deepEqual(s.thingsOf(NS, CERT('ex')), []);
      assert.equal(s.group(NS, 'g'), undefined);
    }
    await r.store.reload();
    assert.deepEqual(r.store.thingsByName(NS), []);
    assert.deepEqual(r.store.thingTypes(NS), []);
    assert.deepEqual(r.store.groups.groups(NS), []);
    assert.deepEqual(r.store.billing.billingGroups(NS), []);
    assert.deepEqual(r.store.eventConfigurations(NS), []);
  });

  test('two nodes on one database: reload and refresh pick up the other one; stale writes are decided again on what is there', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    await a.things.create(NS, 'shared', { attributePayload: { attributes: { x: '1' } } });
    assert.equal(b.store.thing(NS, 'shared'), undefined, 'b has not read again yet');
    await b.store.refreshThing(NS, 'shared');
    assert.deepEqual(b.store.thing(NS, 'shared')?.attributes, { x: '1' });

    // Two merges from two nodes: b's, made on version 1, is read and merged again.
    await a.things.update(NS, 'shared', { attributePayload: { attributes: { y: '2' }, merge: true } });
    await b.things.update(NS, 'shared', { attributePayload: { attributes: { z: '3' }, merge: true } });
    assert.deepEqual(b.store.thing(NS, 'shared'), { ...a.store.thing(NS, 'shared')!, attributes: { x: '1', y: '2', z: '3' }, version: 3 });
    await a.store.refreshThing(NS, 'shared');
    assert.deepEqual(a.store.thing(NS, 'shared')?.attributes, { x: '1', y: '2', z: '3' });
    // expectedVersion is held to the version the database has.
    await a.things.update(NS, 'shared', { attributePayload: { attributes: { x: '4' }, merge: true } });
    await assert.rejects(b.things.update(NS, 'shared', { expectedVersion: 3 }), code('VersionConflictException'));
    await assert.rejects(b.things.delete(NS, 'shared', '3'), code('VersionConflictException'));
    assert.equal(b.store.thing(NS, 'shared')?.version, 4);
    // Creating what a created answers from what the database has.
    await a.things.create(NS, 'dup', {});
    const again = await b.things.create(NS, 'dup', {});
    assert.equal(again.thingId, a.store.thing(NS, 'dup')?.thingId);

    // A thing type that b gave a thing cannot be deleted by a.
    await a.types.create(NS, 'tt', {});
    await b.store.refreshThingType(NS, 'tt');
    await b.things.create(NS, 'typed', { thingTypeName: 'tt' });
    await a.types.deprecate(NS, 'tt', {});
    await assert.rejects(a.types.delete(NS, 'tt'), code('InvalidRequestException'));

    // Groups and memberships: b joins a thing that a deleted meanwhile to a group.
    await a.groups.create(NS, 'g', {});
    await a.things.create(NS, 'gone', {});
    await b.store.reload();
    await a.things.delete(NS, 'gone');
    await assert.rejects(b.groups.addThing(NS, { thingGroupName: 'g', thingName: 'gone' }), code('ResourceNotFoundException'));
    assert.equal(b.store.thing(NS, 'gone'), undefined);
    await a.groups.addThing(NS, { thingGroupName: 'g', thingName: 'shared' });
    await a.groups.create(NS, 'kid', { parentGroupName: 'g' });
    assert.deepEqual(b.store.groups.membersOf(NS, 'g'), []);
    await b.store.refreshGroup(NS, 'g');
    assert.deepEqual(b.store.groups.membersOf(NS, 'g'), ['shared']);
    assert.deepEqual(b.store.groups.groupsOfThing(NS, 'shared'), ['g']);
    assert.deepEqual(
      b.store.groups.children(NS, 'g').map((g) => g.name),
      ['kid'],
    );
    // b deletes the group a gave a child it did not know of: refused as AWS refuses.
    await a.groups.create(NS, 'parent', {});
    await b.store.refreshGroup(NS, 'parent');
    await a.groups.create(NS, 'late-kid', { parentGroupName: 'parent' });
    await assert.rejects(b.groups.delete(NS, 'parent'), code('InvalidRequestException'));

    // Billing groups and principals, refreshed by key.
    await a.billingGroups.create(NS, 'bill', {});
    await a.billingGroups.addThing(NS, { billingGroupName: 'bill', thingName: 'shared' });
    await b.store.refreshBillingGroup(NS, 'bill');
    assert.equal(b.store.billing.billingGroupOf(NS, 'shared'), 'bill');
    await a.store.attachPrincipal(NS, 'shared', CERT('p'), true);
    assert.equal(await b.store.attachPrincipal(NS, 'typed', CERT('p'), false), false, 'the database knows the exclusive attachment');
    assert.deepEqual(b.store.thingsOf(NS, CERT('p')), [{ thingName: 'shared', exclusive: true }]);
    await a.store.detachPrincipal(NS, 'shared', CERT('p'));
    await b.store.refreshPrincipal(NS, CERT('p'));
    assert.deepEqual(b.store.thingsOf(NS, CERT('p')), []);
    await a.events.configure(NS, { THING_TYPE: true });
    await b.store.refreshEventConfigurations(NS);
    assert.equal(b.events.enabled(NS, 'THING_TYPE'), true);

    await Promise.all([a.store.reload(), b.store.reload()]);
    assert.deepEqual(names(b.store.thingsByName(NS)), ['dup', 'shared', 'typed']);
    assert.deepEqual(names(b.store.thingsByName(NS)), names(a.store.thingsByName(NS)));
    assert.deepEqual(b.store.thing(NS, 'shared'), a.store.thing(NS, 'shared'));
  });
});

test('a database made before migrations keeps its registry (the store created the tables)', async () => {
  const db = openDatabase(null);
  // The former schema, as registry-store.ts created it.
  db.exec(`
CREATE TABLE IF NOT EXISTS things (
  account_id TEXT NOT NULL, region TEXT NOT NULL, thing_name TEXT NOT NULL, thing_id TEXT NOT NULL,
  thing_type_name TEXT, attributes TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, thing_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS things_by_type ON things (account_id, region, thing_type_name);
CREATE TABLE IF NOT EXISTS thing_types (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL, description TEXT,
  searchable_attributes TEXT NOT NULL, mqtt5_configuration TEXT, deprecated INTEGER NOT NULL,
  deprecated_at INTEGER, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS thing_groups (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL, parent_name TEXT,
  description TEXT, attributes TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS thing_group_members (
  account_id TEXT NOT NULL, region TEXT NOT NULL, group_name TEXT NOT NULL, thing_name TEXT NOT NULL,
  PRIMARY KEY (account_id, region, group_name, thing_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_members_by_thing ON thing_group_members (account_id, region, thing_name);
CREATE TABLE IF NOT EXISTS billing_groups (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL, description TEXT,
  version INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS billing_group_members (
  account_id TEXT NOT NULL, region TEXT NOT NULL, thing_name TEXT NOT NULL, group_name TEXT NOT NULL,
  PRIMARY KEY (account_id, region, thing_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS billing_members_by_group ON billing_group_members (account_id, region, group_name, thing_name);
CREATE TABLE IF NOT EXISTS thing_principals (
  account_id TEXT NOT NULL, region TEXT NOT NULL, thing_name TEXT NOT NULL, principal TEXT NOT NULL,
  exclusive INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, thing_name, principal)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS thing_principals_by_principal ON thing_principals (account_id, region, principal);
CREATE TABLE IF NOT EXISTS event_configurations (
  account_id TEXT NOT NULL, region TEXT NOT NULL, event_type TEXT NOT NULL, enabled INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, event_type)) WITHOUT ROWID;
`);
  const row = (table: string, values: unknown[]) =>
    db.prepare(`INSERT INTO ${table} VALUES (${values.map(() => '?').join(', ')})`).run(...values);
  const { accountId, region } = NS;
  row('things', [accountId, region, 'old', 'old-id', 'legacy', '{"k":"v"}', 3, T0]);
  row('thing_types', [accountId, region, 'legacy', 'type-id', 'kept', '["k"]', null, 1, T0 + 1, T0]);
  row('thing_groups', [accountId, region, 'fleet', 'group-id', null, null, '{}', 2, T0]);
  row('thing_group_members', [accountId, region, 'fleet', 'old']);
  row('billing_groups', [accountId, region, 'costs', 'bill-id', 'd', 1, T0]);
  row('billing_group_members', [accountId, region, 'old', 'costs']);
  row('thing_principals', [accountId, region, 'old', CERT('c'), 1]);
  row('event_configurations', [accountId, region, 'THING', 1, T0]);

  const r = await open(sqliteEngine(db));
  assert.deepEqual(r.store.thing(NS, 'old'), {
    thingName: 'old',
    thingId: 'old-id',
    thingTypeName: 'legacy',
    attributes: { k: 'v' },
    version: 3,
    createdAt: T0,
  });
  assert.deepEqual(r.store.thingType(NS, 'legacy'), {
    name: 'legacy',
    id: 'type-id',
    description: 'kept',
    searchableAttributes: ['k'],
    mqtt5Configuration: undefined,
    deprecated: true,
    deprecatedAt: T0 + 1,
    createdAt: T0,
  });
  assert.deepEqual(r.store.groups.membersOf(NS, 'fleet'), ['old']);
  assert.equal(r.store.billing.billingGroupOf(NS, 'old'), 'costs');
  assert.deepEqual(r.store.thingsOf(NS, CERT('c')), [{ thingName: 'old', exclusive: true }]);
  assert.equal(r.events.enabled(NS, 'THING'), true);
  // The old tables take the new writes.
  await r.things.update(NS, 'old', { attributePayload: { attributes: { k: 'w' }, merge: true }, expectedVersion: 3 });
  await assert.rejects(r.things.delete(NS, 'old'), code('InvalidRequestException'));
  await r.store.detachPrincipal(NS, 'old', CERT('c'));
  await r.things.delete(NS, 'old');
  assert.deepEqual(db.prepare('SELECT COUNT(*) AS n FROM thing_group_members').get(), { n: 0 });
  db.close();
});
