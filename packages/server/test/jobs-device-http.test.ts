/**
 * The iot-jobs-data API over HTTP (reference controlplane §5.2): the real
 * @aws-sdk/client-iot-jobs-data-plane (SigV4 `iot-jobs-data`), the two paths it shares with the
 * control plane, devices calling with their certificate over HTTPS, and the MQTT notifications.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { DescribeJobExecutionCommand as DescribeForAdmin, ListJobExecutionsForThingCommand } from '@aws-sdk/client-iot';
import {
  DescribeJobExecutionCommand,
  GetPendingJobExecutionsCommand,
  IoTJobsDataPlaneClient,
  StartNextPendingJobExecutionCommand,
  UpdateJobExecutionCommand,
  type JobExecutionStatus,
} from '@aws-sdk/client-iot-jobs-data-plane';
import { awsError, certificateRequest, provision, startTestServer, type TestServer } from './helpers.js';
import { Inbox } from './inbox.js';
import { ids, JobsAdmin, nowSeconds, type Execution, type JobsDoc } from './jobs-helpers.js';

let server: TestServer;
let admin: JobsAdmin;
let jobs: IoTJobsDataPlaneClient;

before(async () => {
  server = await startTestServer({ dev: true });
  admin = new JobsAdmin(server);
  jobs = new IoTJobsDataPlaneClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: server.adminKey,
  });
});
after(async () => {
  jobs.destroy();
  admin.destroy();
  await server.close();
});

test('GetPendingJobExecutions, StartNextPendingJobExecution, DescribeJobExecution and UpdateJobExecution with the AWS SDK', async () => {
  const thing = 'http-dev';
  for (const j of ['hd-1', 'hd-2']) await admin.job(j, [thing], { operation: 'update', version: j });

  const pending = await jobs.send(new GetPendingJobExecutionsCommand({ thingName: thing }));
  assert.deepEqual(pending.inProgressJobs, []);
  assert.deepEqual(ids(pending.queuedJobs), ['hd-1', 'hd-2']);
  const q = pending.queuedJobs![0]!;
  assert.deepEqual([q.versionNumber, q.executionNumber, q.startedAt], [1, 1, undefined]);
  assert.ok(Math.abs(q.queuedAt! - nowSeconds()) <= 5, 'epoch seconds');

  // The job document is JSON text over HTTP (an object over MQTT).
  const next = await jobs.send(new DescribeJobExecutionCommand({ thingName: thing, jobId: '$next' }));
  assert.equal(next.execution?.jobId, 'hd-1');
  assert.equal(typeof next.execution?.jobDocument, 'string');
  assert.deepEqual(JSON.parse(next.execution!.jobDocument!), { operation: 'update', version: 'hd-1' });
  const bare = await jobs.send(new DescribeJobExecutionCommand({ thingName: thing, jobId: 'hd-2', includeJobDocument: false }));
  assert.deepEqual([bare.execution?.jobId, bare.execution?.status, bare.execution?.jobDocument], ['hd-2', 'QUEUED', undefined]);
  assert.equal(bare.execution?.thingName, thing);

  const started = await jobs.send(
    new StartNextPendingJobExecutionCommand({ thingName: thing, statusDetails: { phase: 'download' }, stepTimeoutInMinutes: 3 }),
  );
  const e = started.execution!;
  assert.deepEqual([e.jobId, e.status, e.versionNumber, e.executionNumber], ['hd-1', 'IN_PROGRESS', 2, 1]);
  assert.deepEqual(e.statusDetails, { phase: 'download' });
  assert.deepEqual(JSON.parse(e.jobDocument!), { operation: 'update', version: 'hd-1' });
  assert.ok(e.approximateSecondsBeforeTimedOut! > 170 && e.approximateSecondsBeforeTimedOut! <= 180);
  const same = await jobs.send(new StartNextPendingJobExecutionCommand({ thingName: thing, statusDetails: { phase: 'other' } }));
  assert.deepEqual(
    [same.execution?.jobId, same.execution?.versionNumber, same.execution?.statusDetails],
    ['hd-1', 2, { phase: 'download' }],
  );

  const upd = await jobs.send(
    new UpdateJobExecutionCommand({
      thingName: thing,
      jobId: 'hd-1',
      status: 'IN_PROGRESS',
      statusDetails: { phase: 'install' },
      expectedVersion: 2,
      includeJobExecutionState: true,
      includeJobDocument: true,
    }),
  );
  assert.deepEqual(upd.executionState, { status: 'IN_PROGRESS', statusDetails: { phase: 'install' }, versionNumber: 3 });
  assert.deepEqual(JSON.parse(upd.jobDocument!), { operation: 'update', version: 'hd-1' });
  const plain = await jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'hd-1', status: 'SUCCEEDED' }));
  assert.deepEqual([plain.executionState, plain.jobDocument], [undefined, undefined], 'both default to false');

  const described = await jobs.send(new DescribeJobExecutionCommand({ thingName: thing, jobId: 'hd-1', executionNumber: 1 }));
  assert.deepEqual([described.execution?.status, described.execution?.versionNumber], ['SUCCEEDED', 4]);
  assert.deepEqual(described.execution?.statusDetails, { phase: 'install' });
  assert.ok(described.execution!.lastUpdatedAt! >= described.execution!.startedAt!);
  const after = await jobs.send(new GetPendingJobExecutionsCommand({ thingName: thing }));
  assert.deepEqual([ids(after.inProgressJobs), ids(after.queuedJobs)], [[], ['hd-2']]);

  // Nothing pending once hd-2 is rejected: StartNext answers without an execution.
  await jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'hd-2', status: 'REJECTED' }));
  assert.equal((await jobs.send(new StartNextPendingJobExecutionCommand({ thingName: thing }))).execution, undefined);
  assert.equal((await jobs.send(new DescribeJobExecutionCommand({ thingName: thing, jobId: '$next' }))).execution, undefined);
});

test('errors: InvalidStateTransitionException 409, ResourceNotFoundException 404, InvalidRequestException 400', async () => {
  const thing = 'http-err';
  await admin.job('he-1', [thing]);
  await jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'he-1', status: 'IN_PROGRESS' }));

  const stale = await awsError(
    jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'he-1', status: 'SUCCEEDED', expectedVersion: 1 })),
  );
  assert.deepEqual([stale.name, stale.status], ['InvalidStateTransitionException', 409]);
  assert.match(stale.message, /version 2/);
  await jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'he-1', status: 'FAILED' }));
  const terminal = await awsError(jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'he-1', status: 'IN_PROGRESS' })));
  assert.deepEqual([terminal.name, terminal.status], ['InvalidStateTransitionException', 409]);
  assert.match(terminal.message, /FAILED/);

  const notFound = [
    jobs.send(new DescribeJobExecutionCommand({ thingName: thing, jobId: 'no-such-job' })),
    jobs.send(new DescribeJobExecutionCommand({ thingName: thing, jobId: 'he-1', executionNumber: 9 })),
    jobs.send(new UpdateJobExecutionCommand({ thingName: 'other-thing', jobId: 'he-1', status: 'SUCCEEDED' })),
  ];
  for (const p of notFound) assert.deepEqual((await awsError(p)).status, 404);
  assert.equal((await awsError(notFound[0]!)).name, 'ResourceNotFoundException');

  await admin.job('he-2', [thing]);
  const invalid = [
    jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'he-2', status: 'DONE' as JobExecutionStatus })),
    jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'he-2', status: 'IN_PROGRESS', stepTimeoutInMinutes: 0 })),
    jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'he-2', status: 'IN_PROGRESS', statusDetails: { k: '' } })),
    jobs.send(new StartNextPendingJobExecutionCommand({ thingName: thing, stepTimeoutInMinutes: 20000 })),
  ];
  for (const p of invalid) {
    const err = await awsError(p);
    assert.deepEqual([err.name, err.status], ['InvalidRequestException', 400], err.message);
  }
  const untouched = await jobs.send(new DescribeJobExecutionCommand({ thingName: thing, jobId: 'he-2' }));
  assert.deepEqual([untouched.execution?.status, untouched.execution?.versionNumber], ['QUEUED', 1]);
});

test('the paths shared with the control plane answer by signing name: iot gets its shapes, iot-jobs-data the device ones', async () => {
  const thing = 'http-both';
  await admin.job('hb-1', [thing]);
  await admin.job('hb-2', [thing]);
  await jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'hb-2', status: 'IN_PROGRESS', statusDetails: { a: 'b' } }));

  // GET /things/{thing}/jobs
  const list = await admin.iot.send(new ListJobExecutionsForThingCommand({ thingName: thing }));
  assert.deepEqual(
    list.executionSummaries?.map((s) => [s.jobId, s.jobExecutionSummary?.status]),
    [
      ['hb-2', 'IN_PROGRESS'],
      ['hb-1', 'QUEUED'],
    ],
  );
  assert.ok(list.executionSummaries![0]!.jobExecutionSummary!.queuedAt instanceof Date);
  assert.equal('inProgressJobs' in list, false);
  const pending = await jobs.send(new GetPendingJobExecutionsCommand({ thingName: thing }));
  assert.deepEqual([ids(pending.inProgressJobs), ids(pending.queuedJobs)], [['hb-2'], ['hb-1']]);
  assert.equal('executionSummaries' in pending, false);

  // GET /things/{thing}/jobs/{jobId}
  const forAdmin = await admin.iot.send(new DescribeForAdmin({ thingName: thing, jobId: 'hb-2' }));
  assert.deepEqual(forAdmin.execution?.statusDetails, { detailsMap: { a: 'b' } });
  assert.equal(forAdmin.execution?.thingArn, server.platform.thingArn(thing));
  assert.equal('jobDocument' in forAdmin.execution!, false);
  const forDevice = await jobs.send(new DescribeJobExecutionCommand({ thingName: thing, jobId: 'hb-2' }));
  assert.deepEqual(forDevice.execution?.statusDetails, { a: 'b' });
  assert.equal(forDevice.execution?.thingName, thing);
  assert.deepEqual(JSON.parse(forDevice.execution!.jobDocument!), { operation: 'hb-2' });
});

/** A request body for the methods that take one. */
const body = (method: string): object | undefined => (method === 'GET' ? undefined : { status: 'SUCCEEDED' });

test('a device calls the jobs data API over HTTPS with its certificate, held to the jobs actions on its thing', async () => {
  const ARN = 'arn:aws:iot:us-east-1:123456789012';
  const actions = ['iot:GetPendingJobExecutions', 'iot:StartNextPendingJobExecution', 'iot:DescribeJobExecution', 'iot:UpdateJobExecution'];
  const full = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: actions, Resource: `${ARN}:thing/cert-dev` }],
  });
  const readOnly = JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: 'iot:GetPendingJobExecutions', Resource: `${ARN}:thing/cert-reader` }],
  });
  const d = await provision(server, 'cert-dev', full);
  const reader = await provision(server, 'cert-reader', readOnly);
  await admin.thing('cert-dev', true);
  await admin.thing('cert-reader', true);
  await admin.job('cd-1', ['cert-dev', 'cert-reader', 'cert-other']);

  // A certificate reaches the data plane even on the paths shared with the control plane.
  const pending = await certificateRequest<JobsDoc>(server, d, 'GET', '/things/cert-dev/jobs');
  assert.equal(pending.status, 200);
  assert.deepEqual([pending.body.inProgressJobs, ids(pending.body.queuedJobs)], [[], ['cd-1']]);
  const started = await certificateRequest<JobsDoc>(server, d, 'PUT', '/things/cert-dev/jobs/$next', { statusDetails: { s: '1' } });
  assert.deepEqual(
    [started.status, started.body.execution?.status, started.body.execution?.jobDocument],
    [200, 'IN_PROGRESS', '{"operation":"cd-1"}'],
  );
  const described = await certificateRequest<{ execution: Execution }>(
    server,
    d,
    'GET',
    '/things/cert-dev/jobs/cd-1?includeJobDocument=false',
  );
  assert.deepEqual([described.status, described.body.execution.versionNumber, 'jobDocument' in described.body.execution], [200, 2, false]);
  const updated = await certificateRequest<JobsDoc>(server, d, 'POST', '/things/cert-dev/jobs/cd-1', {
    status: 'SUCCEEDED',
    includeJobExecutionState: true,
  });
  assert.deepEqual([updated.status, updated.body.executionState?.status], [200, 'SUCCEEDED']);
  const again = await certificateRequest<JobsDoc>(server, d, 'POST', '/things/cert-dev/jobs/cd-1', { status: 'FAILED' });
  assert.deepEqual([again.status, (again.body as { __type?: string }).__type], [409, 'InvalidStateTransitionException']);

  // Another thing is another resource.
  for (const [method, path] of [
    ['GET', '/things/cert-other/jobs'],
    ['PUT', '/things/cert-other/jobs/$next'],
    ['GET', '/things/cert-other/jobs/cd-1'],
    ['POST', '/things/cert-other/jobs/cd-1'],
  ] as const) {
    const r = await certificateRequest<{ __type?: string; message?: string }>(server, d, method, path, body(method));
    assert.deepEqual([r.status, r.body.__type], [403, 'ForbiddenException'], `${method} ${path}`);
  }
  // Each operation is its own action.
  assert.deepEqual(ids((await certificateRequest<JobsDoc>(server, reader, 'GET', '/things/cert-reader/jobs')).body.queuedJobs), ['cd-1']);
  for (const [method, path, action] of [
    ['PUT', '/things/cert-reader/jobs/$next', 'iot:StartNextPendingJobExecution'],
    ['GET', '/things/cert-reader/jobs/cd-1', 'iot:DescribeJobExecution'],
    ['POST', '/things/cert-reader/jobs/cd-1', 'iot:UpdateJobExecution'],
  ] as const) {
    const r = await certificateRequest<{ __type?: string; message?: string }>(server, reader, method, path, body(method));
    assert.deepEqual([r.status, r.body.__type], [403, 'ForbiddenException']);
    assert.ok(r.body.message!.includes(action), r.body.message);
  }
  const other = await jobs.send(new DescribeJobExecutionCommand({ thingName: 'cert-reader', jobId: 'cd-1' }));
  assert.deepEqual([other.execution?.status, other.execution?.versionNumber], ['QUEUED', 1], 'nothing refused changed anything');
});

test('an HTTP update publishes notify and notify-next to MQTT subscribers', async () => {
  const thing = 'http-notify';
  const p = `$aws/things/${thing}/jobs`;
  await admin.job('hn-1', [thing]);
  await admin.job('hn-2', [thing]);
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId: 'http-watcher', reconnectPeriod: 0 });
  try {
    const inbox = new Inbox<JobsDoc>(c);
    await c.subscribeAsync([`${p}/notify`, `${p}/notify-next`], { qos: 1 });
    await jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'hn-1', status: 'SUCCEEDED' }));
    const notify = await inbox.next(`${p}/notify`);
    assert.deepEqual(ids(notify.jobs?.QUEUED), ['hn-2']);
    const next = await inbox.next(`${p}/notify-next`);
    assert.deepEqual([next.execution?.jobId, next.execution?.status], ['hn-2', 'QUEUED']);
    assert.deepEqual(next.execution?.jobDocument, { operation: 'hn-2' }, 'an object over MQTT');

    // Starting lists hn-2 as IN_PROGRESS (it stays next, so no notify-next); ending empties the list.
    await jobs.send(new StartNextPendingJobExecutionCommand({ thingName: thing }));
    assert.deepEqual(ids((await inbox.next(`${p}/notify`)).jobs?.IN_PROGRESS), ['hn-2']);
    await jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'hn-2', status: 'FAILED' }));
    assert.deepEqual((await inbox.next(`${p}/notify`)).jobs, {});
    assert.equal('execution' in (await inbox.next(`${p}/notify-next`)), false);
    // Refused requests publish nothing.
    await awsError(jobs.send(new UpdateJobExecutionCommand({ thingName: thing, jobId: 'hn-2', status: 'SUCCEEDED' })));
    assert.deepEqual([inbox.count(`${p}/notify`), inbox.count(`${p}/notify-next`)], [3, 2]);
  } finally {
    await c.endAsync();
  }
});
