/**
 * The SQLite engine's group commit: writes issued in one turn of the event loop share one COMMIT,
 * and none resolves before it (another connection sees the row by then); a failed statement or
 * batch fails alone; a transaction that ends underneath the group fails all of it; afterCommit work
 * of synchronous code that ran inside the group waits for the COMMIT; the broker's store, sharing
 * the connection, never acknowledges before the group it joined has committed.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '@thicket/broker';
import { afterCommit, inTransaction, openDatabase, settle, type Db } from '../src/store/database.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { tempDir } from './helpers.js';

const dir = tempDir('thicket-group-commit-');

let n = 0;
/** An engine over a fresh database file, a second connection to read what has committed, and table t. */
async function fixture(): Promise<{ db: Db; engine: SqlEngine; committed: () => number[] }> {
  const path = join(dir, `db-${++n}.sqlite`);
  const db = openDatabase(path);
  const engine = sqliteEngine(db);
  await engine.db.schema.createTable('t').addColumn('k', 'integer', (c) => c.primaryKey()).execute();
  const reader = new Database(path, { readonly: true });
  after(() => reader.close());
  const committed = () => (reader.prepare('SELECT k FROM t ORDER BY k').all() as { k: number }[]).map((r) => r.k);
  return { db, engine, committed };
}

const insert = (engine: SqlEngine, k: number) => engine.db.insertInto('t').values({ k });

test('writes of one turn share one transaction, and each resolves only once it is visible to another connection', async () => {
  const { db, engine, committed } = await fixture();
  const seenAtResolve: number[][] = [];
  const writes = [1, 2, 3].map((k) => engine.run(insert(engine, k)).then(() => seenAtResolve.push(committed())));
  // All three ran, inside one transaction still open: nothing is visible outside yet.
  assert.equal(db.inTransaction, true);
  assert.deepEqual(committed(), []);
  // A read in the same turn sees them (one connection), and also waits for the commit.
  const read = engine.all<{ k: number }>(engine.db.selectFrom('t').select('k').orderBy('k'));
  await Promise.all(writes);
  assert.deepEqual(seenAtResolve, [
    [1, 2, 3],
    [1, 2, 3],
    [1, 2, 3],
  ]);
  assert.deepEqual(await read, [{ k: 1 }, { k: 2 }, { k: 3 }]);
  assert.equal(db.inTransaction, false);
  // A read with no group open answers without opening one.
  assert.deepEqual(await engine.first(engine.db.selectFrom('t').select('k').where('k', '=', 2)), { k: 2 });
  assert.equal(db.inTransaction, false);
});

test('a statement or a batch that fails fails alone; the rest of its group commits', async () => {
  const { engine, committed } = await fixture();
  await engine.run(insert(engine, 1));
  const ok = engine.run(insert(engine, 2));
  const duplicate = engine.run(insert(engine, 1));
  const batch = engine.batch([insert(engine, 3), insert(engine, 2)]);
  const later = engine.run(insert(engine, 4));
  await assert.rejects(duplicate, /UNIQUE constraint failed/);
  await assert.rejects(batch, /UNIQUE constraint failed/);
  await ok;
  await later;
  // The batch is all or nothing: 3 went with the 2 that failed it.
  assert.deepEqual(committed(), [1, 2, 4]);
});

test('when the transaction ends underneath the group (as an I/O error ends it), every statement in it fails', async () => {
  const { db, engine, committed } = await fixture();
  const a = engine.run(insert(engine, 1));
  const b = engine.run(insert(engine, 2));
  db.exec('ROLLBACK');
  await assert.rejects(a, /rolled back/);
  await assert.rejects(b, /rolled back/);
  assert.deepEqual(committed(), []);
  // The next write opens a new group.
  await engine.run(insert(engine, 3));
  assert.deepEqual(committed(), [3]);
});

test("afterCommit work of synchronous code that ran inside the group waits for the group's commit", async () => {
  const { db, engine, committed } = await fixture();
  const pending = engine.run(insert(engine, 1));
  let seen: number[] | undefined;
  inTransaction(db, () => {
    db.prepare('INSERT INTO t (k) VALUES (2)').run();
    afterCommit(db, () => (seen = committed()));
  });
  assert.equal(seen, undefined, 'not while the group is open');
  await pending;
  assert.deepEqual(seen, [1, 2]);
});

test('settle commits the open group at once (before closing the database)', async () => {
  const { db, engine, committed } = await fixture();
  const pending = engine.run(insert(engine, 1));
  settle(db);
  assert.deepEqual(committed(), [1]);
  await pending;
  const again = engine.run(insert(engine, 2));
  await engine.close();
  assert.deepEqual(committed(), [1, 2]);
  await again;
});

test("the broker's store on the same connection acknowledges only after a commit, also when a group was open", async () => {
  const { db, engine, committed } = await fixture();
  const store = new SqliteStore(db, { settle: () => settle(db) });
  // The store's flush is scheduled first, so it runs while the group is still open.
  store.putMessage({ id: 1, topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, properties: {}, createdAt: 0, expiresAt: 0 });
  const group = engine.run(insert(engine, 1));
  const reader = new Database(join(dir, `db-${n}.sqlite`), { readonly: true });
  const acked = new Promise<{ rows: number; group: number[] }>((resolve) =>
    store.afterCommit(() => resolve({ rows: (reader.prepare('SELECT count(*) AS c FROM mqtt_messages').get() as { c: number }).c, group: committed() })),
  );
  // Had the store written inside the open group (a savepoint), its row would not be committed yet.
  assert.deepEqual(await acked, { rows: 1, group: [1] });
  await group;
  reader.close();
});
