/**
 * Jobs at the edges of AWS's description: a deleted thing's pending executions, cancelling a step
 * timer with -1, and what Thicket refuses rather than ignores (scheduled jobs, unknown groups).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { awsError } from './helpers.js';
import { MINUTE, NS, T0, harness, thingArn } from './jobs-control-helpers.js';

const doc = JSON.stringify({ operation: 'update' });

test('deleting a thing turns its pending executions REMOVED, so a snapshot job can complete', async () => {
  const h = await harness();
  await h.fleet(['keep', 'gone', 'started']);
  await h.jobs.createJob(NS, 'fw', { document: doc, targets: ['keep', 'gone', 'started'].map((t) => thingArn(t)) });
  await h.report('fw', 'started', 'IN_PROGRESS');
  await h.report('fw', 'keep', 'SUCCEEDED');
  await h.things.delete(NS, 'gone');
  await h.things.delete(NS, 'started');
  assert.deepEqual(await h.statuses('fw'), { keep: 'SUCCEEDED', gone: 'REMOVED', started: 'REMOVED' });
  assert.equal((await h.exec('fw', 'gone'))!.versionNumber, 2);
  const job = (await h.jobs.describeJob(NS, 'fw')).job;
  assert.equal(job.status, 'COMPLETED');
  assert.equal(job.jobProcessDetails.numberOfRemovedThings, 2);
  // A REMOVED execution is terminal for the device too.
  await assert.rejects(h.report('fw', 'gone', 'IN_PROGRESS'), { name: 'JobError', message: /REMOVED, a terminal state/ });
});

test('stepTimeoutInMinutes -1 cancels the step timer; the in-progress timer still applies', async () => {
  const h = await harness();
  await h.fleet(['dev']);
  await h.jobs.createJob(NS, 'steps', { document: doc, targets: [thingArn('dev')], timeoutConfig: { inProgressTimeoutInMinutes: 30 } });
  await h.report('steps', 'dev', 'IN_PROGRESS', { stepTimeoutInMinutes: 5 });
  assert.equal((await h.exec('steps', 'dev'))!.stepDeadline, T0 + 5 * MINUTE);
  await h.report('steps', 'dev', 'IN_PROGRESS', { stepTimeoutInMinutes: -1 });
  assert.equal((await h.exec('steps', 'dev'))!.stepDeadline, undefined);
  await h.at(T0 + 10 * MINUTE);
  assert.equal((await h.exec('steps', 'dev'))!.status, 'IN_PROGRESS', 'the cancelled step timer did not fire');
  await h.at(T0 + 30 * MINUTE);
  assert.equal((await h.exec('steps', 'dev'))!.status, 'TIMED_OUT');
  await assert.rejects(h.report('steps', 'dev', 'IN_PROGRESS', { stepTimeoutInMinutes: 0 }), {
    name: 'JobError',
    message: /stepTimeoutInMinutes must be a whole number from 1 to 10080, or -1/,
  });
});

test('a scheduled job is not started at once; ListJobs names an unknown thing group', async () => {
  const h = await harness();
  await h.fleet(['dev']);
  await h.jobs.createJob(NS, 'later', { document: doc, targets: [thingArn('dev')], schedulingConfig: { startTime: '2026-06-01T00:00' } });
  assert.equal(h.store.job(NS, 'later')!.status, 'SCHEDULED');
  assert.equal(await h.exec('later', 'dev'), undefined);

  const unknown = await awsError(Promise.resolve().then(() => h.jobs.listJobs(NS, { thingGroupName: 'nope', maxResults: 10 })));
  assert.equal(unknown.name, 'ResourceNotFoundException');
  assert.match(unknown.message, /Thing Group nope/);
});
