/**
 * Jobs scheduling with a controlled clock (reference controlplane §5.1): rollout pacing
 * (maximumPerMinute, exponentialRate), in-progress and step timeouts, retries, abort criteria,
 * and timers that survive a restart. The service runs on SQLite; `tick()` stands for its timer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers.js';
import { MINUTE, NS, T0, groupArn, harness, thingArn, type Harness } from './jobs-control-helpers.js';

const SECOND = 1000;
const doc = JSON.stringify({ operation: 'update' });

async function create(h: Harness, jobId: string, body: Record<string, unknown>): Promise<void> {
  await h.jobs.createJob(NS, jobId, { document: doc, ...body });
}

const created = async (h: Harness, jobId: string): Promise<number> => (await h.store.executionsOfJob(NS, jobId)).length;

/** Ticks at each time (ms after T0) and checks how many executions the rollout has created by then. */
async function rollout(h: Harness, jobId: string, steps: Array<[number, number]>): Promise<void> {
  for (const [ms, count] of steps) {
    await h.at(T0 + ms);
    assert.equal(await created(h, jobId), count, `${count} executions at ${ms / SECOND} s`);
  }
}

test('maximumPerMinute 2 over 5 things: 2 at once, then one every 30 seconds', async () => {
  const h = await harness();
  await h.fleet(['r1', 'r2', 'r3', 'r4', 'r5'], 'rollout');
  await create(h, 'paced', { targets: [groupArn('rollout')], jobExecutionsRolloutConfig: { maximumPerMinute: 2 } });
  assert.equal(await created(h, 'paced'), 2);
  const job = (await h.jobs.describeJob(NS, 'paced')).job;
  assert.equal(job.isConcurrent, true, 'the rollout is still going');
  assert.deepEqual(job.jobProcessDetails.processingTargets, [groupArn('rollout')]);
  assert.equal(job.jobProcessDetails.numberOfQueuedThings, 2);

  // 29 s then 30 s: the fraction of a token earned between ticks is kept.
  await rollout(h, 'paced', [
    [15 * SECOND, 2],
    [29 * SECOND, 2],
    [30 * SECOND, 3],
    [59 * SECOND, 3],
    [60 * SECOND, 4],
    [90 * SECOND, 5],
    [10 * MINUTE, 5],
  ]);
  const done = (await h.jobs.describeJob(NS, 'paced')).job;
  assert.equal(done.isConcurrent, false);
  assert.equal(done.jobProcessDetails.processingTargets, undefined);
  // Every execution was queued when the rollout reached it.
  const queuedAt = (await h.store.executionsOfJob(NS, 'paced')).map((e) => (e.queuedAt - T0) / SECOND).sort((a, b) => a - b);
  assert.deepEqual(queuedAt, [0, 0, 30, 60, 90]);
});

test('a slow tick does not burst: the bucket holds at most one minute of the rate', async () => {
  const h = await harness();
  await h.fleet(['s1', 's2', 's3', 's4', 's5', 's6', 's7'], 'slow');
  await create(h, 'slow', { targets: [groupArn('slow')], jobExecutionsRolloutConfig: { maximumPerMinute: 2 } });
  await h.at(T0 + 10 * MINUTE);
  assert.equal(await created(h, 'slow'), 4, 'after ten quiet minutes, one minute worth (2) more, not 20');
});

test('exponentialRate: the rate grows by incrementFactor each time numberOfNotifiedThings more were notified', async () => {
  const h = await harness();
  const names = Array.from({ length: 12 }, (_, i) => `e${i}`);
  await h.fleet(names, 'expo');
  await create(h, 'expo', {
    targets: [groupArn('expo')],
    jobExecutionsRolloutConfig: {
      exponentialRate: { baseRatePerMinute: 2, incrementFactor: 2, rateIncreaseCriteria: { numberOfNotifiedThings: 2 } },
    },
  });
  assert.equal(await created(h, 'expo'), 2, 'the base rate first');
  // 2 notified: 4 a minute, one every 15 s (the base rate would wait 30 s); 4 notified: 8 a minute,
  // one every 7.5 s; 6 notified: 16 a minute, one every 3.75 s.
  await rollout(h, 'expo', [
    [15 * SECOND, 3],
    [30 * SECOND, 4],
    [37.5 * SECOND, 5],
    [45 * SECOND, 6],
    [48.75 * SECOND, 7],
  ]);
});

test('exponentialRate by numberOfSucceededThings grows only when things succeed; maximumPerMinute caps it', async () => {
  const h = await harness();
  const names = Array.from({ length: 10 }, (_, i) => `x${i}`);
  await h.fleet(names, 'succ');
  await create(h, 'succ', {
    targets: [groupArn('succ')],
    jobExecutionsRolloutConfig: {
      maximumPerMinute: 3,
      exponentialRate: { baseRatePerMinute: 1, incrementFactor: 5, rateIncreaseCriteria: { numberOfSucceededThings: 1 } },
    },
  });
  assert.equal(await created(h, 'succ'), 1);
  await h.at(T0 + 30 * SECOND);
  assert.equal(await created(h, 'succ'), 1, 'nothing succeeded: still 1 a minute');
  await h.report('succ', (await h.store.executionsOfJob(NS, 'succ'))[0]!.thingName, 'SUCCEEDED');
  await h.at(T0 + 30 * SECOND);
  // 1 succeeded: 5 a minute, capped at 3 (one every 20 s) from now on; half a token was left.
  await rollout(h, 'succ', [
    [40 * SECOND, 2],
    [59 * SECOND, 2],
    [60 * SECOND, 3],
    [80 * SECOND, 4],
  ]);
});

test('inProgressTimeoutInMinutes: an IN_PROGRESS execution times out; approximateSecondsBeforeTimedOut counts down', async () => {
  const h = await harness();
  await h.fleet(['t1', 't2']);
  await create(h, 'slowpoke', { targets: [thingArn('t1'), thingArn('t2')], timeoutConfig: { inProgressTimeoutInMinutes: 10 } });
  const seconds = async (thing: string) =>
    (await h.jobs.describeExecution(NS, 'slowpoke', thing, undefined)).execution.approximateSecondsBeforeTimedOut;
  assert.equal(await seconds('t1'), undefined, 'a QUEUED execution has no timer');
  await h.devices.startNext(NS, 't1', {});
  assert.equal(await seconds('t1'), 600);
  h.clock.now = T0 + 4 * MINUTE;
  assert.equal(await seconds('t1'), 360);
  await h.at(T0 + 10 * MINUTE - 1);
  assert.equal((await h.exec('slowpoke', 't1'))!.status, 'IN_PROGRESS');
  await h.at(T0 + 10 * MINUTE);
  const e = (await h.exec('slowpoke', 't1'))!;
  assert.equal(e.status, 'TIMED_OUT');
  assert.equal(e.versionNumber, 3, 'QUEUED 1, IN_PROGRESS 2, TIMED_OUT 3');
  assert.equal((await h.exec('slowpoke', 't2'))!.status, 'QUEUED', 'the timer starts only when the execution does');
  const view = (await h.jobs.describeExecution(NS, 'slowpoke', 't1', undefined)).execution;
  assert.equal(view.approximateSecondsBeforeTimedOut, undefined);
  assert.equal((await h.jobs.describeJob(NS, 'slowpoke')).job.jobProcessDetails.numberOfTimedOutThings, 1);
  // A timed-out execution is terminal: the device can no longer report on it.
  await assert.rejects(h.report('slowpoke', 't1', 'SUCCEEDED'), { code: 'InvalidStateTransition' });
});

test('stepTimeoutInMinutes times out on its own, is replaced by the next step, and never extends past the in-progress bound', async () => {
  const h = await harness();
  await h.fleet(['s1', 's2']);
  await create(h, 'steps', { targets: [thingArn('s1')] });
  await h.devices.startNext(NS, 's1', { stepTimeoutInMinutes: 2 });
  await h.at(T0 + 1 * MINUTE);
  await h.report('steps', 's1', 'IN_PROGRESS', { stepTimeoutInMinutes: 1 });
  assert.equal((await h.jobs.describeExecution(NS, 'steps', 's1', undefined)).execution.approximateSecondsBeforeTimedOut, 60);
  await h.at(T0 + 2 * MINUTE - 1);
  assert.equal((await h.exec('steps', 's1'))!.status, 'IN_PROGRESS');
  await h.at(T0 + 2 * MINUTE);
  assert.equal((await h.exec('steps', 's1'))!.status, 'TIMED_OUT', 'the new one-minute step, from the update at one minute');

  h.clock.now = T0;
  await create(h, 'bounded', { targets: [thingArn('s2')], timeoutConfig: { inProgressTimeoutInMinutes: 10 } });
  await h.devices.startNext(NS, 's2', { stepTimeoutInMinutes: 3 });
  const left = async () => (await h.jobs.describeExecution(NS, 'bounded', 's2', undefined)).execution.approximateSecondsBeforeTimedOut;
  assert.equal(await left(), 180, 'the step timer is the earlier one');
  h.clock.now = T0 + 2 * MINUTE;
  await h.report('bounded', 's2', 'IN_PROGRESS', { stepTimeoutInMinutes: 20 });
  assert.equal(await left(), 480, 'a 20-minute step at 2 minutes still ends with the 10-minute bound');
  await h.at(T0 + 10 * MINUTE);
  assert.equal((await h.exec('bounded', 's2'))!.status, 'TIMED_OUT');
});

test('an update that arrives after the deadline, before the timer tick noticed, is refused: the execution TIMED_OUT', async () => {
  const h = await harness();
  await h.fleet(['late']);
  await create(h, 'late', { targets: [thingArn('late')] });
  await h.devices.startNext(NS, 'late', { stepTimeoutInMinutes: 1 });
  h.clock.now = T0 + MINUTE + 1;
  await assert.rejects(h.report('late', 'late', 'SUCCEEDED'), { name: 'JobError', message: /TIMED_OUT, a terminal state/ });
  assert.equal((await h.exec('late', 'late'))!.status, 'TIMED_OUT');
  assert.equal((await h.exec('late', 'late'))!.versionNumber, 3);
});

test('a device update without stepTimeoutInMinutes keeps the running step timer', async () => {
  const h = await harness();
  await h.fleet(['k1']);
  await create(h, 'keep', { targets: [thingArn('k1')] });
  await h.devices.startNext(NS, 'k1', { stepTimeoutInMinutes: 5 });
  h.clock.now = T0 + 2 * MINUTE;
  await h.report('keep', 'k1', 'IN_PROGRESS', { statusDetails: { step: 'download' } });
  assert.equal((await h.jobs.describeExecution(NS, 'keep', 'k1', undefined)).execution.approximateSecondsBeforeTimedOut, 180);
  await h.at(T0 + 5 * MINUTE);
  assert.equal((await h.exec('keep', 'k1'))!.status, 'TIMED_OUT');
});

test('retry FAILED: a new attempt (executionNumber + 1, retryAttempt + 1) up to numberOfRetries', async () => {
  const h = await harness();
  await h.fleet(['f1']);
  await create(h, 'retry-failed', {
    targets: [thingArn('f1')],
    jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 2 }] },
  });
  for (let attempt = 1; attempt <= 3; attempt++) {
    const e = (await h.exec('retry-failed', 'f1'))!;
    assert.deepEqual([e.executionNumber, e.retryAttempt, e.status], [attempt, attempt - 1, 'QUEUED']);
    await h.report('retry-failed', 'f1', 'FAILED');
  }
  assert.equal((await h.exec('retry-failed', 'f1'))!.executionNumber, 3, 'no fourth attempt');
  assert.equal((await h.exec('retry-failed', 'f1', 1))!.status, 'FAILED');
  const job = (await h.jobs.describeJob(NS, 'retry-failed')).job;
  assert.equal(job.status, 'COMPLETED');
  assert.equal(job.jobProcessDetails.numberOfFailedThings, 1, 'the thing counts once, by its latest attempt');
  const listed = await h.jobs.listExecutionsForThing(NS, 'f1', { jobId: 'retry-failed', maxResults: 10 });
  assert.deepEqual(
    listed.executionSummaries.map((s) => [s.jobExecutionSummary.executionNumber, s.jobExecutionSummary.retryAttempt]),
    [
      [3, 2],
      [2, 1],
      [1, 0],
    ],
  );
});

test('retry TIMED_OUT; ALL shares one budget across FAILED and TIMED_OUT; REJECTED is never retried', async () => {
  const h = await harness();
  await h.fleet(['a1', 'a2', 'a3']);
  await create(h, 'retry-timeout', {
    targets: [thingArn('a1')],
    timeoutConfig: { inProgressTimeoutInMinutes: 1 },
    jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'TIMED_OUT', numberOfRetries: 1 }] },
  });
  await h.devices.startNext(NS, 'a1', {});
  await h.at(T0 + MINUTE);
  assert.deepEqual([(await h.exec('retry-timeout', 'a1'))!.executionNumber, (await h.exec('retry-timeout', 'a1'))!.status], [2, 'QUEUED']);
  await h.report('retry-timeout', 'a1', 'FAILED');
  assert.equal((await h.exec('retry-timeout', 'a1'))!.executionNumber, 2, 'FAILED is not covered by a TIMED_OUT criterion');

  h.clock.now = T0;
  await create(h, 'retry-all', {
    targets: [thingArn('a2')],
    timeoutConfig: { inProgressTimeoutInMinutes: 1 },
    jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'ALL', numberOfRetries: 2 }] },
  });
  await h.report('retry-all', 'a2', 'FAILED');
  await h.devices.startNext(NS, 'a2', {});
  await h.at(T0 + MINUTE);
  assert.equal((await h.exec('retry-all', 'a2', 2))!.status, 'TIMED_OUT');
  assert.equal((await h.exec('retry-all', 'a2'))!.executionNumber, 3);
  await h.report('retry-all', 'a2', 'FAILED');
  assert.equal((await h.exec('retry-all', 'a2'))!.executionNumber, 3, 'two retries in all, whatever the failure');

  await create(h, 'retry-rejected', {
    targets: [thingArn('a3')],
    jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'ALL', numberOfRetries: 5 }] },
  });
  await h.report('retry-rejected', 'a3', 'REJECTED');
  assert.deepEqual(
    [(await h.exec('retry-rejected', 'a3'))!.executionNumber, (await h.exec('retry-rejected', 'a3'))!.status],
    [1, 'REJECTED'],
  );
  assert.equal((await h.jobs.describeJob(NS, 'retry-rejected')).job.status, 'COMPLETED');
});

test('abortConfig: once thresholdPercentage of at least minNumberOfExecutedThings failed, the job and its QUEUED executions are CANCELED', async () => {
  const h = await harness();
  const names = ['b1', 'b2', 'b3', 'b4', 'b5', 'b6'];
  await h.fleet(names, 'abort');
  await create(h, 'abort', {
    targets: [groupArn('abort')],
    abortConfig: { criteriaList: [{ failureType: 'FAILED', action: 'CANCEL', thresholdPercentage: 50, minNumberOfExecutedThings: 3 }] },
  });
  await h.devices.startNext(NS, 'b6', {});
  await h.report('abort', 'b1', 'FAILED');
  await h.report('abort', 'b2', 'FAILED');
  assert.equal((await h.jobs.describeJob(NS, 'abort')).job.status, 'IN_PROGRESS', '2 of 2 failed, but fewer than 3 executed');
  h.clock.now = T0 + 5 * SECOND;
  await h.report('abort', 'b3', 'SUCCEEDED');
  const job = (await h.jobs.describeJob(NS, 'abort')).job;
  assert.equal(job.status, 'CANCELED', '2 of 3 (66.67%) failed');
  assert.equal(job.reasonCode, 'ABORT_CRITERIA_MET');
  assert.match(job.comment!, /2 of 3/);
  assert.equal(job.forceCanceled, false);
  assert.equal(job.completedAt, (T0 + 5 * SECOND) / 1000);
  assert.deepEqual(await h.statuses('abort'), {
    b1: 'FAILED',
    b2: 'FAILED',
    b3: 'SUCCEEDED',
    b4: 'CANCELED',
    b5: 'CANCELED',
    b6: 'IN_PROGRESS',
  });
  assert.equal(job.jobProcessDetails.numberOfCanceledThings, 2);
});

test('abortConfig stops a paced rollout: things it had not reached get no execution', async () => {
  const h = await harness();
  const names = Array.from({ length: 6 }, (_, i) => `p${i}`);
  await h.fleet(names, 'paced-abort');
  await create(h, 'paced-abort', {
    targets: [groupArn('paced-abort')],
    jobExecutionsRolloutConfig: { maximumPerMinute: 2 },
    abortConfig: { criteriaList: [{ failureType: 'ALL', action: 'CANCEL', thresholdPercentage: 100, minNumberOfExecutedThings: 1 }] },
  });
  const first = (await h.store.executionsOfJob(NS, 'paced-abort'))[0]!.thingName;
  await h.report('paced-abort', first, 'REJECTED');
  assert.equal((await h.jobs.describeJob(NS, 'paced-abort')).job.status, 'CANCELED');
  await h.at(T0 + 10 * MINUTE);
  assert.equal(await created(h, 'paced-abort'), 2, 'the rollout stopped');
  assert.equal((await h.jobs.describeJob(NS, 'paced-abort')).job.isConcurrent, false);
});

test('abortConfig with thresholdPercentage 0 needs at least one failure: a job of successes is not aborted', async () => {
  const h = await harness();
  await h.fleet(['z1', 'z2', 'z3']);
  await create(h, 'zero', {
    targets: [thingArn('z1'), thingArn('z2'), thingArn('z3')],
    abortConfig: { criteriaList: [{ failureType: 'FAILED', action: 'CANCEL', thresholdPercentage: 0, minNumberOfExecutedThings: 1 }] },
  });
  await h.report('zero', 'z1', 'SUCCEEDED');
  assert.equal((await h.jobs.describeJob(NS, 'zero')).job.status, 'IN_PROGRESS');
  await h.report('zero', 'z2', 'FAILED');
  assert.equal((await h.jobs.describeJob(NS, 'zero')).job.status, 'CANCELED', 'the first failure is enough');
  assert.deepEqual(await h.statuses('zero'), { z1: 'SUCCEEDED', z2: 'FAILED', z3: 'CANCELED' });
});

test('a job re-created under a deleted job’s id starts a fresh rollout', async () => {
  const h = await harness();
  await h.fleet(['y1', 'y2', 'y3', 'y4'], 'again');
  const body = { targets: [groupArn('again')], jobExecutionsRolloutConfig: { maximumPerMinute: 2 } };
  await create(h, 'again', body);
  assert.equal(await created(h, 'again'), 2);
  await h.jobs.deleteJob(NS, 'again', true);
  h.clock.now = T0 + SECOND;
  await create(h, 'again', body);
  assert.equal(await created(h, 'again'), 2, 'the deleted job’s spent minute does not carry over');
});

test('timers and rollouts survive a restart: a new service on the same database times out and continues', async () => {
  const dir = tempDir();
  const file = join(dir, 'thicket.db');
  try {
    const h1 = await harness(file);
    await h1.fleet(['d1', 'd2', 'd3', 'd4']);
    await create(h1, 'durable', { targets: [thingArn('d1')], timeoutConfig: { inProgressTimeoutInMinutes: 5 } });
    await h1.devices.startNext(NS, 'd1', { stepTimeoutInMinutes: 3 });
    await create(h1, 'durable-rollout', {
      targets: [thingArn('d2'), thingArn('d3'), thingArn('d4')],
      jobExecutionsRolloutConfig: { maximumPerMinute: 1 },
    });
    assert.equal(await created(h1, 'durable-rollout'), 1);
    h1.db.close();

    const h2 = await harness(file, T0 + 3 * MINUTE);
    assert.equal((await h2.exec('durable', 'd1'))!.status, 'IN_PROGRESS');
    await h2.jobs.tick();
    assert.equal((await h2.exec('durable', 'd1'))!.status, 'TIMED_OUT', 'the 3-minute step timer, kept in the database');
    assert.equal((await h2.jobs.describeJob(NS, 'durable')).job.status, 'COMPLETED');
    assert.equal(await created(h2, 'durable-rollout'), 2, 'the rollout goes on after the restart');
    await h2.at(T0 + 5 * MINUTE);
    assert.equal(await created(h2, 'durable-rollout'), 3);
    h2.db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
