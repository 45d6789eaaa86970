/**
 * Scheduled jobs through the real clients (AWS SchedulingConfig): @aws-sdk/client-iot CreateJob,
 * DescribeJob (schedulingConfig, scheduledJobRollouts), ListJobs by SCHEDULED, CancelJob, AWS
 * error shapes for bad schedules, `aws iot` with --scheduling-config, a SCHEDULED job kept across
 * a server restart, and DescribeJobExecution's `"statusDetails": {}` for a QUEUED execution.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  CancelJobCommand,
  CreateJobCommand,
  CreateJobTemplateCommand,
  CreateThingCommand,
  DescribeJobCommand,
  DescribeJobExecutionCommand,
  DescribeJobTemplateCommand,
  IoTClient,
  ListJobsCommand,
} from '@aws-sdk/client-iot';
import { DescribeJobExecutionCommand as DeviceDescribe, IoTJobsDataPlaneClient } from '@aws-sdk/client-iot-jobs-data-plane';
import { parseCredentialsFile } from '@thicket/server';
import { filesApi, uploaded } from './files-helpers.js';
import { awsError, spawnServer, tempDir } from './helpers.js';
import { jobsServer, thingArn } from './jobs-control-helpers.js';

const run = promisify(execFile);
const ctx = jobsServer();
const HOUR = 3_600_000;
const doc = JSON.stringify({ operation: 'install' });
const hhmm = (ms: number): string => new Date(ms).toISOString().slice(0, 16);

async function thing(thingName: string): Promise<void> {
  await ctx.iot.send(new CreateThingCommand({ thingName }));
}

test('CreateJob with schedulingConfig: DescribeJob and ListJobs show SCHEDULED, the config and the next window openings', async () => {
  await thing('sched-1');
  const startTime = hhmm(Date.now() + 2 * HOUR);
  const endTime = hhmm(Date.now() + 30 * HOUR);
  const created = await ctx.iot.send(
    new CreateJobCommand({
      jobId: 'sdk-scheduled',
      targets: [thingArn('sched-1')],
      document: doc,
      schedulingConfig: {
        startTime,
        endTime,
        endBehavior: 'FORCE_CANCEL',
        maintenanceWindows: [{ startTime: 'cron(0 3 * * ? *)', durationInMinutes: 90 }],
      },
    }),
  );
  assert.equal(created.jobId, 'sdk-scheduled');
  const { job } = await ctx.iot.send(new DescribeJobCommand({ jobId: 'sdk-scheduled' }));
  assert.equal(job!.status, 'SCHEDULED');
  assert.deepEqual(job!.schedulingConfig, {
    startTime,
    endTime,
    endBehavior: 'FORCE_CANCEL',
    maintenanceWindows: [{ startTime: 'cron(0 3 * * ? *)', durationInMinutes: 90 }],
  });
  // Daily at 03:00 between startTime and endTime (28 hours apart): one or two openings, each at 03:00.
  const rollouts = job!.scheduledJobRollouts!.map((r) => r.startTime!);
  assert.ok(rollouts.length >= 1 && rollouts.length <= 2, JSON.stringify(rollouts));
  for (const r of rollouts) {
    assert.match(r, /^\d{4}-\d{2}-\d{2}T03:00$/);
    assert.ok(r >= startTime && r < endTime, `${r} lies between ${startTime} and ${endTime}`);
  }
  assert.equal(job!.jobProcessDetails!.numberOfQueuedThings, 0);
  const listed = await ctx.iot.send(new ListJobsCommand({ status: 'SCHEDULED' }));
  assert.deepEqual(
    listed.jobs!.map((j) => [j.jobId, j.status]),
    [['sdk-scheduled', 'SCHEDULED']],
  );
  const executions = await awsError(ctx.iot.send(new DescribeJobExecutionCommand({ jobId: 'sdk-scheduled', thingName: 'sched-1' })));
  assert.equal(executions.name, 'ResourceNotFoundException', 'no execution before startTime');

  const canceled = await ctx.iot.send(new CancelJobCommand({ jobId: 'sdk-scheduled', comment: 'postponed' }));
  assert.equal(canceled.jobId, 'sdk-scheduled');
  const after = (await ctx.iot.send(new DescribeJobCommand({ jobId: 'sdk-scheduled' }))).job!;
  assert.equal(after.status, 'CANCELED');
  assert.equal(after.comment, 'postponed');
  assert.equal(after.scheduledJobRollouts, undefined);
});

test('bad schedules get InvalidRequestException (400) with a message naming the member; no job is created', async () => {
  await thing('sched-bad');
  const create = (jobId: string, schedulingConfig: Record<string, unknown>) =>
    awsError(ctx.iot.send(new CreateJobCommand({ jobId, targets: [thingArn('sched-bad')], document: doc, schedulingConfig })));
  const soon = await create('too-soon', { startTime: hhmm(Date.now() + 60_000) });
  assert.equal(soon.name, 'InvalidRequestException');
  assert.equal(soon.status, 400);
  assert.match(soon.message, /^schedulingConfig.startTime must be at least 30 minutes from now \(\d{4}-\d\d-\d\dT\d\d:\d\d UTC\), not /);
  const cron = await create('bad-cron', { maintenanceWindows: [{ startTime: 'cron(0 3 * * * *)', durationInMinutes: 60 }] });
  assert.equal(cron.name, 'InvalidRequestException');
  assert.match(
    cron.message,
    /maintenanceWindows\[0\]\.startTime "cron\(0 3 \* \* \* \*\)" is not valid: exactly one of day-of-month and day-of-week must be \?/,
  );
  const behavior = await create('bad-end', { endBehavior: 'EXPLODE' });
  assert.match(behavior.message, /endBehavior must be one of STOP_ROLLOUT, CANCEL, FORCE_CANCEL/);
  for (const jobId of ['too-soon', 'bad-cron', 'bad-end']) {
    assert.equal((await awsError(ctx.iot.send(new DescribeJobCommand({ jobId })))).name, 'ResourceNotFoundException');
  }
});

test('a job in a maintenance window that is closed now gets no execution yet; CreateJobTemplate keeps maintenanceWindows', async () => {
  await thing('sched-win');
  // A window that opened 3 hours ago for 60 minutes: closed now, whatever the hour.
  const opened = new Date(Date.now() - 3 * HOUR);
  const cron = `cron(${opened.getUTCMinutes()} ${opened.getUTCHours()} * * ? *)`;
  await ctx.iot.send(
    new CreateJobTemplateCommand({
      jobTemplateId: 'windowed-tpl',
      description: 'in the window',
      document: doc,
      maintenanceWindows: [{ startTime: cron, durationInMinutes: 60 }],
    }),
  );
  const tpl = await ctx.iot.send(new DescribeJobTemplateCommand({ jobTemplateId: 'windowed-tpl' }));
  assert.deepEqual(tpl.maintenanceWindows, [{ startTime: cron, durationInMinutes: 60 }]);
  await ctx.iot.send(new CreateJobCommand({ jobId: 'windowed', targets: [thingArn('sched-win')], jobTemplateArn: tpl.jobTemplateArn }));
  const { job } = await ctx.iot.send(new DescribeJobCommand({ jobId: 'windowed' }));
  assert.equal(job!.status, 'IN_PROGRESS');
  assert.equal(job!.isConcurrent, true, 'its rollout waits for the window');
  assert.equal(job!.scheduledJobRollouts!.length, 7);
  assert.equal(
    (await awsError(ctx.iot.send(new DescribeJobExecutionCommand({ jobId: 'windowed', thingName: 'sched-win' })))).name,
    'ResourceNotFoundException',
  );
});

test('a file named by a SCHEDULED job cannot be deleted: the job will hand it out when it starts', async () => {
  await thing('sched-ota');
  await uploaded(ctx.server, 'fw-later.bin', Buffer.from('firmware for later'));
  await ctx.iot.send(
    new CreateJobCommand({
      jobId: 'ota-later',
      targets: [thingArn('sched-ota')],
      document: JSON.stringify({ url: '${thicket:PresignedUrl:fw-later.bin}' }),
      schedulingConfig: { startTime: hhmm(Date.now() + 2 * HOUR) },
    }),
  );
  await assert.rejects(
    filesApi(ctx.server, 'DELETE', '/fw-later.bin'),
    /^Error: ConflictException: file 'fw-later.bin' is referenced by job ota-later \(SCHEDULED\)/,
  );
  await ctx.iot.send(new CancelJobCommand({ jobId: 'ota-later' }));
  await filesApi(ctx.server, 'DELETE', '/fw-later.bin');
});

test('DescribeJobExecution of a QUEUED execution answers "statusDetails": {} (client-iot, jobs data plane, aws CLI)', async () => {
  await thing('sched-q');
  await ctx.iot.send(new CreateJobCommand({ jobId: 'queued-details', targets: [thingArn('sched-q')], document: doc }));
  const { execution } = await ctx.iot.send(new DescribeJobExecutionCommand({ jobId: 'queued-details', thingName: 'sched-q' }));
  assert.equal(execution!.status, 'QUEUED');
  assert.deepEqual(execution!.statusDetails, {});
  const device = new IoTJobsDataPlaneClient({
    endpoint: `http://127.0.0.1:${ctx.server.ports.http}`,
    region: 'us-east-1',
    credentials: ctx.server.adminKey,
  });
  try {
    const seen = await device.send(new DeviceDescribe({ jobId: 'queued-details', thingName: 'sched-q', includeJobDocument: false }));
    assert.deepEqual(seen.execution!.statusDetails, {});
  } finally {
    device.destroy();
  }
  await ctx.report('sched-q', 'queued-details', 'IN_PROGRESS', { statusDetails: { step: 'flash' } });
  const started = await ctx.iot.send(new DescribeJobExecutionCommand({ jobId: 'queued-details', thingName: 'sched-q' }));
  assert.deepEqual(started.execution!.statusDetails, { detailsMap: { step: 'flash' } });
});

test('aws iot create-job --scheduling-config, describe-job and describe-job-execution', async () => {
  await thing('sched-cli');
  const env = {
    ...process.env,
    AWS_SHARED_CREDENTIALS_FILE: ctx.server.credentialsPath,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_PROFILE: 'default',
  };
  const common = ['--endpoint-url', `http://127.0.0.1:${ctx.server.ports.http}`, '--region', 'us-east-1', '--output', 'json'];
  const aws = async (...args: string[]) =>
    JSON.parse((await run('aws', ['iot', ...args, ...common], { env })).stdout) as Record<string, unknown>;
  const startTime = hhmm(Date.now() + 3 * HOUR);
  await aws(
    'create-job',
    '--job-id',
    'cli-scheduled',
    '--targets',
    thingArn('sched-cli'),
    '--document',
    doc,
    '--scheduling-config',
    JSON.stringify({
      startTime,
      endBehavior: 'STOP_ROLLOUT',
      maintenanceWindows: [{ startTime: 'cron(0 1 ? * MON *)', durationInMinutes: 120 }],
    }),
  );
  const described = (await aws('describe-job', '--job-id', 'cli-scheduled')) as {
    job: { status: string; schedulingConfig: unknown; scheduledJobRollouts: Array<{ startTime: string }> };
  };
  assert.equal(described.job.status, 'SCHEDULED');
  assert.deepEqual(described.job.schedulingConfig, {
    startTime,
    endBehavior: 'STOP_ROLLOUT',
    maintenanceWindows: [{ startTime: 'cron(0 1 ? * MON *)', durationInMinutes: 120 }],
  });
  assert.equal(described.job.scheduledJobRollouts.length, 7);
  for (const r of described.job.scheduledJobRollouts)
    assert.equal(new Date(`${r.startTime}Z`).getUTCDay(), 1, `${r.startTime} is a Monday`);

  await aws('create-job', '--job-id', 'cli-now', '--targets', thingArn('sched-cli'), '--document', doc);
  const execution = (await aws('describe-job-execution', '--job-id', 'cli-now', '--thing-name', 'sched-cli')) as {
    execution: { status: string; statusDetails: unknown };
  };
  assert.equal(execution.execution.status, 'QUEUED');
  assert.deepEqual(execution.execution.statusDetails, {}, 'as AWS prints it for a QUEUED execution');
});

test('a SCHEDULED job survives a server restart on the same data directory', async () => {
  const dataDir = tempDir();
  const args = ['--data-dir', dataDir, '--dev', '--mqtts-port', 'off', '--https-port', 'off', '--mqtt-port', '0', '--http-port', '0'];
  const admin = (port: number) =>
    new IoTClient({
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials: parseCredentialsFile(readFileSync(join(dataDir, 'credentials'), 'utf8'), 'default')!,
    });
  try {
    const first = await spawnServer(args);
    const iot = admin(first.ports.http!);
    await iot.send(new CreateThingCommand({ thingName: 'durable-sched' }));
    const schedulingConfig = {
      startTime: hhmm(Date.now() + 5 * HOUR),
      endTime: hhmm(Date.now() + 48 * HOUR),
      endBehavior: 'CANCEL' as const,
      maintenanceWindows: [{ startTime: 'cron(15 4 * * ? *)', durationInMinutes: 45 }],
    };
    await iot.send(new CreateJobCommand({ jobId: 'kept', targets: [thingArn('durable-sched')], document: doc, schedulingConfig }));
    const before = (await iot.send(new DescribeJobCommand({ jobId: 'kept' }))).job!;
    iot.destroy();
    first.proc.kill('SIGKILL');
    await first.exited;

    const second = await spawnServer(args);
    const again = admin(second.ports.http!);
    try {
      const after = (await again.send(new DescribeJobCommand({ jobId: 'kept' }))).job!;
      assert.equal(after.status, 'SCHEDULED');
      assert.deepEqual(after.schedulingConfig, schedulingConfig);
      assert.deepEqual(after.scheduledJobRollouts, before.scheduledJobRollouts);
      const listed = await again.send(new ListJobsCommand({ status: 'SCHEDULED' }));
      assert.deepEqual(
        listed.jobs!.map((j) => j.jobId),
        ['kept'],
      );
      assert.equal(
        (await awsError(again.send(new DescribeJobExecutionCommand({ jobId: 'kept', thingName: 'durable-sched' })))).name,
        'ResourceNotFoundException',
        'still no execution',
      );
    } finally {
      again.destroy();
      second.proc.kill('SIGTERM');
      await second.exited;
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
