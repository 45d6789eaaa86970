/**
 * The topic rule destination store on SQLite and PostgreSQL: insert (a URL once per namespace),
 * get, list oldest first, statuses by normalised URL, conditional updates, delete, clear; two nodes
 * on one database (reload; a confirmation token sent by one node confirms through the other); the
 * table of databases made before migrations.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import type { Namespace } from '../src/accounts/namespace.js';
import { AwsError } from '../src/aws/errors.js';
import { DestinationStore, destinationMigrations, type DestinationRow } from '../src/rules/destinations/destination-store.js';
import { TopicRuleDestinations, destinationArn } from '../src/rules/destinations/destinations.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { onBothEngines } from './store-engines.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const EU: Namespace = { accountId: '123456789012', region: 'eu-west-1' };
const T0 = Date.UTC(2026, 2, 4, 5, 6, 7, 890);

let ids = 0;
const dest = (ns: Namespace, url: string, extra: Partial<DestinationRow> = {}): DestinationRow => ({
  ns,
  id: `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}`,
  confirmationUrl: url,
  status: 'IN_PROGRESS',
  statusReason: null,
  tokenSha256: null,
  createdAt: T0,
  updatedAt: T0,
  ...extra,
});

async function open(engine: SqlEngine): Promise<DestinationStore> {
  await migrate(engine, { rules: destinationMigrations });
  return DestinationStore.open(engine);
}

const statuses = (s: DestinationStore, ns: Namespace): Record<string, string> => Object.fromEntries(s.statuses(ns));

onBothEngines('topic rule destination store', (engines) => {
  test('insert, get, byUrl, list oldest first then by id, count, statuses by normalised URL; a URL once per namespace', async () => {
    const s = await open(await engines.open());
    const later = dest(NS, 'https://b.example.com/x', { createdAt: T0 + 1, status: 'ENABLED' });
    const first = dest(NS, 'HTTPS://A.example.com', { tokenSha256: 'ab'.repeat(32), statusReason: 'why' });
    const sameTime = dest(NS, 'https://c.example.com/', { status: 'DISABLED' });
    for (const d of [later, sameTime, first]) assert.equal(await s.insert(d), true);
    assert.equal(await s.insert(dest(EU, 'https://b.example.com/x')), true, 'another region may have the same URL');

    assert.deepEqual(s.get(NS, first.id), first);
    assert.equal(s.get(EU, first.id), undefined);
    assert.deepEqual(s.byUrl(NS, 'https://b.example.com/x'), later);
    assert.deepEqual(
      s.list(NS).map((d) => d.id),
      [first.id, sameTime.id, later.id],
    );
    assert.equal(s.count(NS), 3);
    assert.equal(s.count(EU), 1);
    assert.deepEqual(statuses(s, NS), {
      'https://a.example.com/': 'IN_PROGRESS',
      'https://b.example.com/x': 'ENABLED',
      'https://c.example.com/': 'DISABLED',
    });

    assert.equal(await s.insert(dest(NS, 'https://b.example.com/x', { status: 'ENABLED' })), false);
    assert.equal(s.count(NS), 3);
    // What the database holds, as a store opened on it reads it.
    const reopened = await open(await engines.open({ share: true }));
    assert.deepEqual(reopened.list(NS), [first, sameTime, later]);
  });

  test('update writes status, reason, token and time; conditional on the status and token read; a gone destination is not made', async () => {
    const s = await open(await engines.open());
    const d = dest(NS, 'https://a.example.com/', { tokenSha256: 'aa'.repeat(32) });
    await s.insert(d);
    const errored = { ...d, status: 'ERROR' as const, statusReason: 'not delivered', updatedAt: T0 + 5 };
    assert.equal(await s.update(errored, { status: 'IN_PROGRESS', tokenSha256: 'bb'.repeat(32) }), false, 'another token');
    assert.equal(await s.update(errored, { status: 'ENABLED', tokenSha256: 'aa'.repeat(32) }), false, 'another status');
    assert.deepEqual(await s.fetch(NS, d.id), d);
    assert.equal(await s.update(errored, { status: 'IN_PROGRESS', tokenSha256: 'aa'.repeat(32) }), true);
    assert.deepEqual(s.get(NS, d.id), errored);
    assert.deepEqual(statuses(s, NS), { 'https://a.example.com/': 'ERROR' });

    const enabled = { ...errored, status: 'ENABLED' as const, statusReason: null, tokenSha256: null, updatedAt: T0 + 6 };
    assert.equal(await s.update(enabled), true);
    assert.equal(await s.update({ ...enabled, status: 'DISABLED' }, { status: 'ENABLED', tokenSha256: 'aa'.repeat(32) }), false);
    assert.equal(await s.update({ ...enabled, status: 'DISABLED' }, { status: 'ENABLED', tokenSha256: null }), true);
    assert.deepEqual(await s.fetch(NS, d.id), { ...enabled, status: 'DISABLED' });

    assert.equal(await s.update(dest(NS, 'https://none.example.com/')), false);
    assert.equal(s.count(NS), 1);
  });

  test('byToken reads the database; delete and clear', async () => {
    const engine = await engines.open();
    const s = await open(engine);
    const a = dest(NS, 'https://a.example.com/', { tokenSha256: 'cc'.repeat(32) });
    const b = dest(NS, 'https://b.example.com/');
    await s.insert(a);
    await s.insert(b);
    assert.deepEqual(await s.byToken(NS, 'cc'.repeat(32)), a);
    assert.equal(await s.byToken(EU, 'cc'.repeat(32)), undefined);
    assert.equal(await s.byToken(NS, 'dd'.repeat(32)), undefined);

    assert.equal(await s.delete(NS, a.id), true);
    assert.equal(await s.delete(NS, a.id), false);
    assert.equal(s.get(NS, a.id), undefined);
    assert.equal(await s.byToken(NS, 'cc'.repeat(32)), undefined);
    assert.deepEqual(Object.keys(statuses(s, NS)), ['https://b.example.com/']);

    await s.clear();
    assert.deepEqual(s.list(NS), []);
    assert.deepEqual((await DestinationStore.open(engine)).list(NS), []);
  });

  test('two nodes on one database: reload reads what the other changed; an insert or update learns the row the other made', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    const d = dest(NS, 'https://a.example.com/');
    await a.insert(d);
    assert.equal(b.get(NS, d.id), undefined, 'not before reload');
    assert.equal(b.count(NS), 0);
    await b.reload();
    assert.deepEqual(b.get(NS, d.id), d);
    assert.deepEqual(statuses(b, NS), { 'https://a.example.com/': 'IN_PROGRESS' });

    await a.update({ ...d, status: 'ENABLED' });
    await a.delete(NS, d.id);
    const e = dest(NS, 'https://e.example.com/', { status: 'ENABLED' });
    await a.insert(e);
    await b.reload();
    assert.deepEqual(b.list(NS), [e]);
    assert.deepEqual(statuses(b, NS), { 'https://e.example.com/': 'ENABLED' });

    // b never read these: its insert of a taken URL learns the row, its update reads it back whole.
    const f = dest(NS, 'https://f.example.com/', { status: 'DISABLED' });
    await a.insert(f);
    assert.equal(await b.insert(dest(NS, 'https://f.example.com/')), false);
    assert.deepEqual(b.byUrl(NS, 'https://f.example.com/'), f);
    const g = dest(NS, 'https://g.example.com/', { createdAt: T0 - 9 });
    await a.insert(g);
    assert.equal(await b.update({ ...g, status: 'DISABLED', createdAt: 0, confirmationUrl: 'ignored' }), true);
    assert.deepEqual(b.get(NS, g.id), { ...g, status: 'DISABLED' });
    await a.delete(NS, g.id);
    assert.equal(await b.fetch(NS, g.id), undefined);
    assert.equal(b.get(NS, g.id), undefined, 'fetch forgets what is gone');
  });

  test('the service on two nodes: the token one node sends confirms through the other; a conditional enable reads the other node\u2019s change', async () => {
    const bodies: string[] = [];
    const endpoint: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(body);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/hook`;
      const service = (store: DestinationStore): TopicRuleDestinations =>
        new TopicRuleDestinations({ store, trustedUrlPrefixes: [], apiBase: () => 'http://localhost:1', log: pino({ level: 'silent' }) });
      const sa = await open(await engines.open());
      const sb = await open(await engines.open({ share: true }));
      const a = service(sa);
      const b = service(sb);

      const created = (await a.create(NS, { destinationConfiguration: { httpUrlConfiguration: { confirmationUrl: url } } }))
        .topicRuleDestination;
      const arn = created.arn as string;
      for (let i = 0; i < 200 && bodies.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const { confirmationToken } = JSON.parse(bodies[0]!) as { confirmationToken: string };

      assert.equal(b.status(NS, url), undefined, 'b has not read the destination');
      await b.confirm(NS, confirmationToken);
      await assert.rejects(a.confirm(NS, confirmationToken), (err) => err instanceof AwsError && err.code === 'InvalidRequestException');
      assert.equal(a.status(NS, url), 'IN_PROGRESS', 'a holds what it wrote until it reloads');
      assert.equal(a.allows(NS, `${url}/x`), false);
      await a.reload();
      assert.equal(a.status(NS, url), 'ENABLED');
      assert.equal(a.allows(NS, `${url}/x`), true);

      // a holds DISABLED while b challenges again: a's enable is conditional on what it read, so it reads IN_PROGRESS and refuses.
      const id = arn.slice(arn.lastIndexOf('/') + 1);
      assert.equal(destinationArn(NS, id), arn);
      await b.update(NS, { arn, status: 'DISABLED' });
      await a.reload();
      assert.equal(a.status(NS, url), 'DISABLED');
      await b.update(NS, { arn, status: 'IN_PROGRESS' });
      await assert.rejects(a.update(NS, { arn, status: 'ENABLED' }), /is IN_PROGRESS: confirm it first/);
      assert.equal((await sa.fetch(NS, id))!.status, 'IN_PROGRESS');
      assert.equal(a.status(NS, url), 'IN_PROGRESS', 'a learnt it');

      // Deleted through a: b, not reloaded, finds it gone when it writes.
      await a.delete(NS, arn);
      await b.reload();
      await assert.rejects(
        b.update(NS, { arn, status: 'DISABLED' }),
        (err) => err instanceof AwsError && err.code === 'UnauthorizedException',
      );
    } finally {
      endpoint.close();
    }
  });
});

test('a database made before migrations keeps its destinations (the store created the table and its URL index)', async () => {
  const db = openDatabase(null);
  db.exec(`
CREATE TABLE IF NOT EXISTS topic_rule_destinations (
  account_id TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, confirmation_url TEXT NOT NULL,
  status TEXT NOT NULL, status_reason TEXT, token_sha256 TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS topic_rule_destinations_url ON topic_rule_destinations (account_id, region, confirmation_url);
`);
  const old = dest(NS, 'https://old.example.com/', { status: 'ENABLED', statusReason: 'kept' });
  db.prepare('INSERT INTO topic_rule_destinations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    NS.accountId,
    NS.region,
    old.id,
    old.confirmationUrl,
    old.status,
    old.statusReason,
    old.tokenSha256,
    old.createdAt,
    old.updatedAt,
  );
  const s = await open(sqliteEngine(db));
  assert.deepEqual(s.list(NS), [old]);
  assert.deepEqual(statuses(s, NS), { 'https://old.example.com/': 'ENABLED' });
  assert.equal(await s.insert(dest(NS, 'https://old.example.com/')), false, 'its URL index still holds');
  db.close();
});
