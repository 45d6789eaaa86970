/** The SQL engine and the account store on SQLite and PostgreSQL: batches, migrations, the first-start account, keys, two nodes on one database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccountStore, accountMigrations } from '../src/accounts/account-store.js';
import { newAccessKey } from '../src/credentials.js';
import { isUniqueViolation, type SqlEngine } from '../src/store/sql/engine.js';
import { migrate, MIGRATION_TABLE } from '../src/store/sql/migrations.js';
import { onBothEngines } from './store-engines.js';

const SETS = { accounts: accountMigrations };

async function openStore(engine: SqlEngine): Promise<AccountStore> {
  await migrate(engine, SETS);
  return AccountStore.open(engine);
}

onBothEngines('SQL engine and account store', (engines) => {
  test('a batch is all or nothing; epoch milliseconds come back as numbers', async () => {
    const engine = await engines.open();
    await engine.db.schema
      .createTable('t')
      .addColumn('k', 'text', (c) => c.primaryKey())
      .addColumn('at', 'bigint')
      .execute();
    const at = Date.UTC(2026, 11, 3, 12, 0, 0, 123);
    await assert.rejects(
      engine.batch([engine.db.insertInto('t').values({ k: 'a', at }), engine.db.insertInto('t').values({ k: 'a', at })]),
      (err) => isUniqueViolation(err),
    );
    assert.deepEqual(await engine.all(engine.db.selectFrom('t').selectAll()), []);
    const [one, two] = await engine.batch([
      engine.db.insertInto('t').values({ k: 'a', at }),
      engine.db.deleteFrom('t').where('k', '=', 'zz'),
    ]);
    assert.equal(one!.changes, 1);
    assert.equal(two!.changes, 0);
    assert.deepEqual(await engine.first(engine.db.selectFrom('t').selectAll()), { k: 'a', at });
  });

  test('migrations apply once, are recorded, and a second run applies nothing', async () => {
    const engine = await engines.open();
    assert.deepEqual(await migrate(engine, SETS), ['accounts/0001_accounts_and_keys']);
    assert.deepEqual(await migrate(engine, SETS), []);
    const rows = await engine.all<{ name: string }>(engine.db.selectFrom(MIGRATION_TABLE).select('name'));
    assert.deepEqual(
      rows.map((r) => r.name),
      ['accounts/0001_accounts_and_keys'],
    );
  });

  test('a migration that fails names itself and leaves nothing recorded', async () => {
    const engine = await engines.open();
    await assert.rejects(
      migrate(engine, {
        broken: {
          '0001_bad': {
            async up(db) {
              await db.schema.createTable('t').addColumn('a', 'text').execute();
              await db.schema.createTable('t').addColumn('a', 'text').execute();
            },
          },
        },
      }),
      /database migration broken\/0001_bad failed: .*already exists/,
    );
    const rows = await engine.all(engine.db.selectFrom(MIGRATION_TABLE).selectAll());
    assert.equal(rows.length, 0);
  });

  test('the first-start account and admin key are created once, also when two nodes start at once', async () => {
    const admin = newAccessKey();
    const a = await openStore(await engines.open());
    const b = await openStore(await engines.open({ share: true }));
    await Promise.all([a.ensureDefault(admin, '123456789012'), b.ensureDefault(admin, '123456789012')]);
    await a.ensureDefault(admin, '123456789012');
    for (const s of [a, b]) {
      assert.deepEqual(
        s.accounts().map((x) => x.accountId),
        ['123456789012'],
      );
      const k = s.key(admin.accessKeyId)!;
      assert.equal(k.secretAccessKey, admin.secretAccessKey);
      assert.equal(k.root, true);
      assert.equal(typeof k.createdAt, 'number');
    }
  });

  test('accounts and keys: create, a taken id, list, delete; another node sees them after reload', async () => {
    const a = await openStore(await engines.open());
    const b = await openStore(await engines.open({ share: true }));
    const created = await a.createAccount('111111111111', 'first', 'its admin key');
    assert.ok(created);
    assert.equal(created.key.accountId, '111111111111');
    assert.equal(await b.createAccount('111111111111', 'again', 'must not exist'), undefined);
    const readOnly = await a.createKey('111111111111', { readOnly: true, description: 'reader' });
    await b.reload();
    assert.deepEqual(
      b
        .keysOf('111111111111')
        .map((k) => [k.description, k.readOnly, k.root])
        .sort(),
      [
        ['its admin key', false, false],
        ['reader', true, false],
      ],
    );
    assert.equal(b.account('111111111111')?.name, 'first');
    assert.equal(await b.deleteKey(readOnly.accessKeyId), true);
    assert.equal(await b.deleteKey(readOnly.accessKeyId), false);
    await a.reload();
    assert.equal(a.key(readOnly.accessKeyId), undefined);
  });

  test('a key of an account that does not exist is refused by the database', async () => {
    const s = await openStore(await engines.open());
    await assert.rejects(s.createKey('999999999999'));
    assert.deepEqual(s.keysOf('999999999999'), []);
  });
});
