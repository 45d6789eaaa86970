/** The tag store on SQLite and PostgreSQL: upserts, removal by key, batches with the resource, the table of older databases. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { TagStore, tagMigrations } from '../src/tags/tag-store.js';
import { onBothEngines } from './store-engines.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012:rule/r1';
const OTHER = 'arn:aws:iot:us-east-1:123456789012:rule/r2';

async function openStore(engine: SqlEngine): Promise<TagStore> {
  await migrate(engine, { tags: tagMigrations });
  return new TagStore(engine);
}

onBothEngines('tag store', (engines) => {
  test('put replaces the value of a key and keeps the others; a key given twice keeps its last value', async () => {
    const tags = await openStore(await engines.open());
    await tags.put(ARN, [{ Key: 'b', Value: '1' }, { Key: 'a' }]);
    await tags.put(ARN, [
      { Key: 'b', Value: '2' },
      { Key: 'c', Value: 'x' },
      { Key: 'c', Value: 'y' },
    ]);
    await tags.put(OTHER, [{ Key: 'a', Value: 'other' }]);
    assert.deepEqual(await tags.list(ARN), [{ Key: 'a' }, { Key: 'b', Value: '2' }, { Key: 'c', Value: 'y' }]);
    await tags.put(ARN, []);
    assert.equal((await tags.list(ARN)).length, 3);
  });

  test('remove takes the named keys, or every key; other resources keep theirs', async () => {
    const tags = await openStore(await engines.open());
    await tags.put(ARN, [
      { Key: 'a', Value: '1' },
      { Key: 'b', Value: '2' },
      { Key: 'c', Value: '3' },
    ]);
    await tags.put(OTHER, [{ Key: 'a', Value: '1' }]);
    await tags.remove(ARN, ['a', 'missing']);
    assert.deepEqual(await tags.list(ARN), [
      { Key: 'b', Value: '2' },
      { Key: 'c', Value: '3' },
    ]);
    await tags.remove(ARN, []);
    assert.equal((await tags.list(ARN)).length, 2);
    await tags.remove(ARN);
    assert.deepEqual(await tags.list(ARN), []);
    assert.deepEqual(await tags.list(OTHER), [{ Key: 'a', Value: '1' }]);
  });

  test('a resource and its tags in one batch: a failing resource write stores neither', async () => {
    const engine = await engines.open();
    const tags = await openStore(engine);
    await engine.db.schema
      .createTable('things_t')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .execute();
    await engine.run(engine.db.insertInto('things_t').values({ name: 'r1' }));
    await assert.rejects(
      engine.batch([...tags.putting(ARN, [{ Key: 'k', Value: 'v' }]), engine.db.insertInto('things_t').values({ name: 'r1' })]),
    );
    assert.deepEqual(await tags.list(ARN), []);
    await engine.batch([...tags.putting(ARN, [{ Key: 'k', Value: 'v' }]), engine.db.deleteFrom('things_t')]);
    assert.deepEqual(await tags.list(ARN), [{ Key: 'k', Value: 'v' }]);
    await engine.batch([...tags.removing(ARN), engine.db.insertInto('things_t').values({ name: 'r2' })]);
    assert.deepEqual(await tags.list(ARN), []);
  });

  test('clear removes every tag; two stores on one database see the same rows', async () => {
    const a = await openStore(await engines.open());
    const b = await openStore(await engines.open({ share: true }));
    await a.put(ARN, [{ Key: 'k', Value: 'v' }]);
    assert.deepEqual(await b.list(ARN), [{ Key: 'k', Value: 'v' }]);
    await b.clear();
    assert.deepEqual(await a.list(ARN), []);
  });
});

test('a database made before migrations keeps its tags (the registry created the table)', async () => {
  const db = openDatabase(null);
  db.exec('CREATE TABLE tags (resource_arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT, PRIMARY KEY (resource_arn, key)) WITHOUT ROWID');
  db.prepare('INSERT INTO tags VALUES (?, ?, ?)').run(ARN, 'old', 'kept');
  const tags = await openStore(sqliteEngine(db));
  await tags.put(ARN, [{ Key: 'old', Value: 'new' }]);
  assert.deepEqual(await tags.list(ARN), [{ Key: 'old', Value: 'new' }]);
  db.close();
});
