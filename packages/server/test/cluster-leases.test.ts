/**
 * Leases for once-per-cluster work and node heartbeats, on a throwaway PostgreSQL: one holder at a
 * time, a graceful stop hands over at once, a holder cut off from the database lets go before
 * another takes over, and a silent node is listed as dead; a live node's sessions are not taken from
 * it, and a node starting again waits for a move of its rows that is under way.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HolderAliveError, PostgresStore } from '@thicket/broker';
import pg0 from 'pg';
import pino from 'pino';
import { Leases } from '../src/cluster/leases.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { postgresEngine } from '../src/store/sql/postgres-engine.js';
import { startPostgres, type Postgres } from './pg-helpers.js';

const silent = pino({ level: 'silent' });
const pgClient = pg0.Client;
let pg: Postgres;
const engines: SqlEngine[] = [];
const leases: Leases[] = [];

before(async () => {
  pg = await startPostgres();
});
after(async () => {
  for (const l of leases) await l.stop();
  for (const e of engines) await e.close().catch(() => undefined);
  await pg.stop();
});

async function member(url: string, nodeId: string, ttlMs = 600): Promise<{ leases: Leases; engine: SqlEngine }> {
  const engine = postgresEngine({ connectionString: url, max: 2, log: silent });
  engines.push(engine);
  const l = await Leases.start(engine, { holder: `${nodeId}/boot`, nodeId, ttlMs, log: silent });
  leases.push(l);
  return { leases: l, engine };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('one node at a time holds a lease; stopping hands it over at once', async () => {
  const url = await pg.createDatabase('leases_handover');
  const a = await member(url, 'a');
  const b = await member(url, 'b');
  a.leases.holds('jobs');
  await until(() => a.leases.holds('jobs'), 'a to hold the lease');
  b.leases.holds('jobs');
  await sleep(700);
  assert.deepEqual([a.leases.holds('jobs'), b.leases.holds('jobs')], [true, false]);
  await a.leases.stop();
  await until(() => b.leases.holds('jobs'), 'b to take the lease');
  assert.equal(a.leases.holds('jobs'), false);
});

test('stopping while a renewal is under way: the stopped node holds nothing and another takes the lease at once', async () => {
  const url = await pg.createDatabase('leases_stop_race');
  const a = await member(url, 'a');
  const b = await member(url, 'b', 60_000);
  // The first ask starts a write that is still under way when stop is called.
  assert.equal(a.leases.holds('race'), false);
  await a.leases.stop();
  assert.equal(a.leases.holds('race'), false, 'a stopped node holds nothing');
  b.leases.holds('race');
  // b's lease time is a minute: it can only take the lease this soon if a's row is gone.
  await until(() => b.leases.holds('race'), 'b to take the lease', 2_000);
});

test('a node that stops is listed as dead at once (its sessions need not wait for the lease time); a running one is not', async () => {
  const url = await pg.createDatabase('leases_gone');
  const a = await member(url, 'a', 60_000);
  const b = await member(url, 'b', 60_000);
  const c = await member(url, 'c', 60_000);
  assert.deepEqual(await b.leases.deadNodes(), []);
  await a.leases.stop();
  assert.deepEqual(await b.leases.deadNodes(), ['a']);
  assert.deepEqual(await c.leases.deadNodes(), ['a']);
});

test('a holder cut off from the database stops holding before another node takes over; it is then listed as dead', async () => {
  const url = await pg.createDatabase('leases_death');
  const a = await member(url, 'a');
  const b = await member(url, 'b');
  a.leases.holds('rollout');
  await until(() => a.leases.holds('rollout'), 'a to hold the lease');
  b.leases.holds('rollout');
  // Node a loses the database: its renewals fail from now on.
  await a.engine.close();
  let overlap = false;
  await until(() => {
    if (a.leases.holds('rollout') && b.leases.holds('rollout')) overlap = true;
    return b.leases.holds('rollout');
  }, 'b to take the lease');
  assert.equal(overlap, false);
  assert.equal(a.leases.holds('rollout'), false);
  await until(async () => (await b.leases.deadNodes()).includes('a'), 'a to be listed as dead');
  assert.deepEqual(await b.leases.deadNodes(), ['a']);
});

test('a live node keeps a session it did not let go; once it stops, its rows move; a node starting again waits for a move under way', async () => {
  const url = await pg.createDatabase('leases_holder_alive');
  const x = await member(url, 'x', 60_000);
  const b = await member(url, 'b', 60_000);
  const rowsX = await PostgresStore.open({ connectionString: url, node: 'x', log: silent });
  const rowsB = await PostgresStore.open({ connectionString: url, node: 'b', log: silent });
  try {
    for (const clientId of ['p', 'q'])
      rowsX.putSession({ mount: '', clientId, protocolVersion: 5, expiryInterval: 3600, disconnectedAt: Date.now() });
    await new Promise<void>((r) => rowsX.afterCommit(r));
    const check = (answered: string[]) => ({ answered: new Set(answered), alive: (n: string) => b.leases.aliveQuery(n) });
    let next = 0;
    // Node x did not answer the release but writes heartbeats: its session stays with it.
    await assert.rejects(
      rowsB.adoptSession('', 'p', () => ++next, check([])),
      HolderAliveError,
    );
    await assert.rejects(rowsB.dropElsewhere('', 'q', check([])), HolderAliveError);
    assert.deepEqual(await rowsB.holders('', 'p'), ['x']);
    // Having answered (let go), it may lose it while alive.
    assert.ok(await rowsB.adoptSession('', 'p', () => ++next, check(['x'])));
    await x.leases.stop();
    // A move holds x's liveness row until it commits: x starting again (its first heartbeat) waits for it.
    const raw = new pgClient({ connectionString: url });
    await raw.connect();
    try {
      await raw.query('BEGIN');
      const { text, values } = b.leases.aliveQuery('x');
      assert.deepEqual((await raw.query(text, values)).rows, [{ alive: false }]);
      let restarted = false;
      const restart = member(url, 'x', 60_000).then(() => (restarted = true));
      await sleep(400);
      assert.equal(restarted, false, 'the heartbeat waits for the move to commit');
      await raw.query('COMMIT');
      await restart;
    } finally {
      await raw.end();
    }
    // Started again: the session it holds is its own again.
    await assert.rejects(rowsB.dropElsewhere('', 'q', check([])), HolderAliveError);
  } finally {
    await Promise.all([rowsX.close(), rowsB.close()]);
  }
});
