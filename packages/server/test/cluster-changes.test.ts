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

async function feed(origin: string, heard: string[][]): Promise<ChangeFeed> {
  const nc = await connect({ servers: nats.url });
  connections.push(nc);
  return new ChangeFeed(nc, { prefix: 'test', origin, log: silent, changed: (t) => heard.push([...t].sort()) });
}

test('announcements reach the other nodes, gathered per event-loop turn, and not the announcer', async () => {
  const heardA: string[][] = [];
  const heardB: string[][] = [];
  const a = await feed('a/1', heardA);
  const b = await feed('b/1', heardB);
  await b.flush();
  a.announce(new Set(['things']));
  a.announce(new Set(['groups', 'things']));
  await a.flush();
  const end = Date.now() + 5000;
  while (heardB.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(heardB, [['groups', 'things']]);
  assert.deepEqual(heardA, []);
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
  platform.changed(new Set(['things']));
  // Heard while the first reload runs: one more run after it, not one per announcement.
  platform.changed(new Set(['thing_groups']));
  platform.changed(new Set(['things']));
  platform.changed(new Set(['unrelated']));
  assert.deepEqual(runs, { registry: 1, policies: 0 });
  release();
  // The catch-up joins the run still to come (it reads after now), and runs the others.
  await platform.reloadAll();
  assert.deepEqual(runs, { registry: 2, policies: 1 });
  await platform.reloadAll();
  assert.deepEqual(runs, { registry: 3, policies: 2 });
});
