/**
 * The jobs client against the real jobs service: notifications, start-next with a step timeout,
 * describe, update with status details and expectedVersion, and AWS's rejections as typed errors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeJobExecutionCommand } from '@aws-sdk/client-iot';
import {
  connectDevice,
  JobsClient,
  JobsRejectedError,
  type DeviceClient,
  type NextJobExecutionChangedEvent,
  type JobExecutionsChangedEvent,
} from '@thicket/sdk';
import { JobsAdmin } from '../../server/test/jobs-helpers.js';
import { mtlsOptions, provision, startTestServer, until, type TestServer } from './helpers.js';

let server: TestServer;
let admin: JobsAdmin;
const clients: DeviceClient[] = [];

before(async () => {
  server = await startTestServer({ dev: true });
  admin = new JobsAdmin(server);
});
after(async () => {
  for (const c of clients) await c.close();
  admin.destroy();
  await server.close();
});

async function jobsDevice(thingName: string): Promise<JobsClient> {
  const d = await provision(server, thingName);
  await admin.thing(thingName, true);
  const c = await connectDevice(mtlsOptions(server, d));
  clients.push(c);
  return new JobsClient(c, thingName);
}

test('notify-next and notify announce jobs; start-next starts the next one with its step timeout; update reports details and ends it', async () => {
  const jobs = await jobsDevice('jb-1');
  const next: NextJobExecutionChangedEvent[] = [];
  const changed: JobExecutionsChangedEvent[] = [];
  await jobs.onNextJobChanged((e) => next.push(e));
  await jobs.onJobsChanged((e) => changed.push(e));

  await admin.job('jb-first', ['jb-1'], { operation: 'install', version: '1.0' });
  await until(() => next.length === 1, 'notify-next');
  assert.equal(next[0]!.execution?.jobId, 'jb-first');
  assert.deepEqual(next[0]!.execution?.jobDocument, { operation: 'install', version: '1.0' });
  await until(() => changed.length >= 1, 'notify');
  assert.deepEqual(
    changed.at(-1)!.jobs.QUEUED?.map((s) => s.jobId),
    ['jb-first'],
  );
  await admin.job('jb-second', ['jb-1']);

  const pending = await jobs.getPending();
  assert.deepEqual(
    pending.queuedJobs.map((s) => s.jobId),
    ['jb-first', 'jb-second'],
  );

  const started = await jobs.startNext({ statusDetails: { step: 'download' }, stepTimeoutInMinutes: 5 });
  assert.equal(started?.jobId, 'jb-first');
  assert.equal(started?.status, 'IN_PROGRESS');
  assert.deepEqual(started?.statusDetails, { step: 'download' });
  assert.ok(started!.approximateSecondsBeforeTimedOut! > 290 && started!.approximateSecondsBeforeTimedOut! <= 300, 'the step timer runs');

  const described = await jobs.describe('jb-first');
  assert.equal(described?.versionNumber, started!.versionNumber);
  assert.equal((await jobs.describe())?.jobId, 'jb-first', '$next is the IN_PROGRESS one');

  const progressed = await jobs.update('jb-first', {
    status: 'IN_PROGRESS',
    statusDetails: { progress: '50%' },
    expectedVersion: started!.versionNumber,
    includeJobExecutionState: true,
  });
  assert.deepEqual(progressed.executionState?.statusDetails, { progress: '50%' });
  const version = progressed.executionState!.versionNumber;

  // A stale expectedVersion is refused with the execution's current state.
  await assert.rejects(jobs.update('jb-first', { status: 'SUCCEEDED', expectedVersion: version - 1 }), (e: unknown) => {
    assert.ok(e instanceof JobsRejectedError);
    assert.equal(e.code, 'VersionMismatch');
    assert.equal(typeof e.clientToken, 'string');
    assert.deepEqual(e.executionState, { status: 'IN_PROGRESS', statusDetails: { progress: '50%' }, versionNumber: version });
    return true;
  });

  await jobs.update('jb-first', { status: 'SUCCEEDED', statusDetails: { result: 'ok' }, expectedVersion: version });
  const { execution } = await admin.iot.send(new DescribeJobExecutionCommand({ thingName: 'jb-1', jobId: 'jb-first' }));
  assert.equal(execution?.status, 'SUCCEEDED');
  assert.deepEqual(execution?.statusDetails?.detailsMap, { result: 'ok' });

  // The next one moves up.
  await until(() => next.some((e) => e.execution?.jobId === 'jb-second'), 'notify-next for the second job');
  assert.equal((await jobs.startNext())?.jobId, 'jb-second');
  await jobs.update('jb-second', { status: 'REJECTED' });
  assert.equal(await jobs.startNext(), undefined, 'nothing left');

  await assert.rejects(
    jobs.update('jb-second', { status: 'IN_PROGRESS' }),
    (e: unknown) => e instanceof JobsRejectedError && e.code === 'InvalidStateTransition',
  );
  await assert.rejects(jobs.describe('no-such-job'), (e: unknown) => e instanceof JobsRejectedError && e.code === 'ResourceNotFound');
});

test('concurrent requests each get their own answer, told apart by clientToken', async () => {
  const a = await jobsDevice('jb-a');
  await admin.job('jb-a-1', ['jb-a']);
  await admin.job('jb-a-2', ['jb-a']);
  // Concurrent requests are told apart by clientToken.
  const [x, y, pending] = await Promise.all([a.describe('jb-a-1'), a.describe('jb-a-2'), a.getPending()]);
  assert.deepEqual([x?.jobId, y?.jobId, pending.queuedJobs.length], ['jb-a-1', 'jb-a-2', 2]);
});
