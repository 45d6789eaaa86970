/** The shadow store on SQLite and PostgreSQL: rows, conditional writes, the guesses a node keeps, two nodes on one database, a database of an earlier version. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JsonObject, StoredShadow } from '@thicket/shadow';
import type { Namespace } from '../src/accounts/namespace.js';
import { DEFAULT_SHADOW_SETTINGS, ShadowService } from '../src/shadow/shadow-service.js';
import { ShadowStore, shadowMigrations } from '../src/shadow/shadow-store.js';
import { Turns } from '../src/shadow/turns.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { onBothEngines } from './store-engines.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const EU: Namespace = { accountId: '123456789012', region: 'eu-west-1' };
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0);
const S0 = Math.floor(T0 / 1000);
const lamp = { thingName: 'lamp', shadowName: '' };

async function open(engine: SqlEngine): Promise<ShadowStore> {
  await migrate(engine, { shadow: shadowMigrations });
  return new ShadowStore(engine);
}

interface Node {
  store: ShadowStore;
  svc: ShadowService;
  published: Array<[string, JsonObject]>;
  clock: { now: number };
}

function node(store: ShadowStore, settings = DEFAULT_SHADOW_SETTINGS, clock = { now: T0 }): Node {
  const published: Array<[string, JsonObject]> = [];
  const svc = new ShadowService(
    store,
    (_ns, topic, doc) => published.push([topic, doc]),
    settings,
    () => clock.now,
  );
  return { store, svc, published, clock };
}

const shadow = (reported: JsonObject, version: number): StoredShadow => ({
  state: { reported },
  metadata: { reported: Object.fromEntries(Object.keys(reported).map((k) => [k, { timestamp: S0 }])) },
  version,
});

const reportedOf = (doc: JsonObject): Record<string, unknown> => (doc.state as { reported?: Record<string, unknown> }).reported ?? {};

onBothEngines('shadow store', (engines) => {
  test('rows: insert, read, conditional update, delete keeping the version, purge, per namespace', async () => {
    const store = await open(await engines.open());
    assert.equal(await store.read(NS, 'lamp', ''), undefined);
    assert.equal(await store.write(NS, 'lamp', '', undefined, shadow({ on: true }, 1), S0), true);
    const first = await store.read(NS, 'lamp', '');
    assert.deepEqual(first, { exists: true, shadow: shadow({ on: true }, 1), updatedAt: S0 });
    assert.equal(await store.read(EU, 'lamp', ''), undefined, 'another region has its own shadows');
    // Inserting what exists fails on the key: false, nothing stored.
    assert.equal(await store.write(NS, 'lamp', '', undefined, shadow({ on: 'again' }, 1), S0), false);

    assert.equal(await store.write(NS, 'lamp', '', first, shadow({ on: false }, 2), S0 + 1), true);
    // Based on what it was before: refused, and the store forgot its guess.
    assert.equal(await store.write(NS, 'lamp', '', first, shadow({ on: 'stale' }, 2), S0 + 2), false);
    assert.equal(store.cached(NS, 'lamp', ''), undefined);
    const second = await store.read(NS, 'lamp', '');
    assert.deepEqual(second, { exists: true, shadow: shadow({ on: false }, 2), updatedAt: S0 + 1 });
    assert.deepEqual(store.cached(NS, 'lamp', '')?.rec, second);

    assert.equal(await store.markDeleted(NS, 'lamp', '', first as never, S0 + 3, 0), false, 'not what the row holds');
    assert.equal(await store.markDeleted(NS, 'lamp', '', second as never, S0 + 3, 0), true);
    const tomb = await store.read(NS, 'lamp', '');
    assert.deepEqual(tomb, { exists: false, version: 2, deletedAt: S0 + 3 });
    // Created again on the tombstone it read.
    assert.equal(await store.write(NS, 'lamp', '', tomb, shadow({ on: 1 }, 3), S0 + 4), true);
    assert.equal((await store.read(NS, 'lamp', ''))?.exists, true);

    await store.write(NS, 'old', '', undefined, shadow({ x: 1 }, 1), S0);
    await store.markDeleted(NS, 'old', '', (await store.read(NS, 'old', '')) as never, S0, 0);
    assert.equal(await store.purgeDeleted(S0 + 1), 1);
    assert.equal(await store.read(NS, 'old', ''), undefined);
    assert.equal((await store.read(NS, 'lamp', ''))?.exists, true, 'a shadow that exists is never purged');

    await store.clear();
    assert.equal(store.cached(NS, 'lamp', ''), undefined);
    assert.equal(await store.read(NS, 'lamp', ''), undefined);
  });

  test('named shadows: listed after a name in code-unit order, deleted ones left out; counted', async () => {
    const store = await open(await engines.open());
    for (const name of ['', 'b', 'B', 'a', '$cfg', 'Z', 'gone', 'a-1'])
      await store.write(NS, 'multi', name, undefined, shadow({ n: name }, 1), S0);
    await store.write(NS, 'other', 'zz', undefined, shadow({}, 1), S0);
    await store.markDeleted(NS, 'multi', 'gone', (await store.read(NS, 'multi', 'gone')) as never, S0, 0);
    assert.deepEqual(await store.namedShadows(NS, 'multi', '', 10), ['$cfg', 'B', 'Z', 'a', 'a-1', 'b']);
    assert.deepEqual(await store.namedShadows(NS, 'multi', 'Z', 2), ['a', 'a-1']);
    assert.equal(await store.countNamed(NS, 'multi'), 6);
    assert.equal(await store.countNamed(NS, 'nobody'), 0);
  });

  test('service: updates, delete and version continuity, named shadows pages and their limit', async () => {
    const n = node(await open(await engines.open()), { ...DEFAULT_SHADOW_SETTINGS, maxNamedShadowsPerThing: 2 });
    const { svc, published } = n;
    assert.equal((await svc.update(NS, lamp, '{"state":{"desired":{"on":true}},"clientToken":"t"}')).version, 1);
    assert.deepEqual(
      published.map(([t]) => t),
      ['$aws/things/lamp/shadow/update/accepted', '$aws/things/lamp/shadow/update/delta', '$aws/things/lamp/shadow/update/documents'],
    );
    assert.equal((await svc.update(NS, lamp, '{"state":{"reported":{"on":true}},"version":1}')).version, 2);
    await assert.rejects(svc.update(NS, lamp, '{"state":{"reported":{"on":false}},"version":1}'), (e: { code?: number }) => e.code === 409);
    const got = await svc.get(NS, lamp, 'g');
    assert.deepEqual(got.state, { desired: { on: true }, reported: { on: true } });
    assert.equal(got.clientToken, 'g');
    assert.equal((await svc.delete(NS, lamp)).version, 2);
    await assert.rejects(svc.get(NS, lamp), /No shadow exists with name: 'lamp'/);
    await assert.rejects(svc.delete(NS, lamp), (e: { code?: number }) => e.code === 404);
    assert.equal((await svc.update(NS, lamp, '{"state":{"reported":{"x":1}}}')).version, 3);
    assert.deepEqual((await svc.get(NS, lamp)).state, { reported: { x: 1 } }, 'created again: nothing of before is merged');

    for (const name of ['b', 'a']) await svc.update(NS, { thingName: 'lamp', shadowName: name }, '{"state":{"reported":{"x":1}}}');
    await assert.rejects(
      svc.update(NS, { thingName: 'lamp', shadowName: 'c' }, '{"state":{"reported":{"x":1}}}'),
      /maximum of 2 named shadows/,
    );
    const page = await svc.listNamed(NS, 'lamp', 1, undefined);
    assert.deepEqual(page.results, ['a']);
    assert.deepEqual((await svc.listNamed(NS, 'lamp', 1, page.nextToken)).results, ['b']);
    await assert.rejects(svc.listNamed(NS, 'bad name', 1, undefined), /Invalid thing name/);
  });

  test('one node: requests for a thing apply in arrival order, whatever the engine takes', async () => {
    const { svc } = node(await open(await engines.open()));
    // Each names the version it expects: any reordering would be a 409.
    const answers = await Promise.all([
      svc.update(NS, lamp, '{"state":{"reported":{"k0":0}}}'),
      ...Array.from({ length: 30 }, (_, i) =>
        svc.update(NS, lamp, JSON.stringify({ state: { reported: { [`k${i + 1}`]: i + 1 } }, version: i + 1 })),
      ),
      svc.get(NS, lamp),
      svc.delete(NS, lamp),
      svc.update(NS, lamp, '{"state":{"reported":{"again":true}}}'),
    ]);
    assert.deepEqual(
      answers.map((a) => a.version),
      [...Array.from({ length: 31 }, (_, i) => i + 1), 31, 31, 32],
    );
    assert.equal(Object.keys(reportedOf(answers[31]!)).length, 31, 'the get saw every update before it');
  });

  test('two nodes on one database updating the same shadow at once: no update lost, versions strictly increasing', async () => {
    const a = node(await open(await engines.open()));
    const b = node(await open(await engines.open({ share: true })));
    const rounds = 25;
    const versions = new Map<string, number[]>();
    const writer = async (n: Node, name: string): Promise<void> => {
      const seen: number[] = [];
      versions.set(name, seen);
      for (let i = 0; i < rounds; i++) {
        const acc = await n.svc.update(NS, lamp, JSON.stringify({ state: { reported: { [`${name}${i}`]: i } } }));
        seen.push(acc.version as number);
      }
    };
    // Two writers per node: each node keeps its own order, and the nodes race each other.
    await Promise.all([writer(a, 'a'), writer(b, 'b'), writer(a, 'c'), writer(b, 'd')]);
    const all = [...versions.values()].flat().sort((x, y) => x - y);
    assert.deepEqual(
      all,
      Array.from({ length: 4 * rounds }, (_, i) => i + 1),
      'every update has its own version',
    );
    for (const [name, seen] of versions)
      assert.deepEqual(
        seen,
        [...seen].sort((x, y) => x - y),
        `${name}'s versions go up`,
      );
    for (const n of [a, b]) {
      const doc = await n.svc.get(NS, lamp);
      assert.equal(doc.version, 4 * rounds);
      assert.equal(Object.keys(reportedOf(doc)).length, 4 * rounds, 'no field lost');
    }
    // Every accepted document a node published carries a version the database gave it once.
    const publishedVersions = [...a.published, ...b.published].filter(([t]) => t.endsWith('/update/accepted')).map(([, d]) => d.version);
    assert.equal(new Set(publishedVersions).size, 4 * rounds);
  });

  test('two nodes creating the same new shadow at once: the second insert fails on the key and merges instead', async () => {
    const a = node(await open(await engines.open()));
    const b = node(await open(await engines.open({ share: true })));
    const [x, y] = await Promise.all([
      a.svc.update(NS, { thingName: 'fresh', shadowName: 'cfg' }, '{"state":{"reported":{"a":1}}}'),
      b.svc.update(NS, { thingName: 'fresh', shadowName: 'cfg' }, '{"state":{"reported":{"b":1}}}'),
    ]);
    assert.deepEqual([x.version, y.version].sort(), [1, 2]);
    assert.deepEqual(reportedOf(await a.svc.get(NS, { thingName: 'fresh', shadowName: 'cfg' })), { a: 1, b: 1 });
  });

  test("a node's guess is never an answer: after another node's update, delete or re-creation it decides on the database", async () => {
    const a = node(await open(await engines.open()));
    const b = node(await open(await engines.open({ share: true })));
    await a.svc.update(NS, lamp, '{"state":{"reported":{"from":"a"}}}');
    await b.svc.update(NS, lamp, '{"state":{"reported":{"from":"b"}}}');
    assert.equal((a.store.cached(NS, 'lamp', '')?.rec as { shadow: StoredShadow }).shadow.version, 1, 'a still guesses version 1');
    // Reads go to the database.
    assert.deepEqual(reportedOf(await a.svc.get(NS, lamp)), { from: 'b' });
    await b.svc.update(NS, lamp, '{"state":{"reported":{"n":3}}}');
    // A request naming the current version is not refused on a's stale guess.
    assert.equal((await a.svc.update(NS, lamp, '{"state":{"reported":{"n":4}},"version":3}')).version, 4);
    // One naming an old version is refused, as on one node.
    await assert.rejects(a.svc.update(NS, lamp, '{"state":{"reported":{"n":5}},"version":3}'), (e: { code?: number }) => e.code === 409);

    // b deletes it; a, guessing it exists, creates it anew (the version continues) without the old fields.
    assert.equal((await b.svc.delete(NS, lamp)).version, 4);
    const again = await a.svc.update(NS, lamp, '{"state":{"reported":{"new":true}}}');
    assert.equal(again.version, 5);
    assert.deepEqual(reportedOf(await b.svc.get(NS, lamp)), { new: true });
    // b, guessing it deleted at version 4, deletes a's new shadow: it exists in the database.
    assert.equal((await b.svc.delete(NS, lamp)).version, 5);
    // a, guessing it exists, is told it does not.
    await assert.rejects(a.svc.delete(NS, lamp), /No shadow exists with name: 'lamp'/);
  });

  test('refresh reads one shadow again; clear empties the database and the guesses', async () => {
    const a = node(await open(await engines.open()));
    const b = node(await open(await engines.open({ share: true })));
    await a.svc.update(NS, lamp, '{"state":{"reported":{"v":1}}}');
    await b.svc.update(NS, lamp, '{"state":{"reported":{"v":2}}}');
    await a.store.refresh(NS, 'lamp', '');
    assert.deepEqual((a.store.cached(NS, 'lamp', '')?.rec as { shadow: StoredShadow }).shadow.state, { reported: { v: 2 } });
    await b.svc.clear();
    await a.store.refresh(NS, 'lamp', '');
    const held = a.store.cached(NS, 'lamp', '');
    assert.ok(held !== undefined && held.rec === undefined, 'a holds that there is no row');
    // a's guess says there is no row; b's clear left none: a creates it at version 1.
    assert.equal((await a.svc.update(NS, lamp, '{"state":{"reported":{"v":3}}}')).version, 1);
  });
});

test('turns: a busy key queues in order, an idle one starts at once, a failure does not stop the queue', async () => {
  const turns = new Turns();
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = turns.run('k', async () => {
    order.push('first');
    await gate;
    order.push('first done');
  });
  const failing = turns.run('k', async () => {
    order.push('failing');
    throw new Error('boom');
  });
  const third = turns.run('k', async () => {
    order.push('third');
    return 3;
  });
  let other = false;
  void turns.run('other', async () => {
    other = true;
  });
  assert.equal(other, true, 'an idle key starts in the caller');
  assert.deepEqual(order, ['first']);
  release();
  await first;
  await assert.rejects(failing, /boom/);
  assert.equal(await third, 3);
  assert.deepEqual(order, ['first', 'first done', 'failing', 'third']);
  await new Promise((r) => setImmediate(r));
  assert.equal(turns.busy, 0, 'idle keys are dropped');
});

test('SQLite: an update to a shadow the node holds is written before the call returns', async () => {
  const db = openDatabase(null);
  const { svc } = node(await open(sqliteEngine(db)));
  await svc.update(NS, lamp, '{"state":{"reported":{"n":1}}}');
  const pending = svc.update(NS, lamp, '{"state":{"reported":{"n":2}}}');
  const row = db.prepare("SELECT version FROM shadows WHERE thing_name = 'lamp'").get() as { version: number };
  assert.equal(row.version, 2, 'written synchronously (the broker acknowledges the request right after)');
  await pending;
});

test('a database made before migrations keeps its shadows (the store created the table)', async () => {
  const db = openDatabase(null);
  // The former schema, as shadow-store.ts created it.
  db.exec(`
CREATE TABLE IF NOT EXISTS shadows (
  account_id TEXT NOT NULL, region TEXT NOT NULL, thing_name TEXT NOT NULL,
  shadow_name TEXT NOT NULL,
  version INTEGER NOT NULL,
  document TEXT,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, thing_name, shadow_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS shadows_deleted ON shadows (updated_at) WHERE document IS NULL;
`);
  const insert = db.prepare('INSERT INTO shadows VALUES (?, ?, ?, ?, ?, ?, ?)');
  insert.run(
    NS.accountId,
    NS.region,
    'old',
    '',
    7,
    JSON.stringify({ state: { reported: { kept: true } }, metadata: { reported: { kept: { timestamp: S0 } } } }),
    S0,
  );
  insert.run(NS.accountId, NS.region, 'old', 'gone', 3, null, S0);
  const { svc, store } = node(await open(sqliteEngine(db)));
  const doc = await svc.get(NS, { thingName: 'old', shadowName: '' });
  assert.equal(doc.version, 7);
  assert.deepEqual(doc.state, { reported: { kept: true } });
  assert.deepEqual(await store.read(NS, 'old', 'gone'), { exists: false, version: 3, deletedAt: S0 });
  assert.equal((await svc.update(NS, { thingName: 'old', shadowName: '' }, '{"state":{"reported":{"more":1}}}')).version, 8);
  assert.equal((await svc.update(NS, { thingName: 'old', shadowName: 'gone' }, '{"state":{"reported":{"back":1}}}')).version, 4);
  db.close();
});
