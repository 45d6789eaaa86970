/**
 * How nodes learn of each other's writes: the SQL engine names the tables each committed write
 * changed, the change feed carries them over a real nats-server to the other nodes (not back to the
 * writer), and the platform reloads the capabilities holding those tables, one reload at a time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { ChangeFeed, reportingWrites, writtenTable } from '../src/cluster/change-feed.js';
import { Platform } from '../src/platform/assemble.js';
import { defineCapability, type CapabilityDefinition, type CapabilityName, type PlatformOptions } from '../src/platform/capability.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { changedKey, refreshedBy, type ChangedKey } from '../src/store/sql/changed-keys.js';
import { startNats, type NatsServer } from './nats-helpers.js';

const silent = pino({ level: 'silent' });

async function sqlite(): Promise<SqlEngine> {
  const e = sqliteEngine(openDatabase(null));
  await e.db.schema
    .createTable('things')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .execute();
  await e.db.schema
    .createTable('groups')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .execute();
  return e;
}

test('the table a statement writes: inserts, updates and deletes (aliased too), not reads', async () => {
  const { db } = await sqlite();
  assert.equal(writtenTable(db.insertInto('things').values({ name: 'a' })), 'things');
  assert.equal(writtenTable(db.updateTable('things').set({ name: 'b' }).where('name', '=', 'a')), 'things');
  assert.equal(writtenTable(db.updateTable('things as t').set({ name: 'b' })), 'things');
  assert.equal(writtenTable(db.deleteFrom('groups').where('name', '=', 'a')), 'groups');
  assert.equal(writtenTable(db.deleteFrom('groups as g')), 'groups');
  assert.equal(writtenTable(db.insertInto('things').values({ name: 'a' }).compile()), 'things');
  assert.equal(writtenTable(db.selectFrom('things').selectAll()), undefined);
});

test('writes are reported once committed and only when they changed rows; a batch that fails reports nothing', async () => {
  const base = await sqlite();
  const reports: string[][] = [];
  const e = reportingWrites(base, (t) => reports.push([...t].sort()));
  await e.run(e.db.insertInto('things').values({ name: 'a' }));
  await e.run(e.db.deleteFrom('things').where('name', '=', 'nobody'));
  await e.batch([e.db.insertInto('groups').values({ name: 'g' }), e.db.insertInto('things').values({ name: 'b' })]);
  await assert.rejects(e.batch([e.db.insertInto('groups').values({ name: 'h' }), e.db.insertInto('things').values({ name: 'a' })]));
  await e.all(e.db.selectFrom('things').selectAll());
  assert.deepEqual(reports, [['things'], ['groups', 'things']]);
  // The failed batch left nothing behind.
  assert.equal((await e.all(e.db.selectFrom('groups').selectAll())).length, 1);
});

let nats: NatsServer;
const connections: NatsConnection[] = [];
before(async () => {
  nats = await startNats();
});
after(async () => {
  for (const c of connections) await c.close();
  await nats.stop();
});

async function feed(
  origin: string,
  opts: { changed?: (t: ReadonlySet<string>) => Promise<void> | void; others?: () => string[]; applyTimeoutMs?: number } = {},
): Promise<ChangeFeed> {
  const nc = await connect({ servers: nats.url });
  connections.push(nc);
  return new ChangeFeed(nc, {
    prefix: 'test',
    origin,
    nodeId: origin.split('/')[0]!,
    log: silent,
    changed: opts.changed ?? (() => undefined),
    others: opts.others ?? (() => []),
    applyTimeoutMs: opts.applyTimeoutMs ?? 500,
  });
}

test('announcements reach the other nodes, gathered per event-loop turn, and not the announcer', async () => {
  const heardA: string[][] = [];
  const heardB: string[][] = [];
  const a = await feed('a/1', { changed: (t) => void heardA.push([...t].sort()) });
  const b = await feed('b/1', { changed: (t) => void heardB.push([...t].sort()) });
  await b.flush();
  a.announce(new Set(['things']));
  a.announce(new Set(['groups', 'things']));
  await a.flush();
  const end = Date.now() + 5000;
  while (heardB.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(heardB, [['groups', 'things']]);
  assert.deepEqual(heardA, []);
});

test('a write is applied once every other node re-read it; a node that does not answer in time is not waited for again', async () => {
  const gates: Record<string, Array<() => void>> = { b: [], c: [] };
  const reread = (node: string) => (): Promise<void> => new Promise((r) => gates[node]!.push(r));
  let others = ['b/2', 'c/2'];
  // Two writers on the same nodes: one that waits as long as it takes, one that gives up after a second.
  const patient = await feed('a/2', { others: () => others, applyTimeoutMs: 60_000 });
  const TIMEOUT = 1000;
  const a = await feed('w/2', { others: () => others, applyTimeoutMs: TIMEOUT });
  await Promise.all([patient.flush(), a.flush()]);
  // Each listener's subscription must have reached the server before anything is announced.
  for (const node of ['b', 'c']) await (await feed(`${node}/2`, { changed: reread(node) })).flush();
  const heard = async (n: number): Promise<void> => {
    const end = Date.now() + 10_000;
    while ((gates.b!.length < n || gates.c!.length < n) && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  };
  const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
  assert.equal(patient.applied(patient.mark()), undefined, 'nothing announced, nothing to wait for');

  const m1 = patient.mark();
  patient.announce(new Set(['jobs']));
  let done = false;
  const first = patient.applied(m1)!.then(() => (done = true));
  await heard(1);
  await pause(50);
  assert.equal(done, false, 'waits while both re-read');
  gates.b![0]!();
  await pause(50);
  assert.equal(done, false, 'waits for the second one too');
  gates.c![0]!();
  await first;

  // c stops answering: this write waits for c until the timeout, the next one not at all.
  a.announce(new Set(['jobs']));
  const t0 = Date.now();
  const second = a.applied(0)!;
  await heard(2);
  gates.b![1]!();
  await second;
  assert.ok(Date.now() - t0 >= TIMEOUT - 50, 'waited for the silent node until its timeout');
  a.announce(new Set(['jobs']));
  const third = a.applied(0)!;
  await heard(3);
  const t1 = Date.now();
  gates.b![2]!();
  await third;
  assert.ok(Date.now() - t1 < TIMEOUT / 2, 'not waiting for the lagging node again');

  // A node that leaves the cluster lets a waiting write go at once.
  a.announce(new Set(['jobs']));
  const fourth = a.applied(0)!;
  await heard(4);
  const t2 = Date.now();
  others = ['c/2'];
  a.forget('b/2');
  await fourth;
  assert.ok(Date.now() - t2 < TIMEOUT / 2, 'not waiting for the node that left');
  for (const g of [...gates.b!, ...gates.c!]) g();
});

test('the platform reloads the capabilities holding a changed table, one reload at a time per capability', async () => {
  const runs: Record<string, number> = { registry: 0, policies: 0 };
  let release: () => void = () => undefined;
  let gate = Promise.resolve();
  const holding = (name: 'registry' | 'policies', tables: string[]) =>
    defineCapability(name, () => ({
      services: {} as never,
      reload: {
        tables,
        async run() {
          runs[name]!++;
          await gate;
        },
      },
    })) as unknown as CapabilityDefinition<CapabilityName>;
  const engine = await sqlite();
  const platform = await Platform.assemble({ sql: engine, log: silent } as unknown as PlatformOptions, [
    holding('registry', ['things', 'thing_groups']),
    holding('policies', ['policies']),
  ]);
  gate = new Promise<void>((r) => (release = r));
  void platform.changed(new Set(['things']));
  // Heard while the first reload runs: one more run after it, not one per announcement.
  void platform.changed(new Set(['thing_groups']));
  void platform.changed(new Set(['things']));
  void platform.changed(new Set(['unrelated']));
  assert.deepEqual(runs, { registry: 1, policies: 0 });
  release();
  // The catch-up joins the run still to come (it reads after now), and runs the others.
  await platform.reloadAll();
  assert.deepEqual(runs, { registry: 2, policies: 1 });
  await platform.reloadAll();
  assert.deepEqual(runs, { registry: 3, policies: 2 });
});

test('a write marked with rows is reported with them; the other nodes re-read those rows, not the tables', async () => {
  const base = await sqlite();
  const reports: Array<{ tables: string[]; keys?: readonly ChangedKey[] }> = [];
  const e = reportingWrites(base, (t, keys) => reports.push({ tables: [...t].sort(), keys }));
  const ns = { accountId: '123456789012', region: 'us-east-1' };
  await e.run(refreshedBy(e.db.insertInto('things').values({ name: 'a' }), changedKey('thing', ns, 'a')));
  await e.batch(refreshedBy([e.db.insertInto('groups').values({ name: 'g' })], changedKey('group', ns, 'g')));
  await e.run(e.db.insertInto('things').values({ name: 'b' }));
  assert.deepEqual(reports, [
    { tables: ['things'], keys: [{ kind: 'thing', ns, key: 'a' }] },
    { tables: ['groups'], keys: [{ kind: 'group', ns, key: 'g' }] },
    { tables: ['things'], keys: undefined },
  ]);

  const log: string[] = [];
  let failRow = false;
  const capability = (name: 'registry' | 'policies' | 'jobs', tables: string[], kinds: string[]) =>
    defineCapability(name, () => ({
      services: {} as never,
      reload: {
        tables,
        async run() {
          log.push(`${name} whole`);
        },
        rows: Object.fromEntries(
          kinds.map((k) => [
            k,
            async (_ns: unknown, key: string) => {
              if (failRow) throw new Error('database gone');
              log.push(`${name} ${k} ${key}`);
            },
          ]),
        ),
      },
    })) as unknown as CapabilityDefinition<CapabilityName>;
  const platform = await Platform.assemble({ sql: base, log: silent } as unknown as PlatformOptions, [
    capability('registry', ['things', 'thing_groups'], ['thing']),
    capability('policies', ['policies', 'policy_targets'], ['policy']),
    // Holds a table of the registry's too: a registry row re-read does not cover it.
    capability('jobs', ['jobs', 'thing_groups'], []),
  ]);
  await platform.changed(new Set(), [changedKey('thing', ns, 'a'), changedKey('thing', ns, 'b'), changedKey('policy', ns, 'p')]);
  assert.deepEqual(log.sort(), ['policies policy p', 'registry thing a', 'registry thing b']);
  log.length = 0;
  // A table written whole along with rows of the same capability: one whole re-read serves both.
  await platform.changed(new Set(['things']), [changedKey('thing', ns, 'c')]);
  assert.deepEqual(log, ['registry whole']);
  log.length = 0;
  // A row that cannot be read is read whole.
  failRow = true;
  await platform.changed(new Set(), [changedKey('thing', ns, 'd')]);
  assert.deepEqual(log, ['registry whole']);
  failRow = false;
  assert.deepEqual([...platform.tablesRefreshedBy([changedKey('thing', ns, 'a')])].sort(), ['things']);
  assert.deepEqual([...platform.tablesRefreshedBy([changedKey('unknown', ns, 'a')])], []);
});
