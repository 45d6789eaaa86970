/** The shadow service on a real SQLite database with a controlled clock: version continuity after deletion. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { JsonObject } from '@thicket/shadow';
import { openDatabase } from '../src/store/database.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { ShadowStore, shadowMigrations } from '../src/shadow/shadow-store.js';
import { DEFAULT_SHADOW_SETTINGS, ShadowService } from '../src/shadow/shadow-service.js';

const ns = { accountId: '123456789012', region: 'us-east-1' };
const lamp = { thingName: 'lamp', shadowName: '' };
const update = '{"state":{"reported":{"on":true}}}';

async function service(): Promise<{
  svc: ShadowService;
  clock: { now: number };
  published: Array<[string, JsonObject]>;
  store: ShadowStore;
}> {
  const clock = { now: Date.UTC(2026, 10, 26) };
  const published: Array<[string, JsonObject]> = [];
  const engine = sqliteEngine(openDatabase(null));
  await migrate(engine, { shadow: shadowMigrations });
  const store = new ShadowStore(engine);
  const svc = new ShadowService(
    store,
    (_ns, topic, doc) => published.push([topic, doc]),
    DEFAULT_SHADOW_SETTINGS,
    () => clock.now,
  );
  return { svc, clock, published, store };
}

test('a shadow re-created within 48 hours of its deletion continues its versions; after 48 hours it starts again at 1', async () => {
  const { svc, clock } = await service();
  for (let i = 0; i < 3; i++) await svc.update(ns, lamp, update);
  assert.equal((await svc.delete(ns, lamp)).version, 3);
  clock.now += 47 * 3600_000;
  assert.equal((await svc.update(ns, lamp, update)).version, 4);
  assert.equal((await svc.delete(ns, lamp)).version, 4);
  clock.now += 48 * 3600_000 + 1000;
  assert.equal((await svc.update(ns, lamp, update)).version, 1);
});

test('old deletions are purged from the table; recent ones are kept', async () => {
  const { svc, clock, store } = await service();
  const old = { thingName: 'old', shadowName: '' };
  await svc.update(ns, old, update);
  await svc.delete(ns, old);
  clock.now += 49 * 3600_000;
  await svc.update(ns, lamp, update);
  await svc.delete(ns, lamp);
  assert.equal(await store.read(ns, 'old', ''), undefined, 'the expired tombstone is gone');
  assert.deepEqual(await store.read(ns, 'lamp', ''), { exists: false, version: 1, deletedAt: Math.floor(clock.now / 1000) });
});

test('timestamps come from the clock, in seconds; answers are published on the shadow topics', async () => {
  const { svc, clock, published } = await service();
  const accepted = await svc.update(ns, { thingName: 'lamp', shadowName: 'cfg' }, '{"state":{"desired":{"x":1}},"clientToken":"t"}');
  assert.equal(accepted.timestamp, Math.floor(clock.now / 1000));
  assert.deepEqual(
    published.map(([t]) => t),
    [
      '$aws/things/lamp/shadow/name/cfg/update/accepted',
      '$aws/things/lamp/shadow/name/cfg/update/delta',
      '$aws/things/lamp/shadow/name/cfg/update/documents',
    ],
  );
  // A failed update publishes nothing and stores nothing.
  await assert.rejects(svc.update(ns, lamp, '{"state":{"reported":{"a":[1,null]}}}'), (e: { code?: number }) => e.code === 400);
  assert.equal(published.length, 3);
  await assert.rejects(svc.get(ns, lamp), /No shadow exists with name: 'lamp'/);
});
