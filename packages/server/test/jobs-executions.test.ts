/**
 * Job executions as administrators see them, with the real @aws-sdk/client-iot (reference
 * controlplane §5.1): DescribeJobExecution (attempts by executionNumber), ListJobExecutionsForJob
 * and ListJobExecutionsForThing (filters and paging), CancelJobExecution and DeleteJobExecution.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CancelJobExecutionCommand,
  CreateJobCommand,
  CreateThingCommand,
  DeleteJobExecutionCommand,
  DescribeJobCommand,
  DescribeJobExecutionCommand,
  ListJobExecutionsForJobCommand,
  ListJobExecutionsForThingCommand,
} from '@aws-sdk/client-iot';
import { awsError } from './helpers.js';
import { jobsServer, thingArn } from './jobs-control-helpers.js';

const ctx = jobsServer();
const { report } = ctx;

const document = JSON.stringify({ operation: 'install' });

async function job(jobId: string, thingNames: string[], extra: Partial<ConstructorParameters<typeof CreateJobCommand>[0]> = {}) {
  for (const thingName of thingNames) await ctx.iot.send(new CreateThingCommand({ thingName }));
  await ctx.iot.send(new CreateJobCommand({ jobId, targets: thingNames.map((t) => thingArn(t)), document, ...extra }));
}

const describe = async (jobId: string, thingName: string, executionNumber?: number) =>
  (await ctx.iot.send(new DescribeJobExecutionCommand({ jobId, thingName, executionNumber }))).execution!;

test('DescribeJobExecution shows the latest attempt, or the one executionNumber names; unknown ones are 404', async () => {
  await job('x-retry', ['x-1'], { jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 1 }] } });
  const queued = await describe('x-retry', 'x-1');
  assert.equal(queued.status, 'QUEUED');
  assert.equal(queued.thingArn, thingArn('x-1'));
  assert.equal(queued.jobId, 'x-retry');
  assert.deepEqual([queued.executionNumber, queued.versionNumber, queued.forceCanceled], [1, 1, false]);
  assert.ok(queued.queuedAt instanceof Date);
  assert.equal(queued.startedAt, undefined);

  await report('x-1', 'x-retry', 'IN_PROGRESS', { statusDetails: { step: 'flash' } });
  const running = await describe('x-retry', 'x-1');
  assert.equal(running.status, 'IN_PROGRESS');
  assert.ok(running.startedAt instanceof Date);
  assert.deepEqual(running.statusDetails, { detailsMap: { step: 'flash' } });
  assert.equal(running.versionNumber, 2);

  await report('x-1', 'x-retry', 'FAILED');
  const retry = await describe('x-retry', 'x-1');
  assert.deepEqual([retry.executionNumber, retry.status, retry.versionNumber], [2, 'QUEUED', 1]);
  const first = await describe('x-retry', 'x-1', 1);
  assert.deepEqual([first.executionNumber, first.status, first.versionNumber], [1, 'FAILED', 3]);
  assert.deepEqual(first.statusDetails?.detailsMap, { step: 'flash' }, 'statusDetails stay when an update leaves them out');

  const noAttempt = await awsError(describe('x-retry', 'x-1', 7));
  assert.deepEqual([noAttempt.name, noAttempt.status], ['ResourceNotFoundException', 404]);
  assert.match(noAttempt.message, /executionNumber 7/);
  const noThing = await awsError(describe('x-retry', 'x-nobody'));
  assert.deepEqual([noThing.name, noThing.status], ['ResourceNotFoundException', 404]);
  assert.match(noThing.message, /x-nobody/);
});

test('ListJobExecutionsForJob lists the latest attempt of each thing, filters by status and pages', async () => {
  const names = ['lj-1', 'lj-2', 'lj-3', 'lj-4', 'lj-5'];
  await job('lj', names);
  await report('lj-2', 'lj', 'SUCCEEDED');
  await report('lj-4', 'lj', 'IN_PROGRESS');
  const page = async (input: Partial<ConstructorParameters<typeof ListJobExecutionsForJobCommand>[0]>) =>
    ctx.iot.send(new ListJobExecutionsForJobCommand({ jobId: 'lj', ...input }));
  const queued = await page({ status: 'QUEUED' });
  assert.deepEqual(
    queued.executionSummaries!.map((s) => s.thingArn),
    ['lj-1', 'lj-3', 'lj-5'].map((t) => thingArn(t)),
  );
  const succeeded = (await page({ status: 'SUCCEEDED' })).executionSummaries!;
  assert.equal(succeeded.length, 1);
  assert.deepEqual(
    {
      status: succeeded[0]!.jobExecutionSummary!.status,
      n: succeeded[0]!.jobExecutionSummary!.executionNumber,
      retry: succeeded[0]!.jobExecutionSummary!.retryAttempt,
    },
    { status: 'SUCCEEDED', n: 1, retry: 0 },
  );
  assert.ok(succeeded[0]!.jobExecutionSummary!.lastUpdatedAt instanceof Date);

  const seen: string[] = [];
  let nextToken: string | undefined;
  do {
    const p = await page({ maxResults: 2, nextToken });
    assert.ok(p.executionSummaries!.length <= 2);
    seen.push(...p.executionSummaries!.map((s) => s.thingArn!));
    nextToken = p.nextToken;
  } while (nextToken);
  assert.deepEqual(
    seen,
    names.map((t) => thingArn(t)),
  );
  const bad = await awsError(page({ status: 'WAITING' as never }));
  assert.deepEqual([bad.name, bad.status], ['InvalidRequestException', 400]);
  assert.match(bad.message, /status must be one of QUEUED/);
  const missing = await awsError(ctx.iot.send(new ListJobExecutionsForJobCommand({ jobId: 'lj-none' })));
  assert.deepEqual([missing.name, missing.status], ['ResourceNotFoundException', 404]);
});

test('ListJobExecutionsForThing lists the thing’s jobs (newest first), filters by status and jobId, and pages', async () => {
  await job('lt-a', ['lt-1']);
  await job('lt-b', ['lt-1']);
  await job('lt-c', ['lt-1']);
  await report('lt-1', 'lt-b', 'REJECTED');
  const list = async (input: Partial<ConstructorParameters<typeof ListJobExecutionsForThingCommand>[0]> = {}) =>
    (await ctx.iot.send(new ListJobExecutionsForThingCommand({ thingName: 'lt-1', ...input }))).executionSummaries!.map((s) => [
      s.jobId,
      s.jobExecutionSummary!.status,
    ]);
  assert.deepEqual(await list(), [
    ['lt-c', 'QUEUED'],
    ['lt-b', 'REJECTED'],
    ['lt-a', 'QUEUED'],
  ]);
  assert.deepEqual(await list({ status: 'REJECTED' }), [['lt-b', 'REJECTED']]);
  assert.deepEqual(await list({ jobId: 'lt-a' }), [['lt-a', 'QUEUED']]);
  const first = await ctx.iot.send(new ListJobExecutionsForThingCommand({ thingName: 'lt-1', maxResults: 2 }));
  assert.equal(first.executionSummaries!.length, 2);
  const rest = await ctx.iot.send(new ListJobExecutionsForThingCommand({ thingName: 'lt-1', maxResults: 2, nextToken: first.nextToken }));
  assert.deepEqual(
    rest.executionSummaries!.map((s) => s.jobId),
    ['lt-a'],
  );
  assert.equal(rest.nextToken, undefined);
  const unknown = await awsError(ctx.iot.send(new ListJobExecutionsForThingCommand({ thingName: 'lt-nobody' })));
  assert.deepEqual([unknown.name, unknown.status], ['ResourceNotFoundException', 404]);
});

test('CancelJobExecution: expectedVersion must match; IN_PROGRESS needs force; statusDetails are recorded; terminal ones stay', async () => {
  await job('ce', ['ce-1', 'ce-2', 'ce-3']);
  const conflict = await awsError(ctx.iot.send(new CancelJobExecutionCommand({ jobId: 'ce', thingName: 'ce-1', expectedVersion: 5 })));
  assert.deepEqual([conflict.name, conflict.status], ['VersionConflictException', 409]);
  assert.match(conflict.message, /version 1, not 5/);
  assert.equal((await describe('ce', 'ce-1')).status, 'QUEUED');

  await ctx.iot.send(
    new CancelJobExecutionCommand({ jobId: 'ce', thingName: 'ce-1', expectedVersion: 1, statusDetails: { why: 'replaced' } }),
  );
  const canceled = await describe('ce', 'ce-1');
  assert.deepEqual([canceled.status, canceled.versionNumber, canceled.forceCanceled], ['CANCELED', 2, false]);
  assert.deepEqual(canceled.statusDetails?.detailsMap, { why: 'replaced' });

  await report('ce-2', 'ce', 'IN_PROGRESS');
  const refused = await awsError(ctx.iot.send(new CancelJobExecutionCommand({ jobId: 'ce', thingName: 'ce-2' })));
  assert.deepEqual([refused.name, refused.status], ['InvalidStateTransitionException', 409]);
  assert.match(refused.message, /IN_PROGRESS/);
  await ctx.iot.send(new CancelJobExecutionCommand({ jobId: 'ce', thingName: 'ce-2', force: true }));
  const forced = await describe('ce', 'ce-2');
  assert.deepEqual([forced.status, forced.forceCanceled], ['CANCELED', true]);
  assert.deepEqual(
    (await ctx.server.platform.use('jobs').deviceJobs.getPending(ctx.ns, 'ce-2')).inProgressJobs,
    [],
    'the device no longer sees it pending',
  );

  await report('ce-3', 'ce', 'SUCCEEDED');
  const terminal = await awsError(ctx.iot.send(new CancelJobExecutionCommand({ jobId: 'ce', thingName: 'ce-3', force: true })));
  assert.deepEqual([terminal.name, terminal.status], ['InvalidStateTransitionException', 409]);
  assert.match(terminal.message, /SUCCEEDED/);
  assert.equal((await ctx.iot.send(new DescribeJobCommand({ jobId: 'ce' }))).job!.status, 'COMPLETED', 'every execution is terminal now');
  const missing = await awsError(ctx.iot.send(new CancelJobExecutionCommand({ jobId: 'ce', thingName: 'ce-nobody' })));
  assert.deepEqual([missing.name, missing.status], ['ResourceNotFoundException', 404]);
});

test('DeleteJobExecution deletes one terminal attempt; a pending one only with force', async () => {
  await job('de', ['de-1', 'de-2'], { jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 1 }] } });
  await report('de-1', 'de', 'FAILED');
  const pending = await awsError(ctx.iot.send(new DeleteJobExecutionCommand({ jobId: 'de', thingName: 'de-1', executionNumber: 2 })));
  assert.deepEqual([pending.name, pending.status], ['InvalidStateTransitionException', 409]);
  assert.match(pending.message, /QUEUED/);

  await ctx.iot.send(new DeleteJobExecutionCommand({ jobId: 'de', thingName: 'de-1', executionNumber: 1 }));
  assert.equal((await awsError(describe('de', 'de-1', 1))).status, 404);
  assert.equal((await describe('de', 'de-1')).executionNumber, 2, 'the other attempt stays');

  await report('de-2', 'de', 'IN_PROGRESS');
  await ctx.iot.send(new DeleteJobExecutionCommand({ jobId: 'de', thingName: 'de-2', executionNumber: 1, force: true }));
  assert.equal((await awsError(describe('de', 'de-2'))).status, 404);
  assert.deepEqual(await ctx.server.platform.use('jobs').deviceJobs.getPending(ctx.ns, 'de-2'), {
    inProgressJobs: [],
    queuedJobs: [],
    timestamp: (await ctx.server.platform.use('jobs').deviceJobs.getPending(ctx.ns, 'de-2')).timestamp,
  });
  const twice = await awsError(ctx.iot.send(new DeleteJobExecutionCommand({ jobId: 'de', thingName: 'de-2', executionNumber: 1 })));
  assert.deepEqual([twice.name, twice.status], ['ResourceNotFoundException', 404]);
});
