/**
 * SNAPSHOT and CONTINUOUS jobs (reference controlplane §5.1): a continuous job follows its target
 * groups' membership (through child groups), a snapshot job keeps the things it started with and
 * completes when every execution is terminal. The SDK drives the registry on a real server; the
 * cases that involve a paced rollout run on the service with a controlled clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  AddThingToThingGroupCommand,
  CreateJobCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  DeleteThingGroupCommand,
  DescribeJobCommand,
  DescribeJobExecutionCommand,
  RemoveThingFromThingGroupCommand,
  UpdateThingGroupsForThingCommand,
} from '@aws-sdk/client-iot';
import { awsError } from './helpers.js';
import { MINUTE, NS, T0, groupArn, harness, jobsServer } from './jobs-control-helpers.js';

const ctx = jobsServer();
const { report } = ctx;
const statuses = (jobId: string) => ctx.statuses(jobId, true);

const document = JSON.stringify({ operation: 'configure' });

const add = (thingGroupName: string, thingName: string) => ctx.iot.send(new AddThingToThingGroupCommand({ thingGroupName, thingName }));
const remove = (thingGroupName: string, thingName: string) =>
  ctx.iot.send(new RemoveThingFromThingGroupCommand({ thingGroupName, thingName }));

test('CONTINUOUS: a thing that joins a target group (or one of its child groups) later gets a QUEUED execution; a SNAPSHOT job ignores it', async () => {
  for (const thingName of ['k-1', 'k-2', 'k-3', 'k-4']) await ctx.iot.send(new CreateThingCommand({ thingName }));
  await ctx.iot.send(new CreateThingGroupCommand({ thingGroupName: 'k-group' }));
  await add('k-group', 'k-1');
  await ctx.iot.send(new CreateJobCommand({ jobId: 'k-cont', targets: [groupArn('k-group')], document, targetSelection: 'CONTINUOUS' }));
  await ctx.iot.send(new CreateJobCommand({ jobId: 'k-snap', targets: [groupArn('k-group')], document }));
  assert.deepEqual(await statuses('k-cont'), { 'k-1': 'QUEUED#1' });

  await add('k-group', 'k-2');
  // A child group created after the job is part of the target too.
  await ctx.iot.send(new CreateThingGroupCommand({ thingGroupName: 'k-child', parentGroupName: 'k-group' }));
  await add('k-child', 'k-3');
  await ctx.iot.send(new UpdateThingGroupsForThingCommand({ thingName: 'k-4', thingGroupsToAdd: ['k-child'] }));
  assert.deepEqual(await statuses('k-cont'), { 'k-1': 'QUEUED#1', 'k-2': 'QUEUED#1', 'k-3': 'QUEUED#1', 'k-4': 'QUEUED#1' });
  assert.deepEqual(await statuses('k-snap'), { 'k-1': 'QUEUED#1' }, 'the snapshot kept its original target set');
  assert.deepEqual(
    (await ctx.server.platform.use('jobs').deviceJobs.getPending(ctx.ns, 'k-2')).queuedJobs.map((j) => j.jobId),
    ['k-cont'],
  );

  // Every execution terminal: the snapshot job completes, the continuous one goes on.
  for (const t of ['k-1', 'k-2', 'k-3', 'k-4']) await report(t, 'k-cont', 'SUCCEEDED');
  await report('k-1', 'k-snap', 'SUCCEEDED');
  const snap = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'k-snap' }))).job!;
  assert.equal(snap.status, 'COMPLETED');
  assert.ok(snap.completedAt instanceof Date && snap.completedAt.getTime() <= Date.now());
  const cont = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'k-cont' }))).job!;
  assert.deepEqual([cont.status, cont.completedAt], ['IN_PROGRESS', undefined]);
});

test('CONTINUOUS: leaving the group turns a QUEUED execution REMOVED (an IN_PROGRESS one carries on); joining again queues a new attempt', async () => {
  for (const thingName of ['m-1', 'm-2']) await ctx.iot.send(new CreateThingCommand({ thingName }));
  await ctx.iot.send(new CreateThingGroupCommand({ thingGroupName: 'm-group' }));
  await add('m-group', 'm-1');
  await add('m-group', 'm-2');
  await ctx.iot.send(new CreateJobCommand({ jobId: 'm-cont', targets: [groupArn('m-group')], document, targetSelection: 'CONTINUOUS' }));
  await report('m-2', 'm-cont', 'IN_PROGRESS');

  await remove('m-group', 'm-1');
  await remove('m-group', 'm-2');
  assert.deepEqual(await statuses('m-cont'), { 'm-1': 'REMOVED#1', 'm-2': 'IN_PROGRESS#1' });
  const removed = (await ctx.iot.send(new DescribeJobExecutionCommand({ jobId: 'm-cont', thingName: 'm-1' }))).execution!;
  assert.equal(removed.versionNumber, 2);
  assert.deepEqual(
    (await ctx.server.platform.use('jobs').deviceJobs.getPending(ctx.ns, 'm-1')).queuedJobs,
    [],
    'the device no longer sees it',
  );
  const job = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'm-cont' }))).job!;
  assert.equal(job.jobProcessDetails!.numberOfRemovedThings, 1);
  assert.equal(job.status, 'IN_PROGRESS');

  await add('m-group', 'm-1');
  assert.deepEqual(await statuses('m-cont'), { 'm-1': 'QUEUED#2', 'm-2': 'IN_PROGRESS#1' });
  // A thing still targeted through another group keeps its execution.
  await ctx.iot.send(new CreateThingGroupCommand({ thingGroupName: 'm-other' }));
  await add('m-other', 'm-1');
  await ctx.iot.send(
    new CreateJobCommand({ jobId: 'm-two', targets: [groupArn('m-group'), groupArn('m-other')], document, targetSelection: 'CONTINUOUS' }),
  );
  await remove('m-group', 'm-1');
  assert.deepEqual(await statuses('m-two'), { 'm-1': 'QUEUED#1' });
});

test('CONTINUOUS: deleting a target group removes the QUEUED executions of its members', async () => {
  await ctx.iot.send(new CreateThingCommand({ thingName: 'g-1' }));
  await ctx.iot.send(new CreateThingGroupCommand({ thingGroupName: 'g-doomed' }));
  await add('g-doomed', 'g-1');
  await ctx.iot.send(new CreateJobCommand({ jobId: 'g-cont', targets: [groupArn('g-doomed')], document, targetSelection: 'CONTINUOUS' }));
  await ctx.iot.send(new DeleteThingGroupCommand({ thingGroupName: 'g-doomed' }));
  assert.deepEqual(await statuses('g-cont'), { 'g-1': 'REMOVED#1' });
  assert.equal((await awsError(ctx.iot.send(new DescribeJobCommand({ jobId: 'g-cont' })))).name, 'no error');
});

test('CONTINUOUS with a paced rollout: a thing that left before the rollout reached it gets no execution, and none gets two', async () => {
  const h = await harness();
  await h.fleet(['q-0', 'q-1', 'q-2', 'q-3'], 'q-group');
  await h.fleet([], 'q-other');
  await h.jobs.createJob(NS, 'q-cont', {
    document,
    targets: [groupArn('q-group'), groupArn('q-other')],
    targetSelection: 'CONTINUOUS',
    jobExecutionsRolloutConfig: { maximumPerMinute: 1 },
  });
  const created = async () => Object.keys(await h.statuses('q-cont')).sort();
  assert.equal((await created()).length, 1);
  const first = await created();
  const waiting = ['q-0', 'q-1', 'q-2', 'q-3'].filter((t) => !first.includes(t));
  // One waiting thing leaves; another is targeted twice over (it joins the second target group too).
  await h.groups.removeThing(NS, { thingGroupName: 'q-group', thingName: waiting[0] });
  await h.groups.addThing(NS, { thingGroupName: 'q-other', thingName: waiting[1] });
  await h.at(T0 + 10 * MINUTE);
  await h.at(T0 + 20 * MINUTE);
  await h.at(T0 + 30 * MINUTE);
  await h.at(T0 + 40 * MINUTE);
  assert.deepEqual(await created(), ['q-0', 'q-1', 'q-2', 'q-3'].filter((t) => t !== waiting[0]).sort(), 'the thing that left got nothing');
  for (const t of await created()) {
    assert.equal((await h.store.executionsOfJob(NS, 'q-cont')).filter((e) => e.thingName === t).length, 1, `${t} has one execution`);
  }
  // It comes back: it is queued for the rollout again.
  await h.groups.addThing(NS, { thingGroupName: 'q-group', thingName: waiting[0] });
  await h.at(T0 + 50 * MINUTE);
  assert.equal((await h.exec('q-cont', waiting[0]!))?.status, 'QUEUED');
});
