/**
 * The job store on SQLite and PostgreSQL: jobs and templates held in memory, executions, rollout
 * queue and schedule read from the database, conditional writes, a database of an earlier version,
 * and two nodes on one database racing the same execution, rollout and completion.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Namespace } from '../src/accounts/namespace.js';
import { DeviceJobs } from '../src/jobs/device-jobs.js';
import { JobError } from '../src/jobs/job-errors.js';
import { JobStore, jobMigrations, type TemplateRecord } from '../src/jobs/job-store.js';
import type { ExecutionRecord, JobRecord } from '../src/jobs/job-types.js';
import { JobsService } from '../src/jobs/jobs-service.js';
import type { RegistryEvents } from '../src/registry/events.js';
import { openDatabase } from '../src/store/database.js';
import { compiled, type SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { onBothEngines } from './store-engines.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const EU: Namespace = { accountId: '123456789012', region: 'eu-west-1' };
// Past 2^31 ms: epoch milliseconds need 64-bit columns.
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0, 250);
const thingArn = (t: string): string => `arn:aws:iot:${NS.region}:${NS.accountId}:thing/${t}`;

async function open(engine: SqlEngine): Promise<JobStore> {
  await migrate(engine, { jobs: jobMigrations });
  return JobStore.open(engine);
}

function job(jobId: string, over: Partial<JobRecord> = {}): JobRecord {
  return {
    jobId,
    document: '{"op":"update"}',
    targets: [],
    targetSelection: 'SNAPSHOT',
    status: 'IN_PROGRESS',
    createdAt: T0,
    lastUpdatedAt: T0,
    notified: 0,
    ...over,
  };
}

function execution(jobId: string, thingName: string, over: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    jobId,
    thingName,
    executionNumber: 1,
    status: 'QUEUED',
    statusDetails: {},
    versionNumber: 1,
    queuedAt: T0,
    lastUpdatedAt: T0,
    retryAttempt: 0,
    seq: 0,
    ...over,
  };
}

function template(id: string): TemplateRecord {
  return { jobTemplateId: id, createdAt: T0, description: `the ${id} template`, document: '{"op":"t"}', config: {} };
}

/** A whole Jobs service (as one node runs it) on a store, with every thing existing and every publish collected. */
function node(store: JobStore, clock = () => T0 + 1000) {
  const published: string[] = [];
  const events = { emit: (_ns: unknown, _type: unknown, topic: string) => published.push(topic) } as unknown as RegistryEvents;
  const jobs = new JobsService({
    store,
    registry: { thing: () => ({}) as never, group: () => undefined },
    groups: { members: () => [], groupsReaching: () => [] },
    events,
    publish: (_ns, topic) => published.push(topic),
    clock,
  });
  const devices = new DeviceJobs({
    store,
    lifecycle: jobs.lifecycle,
    documentFor: (ns, j) => jobs.deviceDocument(ns, j),
    clock,
    expireDue: () => jobs.expireDue(),
  });
  return { jobs, devices, published };
}

const create = (jobs: JobsService, jobId: string, things: string[], extra: Record<string, unknown> = {}) =>
  jobs.createJob(NS, jobId, { document: '{"op":"x"}', targets: things.map(thingArn), ...extra });

onBothEngines('job store', (engines) => {
  test('jobs: insert with queue and schedule, read as copies, listed by code unit, a taken id, conditional change, delete with what goes with it', async () => {
    const store = await open(await engines.open());
    for (const id of ['b', 'B', 'a']) assert.equal(await store.insertJob(NS, job(id)), true);
    assert.equal(await store.insertJob(EU, job('z')), true);
    assert.deepEqual(
      store.jobs(NS).map((j) => j.jobId),
      ['B', 'a', 'b'],
    );
    assert.deepEqual(store.job(EU, 'z'), job('z'));
    assert.equal(await store.insertJob(NS, job('a', { description: 'again' })), false, 'the id is taken');
    assert.equal(store.job(NS, 'a')?.description, undefined);

    const copy = store.job(NS, 'a')!;
    copy.description = 'changed';
    assert.equal(store.job(NS, 'a')?.description, undefined, 'a copy: the held job changes only when written');
    assert.deepEqual(await store.changeJob(NS, copy, { enqueue: ['t1', 't2', 't1'], due: T0 + 60_000 }), { updated: [] });
    assert.equal(store.job(NS, 'a')?.description, 'changed');
    assert.deepEqual(await store.queued(NS, 'a', 10), [
      { position: 1, thingName: 't1' },
      { position: 2, thingName: 't2' },
      { position: 3, thingName: 't1' },
    ]);
    assert.equal(await store.queuedTargets(NS, 'a'), 3);
    assert.equal(await store.unfinished(NS, 'a'), true, 'targets wait for the rollout');
    assert.deepEqual(await store.dueSchedules(T0 + 59_999), []);
    assert.deepEqual(await store.dueSchedules(T0 + 60_000), [{ ns: NS, jobId: 'a' }]);
    assert.deepEqual(await store.rollingOut(), [{ ns: NS, jobId: 'a' }]);
    assert.deepEqual([...(await store.rollingOutIn(NS))], ['a']);

    // Only a record the store handed out can be written (its condition is the text it was read as).
    await assert.rejects(store.changeJob(NS, { ...copy, description: 'stale' }), /a conditional write needs a record read from the store/);
    // A change based on the job as it was before is refused; the store holds what the database holds.
    const first = store.job(NS, 'a')!;
    const second = store.job(NS, 'a')!;
    first.notified = 5;
    assert.notEqual(await store.changeJob(NS, first, { dequeue: [1] }), false);
    second.notified = 7;
    assert.equal(await store.changeJob(NS, second, { clearQueue: true, due: null }), false);
    assert.equal(store.job(NS, 'a')?.notified, 5);
    assert.equal(await store.queuedTargets(NS, 'a'), 2, 'the queue was not cleared by the refused change');
    assert.deepEqual(await store.dueSchedules(T0 + 60_000), [{ ns: NS, jobId: 'a' }]);

    const current = store.job(NS, 'a')!;
    assert.notEqual(await store.changeJob(NS, current, { create: [execution('a', 't2')] }), false);
    assert.equal(await store.deleteJob(NS, second), false, 'a stale delete');
    assert.equal(await store.deleteJob(NS, store.job(NS, 'a')!), true);
    assert.equal(store.job(NS, 'a'), undefined);
    assert.equal(await store.execution(NS, 'a', 't2'), undefined, 'its executions went with it');
    assert.equal(await store.queuedTargets(NS, 'a'), 0);
    assert.deepEqual(await store.dueSchedules(T0 + 60_000), []);

    await store.clear();
    assert.deepEqual(store.jobs(NS), []);
    await store.reload();
    assert.deepEqual(store.jobs(EU), []);
  });

  test('executions: created in a job change (seq per thing from the database), read, counted, changed and deleted only as read, a retry with its change', async () => {
    const store = await open(await engines.open());
    await store.insertJob(NS, job('j1'));
    await store.insertJob(NS, job('j2'));
    const j1 = store.job(NS, 'j1')!;
    const created = [execution('j1', 'beta'), execution('j1', 'Alpha')];
    assert.notEqual(await store.changeJob(NS, j1, { create: created }), false);
    assert.deepEqual(
      created.map((e) => e.seq),
      [1, 1],
      'each thing counts its own',
    );
    const j2 = store.job(NS, 'j2')!;
    assert.notEqual(await store.changeJob(NS, j2, { create: [execution('j2', 'beta')] }), false);
    // The same number again fails the whole change, the job's write included.
    const again = store.job(NS, 'j2')!;
    again.notified = 9;
    assert.equal(await store.changeJob(NS, again, { create: [execution('j2', 'gamma'), execution('j2', 'beta')] }), false);
    assert.equal(store.job(NS, 'j2')?.notified, 0);
    assert.equal(await store.execution(NS, 'j2', 'gamma'), undefined);

    assert.deepEqual(
      (await store.pendingOfThing(NS, 'beta')).map((e) => [e.jobId, e.seq]),
      [
        ['j1', 1],
        ['j2', 2],
      ],
    );
    assert.deepEqual(
      (await store.executionsOfJob(NS, 'j1')).map((e) => e.thingName),
      ['Alpha', 'beta'],
    );

    const read = (await store.execution(NS, 'j1', 'beta'))!;
    const stale = (await store.execution(NS, 'j1', 'beta', 1))!;
    Object.assign(read, { status: 'IN_PROGRESS', versionNumber: 2, inProgressDeadline: T0 + 5000 });
    assert.equal(await store.updateExecution(NS, read), true);
    assert.deepEqual(await store.dueExecutions(T0 + 5000), [{ ns: NS, jobId: 'j1', thingName: 'beta', executionNumber: 1 }]);
    Object.assign(stale, { status: 'SUCCEEDED', versionNumber: 2 });
    assert.equal(await store.updateExecution(NS, stale), false, 'changed since it was read');
    assert.equal((await store.execution(NS, 'j1', 'beta'))?.status, 'IN_PROGRESS');
    assert.equal(await store.unfinished(NS, 'j1'), true, 'an execution is IN_PROGRESS');

    // FAILED with its retry, in one write.
    const failing = (await store.execution(NS, 'j1', 'beta'))!;
    Object.assign(failing, { status: 'FAILED', versionNumber: 3, inProgressDeadline: undefined });
    const retry = execution('j1', 'beta', { executionNumber: 2, retryAttempt: 1 });
    assert.equal(await store.updateExecution(NS, failing, retry), true);
    assert.equal(retry.seq, 3);
    assert.deepEqual(await store.dueExecutions(T0 + 5000), []);
    assert.deepEqual(
      (await store.attempts(NS, 'j1', 'beta')).map((e) => [e.executionNumber, e.status]),
      [
        [1, 'FAILED'],
        [2, 'QUEUED'],
      ],
    );
    assert.equal((await store.execution(NS, 'j1', 'beta'))?.executionNumber, 2, 'the latest attempt');
    const counts = await store.countLatest(NS, 'j1');
    assert.deepEqual([counts.QUEUED, counts.FAILED], [2, 0], 'only latest attempts count');
    assert.equal((await store.executionsOfThing(NS, 'beta')).length, 3);

    const alpha = (await store.execution(NS, 'j1', 'Alpha'))!;
    const alphaStale = (await store.execution(NS, 'j1', 'Alpha'))!;
    alpha.statusDetails = { k: 'v' };
    assert.equal(await store.updateExecution(NS, alpha), true);
    assert.equal(await store.deleteExecution(NS, alphaStale), false);
    assert.equal(await store.deleteExecution(NS, alpha), true);
    assert.equal(await store.execution(NS, 'j1', 'Alpha'), undefined);

    const last = (await store.execution(NS, 'j1', 'beta'))!;
    assert.equal(await store.unfinished(NS, 'j1'), true, 'the retry is QUEUED');
    Object.assign(last, { status: 'SUCCEEDED', versionNumber: 2 });
    assert.equal(await store.updateExecution(NS, last), true);
    assert.equal(await store.unfinished(NS, 'j1'), false, 'every latest attempt ended, nothing queued');
    assert.equal(await store.unfinished(NS, 'j2'), true);
  });

  test('templates: insert, a taken id, list by code unit, delete', async () => {
    const store = await open(await engines.open());
    for (const id of ['t-b', 'T-a', 't-a']) assert.equal(await store.insertTemplate(NS, template(id)), true);
    assert.equal(await store.insertTemplate(NS, { ...template('t-a'), description: 'other' }), false);
    assert.deepEqual(
      store.templates(NS).map((t) => t.jobTemplateId),
      ['T-a', 't-a', 't-b'],
    );
    assert.equal(store.template(NS, 't-a')?.description, 'the t-a template');
    assert.equal(await store.deleteTemplate(NS, 't-a'), true);
    assert.equal(await store.deleteTemplate(NS, 't-a'), false);
    await store.reload();
    assert.deepEqual(
      store.templates(NS).map((t) => t.jobTemplateId),
      ['T-a', 't-b'],
    );
  });

  test('two nodes on one database: reload and refreshJob pick up the other node; a stale change reads the job again', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    await a.insertJob(NS, job('shared'));
    await a.insertTemplate(NS, template('tpl'));
    assert.equal(b.job(NS, 'shared'), undefined, 'b has not read again yet');
    assert.equal(await b.insertJob(NS, job('shared')), false, 'the database knows it');
    assert.deepEqual(b.job(NS, 'shared'), job('shared'), 'and b read it');
    await b.reload();
    assert.deepEqual(b.template(NS, 'tpl'), template('tpl'));

    const viaA = a.job(NS, 'shared')!;
    viaA.description = 'from a';
    await a.changeJob(NS, viaA);
    const viaB = b.job(NS, 'shared')!;
    viaB.comment = 'from b';
    assert.equal(await b.changeJob(NS, viaB), false);
    assert.equal(b.job(NS, 'shared')?.description, 'from a', 'refreshed by the refusal');

    const again = a.job(NS, 'shared')!;
    again.status = 'CANCELED';
    await a.changeJob(NS, again);
    await b.refreshJob(NS, 'shared');
    assert.equal(b.job(NS, 'shared')?.status, 'CANCELED');
    await a.deleteJob(NS, a.job(NS, 'shared')!);
    await b.refreshJob(NS, 'shared');
    assert.equal(b.job(NS, 'shared'), undefined);
  });

  test('two nodes race one execution update: at one expectedVersion exactly one wins; without it both apply in turn', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    const nodeA = node(a);
    const nodeB = node(b);
    await create(nodeA.jobs, 'race', ['dev']);
    await b.reload();
    const outcomes = await Promise.allSettled([
      nodeA.devices.update(NS, 'dev', 'race', { status: 'IN_PROGRESS', expectedVersion: 1, statusDetails: { by: 'a' } }),
      nodeB.devices.update(NS, 'dev', 'race', { status: 'IN_PROGRESS', expectedVersion: 1, statusDetails: { by: 'b' } }),
    ]);
    const won = outcomes.filter((o) => o.status === 'fulfilled');
    const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    assert.equal(won.length, 1, 'exactly one update at version 1 applies');
    assert.equal(lost.length, 1);
    assert.ok(lost[0]!.reason instanceof JobError);
    assert.equal((lost[0]!.reason as JobError).code, 'VersionMismatch');
    assert.deepEqual((lost[0]!.reason as JobError).executionState?.versionNumber, 2);
    const e = (await a.execution(NS, 'race', 'dev'))!;
    assert.equal(e.versionNumber, 2);
    assert.equal(e.statusDetails.by, outcomes[0]!.status === 'fulfilled' ? 'a' : 'b');

    // Without expectedVersion the loser reads again and applies on top.
    await Promise.all([
      nodeA.devices.update(NS, 'dev', 'race', { status: 'IN_PROGRESS', statusDetails: { step: '1' } }),
      nodeB.devices.update(NS, 'dev', 'race', { status: 'IN_PROGRESS', statusDetails: { step: '2' } }),
    ]);
    assert.equal((await b.execution(NS, 'race', 'dev'))!.versionNumber, 4);

    // Both finish it: one succeeds, the other finds it terminal; the job completes once.
    const finish = await Promise.allSettled([
      nodeA.devices.update(NS, 'dev', 'race', { status: 'SUCCEEDED' }),
      nodeB.devices.update(NS, 'dev', 'race', { status: 'FAILED' }),
    ]);
    assert.equal(finish.filter((o) => o.status === 'fulfilled').length, 1);
    const terminal = finish.find((o): o is PromiseRejectedResult => o.status === 'rejected')!.reason as JobError;
    assert.equal(terminal.code, 'InvalidStateTransition');
    await Promise.all([a.refreshJob(NS, 'race'), b.refreshJob(NS, 'race')]);
    assert.equal(a.job(NS, 'race')?.status, 'COMPLETED');
    const completed = [...nodeA.published, ...nodeB.published].filter((t) => t === '$aws/events/job/race/completed');
    assert.equal(completed.length, 1, 'one completion event');
  });

  test('two nodes roll out one job at once: each thing gets one execution, the job counts each once', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    const c = await open(await engines.open({ share: true }));
    const things = Array.from({ length: 12 }, (_, i) => `t${String(i).padStart(2, '0')}`);
    const nodeA = node(a);
    // Six a minute: the first six at once, the rest waits in the queue for the nodes' timers.
    await create(nodeA.jobs, 'wave', things, { jobExecutionsRolloutConfig: { maximumPerMinute: 6 } });
    assert.equal((await a.executionsOfJob(NS, 'wave')).length, 6);
    // Two more nodes, each with a minute's allowance of its own, take from the same queue at once.
    await Promise.all([b.reload(), c.reload()]);
    await Promise.all([node(b).jobs.tick(), node(c).jobs.tick(), nodeA.jobs.tick()]);
    const executions = await a.executionsOfJob(NS, 'wave');
    assert.deepEqual(
      executions.map((e) => `${e.thingName}#${e.executionNumber}`),
      things.map((t) => `${t}#1`),
    );
    await Promise.all([a.refreshJob(NS, 'wave'), b.refreshJob(NS, 'wave')]);
    assert.equal(a.job(NS, 'wave')?.notified, 12);
    assert.equal(await a.queuedTargets(NS, 'wave'), 0);
  });

  test('two nodes cancel one job while a device reports: every pending execution ends CANCELED or as reported, the job once', async () => {
    const a = await open(await engines.open());
    const b = await open(await engines.open({ share: true }));
    const nodeA = node(a);
    const nodeB = node(b);
    await create(nodeA.jobs, 'stop', ['s1', 's2', 's3']);
    await b.reload();
    const results = await Promise.allSettled([
      nodeA.jobs.cancelJob(NS, 'stop', false, { comment: 'a' }),
      nodeB.jobs.cancelJob(NS, 'stop', false, { comment: 'b' }),
      nodeB.devices.update(NS, 's2', 'stop', { status: 'IN_PROGRESS' }),
    ]);
    const cancels = results.slice(0, 2);
    assert.equal(cancels.filter((r) => r.status === 'fulfilled').length, 1, 'one CancelJob applies');
    const refused = cancels.find((r): r is PromiseRejectedResult => r.status === 'rejected')!.reason as Error & { name: string };
    assert.equal(refused.name, 'InvalidRequestException');
    const statuses = Object.fromEntries((await a.executionsOfJob(NS, 'stop')).map((e) => [e.thingName, e.status]));
    assert.equal(statuses.s1, 'CANCELED');
    assert.equal(statuses.s3, 'CANCELED');
    assert.ok(statuses.s2 === 'CANCELED' || statuses.s2 === 'IN_PROGRESS', statuses.s2);
    await a.refreshJob(NS, 'stop');
    assert.equal(a.job(NS, 'stop')?.status, 'CANCELED');
    const canceled = [...nodeA.published, ...nodeB.published].filter((t) => t === '$aws/events/job/stop/canceled');
    assert.equal(canceled.length, 1);
  });
});

test('a database made before migrations keeps its jobs, executions, queue, schedule and templates (the store created the tables)', async () => {
  const db = openDatabase(null);
  // The former schema, as job-store.ts created it.
  db.exec(`
CREATE TABLE IF NOT EXISTS jobs (
  account_id TEXT NOT NULL, region TEXT NOT NULL, job_id TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (account_id, region, job_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_executions (
  account_id TEXT NOT NULL, region TEXT NOT NULL, job_id TEXT NOT NULL, thing_name TEXT NOT NULL,
  execution_number INTEGER NOT NULL,
  status TEXT NOT NULL,
  seq INTEGER NOT NULL,
  deadline INTEGER,
  record TEXT NOT NULL,
  PRIMARY KEY (account_id, region, job_id, thing_name, execution_number)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_executions_thing ON job_executions (account_id, region, thing_name, seq);
CREATE INDEX IF NOT EXISTS job_executions_status ON job_executions (account_id, region, job_id, status);
CREATE INDEX IF NOT EXISTS job_executions_deadline ON job_executions (deadline) WHERE deadline IS NOT NULL;
CREATE TABLE IF NOT EXISTS job_rollout_queue (
  account_id TEXT NOT NULL, region TEXT NOT NULL, job_id TEXT NOT NULL, position INTEGER NOT NULL,
  thing_name TEXT NOT NULL,
  PRIMARY KEY (account_id, region, job_id, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_schedule (
  account_id TEXT NOT NULL, region TEXT NOT NULL, job_id TEXT NOT NULL,
  due_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, job_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_schedule_due ON job_schedule (due_at);
CREATE TABLE IF NOT EXISTS job_templates (
  account_id TEXT NOT NULL, region TEXT NOT NULL, template_id TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (account_id, region, template_id)) WITHOUT ROWID;
`);
  const old = job('old', { targets: [thingArn('dev'), thingArn('later')] });
  const started = execution('old', 'dev', { status: 'IN_PROGRESS', versionNumber: 2, inProgressDeadline: T0 + 600_000, seq: 41 });
  db.prepare('INSERT INTO jobs VALUES (?, ?, ?, ?)').run(NS.accountId, NS.region, 'old', JSON.stringify(old));
  db.prepare('INSERT INTO job_executions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)').run(
    NS.accountId,
    NS.region,
    'old',
    'dev',
    1,
    'IN_PROGRESS',
    41,
    T0 + 600_000,
    JSON.stringify(started),
  );
  db.prepare('INSERT INTO job_rollout_queue VALUES (?, ?, ?, ?, ?)').run(NS.accountId, NS.region, 'old', 7, 'later');
  db.prepare('INSERT INTO job_schedule VALUES (?, ?, ?, ?)').run(NS.accountId, NS.region, 'old', T0 + 3_600_000);
  db.prepare('INSERT INTO job_templates VALUES (?, ?, ?, ?)').run(NS.accountId, NS.region, 'tpl', JSON.stringify(template('tpl')));

  const store = await open(sqliteEngine(db));
  assert.deepEqual(store.job(NS, 'old'), old);
  assert.deepEqual(await store.execution(NS, 'old', 'dev'), started);
  assert.deepEqual(await store.dueExecutions(T0 + 600_000), [{ ns: NS, jobId: 'old', thingName: 'dev', executionNumber: 1 }]);
  assert.deepEqual(await store.queued(NS, 'old', 10), [{ position: 7, thingName: 'later' }]);
  assert.deepEqual(await store.dueSchedules(T0 + 3_600_000), [{ ns: NS, jobId: 'old' }]);
  assert.deepEqual(store.template(NS, 'tpl'), template('tpl'));
  // New rows follow the old ones: the queue after position 7, the thing's executions after seq 41.
  const current = store.job(NS, 'old')!;
  const next = execution('other', 'dev');
  await store.insertJob(NS, job('other'));
  assert.notEqual(await store.changeJob(NS, current, { enqueue: ['again'] }), false);
  assert.notEqual(await store.changeJob(NS, store.job(NS, 'other')!, { create: [next] }), false);
  assert.equal(next.seq, 42);
  assert.deepEqual(
    (await store.queued(NS, 'old', 10)).map((q) => q.position),
    [7, 8],
  );
  // An update of the old row is conditional on its text as the old code wrote it.
  const dev = (await store.execution(NS, 'old', 'dev'))!;
  dev.status = 'SUCCEEDED';
  assert.equal(await store.updateExecution(NS, dev), true);
  db.close();
});

test("the queries of a device's requests find their rows by index, not by walking the job's executions (SQLite's plans)", async () => {
  const db = openDatabase(null);
  const engine = sqliteEngine(db);
  const asked: Array<{ sql: string; parameters: readonly unknown[] }> = [];
  const recording: SqlEngine = {
    ...engine,
    all: async (q) => (asked.push(compiled(q)), engine.all(q)),
    first: async (q) => (asked.push(compiled(q)), engine.first(q)),
  };
  const store = await open(recording);
  await store.insertJob(NS, job('big'));
  const things = Array.from({ length: 50 }, (_, i) => `t${i}`);
  assert.notEqual(await store.changeJob(NS, store.job(NS, 'big')!, { create: things.map((t) => execution('big', t)) }), false);

  const plans = new Map<string, string[]>();
  const plan = async (name: string, ask: () => Promise<unknown>): Promise<void> => {
    asked.length = 0;
    await ask();
    assert.equal(asked.length, 1, `${name} asks one statement`);
    const { sql, parameters } = asked[0]!;
    const rows = db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...parameters) as Array<{ detail: string }>;
    plans.set(
      name,
      rows.map((r) => r.detail),
    );
  };
  await plan('unfinished', () => store.unfinished(NS, 'big'));
  await plan('pendingOfThing', () => store.pendingOfThing(NS, 't7'));
  await plan('latest execution', () => store.execution(NS, 'big', 't7'));
  await plan('dueExecutions', () => store.dueExecutions(T0));
  for (const [name, details] of plans) {
    for (const d of details) assert.doesNotMatch(d, /^SCAN (?!CONSTANT ROW)/, `${name}: ${details.join(' | ')}`);
  }
  // Through the primary key, (account, region, job) matches every execution of the job: the check
  // that runs whenever one ends walked them all, a large job's completion became quadratic.
  const executions = plans.get('unfinished')!.filter((d) => d.includes('job_executions'));
  assert.equal(executions.length, 1, plans.get('unfinished')!.join(' | '));
  assert.match(executions[0]!, /INDEX job_executions_status \(account_id=\? AND region=\? AND job_id=\? AND status=\?\)/);
  db.close();
});
