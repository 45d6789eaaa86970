/**
 * The topic rule store on SQLite and PostgreSQL: create (with its tags, both or neither), get, list
 * by name, replace (conditional), delete, clear; two nodes on one database (reload says what
 * changed, and the control plane installs it); the table of databases made before migrations.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { Namespace } from '../src/accounts/namespace.js';
import { AwsError } from '../src/aws/errors.js';
import type { CompiledRule } from '../src/rules/compiled-rule.js';
import { RuleStore, ruleMigrations, type RuleRow, type TopicRulePayload } from '../src/rules/rule-store.js';
import { TopicRules, ruleArn } from '../src/rules/topic-rules.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { TagStore, tagMigrations } from '../src/tags/tag-store.js';
import { onBothEngines } from './store-engines.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const EU: Namespace = { accountId: '123456789012', region: 'eu-west-1' };
const OTHER: Namespace = { accountId: '210987654321', region: 'us-east-1' };

const payload = (sql: string, extra: Partial<TopicRulePayload> = {}): TopicRulePayload => ({
  sql,
  actions: [],
  ruleDisabled: false,
  awsIotSqlVersion: '2016-03-23',
  ...extra,
});

const CREATED = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

const rule = (ns: Namespace, name: string, p: TopicRulePayload, createdAt = CREATED): RuleRow => ({
  ns,
  name,
  payload: p,
  createdAt,
});

async function open(engine: SqlEngine): Promise<{ engine: SqlEngine; rules: RuleStore; tags: TagStore }> {
  await migrate(engine, { rules: ruleMigrations, tags: tagMigrations });
  return { engine, rules: await RuleStore.open(engine), tags: new TagStore(engine) };
}

/** The control plane over a store, with an engine that only records what it was given. */
function controlPlane(store: RuleStore, tags: TagStore) {
  const installed = new Map<string, CompiledRule>();
  const reports: string[] = [];
  const key = (ns: Namespace, name: string): string => `${ns.accountId}/${ns.region}/${name}`;
  const rules = new TopicRules({
    store,
    services: { broker: () => undefined, publish: () => false, log: pino({ level: 'silent' }) },
    hostFor: () => undefined,
    installed: (r) => installed.set(key(r.ns, r.name), r),
    removed: (ns, name) => installed.delete(key(ns, name)),
    compiled: (ns, name) => installed.get(key(ns, name)),
    tags,
  });
  return {
    rules,
    installed: (name: string) => installed.get(key(NS, name)),
    names: () => [...installed.keys()].sort(),
    reports,
    reload: () => rules.reload((row, err) => reports.push(`${row.name}: ${(err as Error).message}`)),
  };
}

const awsCode = (code: string) => (err: unknown) => err instanceof AwsError && err.code === code;

onBothEngines('topic rule store', (engines) => {
  test('create, get, the rules of a namespace by name (code-unit order), count; a taken name stores nothing, not even its tags', async () => {
    const { engine, rules, tags } = await open(await engines.open());
    const created = rule(NS, 'b_rule', payload("SELECT * FROM 'a/b'", { description: 'd', errorAction: { republish: { topic: 'e' } } }));
    assert.equal(await rules.create(created, tags.putting(ruleArn(NS, 'b_rule'), [{ Key: 'k', Value: 'v' }])), true);
    for (const name of ['a_rule', 'B_rule', '_rule', 'Z9']) assert.equal(await rules.create(rule(NS, name, payload('SELECT 1'))), true);
    assert.equal(await rules.create(rule(EU, 'a_rule', payload('SELECT 2'))), true);
    assert.equal(await rules.create(rule(OTHER, 'a_rule', payload('SELECT 3'))), true);

    assert.deepEqual(rules.rule(NS, 'b_rule'), created);
    assert.equal(rules.rule(NS, 'missing'), undefined);
    assert.deepEqual(
      rules.rules(NS).map((r) => r.name),
      ['B_rule', 'Z9', '_rule', 'a_rule', 'b_rule'],
    );
    assert.equal(rules.count(NS), 5);
    assert.equal(rules.count(EU), 1);
    assert.equal(rules.rule(EU, 'a_rule')!.payload.sql, 'SELECT 2');
    assert.equal(rules.all().length, 7);

    const again = rule(NS, 'b_rule', payload('SELECT other'));
    assert.equal(await rules.create(again, tags.putting(ruleArn(NS, 'b_rule'), [{ Key: 'k', Value: 'changed' }])), false);
    assert.deepEqual(rules.rule(NS, 'b_rule'), created);
    assert.deepEqual(await tags.list(ruleArn(NS, 'b_rule')), [{ Key: 'k', Value: 'v' }]);

    // What the database holds, as a store opened on it reads it.
    const reopened = await RuleStore.open(engine);
    assert.deepEqual(reopened.rule(NS, 'b_rule'), created);
    assert.equal(typeof reopened.rule(NS, 'b_rule')!.createdAt, 'number');
  });

  test('replace keeps the creation time; with an expected payload it writes only over that one; a missing rule is not made', async () => {
    const { rules } = await open(await engines.open());
    const first = payload("SELECT * FROM 't'");
    await rules.create(rule(NS, 'r', first, 1_000));
    const second = payload("SELECT x FROM 't'", { ruleDisabled: true });
    assert.deepEqual(await rules.replace(NS, 'r', second), rule(NS, 'r', second, 1_000));
    assert.deepEqual(rules.rule(NS, 'r'), rule(NS, 'r', second, 1_000));

    // Expecting what is no longer there changes nothing.
    assert.equal(await rules.replace(NS, 'r', payload('SELECT lost'), first), undefined);
    assert.deepEqual(rules.rule(NS, 'r')!.payload, second);
    assert.deepEqual((await rules.fetch(NS, 'r'))!.payload, second);
    const third = payload("SELECT y FROM 't'");
    assert.deepEqual((await rules.replace(NS, 'r', third, second))!.payload, third);
    assert.deepEqual((await rules.fetch(NS, 'r'))!.payload, third);

    assert.equal(await rules.replace(NS, 'none', third), undefined);
    assert.equal(rules.rule(NS, 'none'), undefined);
    assert.equal(await rules.fetch(NS, 'none'), undefined);
    assert.equal(await rules.replace(EU, 'r', third), undefined, 'another region has no such rule');
  });

  test('delete takes the rule and, in the same transaction, its tags; a second delete finds none; clear empties the table', async () => {
    const engine = await engines.open();
    const { rules, tags } = await open(engine);
    await rules.create(rule(NS, 'r', payload('SELECT 1')), tags.putting(ruleArn(NS, 'r'), [{ Key: 'k', Value: 'v' }]));
    await rules.create(rule(NS, 'kept', payload('SELECT 2')), tags.putting(ruleArn(NS, 'kept'), [{ Key: 'k', Value: 'v' }]));
    // A delete whose other statement fails deletes nothing.
    await assert.rejects(rules.delete(NS, 'r', [engine.db.insertInto('no_such_table').values({ a: 1 })]));
    assert.ok(await rules.fetch(NS, 'r'));
    assert.equal((await tags.list(ruleArn(NS, 'r'))).length, 1);

    assert.equal(await rules.delete(NS, 'r', tags.removing(ruleArn(NS, 'r'))), true);
    assert.equal(rules.rule(NS, 'r'), undefined);
    assert.equal(await rules.fetch(NS, 'r'), undefined);
    assert.deepEqual(await tags.list(ruleArn(NS, 'r')), []);
    assert.deepEqual(await tags.list(ruleArn(NS, 'kept')), [{ Key: 'k', Value: 'v' }]);
    assert.equal(await rules.delete(NS, 'r'), false);

    await rules.clear();
    assert.deepEqual(rules.all(), []);
    assert.deepEqual((await RuleStore.open(engine)).all(), []);
  });

  test('two nodes on one database: reload says what was created, changed and deleted by the other', async () => {
    const a = (await open(await engines.open())).rules;
    const b = (await open(await engines.open({ share: true }))).rules;
    assert.deepEqual(await b.reload(), { changed: [], removed: [] });

    await a.create(rule(NS, 'one', payload('SELECT 1'), 5));
    await a.create(rule(NS, 'two', payload('SELECT 2'), 6));
    assert.equal(b.rule(NS, 'one'), undefined, 'not before reload');
    const first = await b.reload();
    assert.deepEqual(first.changed.map((r) => r.name).sort(), ['one', 'two']);
    assert.deepEqual(first.removed, []);
    assert.deepEqual(b.rule(NS, 'one'), rule(NS, 'one', payload('SELECT 1'), 5));
    assert.deepEqual(await b.reload(), { changed: [], removed: [] }, 'nothing changed since');

    await a.replace(NS, 'one', payload('SELECT 11'));
    await a.delete(NS, 'two');
    assert.deepEqual(await b.reload(), { changed: [rule(NS, 'one', payload('SELECT 11'), 5)], removed: [{ ns: NS, name: 'two' }] });
    assert.deepEqual(b.rules(NS), [rule(NS, 'one', payload('SELECT 11'), 5)]);

    // A replace through a node that has not read the rule yet: the creation time comes from the database.
    await a.create(rule(NS, 'three', payload('SELECT 3'), 7));
    assert.deepEqual(await b.replace(NS, 'three', payload('SELECT 33')), rule(NS, 'three', payload('SELECT 33'), 7));
    assert.equal(await b.create(rule(NS, 'three', payload('SELECT 333'))), false, 'the database knows the name is taken');
    b.forget(NS, 'three');
    assert.equal(b.rule(NS, 'three'), undefined);
  });

  test('the control plane on two nodes: what one changes, the other installs on reload; a conditional enable keeps the other node\u2019s replace', async () => {
    const sa = await open(await engines.open());
    const sb = await open(await engines.open({ share: true }));
    const a = controlPlane(sa.rules, sa.tags);
    const b = controlPlane(sb.rules, sb.tags);

    await a.rules.create(NS, 'r1', { sql: "SELECT * FROM 'in/1'", actions: [] }, 'team=x');
    await assert.rejects(b.rules.create(NS, 'r1', { sql: "SELECT * FROM 'in/2'", actions: [] }, undefined), (err) => {
      assert.ok(awsCode('ResourceAlreadyExistsException')(err));
      assert.equal((err as Error).message, "Topic rule 'r1' already exists");
      return true;
    });
    assert.deepEqual(await sa.tags.list(ruleArn(NS, 'r1')), [{ Key: 'team', Value: 'x' }]);
    assert.equal(a.installed('r1')!.statement.from, 'in/1');
    assert.equal(b.installed('r1'), undefined);

    await b.reload();
    assert.equal(b.installed('r1')!.statement.from, 'in/1');
    assert.equal(b.rules.get(NS, 'r1').rule.sql, "SELECT * FROM 'in/1'");

    // b replaces; a, not reloaded, disables: the write is conditional, so a reads the rule again and keeps b's SQL.
    await b.rules.replace(NS, 'r1', { sql: "SELECT * FROM 'in/3'", actions: [] });
    await a.rules.setDisabled(NS, 'r1', true);
    const stored = await sa.rules.fetch(NS, 'r1');
    assert.equal(stored!.payload.sql, "SELECT * FROM 'in/3'");
    assert.equal(stored!.payload.ruleDisabled, true);
    assert.equal(a.installed('r1')!.statement.from, 'in/3', 'a runs what it stored');
    assert.equal(a.installed('r1')!.disabled, true);

    await b.reload();
    assert.equal(b.installed('r1')!.disabled, true);
    assert.equal(b.rules.list(NS, {}).rules[0]!.ruleDisabled, true);

    // A rule changed to what no longer compiles is reported and taken out; a deleted one goes.
    await a.rules.create(NS, 'r2', { sql: "SELECT * FROM 'in/r2'", actions: [] }, undefined);
    await sa.engine.run(
      sa.engine.db
        .updateTable('topic_rules')
        .set({ payload: JSON.stringify(payload('SELEC nothing')) })
        .where('name', '=', 'r1'),
    );
    await b.reload();
    assert.equal(b.installed('r1'), undefined);
    assert.equal(b.reports.length, 1);
    assert.match(b.reports[0]!, /^r1: /);
    assert.equal(b.installed('r2')!.statement.from, 'in/r2');
    await a.rules.delete(NS, 'r2');
    await b.reload();
    assert.deepEqual(b.names(), []);
    assert.deepEqual(await sa.tags.list(ruleArn(NS, 'r2')), []);

    // Deleted by another node: a replace on this one says so, and this node forgets the rule.
    await b.rules.delete(NS, 'r1');
    await assert.rejects(a.rules.replace(NS, 'r1', { sql: "SELECT * FROM 'in/4'", actions: [] }), (err) => {
      assert.ok(awsCode('UnauthorizedException')(err));
      assert.equal((err as Error).message, "Access to topic rule 'r1' was denied");
      return true;
    });
    assert.equal(a.installed('r1'), undefined);
    assert.equal(sa.rules.rule(NS, 'r1'), undefined);
    await assert.rejects(a.rules.delete(NS, 'r1'), awsCode('UnauthorizedException'));
  });
});

test('a database made before migrations keeps its topic rules (the store created the table)', async () => {
  const db = openDatabase(null);
  db.exec(`
CREATE TABLE IF NOT EXISTS topic_rules (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, payload TEXT NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
`);
  const old = payload("SELECT * FROM 'old'", { description: 'from before' });
  db.prepare('INSERT INTO topic_rules VALUES (?, ?, ?, ?, ?)').run(NS.accountId, NS.region, 'old', JSON.stringify(old), 1234);
  const { rules } = await open(sqliteEngine(db));
  assert.deepEqual(rules.all(), [rule(NS, 'old', old, 1234)]);
  assert.equal(await rules.create(rule(NS, 'old', payload('SELECT 1'))), false, 'its key still holds');
  assert.ok(await rules.replace(NS, 'old', payload('SELECT 2'), old));
  assert.equal(await rules.create(rule(NS, 'new', payload('SELECT 3'))), true);
  assert.deepEqual(
    (await RuleStore.open(sqliteEngine(db))).rules(NS).map((r) => [r.name, r.payload.sql, r.createdAt]),
    [
      ['new', 'SELECT 3', CREATED],
      ['old', 'SELECT 2', 1234],
    ],
  );
  db.close();
});
