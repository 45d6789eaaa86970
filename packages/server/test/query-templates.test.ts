/**
 * Query templates: compiled once per engine, each call binds its own arguments in their places, the
 * change feed still sees which table a templated write changes, and a build whose shape depends on
 * an argument is refused rather than silently reused.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { writtenTable } from '../src/cluster/change-feed.js';
import { openDatabase } from '../src/store/database.js';
import { template } from '../src/store/sql/query-templates.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';

test('a template compiles once and binds each call its own arguments, in their places', async () => {
  const engine = sqliteEngine(openDatabase(null));
  await engine.db.schema.createTable('t').addColumn('a', 'text').addColumn('b', 'integer').addColumn('c', 'text').execute();
  let builds = 0;
  const insert = template((db, a: string, b: number) => {
    builds++;
    return db.insertInto('t').values({ a, b, c: 'fixed' });
  });
  const byBoth = template((db, b: number, a: string) => db.selectFrom('t').select(['a', 'b', 'c']).where('a', '=', a).where('b', '=', b));
  await engine.run(insert(engine, 'x', 1));
  await engine.run(insert(engine, 'y', 2));
  assert.equal(builds, 1);
  assert.deepEqual(await engine.all(byBoth(engine, 2, 'y')), [{ a: 'y', b: 2, c: 'fixed' }]);
  assert.deepEqual(await engine.all(byBoth(engine, 1, 'y')), []);
  // The feed names the written table of a templated write as of any other.
  assert.equal(writtenTable(insert(engine, 'z', 3)), 't');
});

test('a build that does not bind an argument as a value is refused', () => {
  const engine = sqliteEngine(openDatabase(null));
  const unused = template((db, _x: string) => db.selectFrom('t').selectAll());
  assert.throws(() => unused(engine, 'a'), /argument 0 is not a bound value/);
});

test('a template may bind hundreds of values (a multi-row insert), each in its place', async () => {
  const engine = sqliteEngine(openDatabase(null));
  await engine.db.schema.createTable('m').addColumn('a', 'text').addColumn('b', 'integer').execute();
  const rows = 300;
  const insert = template((db, ...flat: unknown[]) =>
    db.insertInto('m').values(Array.from({ length: rows }, (_, i) => ({ a: flat[2 * i] as string, b: flat[2 * i + 1] as number }))),
  );
  const values = (tag: string) => Array.from({ length: rows }, (_, i) => [`${tag}${i}`, i]).flat();
  await engine.run(insert(engine, ...values('x')));
  await engine.run(insert(engine, ...values('y')));
  const got = await engine.all<{ a: string; b: number }>(engine.db.selectFrom('m').select(['a', 'b']).where('b', '=', 299));
  assert.deepEqual(got.map((r) => r.a).sort(), ['x299', 'y299']);
  assert.equal((await engine.first<{ n: number }>(engine.db.selectFrom('m').select((eb) => eb.fn.countAll<number>().as('n'))))!.n, 600);
});
