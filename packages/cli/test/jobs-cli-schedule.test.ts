/** `thicket jobs` with scheduled jobs: create with --start-time/--end-time/--end-behavior/--maintenance-window, list, describe, watch. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DescribeJobCommand } from '@aws-sdk/client-iot';
import { jobsCli, progress } from './jobs-cli-helpers.js';

const { ctx, api, start, things } = jobsCli();
const { thicket, fails } = ctx;
const HOUR = 3_600_000;
const hhmm = (ms: number): string => new Date(ms).toISOString().slice(0, 16);

test('jobs create with a schedule; list shows SCHEDULED with its start; describe shows the schedule; watch says when it starts', async () => {
  await things('sch-1');
  const startTime = hhmm(Date.now() + 2 * HOUR);
  // Two weeks hold at least seven openings of these windows whatever the weekday the test runs on.
  const endTime = hhmm(Date.now() + 14 * 24 * HOUR);
  assert.match(
    await thicket(
      'jobs',
      'create',
      'later',
      '--targets',
      'sch-1',
      '--document',
      '{"op":"install"}',
      '--start-time',
      startTime,
      '--end-time',
      endTime,
      '--end-behavior',
      'CANCEL',
      '--maintenance-window',
      'cron(0/30 1 ? * MON-FRI *)/90',
      'cron(0 4 ? * SAT *)/60',
    ),
    /^created job later /,
  );
  const { job } = await api().send(new DescribeJobCommand({ jobId: 'later' }));
  assert.deepEqual(job!.schedulingConfig, {
    startTime,
    endTime,
    endBehavior: 'CANCEL',
    maintenanceWindows: [
      { startTime: 'cron(0/30 1 ? * MON-FRI *)', durationInMinutes: 90 },
      { startTime: 'cron(0 4 ? * SAT *)', durationInMinutes: 60 },
    ],
  });
  await thicket('jobs', 'create', 'now', '--targets', 'sch-1', '--document', '{"op":"ping"}');

  const listed = (await thicket('jobs', 'list')).split('\n');
  assert.match(listed[0]!, /^JOBID\s+STATUS\s+STARTTIME\s+TARGETSELECTION/);
  assert.match(
    listed.find((l) => l.startsWith('later'))!,
    new RegExp(`^later\\s+SCHEDULED\\s+${startTime}\\s+SNAPSHOT`),
  );
  assert.match(
    listed.find((l) => l.startsWith('now'))!,
    /^now\s+IN_PROGRESS\s+SNAPSHOT/,
    'an unscheduled job has no start column value',
  );
  assert.match(await thicket('jobs', 'list', '--status', 'SCHEDULED'), /^JOBID[^\n]*\nlater\s+SCHEDULED/);

  const described = await thicket('jobs', 'describe', 'later');
  assert.match(described, /status\s+SCHEDULED\n/);
  assert.match(described, new RegExp(`startTime\\s+${startTime}\\n`));
  assert.match(described, new RegExp(`endTime\\s+${endTime}\\n`));
  assert.match(described, /endBehavior\s+CANCEL\n/);
  assert.match(described, /maintenanceWindows\s+cron\(0\/30 1 \? \* MON-FRI \*\)\/90, cron\(0 4 \? \* SAT \*\)\/60\n/);
  assert.match(described, /nextWindows\s+\d{4}-\d\d-\d\dT(01:00|01:30|04:00)(, \d{4}-\d\d-\d\dT(01:00|01:30|04:00)){6}\n/);

  const watch = start(['jobs', 'watch', 'later']);
  const [line] = await watch.printed(1);
  assert.equal(line, progress(' '.repeat(20), {}, `SCHEDULED (starts ${startTime} UTC)`));
  watch.proc.kill('SIGINT');
  assert.equal(await watch.exited, 130);
});

test('jobs create: a malformed --maintenance-window and a schedule the server refuses fail with the reason', async () => {
  await things('sch-bad');
  assert.match(
    await fails('jobs', 'create', 'bad', '--targets', 'sch-bad', '--document', '{}', '--maintenance-window', 'cron(0 1 * * ? *)'),
    /--maintenance-window "cron\(0 1 \* \* \? \*\)": write it as 'cron\(minutes hours day-of-month month day-of-week year\)\/minutes'/,
  );
  assert.match(
    await fails('jobs', 'create', 'bad', '--targets', 'sch-bad', '--document', '{}', '--start-time', hhmm(Date.now() + 60_000)),
    /InvalidRequestException: schedulingConfig.startTime must be at least 30 minutes from now/,
  );
  assert.match(
    await fails(
      'jobs',
      'create',
      'bad',
      '--targets',
      'sch-bad',
      '--document',
      '{}',
      '--end-time',
      hhmm(Date.now() + HOUR),
      '--end-behavior',
      'LATER',
    ),
    /InvalidRequestException: schedulingConfig.endBehavior must be one of STOP_ROLLOUT, CANCEL, FORCE_CANCEL, not "LATER"/,
  );
});
