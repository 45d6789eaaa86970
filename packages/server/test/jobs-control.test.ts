/**
 * The Jobs control plane with the real @aws-sdk/client-iot against a server (reference
 * controlplane §5.1): jobs on things and nested thing groups, their counters as devices report,
 * listing, updating, canceling and deleting jobs, job documents and templates, and `aws iot`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import {
  AddThingToThingGroupCommand,
  AssociateTargetsWithJobCommand,
  CancelJobCommand,
  CreateJobCommand,
  CreateJobTemplateCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  DeleteJobCommand,
  DeleteJobTemplateCommand,
  DescribeJobCommand,
  DescribeJobExecutionCommand,
  DescribeJobTemplateCommand,
  GetJobDocumentCommand,
  ListJobExecutionsForThingCommand,
  ListJobTemplatesCommand,
  ListJobsCommand,
  UpdateJobCommand,
  type ListJobsCommandInput,
} from '@aws-sdk/client-iot';
import { awsError, once } from './helpers.js';
import { groupArn, jobsServer, thingArn } from './jobs-control-helpers.js';

const run = promisify(execFile);
const ctx = jobsServer();
const { report, statuses: executionStatuses } = ctx;

const doc = (o: Record<string, unknown> = { operation: 'reboot' }): string => JSON.stringify(o);

async function things(...names: string[]): Promise<void> {
  for (const thingName of names) await ctx.iot.send(new CreateThingCommand({ thingName }));
}

async function group(thingGroupName: string, members: string[] = [], parentGroupName?: string): Promise<void> {
  await ctx.iot.send(new CreateThingGroupCommand({ thingGroupName, parentGroupName }));
  for (const thingName of members) await ctx.iot.send(new AddThingToThingGroupCommand({ thingGroupName, thingName }));
}

async function details(jobId: string) {
  const { job } = await ctx.iot.send(new DescribeJobCommand({ jobId }));
  return job!.jobProcessDetails!;
}

test('CreateJob on a thing and on a thing group with nested child groups; DescribeJob counters follow the executions', async () => {
  await things('n-a', 'n-b', 'n-c', 'n-d', 'n-e');
  await group('n-fleet', ['n-b']);
  await group('n-fleet-eu', ['n-c'], 'n-fleet');
  await group('n-fleet-eu-de', ['n-d'], 'n-fleet-eu');
  const before = Date.now();
  const created = await ctx.iot.send(
    new CreateJobCommand({ jobId: 'nested', targets: [thingArn('n-a'), groupArn('n-fleet')], document: doc(), description: 'reboot all' }),
  );
  assert.deepEqual(
    { jobArn: created.jobArn, jobId: created.jobId, description: created.description },
    { jobArn: 'arn:aws:iot:us-east-1:123456789012:job/nested', jobId: 'nested', description: 'reboot all' },
  );
  assert.deepEqual(await executionStatuses('nested'), { 'n-a': 'QUEUED', 'n-b': 'QUEUED', 'n-c': 'QUEUED', 'n-d': 'QUEUED' });

  const { job, documentSource } = await ctx.iot.send(new DescribeJobCommand({ jobId: 'nested' }));
  assert.equal(documentSource, undefined);
  assert.equal(job!.status, 'IN_PROGRESS');
  assert.equal(job!.targetSelection, 'SNAPSHOT', 'the default');
  assert.deepEqual(job!.targets, [thingArn('n-a'), groupArn('n-fleet')]);
  assert.equal(job!.description, 'reboot all');
  assert.ok(job!.createdAt instanceof Date && job!.createdAt.getTime() >= before - 1000 && job!.createdAt.getTime() <= Date.now());
  assert.equal(job!.completedAt, undefined);
  assert.equal(job!.jobProcessDetails!.numberOfQueuedThings, 4);

  // One device over MQTT, the others through the device service.
  const client = mqtt.connect(`mqtt://127.0.0.1:${ctx.server.ports.mqtt}`, { clientId: 'n-a', reconnectPeriod: 0 });
  try {
    await once(client, 'connect');
    await client.subscribeAsync('$aws/things/n-a/jobs/nested/update/accepted');
    const accepted = once<string>(client, 'message');
    await client.publishAsync('$aws/things/n-a/jobs/nested/update', JSON.stringify({ status: 'IN_PROGRESS', clientToken: 'u1' }), {
      qos: 1,
    });
    assert.equal(await accepted, '$aws/things/n-a/jobs/nested/update/accepted');
    await report('n-b', 'nested', 'SUCCEEDED');
    await report('n-c', 'nested', 'FAILED');
    await report('n-d', 'nested', 'REJECTED');
    assert.deepEqual(await details('nested'), {
      numberOfCanceledThings: 0,
      numberOfSucceededThings: 1,
      numberOfFailedThings: 1,
      numberOfRejectedThings: 1,
      numberOfQueuedThings: 0,
      numberOfInProgressThings: 1,
      numberOfRemovedThings: 0,
      numberOfTimedOutThings: 0,
    });
    assert.equal((await ctx.iot.send(new DescribeJobCommand({ jobId: 'nested' }))).job!.status, 'IN_PROGRESS');
    const done = once<string>(client, 'message');
    await client.publishAsync('$aws/things/n-a/jobs/nested/update', JSON.stringify({ status: 'SUCCEEDED' }), { qos: 1 });
    await done;
  } finally {
    await client.endAsync();
  }
  const completed = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'nested' }))).job!;
  assert.equal(completed.status, 'COMPLETED', 'a snapshot job whose every execution is terminal');
  assert.ok(completed.completedAt instanceof Date);
  assert.equal(completed.jobProcessDetails!.numberOfSucceededThings, 2);
});

test('job templates: CreateJobTemplate from a document and from a job, Describe, List with paging, Delete; ConflictException on a duplicate', async () => {
  await things('tp-1');
  const templateDoc = '{"firmware":"${aws:iot:parameter:version}","url":"https://x/${aws:iot:parameter:version}.bin"}';
  const t = await ctx.iot.send(
    new CreateJobTemplateCommand({
      jobTemplateId: 'fw-template',
      description: 'firmware update',
      document: templateDoc,
      timeoutConfig: { inProgressTimeoutInMinutes: 30 },
      jobExecutionsRetryConfig: { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 2 }] },
    }),
  );
  assert.deepEqual(
    { arn: t.jobTemplateArn, id: t.jobTemplateId },
    { arn: 'arn:aws:iot:us-east-1:123456789012:jobtemplate/fw-template', id: 'fw-template' },
  );
  const described = await ctx.iot.send(new DescribeJobTemplateCommand({ jobTemplateId: 'fw-template' }));
  assert.equal(described.document, templateDoc);
  assert.equal(described.description, 'firmware update');
  assert.deepEqual(described.timeoutConfig, { inProgressTimeoutInMinutes: 30 });
  assert.ok(described.createdAt instanceof Date);

  const dup = await awsError(
    ctx.iot.send(new CreateJobTemplateCommand({ jobTemplateId: 'fw-template', description: 'again', document: doc() })),
  );
  assert.deepEqual([dup.name, dup.status], ['ConflictException', 409]);
  assert.match(dup.message, /fw-template already exists/);

  // A job from the template, with its parameters: the template's configuration comes along.
  await ctx.iot.send(
    new CreateJobCommand({
      jobId: 'from-template',
      targets: [thingArn('tp-1')],
      jobTemplateArn: t.jobTemplateArn,
      documentParameters: { version: '2.1.0' },
    }),
  );
  const job = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'from-template' }))).job!;
  assert.equal(job.jobTemplateArn, t.jobTemplateArn);
  assert.deepEqual(job.documentParameters, { version: '2.1.0' });
  assert.deepEqual(job.timeoutConfig, { inProgressTimeoutInMinutes: 30 });
  assert.deepEqual(job.jobExecutionsRetryConfig, { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 2 }] });
  assert.equal(job.description, 'firmware update');
  const substituted = '{"firmware":"2.1.0","url":"https://x/2.1.0.bin"}';
  assert.equal((await ctx.iot.send(new GetJobDocumentCommand({ jobId: 'from-template' }))).document, substituted);
  assert.equal((await ctx.iot.send(new GetJobDocumentCommand({ jobId: 'from-template', beforeSubstitution: true }))).document, templateDoc);
  const device = await ctx.server.platform.use('jobs').deviceJobs.describe(ctx.ns, 'tp-1', 'from-template', {});
  assert.deepEqual(device.execution?.jobDocument, JSON.parse(substituted), 'devices get the filled-in document');

  // A template from that job: its document and configuration.
  await ctx.iot.send(
    new CreateJobTemplateCommand({
      jobTemplateId: 'copied',
      description: 'copy',
      jobArn: 'arn:aws:iot:us-east-1:123456789012:job/from-template',
    }),
  );
  const copied = await ctx.iot.send(new DescribeJobTemplateCommand({ jobTemplateId: 'copied' }));
  assert.equal(copied.document, templateDoc);
  assert.deepEqual(copied.timeoutConfig, { inProgressTimeoutInMinutes: 30 });
  assert.deepEqual(copied.jobExecutionsRetryConfig, { criteriaList: [{ failureType: 'FAILED', numberOfRetries: 2 }] });

  const first = await ctx.iot.send(new ListJobTemplatesCommand({ maxResults: 1 }));
  assert.equal(first.jobTemplates!.length, 1);
  assert.ok(first.nextToken);
  const second = await ctx.iot.send(new ListJobTemplatesCommand({ maxResults: 1, nextToken: first.nextToken }));
  assert.deepEqual([...first.jobTemplates!, ...second.jobTemplates!].map((x) => x.jobTemplateId).sort(), ['copied', 'fw-template']);
  assert.equal(second.nextToken, undefined);
  assert.equal(first.jobTemplates![0]!.description !== undefined, true);

  await ctx.iot.send(new DeleteJobTemplateCommand({ jobTemplateId: 'copied' }));
  const gone = await awsError(ctx.iot.send(new DescribeJobTemplateCommand({ jobTemplateId: 'copied' })));
  assert.deepEqual([gone.name, gone.status], ['ResourceNotFoundException', 404]);
  assert.match(gone.message, /copied/);
  assert.equal((await awsError(ctx.iot.send(new DeleteJobTemplateCommand({ jobTemplateId: 'copied' })))).status, 404);
});

test('ListJobs filters by status, targetSelection and thingGroupName, and pages with maxResults/nextToken', async () => {
  await things('l-1', 'l-2');
  await group('l-group', ['l-1']);
  await ctx.iot.send(new CreateJobCommand({ jobId: 'l-snap', targets: [groupArn('l-group')], document: doc() }));
  await ctx.iot.send(
    new CreateJobCommand({ jobId: 'l-cont', targets: [groupArn('l-group')], document: doc(), targetSelection: 'CONTINUOUS' }),
  );
  await ctx.iot.send(new CreateJobCommand({ jobId: 'l-thing', targets: [thingArn('l-2')], document: doc() }));
  await ctx.iot.send(new CancelJobCommand({ jobId: 'l-thing' }));

  const ids = async (input: ListJobsCommandInput) => ((await ctx.iot.send(new ListJobsCommand(input))).jobs ?? []).map((j) => j.jobId);
  assert.deepEqual((await ids({ thingGroupName: 'l-group' })).sort(), ['l-cont', 'l-snap']);
  assert.ok((await ids({ status: 'CANCELED' })).includes('l-thing'));
  assert.ok(!(await ids({ status: 'CANCELED' })).includes('l-snap'));
  const continuous = await ids({ targetSelection: 'CONTINUOUS' });
  assert.ok(continuous.includes('l-cont') && !continuous.includes('l-snap'));
  assert.deepEqual(await ids({ thingGroupName: 'l-group', targetSelection: 'SNAPSHOT', status: 'IN_PROGRESS' }), ['l-snap']);

  const summary = (await ctx.iot.send(new ListJobsCommand({ thingGroupName: 'l-group', targetSelection: 'CONTINUOUS' }))).jobs![0]!;
  assert.equal(summary.jobArn, 'arn:aws:iot:us-east-1:123456789012:job/l-cont');
  assert.equal(summary.status, 'IN_PROGRESS');
  assert.ok(summary.createdAt instanceof Date);

  const all = await ids({});
  const paged: string[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const page = await ctx.iot.send(new ListJobsCommand({ maxResults: 2, nextToken }));
    assert.ok(page.jobs!.length <= 2);
    paged.push(...page.jobs!.map((j) => j.jobId!));
    nextToken = page.nextToken;
    pages++;
  } while (nextToken);
  assert.deepEqual(paged, all, 'the pages list every job once, in the same order');
  assert.equal(pages, Math.ceil(all.length / 2));
});

test('UpdateJob changes the configuration of an IN_PROGRESS job; a finished job cannot be updated', async () => {
  await things('u-1');
  await ctx.iot.send(new CreateJobCommand({ jobId: 'upd', targets: [thingArn('u-1')], document: doc(), description: 'old' }));
  const before = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'upd' }))).job!;
  await ctx.iot.send(
    new UpdateJobCommand({
      jobId: 'upd',
      description: 'new',
      timeoutConfig: { inProgressTimeoutInMinutes: 15 },
      jobExecutionsRolloutConfig: { maximumPerMinute: 50 },
      abortConfig: { criteriaList: [{ failureType: 'ALL', action: 'CANCEL', thresholdPercentage: 25.5, minNumberOfExecutedThings: 10 }] },
      presignedUrlConfig: { expiresInSec: 600 },
    }),
  );
  const job = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'upd' }))).job!;
  assert.equal(job.description, 'new');
  assert.deepEqual(job.timeoutConfig, { inProgressTimeoutInMinutes: 15 });
  assert.deepEqual(job.jobExecutionsRolloutConfig, { maximumPerMinute: 50 });
  assert.deepEqual(job.abortConfig!.criteriaList, [
    { failureType: 'ALL', action: 'CANCEL', thresholdPercentage: 25.5, minNumberOfExecutedThings: 10 },
  ]);
  assert.deepEqual(job.presignedUrlConfig, { expiresInSec: 600 });
  assert.ok(job.lastUpdatedAt!.getTime() >= before.lastUpdatedAt!.getTime());
  // The new timeout applies to executions that start after the update.
  const started = await ctx.server.platform.use('jobs').deviceJobs.startNext(ctx.ns, 'u-1', {});
  assert.equal(started.execution!.approximateSecondsBeforeTimedOut, 900);

  await report('u-1', 'upd', 'SUCCEEDED');
  const late = await awsError(ctx.iot.send(new UpdateJobCommand({ jobId: 'upd', description: 'too late' })));
  assert.deepEqual([late.name, late.status], ['InvalidRequestException', 400]);
  assert.match(late.message, /COMPLETED/);
  const missing = await awsError(ctx.iot.send(new UpdateJobCommand({ jobId: 'no-such-job', description: 'x' })));
  assert.deepEqual([missing.name, missing.status], ['ResourceNotFoundException', 404]);
});

test('CancelJob cancels QUEUED executions; with force also IN_PROGRESS ones; reasonCode, comment and forceCanceled are kept', async () => {
  await things('c-1', 'c-2', 'c-3');
  await ctx.iot.send(new CreateJobCommand({ jobId: 'cancel-me', targets: ['c-1', 'c-2', 'c-3'].map((t) => thingArn(t)), document: doc() }));
  await report('c-1', 'cancel-me', 'IN_PROGRESS');
  await report('c-2', 'cancel-me', 'SUCCEEDED');
  const canceled = await ctx.iot.send(
    new CancelJobCommand({ jobId: 'cancel-me', reasonCode: 'BAD_BUILD', comment: 'build 41 bricks lamps' }),
  );
  assert.equal(canceled.jobArn, 'arn:aws:iot:us-east-1:123456789012:job/cancel-me');
  let job = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'cancel-me' }))).job!;
  assert.deepEqual([job.status, job.forceCanceled, job.reasonCode, job.comment], ['CANCELED', false, 'BAD_BUILD', 'build 41 bricks lamps']);
  assert.ok(job.completedAt instanceof Date);
  assert.deepEqual(await executionStatuses('cancel-me'), { 'c-1': 'IN_PROGRESS', 'c-2': 'SUCCEEDED', 'c-3': 'CANCELED' });
  // The device may still finish what it started, until a forced cancel.
  await report('c-1', 'cancel-me', 'IN_PROGRESS', { statusDetails: { progress: '50%' } });

  const again = await awsError(ctx.iot.send(new CancelJobCommand({ jobId: 'cancel-me' })));
  assert.deepEqual([again.name, again.status], ['InvalidRequestException', 400]);
  assert.match(again.message, /CANCELED already; it cannot be canceled again unless with force/);

  await ctx.iot.send(new CancelJobCommand({ jobId: 'cancel-me', force: true }));
  job = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'cancel-me' }))).job!;
  assert.deepEqual([job.status, job.forceCanceled, job.reasonCode], ['CANCELED', true, 'BAD_BUILD']);
  assert.deepEqual(await executionStatuses('cancel-me'), { 'c-1': 'CANCELED', 'c-2': 'SUCCEEDED', 'c-3': 'CANCELED' });
  const e = (await ctx.iot.send(new DescribeJobExecutionCommand({ jobId: 'cancel-me', thingName: 'c-1' }))).execution!;
  assert.equal(e.forceCanceled, true);
  assert.deepEqual(e.statusDetails?.detailsMap, { progress: '50%' });
  await assert.rejects(report('c-1', 'cancel-me', 'SUCCEEDED'), { code: 'InvalidStateTransition' });
  const { jobProcessDetails: counts } = job;
  assert.deepEqual([counts!.numberOfCanceledThings, counts!.numberOfSucceededThings, counts!.numberOfInProgressThings], [2, 1, 0]);
});

test('DeleteJob refuses an IN_PROGRESS job without force (InvalidStateTransitionException); with force the job and its executions go', async () => {
  await things('d-1', 'd-2');
  await ctx.iot.send(new CreateJobCommand({ jobId: 'del-me', targets: [thingArn('d-1'), thingArn('d-2')], document: doc() }));
  await report('d-1', 'del-me', 'IN_PROGRESS');
  const refused = await awsError(ctx.iot.send(new DeleteJobCommand({ jobId: 'del-me' })));
  assert.deepEqual([refused.name, refused.status], ['InvalidStateTransitionException', 409]);
  assert.match(refused.message, /del-me is IN_PROGRESS/);
  assert.equal((await ctx.iot.send(new DescribeJobCommand({ jobId: 'del-me' }))).job!.status, 'IN_PROGRESS', 'nothing was deleted');

  await ctx.iot.send(new DeleteJobCommand({ jobId: 'del-me', force: true }));
  const gone = await awsError(ctx.iot.send(new DescribeJobCommand({ jobId: 'del-me' })));
  assert.deepEqual([gone.name, gone.status], ['ResourceNotFoundException', 404]);
  assert.match(gone.message, /del-me/);
  const left = await ctx.iot.send(new ListJobExecutionsForThingCommand({ thingName: 'd-1' }));
  assert.deepEqual(left.executionSummaries, []);
  assert.deepEqual((await ctx.server.platform.use('jobs').deviceJobs.getPending(ctx.ns, 'd-2')).queuedJobs, []);

  // A finished job is deleted without force; its id can then be used again.
  await ctx.iot.send(new CreateJobCommand({ jobId: 'del-done', targets: [thingArn('d-1')], document: doc() }));
  await report('d-1', 'del-done', 'SUCCEEDED');
  await ctx.iot.send(new DeleteJobCommand({ jobId: 'del-done' }));
  await ctx.iot.send(new CreateJobCommand({ jobId: 'del-done', targets: [thingArn('d-2')], document: doc() }));
  assert.deepEqual(await executionStatuses('del-done'), { 'd-2': 'QUEUED' });
});

test('AssociateTargetsWithJob adds a thing group to a continuous job: its members get executions', async () => {
  await things('a-1', 'a-2', 'a-3');
  await group('a-first', ['a-1']);
  await group('a-second', ['a-2', 'a-3']);
  await ctx.iot.send(
    new CreateJobCommand({ jobId: 'assoc', targets: [groupArn('a-first')], document: doc(), targetSelection: 'CONTINUOUS' }),
  );
  await report('a-1', 'assoc', 'SUCCEEDED');
  const r = await ctx.iot.send(
    new AssociateTargetsWithJobCommand({ jobId: 'assoc', targets: [groupArn('a-second'), groupArn('a-first')], comment: 'more' }),
  );
  assert.equal(r.jobId, 'assoc');
  const job = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'assoc' }))).job!;
  assert.deepEqual(job.targets, [groupArn('a-first'), groupArn('a-second')]);
  assert.deepEqual(await executionStatuses('assoc'), { 'a-1': 'SUCCEEDED', 'a-2': 'QUEUED', 'a-3': 'QUEUED' }, 'a-1 is not queued again');
  const missing = await awsError(ctx.iot.send(new AssociateTargetsWithJobCommand({ jobId: 'assoc', targets: [groupArn('a-none')] })));
  assert.deepEqual([missing.name, missing.status], ['ResourceNotFoundException', 404]);
  assert.match(missing.message, /a-none/);
});

test('aws iot create-job, describe-job and list-job-executions-for-job', async () => {
  await things('cli-1', 'cli-2');
  const env = {
    ...process.env,
    AWS_SHARED_CREDENTIALS_FILE: ctx.server.credentialsPath,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_PROFILE: 'default',
  };
  const common = ['--endpoint-url', `http://127.0.0.1:${ctx.server.ports.http}`, '--region', 'us-east-1', '--output', 'json'];
  const aws = async (...args: string[]) =>
    JSON.parse((await run('aws', ['iot', ...args, ...common], { env })).stdout) as Record<string, unknown>;
  const created = await aws(
    'create-job',
    '--job-id',
    'cli-job',
    '--targets',
    thingArn('cli-1'),
    thingArn('cli-2'),
    '--document',
    doc({ operation: 'blink' }),
    '--description',
    'from the CLI',
    '--timeout-config',
    'inProgressTimeoutInMinutes=5',
  );
  assert.deepEqual(created, { jobArn: 'arn:aws:iot:us-east-1:123456789012:job/cli-job', jobId: 'cli-job', description: 'from the CLI' });
  await report('cli-1', 'cli-job', 'SUCCEEDED');
  const described = (await aws('describe-job', '--job-id', 'cli-job')) as {
    job: { status: string; description: string; timeoutConfig: unknown; jobProcessDetails: Record<string, number>; createdAt: number };
  };
  assert.equal(described.job.status, 'IN_PROGRESS');
  assert.deepEqual(described.job.timeoutConfig, { inProgressTimeoutInMinutes: 5 });
  assert.equal(described.job.jobProcessDetails.numberOfSucceededThings, 1);
  assert.equal(described.job.jobProcessDetails.numberOfQueuedThings, 1);
  assert.equal(typeof described.job.createdAt, 'number', 'the CLI prints the epoch seconds it received');
  const listed = (await aws('list-job-executions-for-job', '--job-id', 'cli-job')) as {
    executionSummaries: Array<{ thingArn: string; jobExecutionSummary: { status: string; executionNumber: number } }>;
  };
  assert.deepEqual(
    listed.executionSummaries.map((s) => [s.thingArn, s.jobExecutionSummary.status, s.jobExecutionSummary.executionNumber]),
    [
      [thingArn('cli-1'), 'SUCCEEDED', 1],
      [thingArn('cli-2'), 'QUEUED', 1],
    ],
  );
  const failed = (await run('aws', ['iot', 'describe-job', '--job-id', 'no-such-job', ...common], { env }).catch((e: unknown) => e)) as {
    stderr: string;
  };
  assert.match(failed.stderr, /ResourceNotFoundException/);
  assert.match(failed.stderr, /no-such-job/);
});
