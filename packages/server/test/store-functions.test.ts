/** The function store on SQLite and PostgreSQL: put/get/list/count/delete/clear, a database of an earlier version, two nodes on one database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace } from '../src/accounts/namespace.js';
import pino from 'pino';
import { FunctionStore, functionMigrations, type FunctionRow } from '../src/functions/function-store.js';
import { Functions } from '../src/functions/functions.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { onBothEngines } from './store-engines.js';
import { moduleFile } from './functions-helpers.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const OTHER: Namespace = { accountId: '123456789012', region: 'eu-west-1' };
// Past 2^31 ms: epoch milliseconds need 64-bit columns.
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0, 250);

async function openStore(engine: SqlEngine): Promise<FunctionStore> {
  await migrate(engine, { functions: functionMigrations });
  return FunctionStore.open(engine);
}

function fn(name: string, over: Partial<FunctionRow> = {}): FunctionRow {
  return {
    ns: NS,
    name,
    kind: 'url',
    target: `https://fn.example.com/${name}`,
    description: `the ${name} function`,
    timeoutSeconds: 3,
    memoryMb: 128,
    revision: `rev-${name}`,
    createdAt: T0,
    updatedAt: T0,
    ...over,
  };
}

const names = (rows: FunctionRow[]): string[] => rows.map((f) => f.name);

onBothEngines('function store', (engines) => {
  test('put, get, and a put of an existing name replaces it but keeps its creation time', async () => {
    const s = await openStore(await engines.open());
    const stored = await s.put(fn('echo'));
    assert.deepEqual(stored, fn('echo'));
    assert.deepEqual(s.get(NS, 'echo'), fn('echo'));
    assert.equal(s.get(OTHER, 'echo'), undefined, 'another region has its own functions');
    assert.equal(s.get(NS, 'nope'), undefined);

    const replacement = fn('echo', {
      kind: 'module',
      target: '/srv/fn/echo.mjs',
      description: 'now a module',
      timeoutSeconds: 900,
      memoryMb: 10_240,
      revision: 'rev-2',
      createdAt: T0 + 60_000,
      updatedAt: T0 + 60_000,
    });
    const replaced = await s.put(replacement);
    assert.deepEqual(replaced, { ...replacement, createdAt: T0 });
    assert.deepEqual(s.get(NS, 'echo'), { ...replacement, createdAt: T0 });
    assert.equal(s.count(NS), 1);

    // What the database holds, not only what this store remembers.
    const fresh = await FunctionStore.open(await engines.open({ share: true }));
    assert.deepEqual(fresh.get(NS, 'echo'), { ...replacement, createdAt: T0 });
  });

  test('list pages by name after a cursor; count is per namespace', async () => {
    const s = await openStore(await engines.open());
    for (const n of ['b-fn', 'A_fn', 'a-fn', 'c', 'Z9']) await s.put(fn(n));
    await s.put(fn('elsewhere', { ns: OTHER }));
    // Byte order: upper case before '_' before lower case.
    assert.deepEqual(names(s.list(NS, undefined, 10)), ['A_fn', 'Z9', 'a-fn', 'b-fn', 'c']);
    assert.deepEqual(names(s.list(NS, undefined, 2)), ['A_fn', 'Z9']);
    assert.deepEqual(names(s.list(NS, 'Z9', 2)), ['a-fn', 'b-fn']);
    assert.deepEqual(names(s.list(NS, 'b-fn', 2)), ['c']);
    assert.deepEqual(names(s.list(NS, 'c', 2)), []);
    assert.deepEqual(names(s.list(OTHER, undefined, 10)), ['elsewhere']);
    assert.deepEqual(names(s.list({ accountId: '999999999999', region: 'us-east-1' }, undefined, 10)), []);
    assert.equal(s.count(NS), 5);
    assert.equal(s.count(OTHER), 1);
    assert.equal(s.all().length, 6);
    // A store opened anew reads the same from the database.
    const fresh = await FunctionStore.open(await engines.open({ share: true }));
    assert.deepEqual(s.list(NS, undefined, 10), fresh.list(NS, undefined, 10));
  });

  test('delete says whether there was one; clear removes every namespace', async () => {
    const s = await openStore(await engines.open());
    await s.put(fn('one'));
    await s.put(fn('two'));
    await s.put(fn('one', { ns: OTHER }));
    assert.equal(await s.delete(NS, 'one'), true);
    assert.equal(await s.delete(NS, 'one'), false);
    assert.equal(s.get(NS, 'one'), undefined);
    assert.ok(s.get(OTHER, 'one'), 'the other region keeps its function of that name');
    assert.deepEqual(names(s.list(NS, undefined, 10)), ['two']);
    await s.reload();
    assert.deepEqual(names(s.list(NS, undefined, 10)), ['two']);

    await s.clear();
    assert.equal(s.count(NS), 0);
    assert.equal(s.count(OTHER), 0);
    await s.reload();
    assert.deepEqual(s.all(), []);
  });

  test('two nodes on one database: a write by one is seen by the other after reload', async () => {
    const a = await openStore(await engines.open());
    const b = await openStore(await engines.open({ share: true }));
    await a.put(fn('shared'));
    assert.equal(b.get(NS, 'shared'), undefined, 'not before reload: b reads its memory');
    await b.reload();
    assert.deepEqual(b.get(NS, 'shared'), fn('shared'));

    // Registered again on b: the creation time is the first node's, whatever b was told.
    const again = await b.put(fn('shared', { revision: 'rev-b', createdAt: T0 + 5000, updatedAt: T0 + 5000 }));
    assert.equal(again.createdAt, T0);
    await a.reload();
    assert.equal(a.get(NS, 'shared')?.revision, 'rev-b');
    assert.equal(a.get(NS, 'shared')?.updatedAt, T0 + 5000);

    // Both register a new name at once: one row, whichever came last, with one creation time.
    await Promise.all([
      a.put(fn('raced', { revision: 'rev-a', createdAt: T0 + 1, updatedAt: T0 + 1 })),
      b.put(fn('raced', { revision: 'rev-b', createdAt: T0 + 2, updatedAt: T0 + 2 })),
    ]);
    await a.reload();
    await b.reload();
    assert.equal(a.count(NS), 2);
    assert.deepEqual(a.get(NS, 'raced'), b.get(NS, 'raced'));
    assert.ok([T0 + 1, T0 + 2].includes(a.get(NS, 'raced')!.createdAt));

    assert.equal(await b.delete(NS, 'shared'), true);
    assert.ok(a.get(NS, 'shared'), 'a still remembers it until it reloads');
    await a.reload();
    assert.equal(a.get(NS, 'shared'), undefined);
  });
});

test('a database whose functions table was made by an earlier version (raw SQL) keeps its rows', async () => {
  const db = openDatabase(null);
  try {
    // The schema as the store created it before it moved to the SQL engine.
    db.exec(`
CREATE TABLE IF NOT EXISTS functions (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
  kind TEXT NOT NULL, target TEXT NOT NULL, description TEXT NOT NULL,
  timeout_seconds INTEGER NOT NULL, memory_mb INTEGER NOT NULL,
  revision TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
`);
    db.prepare(
      `INSERT INTO functions (account_id, region, name, kind, target, description, timeout_seconds, memory_mb, revision, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(NS.accountId, NS.region, 'legacy', 'module', '/srv/legacy.mjs', 'from before', 30, 512, 'rev-old', T0, T0 + 1000);
    const engine = sqliteEngine(db);
    assert.deepEqual(await migrate(engine, { functions: functionMigrations }), ['functions/0001_functions']);
    const s = await FunctionStore.open(engine);
    assert.deepEqual(
      s.get(NS, 'legacy'),
      fn('legacy', {
        kind: 'module',
        target: '/srv/legacy.mjs',
        description: 'from before',
        timeoutSeconds: 30,
        memoryMb: 512,
        revision: 'rev-old',
        createdAt: T0,
        updatedAt: T0 + 1000,
      }),
    );
    // The old table's key still decides: registering the name again replaces the row.
    await s.put(fn('legacy', { createdAt: T0 + 9000, updatedAt: T0 + 9000 }));
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM functions').get() as { n: number }).n, 1);
    assert.equal(s.get(NS, 'legacy')?.createdAt, T0);
  } finally {
    db.close();
  }
});

test('Functions.reload on another node: a function registered again or deleted there retires its warm module instances here', async () => {
  const db = openDatabase(null);
  const nodes: Functions[] = [];
  try {
    const open = async (): Promise<Functions> => {
      const engine = sqliteEngine(db);
      await migrate(engine, { functions: functionMigrations });
      const f = new Functions(await FunctionStore.open(engine), pino({ level: 'silent' }), { urlAllowed: () => false });
      nodes.push(f);
      return f;
    };
    const a = await open();
    const b = await open();
    const caller = { ns: NS, mayRunCode: true, why: '' };
    const path = moduleFile('export const handler = async (event) => ({ got: event });');
    await a.register(caller, 'warm', { module: path });
    await a.register(caller, 'kept', { module: path });
    await assert.rejects(b.invoke(NS, 'warm', 1), { errorType: 'ResourceNotFoundException' });
    await b.reload();
    assert.deepEqual(await b.invoke(NS, 'warm', 1), { got: 1 });
    assert.deepEqual(await b.invoke(NS, 'kept', 2), { got: 2 });
    assert.equal(b.instances(NS, 'warm'), 1);

    await a.register(caller, 'warm', { module: path, description: 'registered again' });
    await b.reload();
    assert.equal(b.instances(NS, 'warm'), 0, 'a new revision retires the warm instance');
    assert.equal(b.instances(NS, 'kept'), 1, 'an unchanged function keeps its instance');
    assert.equal(b.get(NS, 'warm').function.description, 'registered again');

    await a.delete(NS, 'kept');
    await b.reload();
    assert.equal(b.instances(NS, 'kept'), 0, 'a deleted function retires its instance');
    assert.throws(() => b.get(NS, 'kept'), { name: 'ResourceNotFoundException' });
  } finally {
    for (const f of nodes) f.stop();
    db.close();
  }
});
