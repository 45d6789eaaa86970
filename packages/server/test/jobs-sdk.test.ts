/**
 * Jobs with the official device SDKs, unchanged: aws-iot-device-sdk v1 `jobs` (MQTT 3.1.1 over
 * mutual TLS), and aws-iot-device-sdk-v2's IotJobsClient (event style) and IotJobsClientv2
 * (request-response, clientToken correlation) over MQTT 3.1.1 and MQTT 5.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { DescribeJobExecutionCommand } from '@aws-sdk/client-iot';
import { iotjobs, mqtt } from 'aws-iot-device-sdk-v2';
import { provision, sleep, startTestServer, type Device, type TestServer } from './helpers.js';
import { ids, JobsAdmin, type ExecutionState } from './jobs-helpers.js';
import { modeledError, mqtt311Connection, mqtt5Client, once, rrOptions, stopMqtt5, v1Options } from './sdk-helpers.js';

const require = createRequire(import.meta.url);

let server: TestServer;
let admin: JobsAdmin;

before(async () => {
  server = await startTestServer();
  admin = new JobsAdmin(server);
});
after(async () => {
  admin.destroy();
  await server.close();
});

/** A device with a certificate (allowed everything) whose thing the admin helper knows. */
async function device(thingName: string): Promise<Device> {
  const d = await provision(server, thingName);
  await admin.thing(thingName, true);
  return d;
}

/** The execution as the control plane sees it: status and statusDetails. */
async function stateOf(thingName: string, jobId: string): Promise<[string | undefined, Record<string, string> | undefined]> {
  const { execution } = await admin.iot.send(new DescribeJobExecutionCommand({ thingName, jobId }));
  return [execution?.status, execution?.statusDetails?.detailsMap];
}

/** Waits until `cond` holds (checked every 20 ms), or fails after `ms`. */
async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

interface JobV1 {
  id: string;
  document: Record<string, unknown>;
  operation?: string;
  status: { status: string; statusDetails?: Record<string, string> };
  inProgress(details?: Record<string, string>, cb?: (err?: Error) => void): void;
  succeeded(details?: Record<string, string>, cb?: (err?: Error) => void): void;
  failed(details?: Record<string, string>, cb?: (err?: Error) => void): void;
}

interface JobsV1 extends EventEmitter {
  subscribeToJobs(thing: string, operation: string, cb: (err: Error | null, job: JobV1) => void): void;
  subscribeToJobs(thing: string, cb: (err: Error | null, job: JobV1) => void): void;
  startJobNotifications(thing: string, cb?: (err?: Error) => void): void;
  end(force: boolean, cb?: () => void): void;
}

test('aws-iot-device-sdk v1 jobs: subscribeToJobs by operation, startJobNotifications, inProgress / succeeded / failed', async () => {
  const thing = 'v1-jobs';
  const d = await device(thing);
  await admin.job('v1-install', [thing], { operation: 'install', url: 'https://example.com/fw.bin' });
  await admin.job('v1-reboot', [thing], { operation: 'reboot' });
  const awsIot = require('aws-iot-device-sdk') as { jobs(opts: object): JobsV1 };
  const client = awsIot.jobs(v1Options(server, d));
  const installs: JobV1[] = [];
  const others: JobV1[] = [];
  try {
    await once(client, 'connect', 10_000);
    client.subscribeToJobs(thing, 'install', (err, job) => {
      assert.ifError(err);
      installs.push(job);
    });
    client.subscribeToJobs(thing, (err, job) => {
      assert.ifError(err);
      others.push(job);
    });
    // The SDK does not wait for its subscriptions before asking: the answer reaches it anyway.
    client.startJobNotifications(thing);
    await until('the install job', () => installs.length === 1);
    const install = installs[0]!;
    assert.deepEqual([install.id, install.operation, install.status.status], ['v1-install', 'install', 'QUEUED']);
    assert.deepEqual(install.document, { operation: 'install', url: 'https://example.com/fw.bin' });

    install.inProgress({ step: 'downloading' });
    await until('IN_PROGRESS', async () => (await stateOf(thing, 'v1-install'))[0] === 'IN_PROGRESS');
    assert.deepEqual(await stateOf(thing, 'v1-install'), ['IN_PROGRESS', { step: 'downloading' }]);

    // Succeeding moves notify-next to the reboot job, which only the default handler takes.
    install.succeeded({ result: 'ok' });
    await until('the reboot job', () => others.length === 1);
    assert.deepEqual([others[0]!.id, others[0]!.operation, others[0]!.status.status], ['v1-reboot', 'reboot', 'QUEUED']);
    assert.deepEqual(await stateOf(thing, 'v1-install'), ['SUCCEEDED', { result: 'ok' }]);
    others[0]!.failed({ reason: 'busy' });
    await until('FAILED', async () => (await stateOf(thing, 'v1-reboot'))[0] === 'FAILED');
    assert.deepEqual(await stateOf(thing, 'v1-reboot'), ['FAILED', { reason: 'busy' }]);
    // The queue is empty: notify-next carries no execution and no handler is called.
    await sleep(200);
    assert.deepEqual([installs.length, others.length], [1, 1]);
  } finally {
    await new Promise<void>((r) => client.end(true, r));
  }
});

for (const protocol of ['MQTT 3.1.1', 'MQTT 5'] as const) {
  const tag = protocol === 'MQTT 5' ? 'v2m5' : 'v2m3';

  test(`aws-iot-device-sdk-v2 IotJobsClient over ${protocol}: publish requests, accepted / rejected and notification events`, async () => {
    const thing = `${tag}-events`;
    const d = await device(thing);
    await admin.job(`${tag}-ev-1`, [thing], { operation: 'blink', times: 3 });
    const m5 = protocol === 'MQTT 5' ? await mqtt5Client(server, d) : undefined;
    const m3 = m5 ? undefined : await mqtt311Connection(server, d);
    const jobs = m5 ? iotjobs.IotJobsClient.newFromMqtt5Client(m5) : new iotjobs.IotJobsClient(m3);
    const QoS = mqtt.QoS.AtLeastOnce;
    const got: Record<string, unknown[]> = {};
    const record =
      (name: string) =>
      (err?: Error, response?: unknown): void => {
        (got[name] ??= []).push(err ?? response);
      };
    try {
      await jobs.subscribeToGetPendingJobExecutionsAccepted({ thingName: thing }, QoS, record('pending'));
      await jobs.subscribeToStartNextPendingJobExecutionAccepted({ thingName: thing }, QoS, record('started'));
      await jobs.subscribeToUpdateJobExecutionRejected({ thingName: thing, jobId: `${tag}-ev-1` }, QoS, record('updateRejected'));
      await jobs.subscribeToNextJobExecutionChangedEvents({ thingName: thing }, QoS, record('next'));
      await jobs.subscribeToJobExecutionsChangedEvents({ thingName: thing }, QoS, record('changed'));

      await jobs.publishGetPendingJobExecutions({ thingName: thing, clientToken: 'p-1' }, QoS);
      await until('get/accepted', () => got.pending?.length === 1);
      const pending = got.pending![0] as iotjobs.model.GetPendingJobExecutionsResponse;
      assert.deepEqual([ids(pending.queuedJobs), pending.clientToken], [[`${tag}-ev-1`], 'p-1']);

      await jobs.publishStartNextPendingJobExecution({ thingName: thing, clientToken: 's-1', statusDetails: { on: 'yes' } }, QoS);
      await until('start-next/accepted', () => got.started?.length === 1);
      const started = got.started![0] as iotjobs.model.StartNextJobExecutionResponse;
      assert.deepEqual(
        [started.execution?.status, started.execution?.statusDetails, started.clientToken],
        ['IN_PROGRESS', { on: 'yes' }, 's-1'],
      );
      assert.deepEqual(started.execution?.jobDocument, { operation: 'blink', times: 3 });

      await jobs.publishUpdateJobExecution(
        { thingName: thing, jobId: `${tag}-ev-1`, status: iotjobs.model.JobStatus.SUCCEEDED, expectedVersion: 9, clientToken: 'u-1' },
        QoS,
      );
      await until('update/rejected', () => got.updateRejected?.length === 1);
      const rejected = got.updateRejected![0] as iotjobs.model.RejectedErrorResponse & { executionState?: ExecutionState };
      assert.deepEqual([rejected.code, rejected.clientToken, rejected.executionState?.versionNumber], ['VersionMismatch', 'u-1', 2]);

      await jobs.publishUpdateJobExecution({ thingName: thing, jobId: `${tag}-ev-1`, status: iotjobs.model.JobStatus.SUCCEEDED }, QoS);
      // `changed` came twice: when the execution started (now IN_PROGRESS) and when it ended.
      await until('notifications', () => got.next?.length === 1 && got.changed?.length === 2);
      assert.equal((got.next![0] as iotjobs.model.NextJobExecutionChangedEvent).execution, undefined);
      assert.deepEqual(Object.keys((got.changed![0] as iotjobs.model.JobExecutionsChangedEvent).jobs ?? {}), ['IN_PROGRESS']);
      assert.deepEqual((got.changed![1] as iotjobs.model.JobExecutionsChangedEvent).jobs, {});
      assert.deepEqual(await stateOf(thing, `${tag}-ev-1`), ['SUCCEEDED', { on: 'yes' }]);
    } finally {
      if (m5) await stopMqtt5(m5);
      else await m3!.disconnect();
    }
  });
}

test('aws-iot-device-sdk-v2 IotJobsClientv2 over MQTT 5: request-response with clientToken correlation and modeled errors', async () => {
  const thing = 'v2rr-m5';
  const d = await device(thing);
  for (const j of ['rr5-a', 'rr5-b', 'rr5-c']) await admin.job(j, [thing], { operation: j });
  const client = await mqtt5Client(server, d);
  const jobs = iotjobs.IotJobsClientv2.newFromMqtt5(client, rrOptions);
  try {
    const pending = await jobs.getPendingJobExecutions({ thingName: thing });
    assert.deepEqual([pending.inProgressJobs, ids(pending.queuedJobs)], [[], ['rr5-a', 'rr5-b', 'rr5-c']]);
    assert.ok(pending.clientToken, 'the SDK correlates by the clientToken we echo');

    const started = await jobs.startNextPendingJobExecution({ thingName: thing, stepTimeoutInMinutes: 10, statusDetails: { s: '1' } });
    assert.deepEqual([started.execution?.jobId, started.execution?.status, started.execution?.versionNumber], ['rr5-a', 'IN_PROGRESS', 2]);

    // Concurrent requests on different topics and on the same topic each get their own answer.
    const [a, b, c, next] = await Promise.all([
      jobs.describeJobExecution({ thingName: thing, jobId: 'rr5-b' }),
      jobs.describeJobExecution({ thingName: thing, jobId: 'rr5-c', executionNumber: 1 }),
      jobs.updateJobExecution({
        thingName: thing,
        jobId: 'rr5-a',
        status: iotjobs.model.JobStatus.IN_PROGRESS,
        statusDetails: { s: '2' },
        includeJobExecutionState: true,
      }),
      jobs.describeJobExecution({ thingName: thing, jobId: '$next' }),
    ]);
    assert.deepEqual([a.execution?.jobId, a.execution?.jobDocument], ['rr5-b', { operation: 'rr5-b' }]);
    assert.deepEqual([b.execution?.jobId, b.execution?.executionNumber], ['rr5-c', 1]);
    assert.deepEqual(c.executionState, { status: 'IN_PROGRESS', statusDetails: { s: '2' }, versionNumber: 3 });
    assert.equal(next.execution?.jobId, 'rr5-a');

    const stale = await modeledError<{ code?: string; executionState?: ExecutionState }>(
      jobs.updateJobExecution({ thingName: thing, jobId: 'rr5-a', status: iotjobs.model.JobStatus.SUCCEEDED, expectedVersion: 2 }),
    );
    assert.deepEqual(
      [stale.code, stale.executionState?.versionNumber, stale.executionState?.statusDetails],
      ['VersionMismatch', 3, { s: '2' }],
    );
    const done = await jobs.updateJobExecution({
      thingName: thing,
      jobId: 'rr5-a',
      status: iotjobs.model.JobStatus.SUCCEEDED,
      expectedVersion: 3,
      includeJobDocument: true,
    });
    assert.deepEqual(done.jobDocument, { operation: 'rr5-a' });
    const terminal = await modeledError<{ code?: string; executionState?: ExecutionState }>(
      jobs.updateJobExecution({ thingName: thing, jobId: 'rr5-a', status: iotjobs.model.JobStatus.FAILED }),
    );
    assert.deepEqual([terminal.code, terminal.executionState?.status], ['InvalidStateTransition', 'SUCCEEDED']);
    const missing = await modeledError<{ code?: string }>(jobs.describeJobExecution({ thingName: thing, jobId: 'rr5-none' }));
    assert.equal(missing.code, 'ResourceNotFound');
    const invalid = await modeledError<{ code?: string; message?: string }>(
      jobs.updateJobExecution({
        thingName: thing,
        jobId: 'rr5-b',
        status: iotjobs.model.JobStatus.IN_PROGRESS,
        stepTimeoutInMinutes: 20_000,
      }),
    );
    assert.equal(invalid.code, 'InvalidRequest');
    assert.match(invalid.message!, /stepTimeoutInMinutes/);
  } finally {
    jobs.close();
    await stopMqtt5(client);
  }
});

test('aws-iot-device-sdk-v2 IotJobsClientv2 over MQTT 3.1.1: a whole job from start-next to SUCCEEDED', async () => {
  const thing = 'v2rr-m3';
  const d = await device(thing);
  await admin.job('rr3-a', [thing], { operation: 'configure', level: 2 });
  const connection = await mqtt311Connection(server, d);
  const jobs = iotjobs.IotJobsClientv2.newFromMqtt311(connection, rrOptions);
  try {
    const started = await jobs.startNextPendingJobExecution({ thingName: thing });
    assert.deepEqual([started.execution?.jobId, started.execution?.jobDocument], ['rr3-a', { operation: 'configure', level: 2 }]);
    await jobs.updateJobExecution({
      thingName: thing,
      jobId: 'rr3-a',
      status: iotjobs.model.JobStatus.SUCCEEDED,
      statusDetails: { level: '2' },
    });
    assert.deepEqual(await stateOf(thing, 'rr3-a'), ['SUCCEEDED', { level: '2' }]);
    const idle = await jobs.startNextPendingJobExecution({ thingName: thing });
    assert.equal(idle.execution, undefined, 'nothing pending: no execution');
    const pending = await jobs.getPendingJobExecutions({ thingName: thing });
    assert.deepEqual([pending.inProgressJobs, pending.queuedJobs], [[], []]);
  } finally {
    jobs.close();
    await connection.disconnect();
  }
});
