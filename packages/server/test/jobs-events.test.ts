/**
 * Job and job execution events (reference dataplane §4.3): `$aws/events/job/<id>/...` and
 * `$aws/events/jobExecution/<id>/...`, published only once UpdateEventConfigurations enabled
 * JOB / JOB_EXECUTION, with the documented fields. Timeouts run on the service with a controlled clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import {
  AddThingToThingGroupCommand,
  CancelJobCommand,
  CancelJobExecutionCommand,
  CreateJobCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  DeleteJobCommand,
  DeleteJobExecutionCommand,
  RemoveThingFromThingGroupCommand,
  UpdateEventConfigurationsCommand,
} from '@aws-sdk/client-iot';
import { once } from './helpers.js';
import { Inbox } from './inbox.js';
import { MINUTE, NS, T0, groupArn, harness, jobsServer, thingArn } from './jobs-control-helpers.js';

let client: MqttClient;
let inbox: Inbox;
const ctx = jobsServer({
  async setup({ iot, server }) {
    for (const thingName of ['v-1', 'v-2', 'v-3', 'v-4', 'v-5']) await iot.send(new CreateThingCommand({ thingName }));
    client = mqtt.connect(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId: 'event-watcher', reconnectPeriod: 0 });
    await once(client, 'connect');
    inbox = new Inbox(client);
    await client.subscribeAsync(['$aws/events/job/#', '$aws/events/jobExecution/#'], { qos: 1 });
  },
  teardown: () => client.endAsync(),
});
const { report } = ctx;

const document = JSON.stringify({ operation: 'observe' });
const job = (jobId: string, things: string[], extra: Record<string, unknown> = {}) =>
  ctx.iot.send(new CreateJobCommand({ jobId, targets: things.map((t) => thingArn(t)), document, ...extra }));
const configure = (enabled: boolean) =>
  ctx.iot.send(
    new UpdateEventConfigurationsCommand({ eventConfigurations: { JOB: { Enabled: enabled }, JOB_EXECUTION: { Enabled: enabled } } }),
  );

/** The fields of a JOB_EXECUTION event other than its id and time. */
function executionEvent(e: Record<string, unknown>) {
  const { eventId, timestamp, ...rest } = e;
  assert.match(String(eventId), /^[0-9a-f]{32}$/);
  assert.ok(Math.abs((timestamp as number) - Date.now() / 1000) < 5, `timestamp ${String(timestamp)} is epoch seconds of now`);
  return rest;
}

test('no job events until UpdateEventConfigurations enables them; then every job and execution operation publishes one', async () => {
  // Disabled (the default): a whole job comes and goes without an event.
  await job('quiet', ['v-1']);
  await report('v-1', 'quiet', 'SUCCEEDED');
  await ctx.iot.send(new DeleteJobCommand({ jobId: 'quiet' }));

  await configure(true);
  await job('loud', ['v-1', 'v-2', 'v-3', 'v-4'], { description: 'observed' });
  await report('v-1', 'loud', 'SUCCEEDED', { statusDetails: { result: 'ok' } });
  const succeeded = await inbox.next('$aws/events/jobExecution/loud/succeeded');
  assert.ok(!inbox.topics.some((t) => t.includes('/quiet/')), `nothing about the job before enabling: ${inbox.topics.join(', ')}`);
  assert.deepEqual(executionEvent(succeeded), {
    accountId: '123456789012',
    eventType: 'JOB_EXECUTION',
    operation: 'succeeded',
    jobId: 'loud',
    thingArn: thingArn('v-1'),
    status: 'SUCCEEDED',
    statusDetails: { result: 'ok' },
  });
  await report('v-2', 'loud', 'FAILED');
  assert.equal((await inbox.next('$aws/events/jobExecution/loud/failed')).thingArn, thingArn('v-2'));
  await report('v-3', 'loud', 'REJECTED');
  assert.equal((await inbox.next('$aws/events/jobExecution/loud/rejected')).status, 'REJECTED');
  await ctx.iot.send(new CancelJobExecutionCommand({ jobId: 'loud', thingName: 'v-4', statusDetails: { why: 'not needed' } }));
  assert.deepEqual(executionEvent(await inbox.next('$aws/events/jobExecution/loud/canceled')), {
    accountId: '123456789012',
    eventType: 'JOB_EXECUTION',
    operation: 'canceled',
    jobId: 'loud',
    thingArn: thingArn('v-4'),
    status: 'CANCELED',
    statusDetails: { why: 'not needed' },
  });

  // Every execution terminal: the job completed.
  const completed = await inbox.next('$aws/events/job/loud/completed');
  const { eventId, timestamp, createdAt, lastUpdatedAt, completedAt, ...rest } = completed;
  assert.match(String(eventId), /^[0-9a-f]{32}$/);
  for (const t of [timestamp, createdAt, lastUpdatedAt, completedAt])
    assert.ok(Math.abs((t as number) - Date.now() / 1000) < 5, 'epoch seconds');
  assert.deepEqual(rest, {
    accountId: '123456789012',
    eventType: 'JOB',
    operation: 'completed',
    jobId: 'loud',
    status: 'COMPLETED',
    targetSelection: 'SNAPSHOT',
    targets: ['v-1', 'v-2', 'v-3', 'v-4'].map((t) => thingArn(t)),
    description: 'observed',
    jobProcessDetails: {
      numberOfCanceledThings: 1,
      numberOfSucceededThings: 1,
      numberOfFailedThings: 1,
      numberOfRejectedThings: 1,
      numberOfQueuedThings: 0,
      numberOfInProgressThings: 0,
      numberOfRemovedThings: 0,
      numberOfTimedOutThings: 0,
    },
  });

  await ctx.iot.send(new DeleteJobExecutionCommand({ jobId: 'loud', thingName: 'v-2', executionNumber: 1 }));
  const deletedExecution = await inbox.next('$aws/events/jobExecution/loud/deleted');
  assert.deepEqual(
    [deletedExecution.operation, deletedExecution.thingArn, deletedExecution.status],
    ['deleted', thingArn('v-2'), 'FAILED'],
  );

  await ctx.iot.send(new DeleteJobCommand({ jobId: 'loud' }));
  const deletedJob = await inbox.next('$aws/events/job/loud/deleted');
  assert.deepEqual([deletedJob.eventType, deletedJob.operation, deletedJob.jobId], ['JOB', 'deleted', 'loud']);
  assert.deepEqual(
    deletedJob.jobProcessDetails,
    {
      numberOfCanceledThings: 1,
      numberOfSucceededThings: 1,
      numberOfFailedThings: 0,
      numberOfRejectedThings: 1,
      numberOfQueuedThings: 0,
      numberOfInProgressThings: 0,
      numberOfRemovedThings: 0,
      numberOfTimedOutThings: 0,
    },
    'the counts of the job as it was deleted',
  );
  const executionDeletions: Array<Record<string, unknown>> = [];
  for (let i = 0; i < 3; i++) executionDeletions.push(await inbox.next('$aws/events/jobExecution/loud/deleted'));
  assert.deepEqual(
    executionDeletions.map((e) => e.thingArn).sort(),
    ['v-1', 'v-3', 'v-4'].map((t) => thingArn(t)),
    'one per remaining execution',
  );
});

test('CancelJob publishes job/canceled with the comment and the executions it canceled; leaving a continuous job publishes removed', async () => {
  await configure(true);
  await job('stop', ['v-1', 'v-5']);
  await report('v-5', 'stop', 'IN_PROGRESS');
  await ctx.iot.send(new CancelJobCommand({ jobId: 'stop', reasonCode: 'R1', comment: 'halt the rollout' }));
  const canceled = await inbox.next('$aws/events/job/stop/canceled');
  assert.deepEqual(
    [canceled.operation, canceled.status, canceled.comment, (canceled.jobProcessDetails as Record<string, number>).numberOfCanceledThings],
    ['canceled', 'CANCELED', 'halt the rollout', 1],
  );
  assert.equal((await inbox.next('$aws/events/jobExecution/stop/canceled')).thingArn, thingArn('v-1'));
  await ctx.iot.send(new CancelJobCommand({ jobId: 'stop', force: true }));
  assert.equal((await inbox.next('$aws/events/jobExecution/stop/canceled')).thingArn, thingArn('v-5'), 'forced: the IN_PROGRESS one too');

  await ctx.iot.send(new CreateThingGroupCommand({ thingGroupName: 'v-group' }));
  await ctx.iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'v-group', thingName: 'v-2' }));
  await ctx.iot.send(new CreateJobCommand({ jobId: 'follow', targets: [groupArn('v-group')], document, targetSelection: 'CONTINUOUS' }));
  await ctx.iot.send(new RemoveThingFromThingGroupCommand({ thingGroupName: 'v-group', thingName: 'v-2' }));
  const removed = await inbox.next('$aws/events/jobExecution/follow/removed');
  assert.deepEqual([removed.operation, removed.status, removed.thingArn], ['removed', 'REMOVED', thingArn('v-2')]);

  // Disabled again: nothing more (a JOB event still enabled would arrive after this, so check with one).
  await ctx.iot.send(new UpdateEventConfigurationsCommand({ eventConfigurations: { JOB_EXECUTION: { Enabled: false } } }));
  await ctx.iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'v-group', thingName: 'v-2' }));
  await report('v-2', 'follow', 'SUCCEEDED');
  await ctx.iot.send(new CancelJobCommand({ jobId: 'follow' }));
  await inbox.next('$aws/events/job/follow/canceled');
  assert.equal(inbox.count('$aws/events/jobExecution/follow/succeeded'), 0);
  await configure(false);
});

test('a timed-out execution publishes jobExecution/timed_out (and nothing while JOB_EXECUTION is disabled)', async () => {
  const h = await harness();
  await h.fleet(['w-1', 'w-2']);
  await h.jobs.createJob(NS, 'slow', { document, targets: [thingArn('w-1')], timeoutConfig: { inProgressTimeoutInMinutes: 1 } });
  await h.devices.startNext(NS, 'w-1', { statusDetails: { phase: 'download' } });
  await h.at(T0 + MINUTE);
  assert.equal((await h.exec('slow', 'w-1'))!.status, 'TIMED_OUT');
  assert.deepEqual(
    h.published.filter((p) => p.topic.startsWith('$aws/events/')),
    [],
  );

  await h.events.configure(NS, { JOB_EXECUTION: true, JOB: true });
  h.clock.now = T0 + 2 * MINUTE;
  await h.jobs.createJob(NS, 'slower', { document, targets: [thingArn('w-2')], timeoutConfig: { inProgressTimeoutInMinutes: 1 } });
  await h.devices.startNext(NS, 'w-2', { statusDetails: { phase: 'flash' } });
  await h.at(T0 + 3 * MINUTE);
  const events = h.published.filter((p) => p.topic.startsWith('$aws/events/'));
  assert.deepEqual(
    events.map((e) => e.topic),
    ['$aws/events/jobExecution/slower/timed_out', '$aws/events/job/slower/completed'],
  );
  const { eventId, ...rest } = events[0]!.payload;
  assert.equal(typeof eventId, 'string');
  assert.deepEqual(rest, {
    accountId: NS.accountId,
    eventType: 'JOB_EXECUTION',
    timestamp: (T0 + 3 * MINUTE) / 1000,
    operation: 'timed_out',
    jobId: 'slower',
    thingArn: thingArn('w-2'),
    status: 'TIMED_OUT',
    statusDetails: { phase: 'flash' },
  });
  assert.equal(events[1]!.payload.completedAt, (T0 + 3 * MINUTE) / 1000);
  assert.equal(events[1]!.payload.createdAt, (T0 + 2 * MINUTE) / 1000);
  assert.equal((events[1]!.payload.jobProcessDetails as Record<string, number>).numberOfTimedOutThings, 1);
});
