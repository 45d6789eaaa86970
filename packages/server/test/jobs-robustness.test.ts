/**
 * Jobs under conditions that are easy to get wrong: messages of a registry change that rolls
 * back, policy caches untouched by job traffic, rollouts whose last things are skipped, AWS's
 * default pace and target limit, the notify list limit, retries without a gap, a broken record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awsError } from './helpers.js';
import { NS, T0, MINUTE, groupArn, harness, thingArn } from './jobs-control-helpers.js';
import { JobsService } from '../src/jobs/jobs-service.js';
import { RegistryEvents } from '../src/registry/events.js';

const doc = JSON.stringify({ operation: 'update' });
const topics = (h: Awaited<ReturnType<typeof harness>>, suffix: string): string[] =>
  h.published.map((p) => p.topic).filter((t) => t.endsWith(suffix));

test('a registry change that rolls back publishes nothing of what the jobs service did inside it', async () => {
  const h = await harness();
  await h.fleet(['m1'], 'g1');
  await h.jobs.createJob(NS, 'cont', { document: doc, targets: [groupArn('g1')], targetSelection: 'CONTINUOUS' });
  const before = h.published.length;
  // Removal from g1 first (the job marks the execution REMOVED), then a group that does not exist.
  const failed = await awsError(
    Promise.resolve().then(() =>
      h.groups.updateGroupsForThing(NS, { thingName: 'm1', thingGroupsToRemove: ['g1'], thingGroupsToAdd: ['nope'] }),
    ),
  );
  assert.equal(failed.name, 'ResourceNotFoundException');
  assert.equal((await h.exec('cont', 'm1'))!.status, 'QUEUED', 'rolled back with the registry change');
  assert.deepEqual(h.published.slice(before), [], 'and nobody was told otherwise');

  await h.groups.updateGroupsForThing(NS, { thingName: 'm1', thingGroupsToRemove: ['g1'] });
  assert.equal((await h.exec('cont', 'm1'))!.status, 'REMOVED');
  assert.deepEqual(topics(h, '/notify').length, 2, 'queued, then removed once the change committed');
});

test('job events do not make the authorizer recompile policies; registry events do', async () => {
  const h = await harness();
  let invalidations = 0;
  const events = new RegistryEvents(
    h.registry,
    () => {},
    () => invalidations++,
  );
  await events.configure(NS, { JOB: true, JOB_EXECUTION: true });
  const jobs = new JobsService({ store: h.store, registry: h.registry, groups: h.groups, events, publish: () => {}, clock: () => T0 });
  await h.fleet(['p1']);
  invalidations = 0;
  await jobs.createJob(NS, 'quiet', { document: doc, targets: [thingArn('p1')] });
  await jobs.cancelJob(NS, 'quiet', true, {});
  assert.equal(invalidations, 0);
  events.emit(NS, 'THING', '$aws/events/thing/p1/updated', {});
  assert.equal(invalidations, 1);
});

test('a snapshot rollout whose last queued things were skipped completes', async () => {
  const h = await harness();
  await h.fleet(['r1', 'r2']);
  await h.jobs.createJob(NS, 'skip', {
    document: doc,
    targets: [thingArn('r1'), thingArn('r2')],
    jobExecutionsRolloutConfig: { maximumPerMinute: 1 },
  });
  await h.report('skip', 'r1', 'SUCCEEDED');
  assert.equal((await h.jobs.describeJob(NS, 'skip')).job.status, 'IN_PROGRESS', 'r2 still waits for the rollout');
  await h.things.delete(NS, 'r2');
  await h.at(T0 + 2 * MINUTE);
  assert.equal(await h.exec('skip', 'r2'), undefined);
  assert.equal((await h.jobs.describeJob(NS, 'skip')).job.status, 'COMPLETED');
});

test('without a rollout configuration, AWS pace of 1,000 things a minute; at most 100 targets per job', async () => {
  const h = await harness();
  const names = Array.from({ length: 1005 }, (_, i) => `f${i}`);
  await h.fleet(names, 'big');
  await h.jobs.createJob(NS, 'wide', { document: doc, targets: [groupArn('big')] });
  assert.equal((await h.store.executionsOfJob(NS, 'wide')).length, 1000);
  assert.equal((await h.jobs.describeJob(NS, 'wide')).job.isConcurrent, true);
  assert.equal((await h.jobs.listJobs(NS, { maxResults: 10 })).jobs[0]!.isConcurrent, true, 'ListJobs too');
  await h.at(T0 + 1000);
  assert.equal((await h.store.executionsOfJob(NS, 'wide')).length, 1005, '1,000 a minute is 16 a second');
  assert.equal((await h.jobs.listJobs(NS, { maxResults: 10 })).jobs[0]!.isConcurrent, false);

  const many = names.slice(0, 101).map((n) => thingArn(n));
  const refused = await awsError(Promise.resolve().then(() => h.jobs.createJob(NS, 'too-many', { document: doc, targets: many })));
  assert.deepEqual([refused.name, refused.message], ['LimitExceededException', 'A job may have at most 100 targets, not 101']);
});

test('notify lists at most 15 pending executions, IN_PROGRESS first', async () => {
  const h = await harness();
  await h.fleet(['busy']);
  for (let i = 0; i < 16; i++) await h.jobs.createJob(NS, `j${String(i).padStart(2, '0')}`, { document: doc, targets: [thingArn('busy')] });
  await h.report('j15', 'busy', 'IN_PROGRESS');
  const last = h.published.filter((p) => p.topic === '$aws/things/busy/jobs/notify').at(-1)!.payload.jobs as Record<
    string,
    Array<{ jobId: string }>
  >;
  assert.deepEqual(
    last.IN_PROGRESS!.map((e) => e.jobId),
    ['j15'],
  );
  assert.equal(last.QUEUED!.length, 14);
  assert.equal(last.QUEUED![0]!.jobId, 'j00');
});

test('a retried execution is announced as next without an empty notify-next in between', async () => {
  const h = await harness();
  await h.fleet(['again']);
  await h.jobs.createJob(NS, 'retry', {
    document: doc,
    targets: [thingArn('again')],
    jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 1 }] },
  });
  await h.report('retry', 'again', 'IN_PROGRESS');
  const before = h.published.length;
  await h.report('retry', 'again', 'FAILED');
  const next = h.published.slice(before).filter((p) => p.topic.endsWith('/notify-next'));
  assert.equal(next.length, 1);
  const execution = next[0]!.payload.execution as { jobId: string; executionNumber: number; status: string };
  assert.deepEqual([execution.jobId, execution.executionNumber, execution.status], ['retry', 2, 'QUEUED']);
});

test('a record that cannot be read does not stop the timers: the tick logs it and goes on', async () => {
  const h = await harness();
  await h.fleet(['odd', 'fine']);
  await h.jobs.createJob(NS, 'odd', { document: doc, targets: [thingArn('odd')], timeoutConfig: { inProgressTimeoutInMinutes: 1 } });
  await h.report('odd', 'odd', 'IN_PROGRESS');
  h.db.prepare("UPDATE job_executions SET record = '{broken' WHERE thing_name = 'odd'").run();
  const logged: unknown[] = [];
  const jobs = new JobsService({
    store: h.store,
    registry: h.registry,
    groups: h.groups,
    events: h.events,
    publish: () => {},
    clock: () => T0 + 2 * MINUTE,
    log: { error: (o: unknown) => void logged.push(o) } as never,
  });
  await jobs.tick();
  assert.equal(logged.length, 1);
});
