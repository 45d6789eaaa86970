/**
 * Scheduled jobs with a controlled clock (AWS SchedulingConfig, reference controlplane §5.1): a job
 * is SCHEDULED until its startTime and gets its executions then; at endTime each endBehavior
 * (STOP_ROLLOUT, CANCEL, FORCE_CANCEL); maintenance windows gate the rollout; refusals carry
 * AWS's limits; schedules survive a restart. The service runs on SQLite; `tick()` is its timer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { awsError, tempDir } from './helpers.js';
import { MINUTE, NS, T0, groupArn, harness, thingArn, type Harness } from './jobs-control-helpers.js';

const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const doc = JSON.stringify({ operation: 'update' });
/** T0 is 2026-01-15T12:00Z, a Thursday. */
const hhmm = (ms: number): string => new Date(ms).toISOString().slice(0, 16);

function create(h: Harness, jobId: string, body: Record<string, unknown>) {
  return h.jobs.createJob(NS, jobId, { document: doc, ...body });
}
const created = async (h: Harness, jobId: string): Promise<number> => (await h.store.executionsOfJob(NS, jobId)).length;
const job = async (h: Harness, jobId: string) => (await h.jobs.describeJob(NS, jobId)).job;
const refusal = (fn: () => unknown) => awsError(Promise.resolve().then(fn));

test('a job with a startTime is SCHEDULED, without executions, until then; it starts on the members its targets have then', async () => {
  const h = await harness();
  await h.fleet(['s1', 's2'], 'later');
  await h.fleet(['s-solo', 's-gone']);
  const startTime = hhmm(T0 + HOUR);
  await create(h, 'nightly', {
    targets: [groupArn('later'), thingArn('s-solo'), thingArn('s-gone')],
    schedulingConfig: { startTime, endBehavior: 'CANCEL' },
  });
  const scheduled = await job(h, 'nightly');
  assert.equal(scheduled.status, 'SCHEDULED');
  assert.deepEqual(scheduled.schedulingConfig, { startTime: '2026-01-15T13:00', endBehavior: 'CANCEL' });
  assert.equal(scheduled.isConcurrent, false);
  assert.equal(scheduled.scheduledJobRollouts, undefined, 'no maintenance windows, nothing to list');
  assert.equal(scheduled.jobProcessDetails.numberOfQueuedThings, 0);
  assert.equal(await created(h, 'nightly'), 0);
  assert.deepEqual(
    (await h.jobs.listJobs(NS, { status: 'SCHEDULED', maxResults: 10 })).jobs.map((j) => [j.jobId, j.status]),
    [['nightly', 'SCHEDULED']],
  );
  assert.equal((await h.devices.getPending(NS, 's1')).queuedJobs.length, 0, 'devices see nothing yet');
  assert.equal(h.published.filter((p) => p.topic.includes('/jobs/notify')).length, 0);

  // Between creation and startTime the fleet changes: the start takes it as it is then.
  await h.fleet(['s3'], 'later');
  await h.things.delete(NS, 's-gone');
  await h.at(T0 + HOUR - 1000);
  assert.equal((await job(h, 'nightly')).status, 'SCHEDULED');
  await h.at(T0 + HOUR);
  const started = await job(h, 'nightly');
  assert.equal(started.status, 'IN_PROGRESS');
  assert.equal(started.lastUpdatedAt, (T0 + HOUR) / 1000);
  assert.deepEqual(await h.statuses('nightly'), { 's-solo': 'QUEUED', s1: 'QUEUED', s2: 'QUEUED', s3: 'QUEUED' });
  assert.equal((await h.exec('nightly', 's1'))!.queuedAt, T0 + HOUR);
  const next = h.published.find((p) => p.topic === '$aws/things/s3/jobs/notify-next');
  assert.equal((next?.payload.execution as { jobId: string }).jobId, 'nightly', 'the device is told at the start');
  await h.at(T0 + 2 * HOUR);
  assert.equal(await created(h, 'nightly'), 4, 'started once');
});

test('a scheduled snapshot job whose targets are all gone by startTime completes at once', async () => {
  const h = await harness();
  await h.fleet(['lonely']);
  await create(h, 'empty', { targets: [thingArn('lonely')], schedulingConfig: { startTime: hhmm(T0 + HOUR) } });
  await h.things.delete(NS, 'lonely');
  await h.at(T0 + HOUR);
  assert.equal((await job(h, 'empty')).status, 'COMPLETED');
  assert.equal((await job(h, 'empty')).completedAt, (T0 + HOUR) / 1000);
});

/** a IN_PROGRESS, b QUEUED, c and d still waiting for the 1-a-minute rollout when endTime comes. */
async function atEnd(endBehavior: string | undefined): Promise<Harness> {
  const h = await harness();
  await h.fleet(['a', 'b', 'c', 'd'], 'ending');
  await create(h, 'ends', {
    targets: [groupArn('ending')],
    jobExecutionsRolloutConfig: { maximumPerMinute: 1 },
    schedulingConfig: { endTime: hhmm(T0 + 30 * MINUTE), ...(endBehavior ? { endBehavior } : {}) },
  });
  assert.equal((await job(h, 'ends')).status, 'IN_PROGRESS', 'no startTime: the job starts now');
  await h.report('ends', 'a', 'IN_PROGRESS');
  await h.at(T0 + MINUTE);
  assert.deepEqual(await h.statuses('ends'), { a: 'IN_PROGRESS', b: 'QUEUED' });
  await h.at(T0 + 30 * MINUTE - 1000);
  assert.equal(await created(h, 'ends'), 3, 'the rollout went on until just before endTime');
  assert.equal(await h.store.queuedTargets(NS, 'ends'), 1);
  await h.report(
    'ends',
    (await h.store.executionsOfJob(NS, 'ends')).find((e) => !['a', 'b'].includes(e.thingName))!.thingName,
    'SUCCEEDED',
  );
  await h.at(T0 + 30 * MINUTE);
  return h;
}

test('endBehavior STOP_ROLLOUT: no more things get an execution; started ones go on and the job then completes', async () => {
  const h = await atEnd('STOP_ROLLOUT');
  const stopped = await job(h, 'ends');
  assert.equal(stopped.status, 'IN_PROGRESS');
  assert.equal(stopped.isConcurrent, false, 'nothing is left to roll out');
  assert.equal(stopped.jobProcessDetails.numberOfQueuedThings, 1);
  assert.equal(stopped.jobProcessDetails.numberOfInProgressThings, 1);
  await h.at(T0 + 2 * HOUR);
  assert.equal(await created(h, 'ends'), 3, 'the last thing never gets an execution');
  await h.report('ends', 'a', 'SUCCEEDED');
  assert.equal((await job(h, 'ends')).status, 'IN_PROGRESS', 'b is still queued');
  await h.report('ends', 'b', 'FAILED');
  const done = await job(h, 'ends');
  assert.equal(done.status, 'COMPLETED');
  assert.equal(done.completedAt, (T0 + 2 * HOUR) / 1000);
});

test('endTime without endBehavior stops the rollout (Thicket default, the mildest of the three)', async () => {
  const h = await atEnd(undefined);
  assert.equal((await job(h, 'ends')).status, 'IN_PROGRESS');
  assert.equal((await h.exec('ends', 'b'))!.status, 'QUEUED');
  await h.at(T0 + HOUR);
  assert.equal(await created(h, 'ends'), 3);
});

test('endBehavior CANCEL: the job is canceled with its queued executions; in-progress ones go on', async () => {
  const h = await atEnd('CANCEL');
  const canceled = await job(h, 'ends');
  assert.equal(canceled.status, 'CANCELED');
  assert.equal(canceled.forceCanceled, false);
  assert.equal(canceled.completedAt, (T0 + 30 * MINUTE) / 1000);
  assert.equal((await h.exec('ends', 'a'))!.status, 'IN_PROGRESS');
  assert.equal((await h.exec('ends', 'b'))!.status, 'CANCELED');
  await h.at(T0 + HOUR);
  assert.equal(await created(h, 'ends'), 3);
  await h.report('ends', 'a', 'SUCCEEDED');
  assert.equal((await h.exec('ends', 'a'))!.status, 'SUCCEEDED', 'the started execution may still finish');
});

test('endBehavior FORCE_CANCEL: in-progress executions are canceled too', async () => {
  const h = await atEnd('FORCE_CANCEL');
  const canceled = await job(h, 'ends');
  assert.equal(canceled.status, 'CANCELED');
  assert.equal(canceled.forceCanceled, true);
  assert.equal((await h.exec('ends', 'a'))!.status, 'CANCELED');
  assert.equal((await h.exec('ends', 'a'))!.forceCanceled, true);
  assert.equal((await h.exec('ends', 'b'))!.status, 'CANCELED');
  const events = h.published.filter((p) => p.topic.startsWith('$aws/things/a/jobs/notify-next'));
  assert.deepEqual(events.at(-1)!.payload.execution, undefined, 'the device learns nothing is next');
});

test('a continuous job whose rollout stopped ignores things joining its groups and completes', async () => {
  const h = await harness();
  await h.fleet(['c1'], 'cont');
  await create(h, 'follow', {
    targets: [groupArn('cont')],
    targetSelection: 'CONTINUOUS',
    schedulingConfig: { startTime: hhmm(T0 + HOUR), endTime: hhmm(T0 + 2 * HOUR), endBehavior: 'STOP_ROLLOUT' },
  });
  await h.fleet(['c2'], 'cont');
  assert.equal(await created(h, 'follow'), 0, 'a scheduled continuous job does not follow membership yet');
  await h.at(T0 + HOUR);
  assert.deepEqual(await h.statuses('follow'), { c1: 'QUEUED', c2: 'QUEUED' });
  await h.fleet(['c3'], 'cont');
  assert.equal((await h.exec('follow', 'c3'))!.status, 'QUEUED', 'it follows membership while it runs');
  await h.at(T0 + 2 * HOUR);
  await h.fleet(['c4'], 'cont');
  assert.equal(await h.exec('follow', 'c4'), undefined, 'not after its rollout stopped');
  for (const t of ['c1', 'c2', 'c3']) await h.report('follow', t, 'SUCCEEDED');
  assert.equal((await job(h, 'follow')).status, 'COMPLETED');
});

test('maintenance windows: executions are created only while a window is open, and the rest wait for the next one', async () => {
  const h = await harness();
  const names = Array.from({ length: 40 }, (_, i) => `w${i}`);
  await h.fleet(names, 'windowed');
  await create(h, 'in-windows', {
    targets: [groupArn('windowed')],
    jobExecutionsRolloutConfig: { maximumPerMinute: 1 },
    schedulingConfig: { maintenanceWindows: [{ startTime: 'cron(0 14 * * ? *)', durationInMinutes: 30 }] },
  });
  const waiting = await job(h, 'in-windows');
  assert.equal(waiting.status, 'IN_PROGRESS');
  assert.equal(waiting.isConcurrent, true, 'the rollout is pending');
  assert.deepEqual(
    waiting.scheduledJobRollouts,
    ['15', '16', '17', '18', '19', '20', '21'].map((d) => ({ startTime: `2026-01-${d}T14:00` })),
  );
  assert.equal(await created(h, 'in-windows'), 0, '12:00 is outside the window');
  await h.at(Date.UTC(2026, 0, 15, 13, 59));
  assert.equal(await created(h, 'in-windows'), 0);
  await h.at(Date.UTC(2026, 0, 15, 14, 0));
  assert.equal(await created(h, 'in-windows'), 1, 'the window opened');
  for (let m = 1; m <= 40; m++) await h.at(Date.UTC(2026, 0, 15, 14, m));
  assert.equal(await created(h, 'in-windows'), 30, 'one a minute from 14:00 to 14:29, none after the window closed at 14:30');
  await h.at(Date.UTC(2026, 0, 16, 13, 59));
  assert.equal(await created(h, 'in-windows'), 30);
  await h.at(Date.UTC(2026, 0, 16, 14, 0));
  assert.equal(await created(h, 'in-windows'), 31, "the next day's window goes on with the rest");
  assert.equal(
    (await job(h, 'in-windows')).scheduledJobRollouts![0]!.startTime,
    '2026-01-17T14:00',
    'the window that opened is no longer next',
  );
});

test('maintenance windows with startTime and endTime: rollouts listed from the start and before the end; a continuous join waits', async () => {
  const h = await harness();
  await h.fleet(['m1'], 'maint');
  await create(h, 'weekly', {
    targets: [groupArn('maint')],
    targetSelection: 'CONTINUOUS',
    schedulingConfig: {
      startTime: '2026-01-20T00:00',
      endTime: '2026-02-01T00:00',
      endBehavior: 'CANCEL',
      maintenanceWindows: [
        { startTime: 'cron(0 2 ? * SUN *)', durationInMinutes: 120 },
        { startTime: 'cron(30 23 ? * WED *)', durationInMinutes: 60 },
      ],
    },
  });
  assert.equal((await job(h, 'weekly')).status, 'SCHEDULED');
  assert.deepEqual(
    (await job(h, 'weekly')).scheduledJobRollouts!.map((r) => r.startTime),
    ['2026-01-21T23:30', '2026-01-25T02:00', '2026-01-28T23:30'],
    'windows after startTime (a Tuesday) and before endTime only',
  );
  await h.at(Date.parse('2026-01-20T00:00Z'));
  assert.equal((await job(h, 'weekly')).status, 'IN_PROGRESS');
  assert.equal(await created(h, 'weekly'), 0, 'started, but outside a window');
  await h.at(Date.parse('2026-01-22T00:29Z'));
  assert.deepEqual(await h.statuses('weekly'), { m1: 'QUEUED' }, 'inside the Wednesday window (23:30 for 60 minutes)');
  await h.at(Date.parse('2026-01-22T00:31Z'));
  await h.fleet(['m2'], 'maint');
  assert.equal(await h.exec('weekly', 'm2'), undefined, 'joined outside a window');
  await h.at(Date.parse('2026-01-25T02:00Z'));
  assert.equal((await h.exec('weekly', 'm2'))!.status, 'QUEUED', 'notified when the Sunday window opened');
  await h.at(Date.parse('2026-02-01T00:00Z'));
  assert.equal((await job(h, 'weekly')).status, 'CANCELED');
  assert.equal((await job(h, 'weekly')).scheduledJobRollouts, undefined);
});

test('CancelJob of a SCHEDULED job: it never starts; UpdateJob and AssociateTargetsWithJob work before the start', async () => {
  const h = await harness();
  await h.fleet(['x1', 'x2']);
  await create(h, 'never', { targets: [thingArn('x1')], schedulingConfig: { startTime: hhmm(T0 + HOUR) } });
  await h.jobs.updateJob(NS, 'never', { description: 'changed while scheduled' });
  assert.equal((await job(h, 'never')).description, 'changed while scheduled');
  await h.jobs.cancelJob(NS, 'never', false, { comment: 'not tonight' });
  assert.equal((await job(h, 'never')).status, 'CANCELED');
  assert.equal((await h.store.dueSchedules(T0 + 10 * DAY)).length, 0, 'its schedule is gone');
  await h.at(T0 + 2 * HOUR);
  assert.equal((await job(h, 'never')).status, 'CANCELED');
  assert.equal(await created(h, 'never'), 0);

  await create(h, 'grow', {
    targets: [thingArn('x1')],
    targetSelection: 'CONTINUOUS',
    schedulingConfig: { startTime: hhmm(T0 + 3 * HOUR) },
  });
  await h.jobs.associateTargets(NS, 'grow', { targets: [thingArn('x2')] });
  assert.deepEqual((await job(h, 'grow')).targets, [thingArn('x1'), thingArn('x2')]);
  assert.equal(await created(h, 'grow'), 0);
  await h.at(T0 + 3 * HOUR);
  assert.deepEqual(await h.statuses('grow'), { x1: 'QUEUED', x2: 'QUEUED' });

  await create(h, 'dropped', { targets: [thingArn('x1')], schedulingConfig: { startTime: hhmm(T0 + 5 * HOUR) } });
  await h.jobs.deleteJob(NS, 'dropped', true);
  assert.equal((await h.store.dueSchedules(T0 + 10 * DAY)).length, 0);
});

test('schedulingConfig refusals name the member and AWS limit; nothing is created', async () => {
  const h = await harness();
  await h.fleet(['v']);
  const refused = async (schedulingConfig: unknown, message: RegExp) => {
    const e = await refusal(() => create(h, 'bad', { targets: [thingArn('v')], schedulingConfig }));
    assert.equal(e.name, 'InvalidRequestException', JSON.stringify(schedulingConfig));
    assert.match(e.message, message);
    assert.equal(h.store.job(NS, 'bad'), undefined);
  };
  await refused('tomorrow', /^schedulingConfig must be an object$/);
  await refused(
    { startTime: '2026/01/16 12:00' },
    /^schedulingConfig.startTime must be a date and time written YYYY-MM-DDTHH:MM \(UTC\), not "2026\/01\/16 12:00"$/,
  );
  await refused({ startTime: '2026-02-30T12:00' }, /startTime must be a date and time written YYYY-MM-DDTHH:MM/);
  await refused({ startTime: '2026-01-15T24:00' }, /startTime must be a date and time written/);
  await refused({ startTime: 1768485600 }, /startTime must be a date and time written YYYY-MM-DDTHH:MM \(UTC\), not 1768485600$/);
  await refused(
    { startTime: '2026-06-01T00:00'.padEnd(100_000, 'x') },
    /^schedulingConfig.startTime must be a date and time written YYYY-MM-DDTHH:MM \(UTC\), not 100000 characters$/,
  );
  await refused({ endTime: '' }, /^schedulingConfig.endTime must be a date and time written YYYY-MM-DDTHH:MM \(UTC\), not 0 characters$/);
  await refused(
    { maintenanceWindows: [{ startTime: 42, durationInMinutes: 30 }] },
    /maintenanceWindows\[0\].startTime must be a cron expression of 1 to 256 characters/,
  );
  await refused(
    { startTime: hhmm(T0 + 29 * MINUTE) },
    /^schedulingConfig.startTime must be at least 30 minutes from now \(2026-01-15T12:00 UTC\), not 2026-01-15T12:29$/,
  );
  await refused({ startTime: hhmm(T0 - DAY) }, /startTime must be at least 30 minutes from now/);
  await refused({ startTime: hhmm(T0 + 366 * DAY) }, /^schedulingConfig.startTime may be at most one year from now/);
  await refused({ endTime: hhmm(T0 + 10 * MINUTE) }, /^schedulingConfig.endTime must be at least 30 minutes from now/);
  await refused({ endTime: hhmm(T0 + 731 * DAY) }, /^schedulingConfig.endTime may be at most two years from now/);
  await refused(
    { startTime: hhmm(T0 + HOUR), endTime: hhmm(T0 + HOUR + 29 * MINUTE) },
    /^schedulingConfig.endTime must be at least 30 minutes after startTime 2026-01-15T13:00, not 2026-01-15T13:29$/,
  );
  await refused({ startTime: hhmm(T0 + 300 * DAY), endTime: hhmm(T0 + 300 * DAY + 731 * DAY) }, /endTime may be at most two years/);
  await refused({ endBehavior: 'PAUSE' }, /^schedulingConfig.endBehavior must be one of STOP_ROLLOUT, CANCEL, FORCE_CANCEL, not "PAUSE"$/);
  await refused({ maintenanceWindows: {} }, /^schedulingConfig.maintenanceWindows must be a list/);
  await refused(
    { maintenanceWindows: [{ startTime: '0 2 * * ? *', durationInMinutes: 60 }] },
    /^schedulingConfig.maintenanceWindows\[0\].startTime "0 2 \* \* \? \*" is not valid: it must be a cron expression written as cron\(/,
  );
  await refused(
    { maintenanceWindows: [{ startTime: 'cron(0 2 * * * *)', durationInMinutes: 60 }] },
    /maintenanceWindows\[0\].startTime "cron\(0 2 \* \* \* \*\)" is not valid: exactly one of day-of-month and day-of-week must be \?/,
  );
  await refused(
    { maintenanceWindows: [{ startTime: 'cron(0 0 1 1 ? 2020)', durationInMinutes: 60 }] },
    /never occurs in the next three years/,
  );
  await refused(
    { maintenanceWindows: [{ startTime: 'cron(0 2 * * ? *)' }] },
    /^schedulingConfig.maintenanceWindows\[0\].durationInMinutes must be a whole number from 1 to 1430, not undefined$/,
  );
  await refused(
    { maintenanceWindows: [{ startTime: 'cron(0 2 * * ? *)', durationInMinutes: 1431 }] },
    /durationInMinutes must be a whole number from 1 to 1430, not 1431/,
  );
  await refused({ maintenanceWindows: [{ startTime: 'cron(0 2 * * ? *)', durationInMinutes: 0 }] }, /from 1 to 1430, not 0/);
  await refused(
    { maintenanceWindows: [{ startTime: `cron(${'1,'.repeat(200)}2 2 * * ? *)`, durationInMinutes: 30 }] },
    /startTime must be a cron expression of 1 to 256 characters/,
  );
  await refused(
    { maintenanceWindows: Array.from({ length: 11 }, () => ({ startTime: 'cron(0 2 * * ? *)', durationInMinutes: 30 })) },
    /^schedulingConfig.maintenanceWindows may have at most 10 maintenance windows, not 11$/,
  );
  await refused({ maintenanceWindows: [null] }, /maintenanceWindows\[0\] must be an object/);
  // Exactly at the bounds is accepted; a UTC offset is read.
  await create(h, 'edge', { targets: [thingArn('v')], schedulingConfig: { startTime: hhmm(T0 + 30 * MINUTE), endTime: hhmm(T0 + HOUR) } });
  assert.equal((await job(h, 'edge')).status, 'SCHEDULED');
  await create(h, 'offset', { targets: [thingArn('v')], schedulingConfig: { startTime: '2026-01-15T14:00+01:00' } });
  await h.at(T0 + HOUR - 1000);
  assert.equal((await job(h, 'offset')).status, 'SCHEDULED');
  await h.at(T0 + HOUR);
  assert.equal((await job(h, 'offset')).status, 'IN_PROGRESS', '14:00+01:00 is 13:00 UTC');
  assert.equal((await job(h, 'offset')).schedulingConfig!.startTime, '2026-01-15T14:00+01:00', 'echoed as given');
});

test('a job template carries maintenanceWindows; a job made from it rolls out in them unless it brings its own', async () => {
  const h = await harness();
  await h.fleet(['t1', 't2']);
  await h.jobs.templates.create(NS, 'nightly-tpl', {
    description: 'at night',
    document: doc,
    maintenanceWindows: [{ startTime: 'cron(0 2 * * ? *)', durationInMinutes: 60 }],
  });
  assert.deepEqual((h.jobs.templates.describe(NS, 'nightly-tpl') as Record<string, unknown>).maintenanceWindows, [
    { startTime: 'cron(0 2 * * ? *)', durationInMinutes: 60 },
  ]);
  const tpl = `arn:aws:iot:${NS.region}:${NS.accountId}:jobtemplate/nightly-tpl`;
  await h.jobs.createJob(NS, 'from-tpl', { jobTemplateArn: tpl, targets: [thingArn('t1')] });
  assert.deepEqual((await job(h, 'from-tpl')).schedulingConfig, {
    maintenanceWindows: [{ startTime: 'cron(0 2 * * ? *)', durationInMinutes: 60 }],
  });
  assert.equal(await created(h, 'from-tpl'), 0);
  await h.jobs.createJob(NS, 'own-windows', {
    jobTemplateArn: tpl,
    targets: [thingArn('t2')],
    schedulingConfig: { maintenanceWindows: [{ startTime: 'cron(0 12 * * ? *)', durationInMinutes: 60 }] },
  });
  assert.equal(await created(h, 'own-windows'), 1, 'its own window is open at 12:00');
  await h.at(Date.UTC(2026, 0, 16, 2, 0));
  assert.equal(await created(h, 'from-tpl'), 1);
  const bad = await refusal(() =>
    h.jobs.templates.create(NS, 'bad-tpl', {
      description: 'x',
      document: doc,
      maintenanceWindows: [{ startTime: 'cron(0 2 * * ? *)', durationInMinutes: 5000 }],
    }),
  );
  assert.equal(bad.name, 'InvalidRequestException');
  assert.match(bad.message, /^maintenanceWindows\[0\].durationInMinutes must be a whole number from 1 to 1430, not 5000$/);
});

test('schedules survive a restart: a start and an end that fell due while the server was down run at the first tick', async () => {
  const dir = tempDir();
  const file = join(dir, 'thicket.db');
  try {
    const h1 = await harness(file);
    await h1.fleet(['r1', 'r2']);
    await create(h1, 'across', {
      targets: [thingArn('r1'), thingArn('r2')],
      schedulingConfig: { startTime: hhmm(T0 + HOUR), endTime: hhmm(T0 + 2 * HOUR), endBehavior: 'CANCEL' },
    });
    await create(h1, 'missed', {
      targets: [thingArn('r1')],
      schedulingConfig: { startTime: hhmm(T0 + HOUR), endTime: hhmm(T0 + 2 * HOUR), endBehavior: 'FORCE_CANCEL' },
    });
    h1.db.close();

    const h2 = await harness(file, T0 + 90 * MINUTE);
    assert.equal((await job(h2, 'across')).status, 'SCHEDULED', 'read back as it was');
    await h2.jobs.tick();
    assert.equal((await job(h2, 'across')).status, 'IN_PROGRESS');
    assert.deepEqual(await h2.statuses('across'), { r1: 'QUEUED', r2: 'QUEUED' });
    await h2.report('across', 'r1', 'IN_PROGRESS');
    h2.db.close();

    const h3 = await harness(file, T0 + 3 * HOUR);
    await h3.jobs.tick();
    assert.equal((await job(h3, 'across')).status, 'CANCELED', 'the end came while the server was down');
    assert.deepEqual(await h3.statuses('across'), { r1: 'IN_PROGRESS', r2: 'CANCELED' });
    assert.equal((await job(h3, 'missed')).status, 'CANCELED', 'started and ended in one tick');
    assert.equal((await job(h3, 'missed')).forceCanceled, true);
    assert.deepEqual(await h3.statuses('missed'), { r1: 'CANCELED' });
    assert.equal((await h3.store.dueSchedules(T0 + 10 * DAY)).length, 0, 'nothing left scheduled');
    h3.db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('DescribeJobExecution: "statusDetails": {} for an execution without details, detailsMap once it has some', async () => {
  const h = await harness();
  await h.fleet(['q']);
  await create(h, 'plain', { targets: [thingArn('q')] });
  assert.deepEqual((await h.jobs.describeExecution(NS, 'plain', 'q', undefined)).execution.statusDetails, {});
  await h.report('plain', 'q', 'IN_PROGRESS', { statusDetails: { step: 'download' } });
  assert.deepEqual((await h.jobs.describeExecution(NS, 'plain', 'q', undefined)).execution.statusDetails, {
    detailsMap: { step: 'download' },
  });
});
