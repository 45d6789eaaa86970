/** `thicket jobs` commands against a running server: create, list, describe, executions, document, cancel, delete, bad input. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CreateJobTemplateCommand, CreateThingCommand, CreateThingGroupCommand } from '@aws-sdk/client-iot';
import { jobsCli } from './jobs-cli-helpers.js';

const { ctx, api, start, device, startNext, finish, things, thingsInGroup } = jobsCli();
const { thicket, fails } = ctx;

test('create (inline, @file, stdin, template), list, describe, executions, document, cancel and delete', async () => {
  await thingsInGroup('lamps', ['lamp-1', 'lamp-2']);
  await things('fan-1');

  assert.match(
    await thicket(
      'jobs',
      'create',
      'reboot',
      '--targets',
      'group/lamps',
      'thing/fan-1',
      '--document',
      '{"op":"reboot"}',
      '--description',
      'nightly',
    ),
    /^created job reboot \(arn:aws:iot:us-east-1:\d{12}:job\/reboot\)\n$/,
  );
  const file = join(ctx.dataDir(), 'firmware.json');
  writeFileSync(file, '{"op":"install","url":"https://example.com/fw-2.bin"}');
  const created = JSON.parse(await thicket('jobs', 'create', 'firmware', '--targets', 'lamp-1', '--document', `@${file}`, '--json')) as {
    jobId: string;
    jobArn: string;
  };
  assert.equal(created.jobId, 'firmware');
  const stdin = start(['jobs', 'create', 'from-stdin', '--targets', 'fan-1', '--document', '-'], '{"op":"ping"}');
  assert.equal(await stdin.exited, 0, stdin.stderr());

  const list = await thicket('jobs', 'list');
  assert.match(list, /^JOBID\s+STATUS\s+TARGETSELECTION\s+CREATEDAT\s+COMPLETEDAT$/m);
  assert.match(list, /^reboot\s+IN_PROGRESS\s+SNAPSHOT\s+\S+Z$/m);
  assert.match(list, /^firmware\s+IN_PROGRESS\s+SNAPSHOT/m);
  const byGroup = JSON.parse(await thicket('jobs', 'list', '--group', 'lamps', '--json')) as { jobs: Array<{ jobId: string }> };
  assert.deepEqual(
    byGroup.jobs.map((j) => j.jobId),
    ['reboot'],
  );

  const described = await thicket('jobs', 'describe', 'reboot');
  assert.match(described, /^status\s+IN_PROGRESS$/m);
  assert.match(described, /^description\s+nightly$/m);
  assert.match(described, /^executions\s+queued 3 {2}in progress 0 {2}succeeded 0 .* removed 0$/m);
  const job = JSON.parse(await thicket('jobs', 'describe', 'reboot', '--json')) as {
    job: { targets: string[]; jobProcessDetails: { numberOfQueuedThings: number } };
  };
  assert.equal(job.job.jobProcessDetails.numberOfQueuedThings, 3);
  assert.deepEqual(
    job.job.targets.map((t) => t.replace(/^arn:aws:iot:us-east-1:\d{12}:/, '')),
    ['thinggroup/lamps', 'thing/fan-1'],
  );

  const lamp = await device('lamp-1');
  try {
    assert.equal(await startNext(lamp, 'lamp-1'), 'reboot');
    await finish(lamp, 'lamp-1', 'reboot', 'SUCCEEDED');
  } finally {
    await lamp.endAsync();
  }
  const executions = (await thicket('jobs', 'executions', 'reboot')).trimEnd().split('\n');
  assert.match(executions[0]!, /^THING\s+STATUS\s+EXECUTION\s+VERSION\s+UPDATED$/);
  assert.deepEqual(
    executions
      .slice(1)
      .map((l) => l.split(/\s+/).slice(0, 4).join(' '))
      .sort(),
    ['fan-1 QUEUED 1 1', 'lamp-1 SUCCEEDED 1 3', 'lamp-2 QUEUED 1 1'],
  );
  assert.match(executions[1]!, /\d{4}-\d\d-\d\dT\S+Z$/);
  const ofThing = await thicket('jobs', 'executions', '--thing', 'lamp-1');
  assert.match(ofThing, /^JOB\s+STATUS\s+EXECUTION\s+VERSION\s+UPDATED$/m);
  assert.match(ofThing, /^reboot\s+SUCCEEDED\s+1\s+3\s/m);
  assert.match(ofThing, /^firmware\s+QUEUED\s+1\s+1\s/m);
  const one = JSON.parse(await thicket('jobs', 'executions', 'reboot', '--thing', 'lamp-1', '--json')) as {
    execution: { status: string; versionNumber: number; thingArn: string };
  };
  assert.deepEqual([one.execution.status, one.execution.versionNumber], ['SUCCEEDED', 3]);
  const succeeded = JSON.parse(await thicket('jobs', 'executions', 'reboot', '--status', 'SUCCEEDED', '--json')) as {
    executionSummaries: Array<{ thingArn: string }>;
  };
  assert.deepEqual(
    succeeded.executionSummaries.map((s) => s.thingArn.split('/')[1]),
    ['lamp-1'],
  );

  assert.equal(await thicket('jobs', 'document', 'firmware'), '{\n  "op": "install",\n  "url": "https://example.com/fw-2.bin"\n}\n');
  assert.deepEqual(JSON.parse(await thicket('jobs', 'document', 'from-stdin', '--json')), { document: '{"op":"ping"}' });

  // A template with a parameter, and the configuration options.
  await api().send(
    new CreateJobTemplateCommand({ jobTemplateId: 'ota', description: 'OTA', document: '{"version":"${aws:iot:parameter:version}"}' }),
  );
  await thicket('jobs', 'create', 'ota-2', '--targets', 'lamps', '--template', 'ota', '--param', 'version=2.1');
  assert.equal(await thicket('jobs', 'document', 'ota-2'), '{\n  "version": "2.1"\n}\n');
  assert.match(await thicket('jobs', 'document', 'ota-2', '--before-substitution'), /"\$\{aws:iot:parameter:version\}"/);
  await thicket(
    'jobs',
    'create',
    'careful',
    '--targets',
    'lamps',
    '--document',
    '{}',
    '--continuous',
    '--max-per-minute',
    '50',
    '--timeout-minutes',
    '30',
    '--retries',
    '2',
    '--abort-threshold',
    '12.5',
    '--abort-min',
    '4',
  );
  const careful = (JSON.parse(await thicket('jobs', 'describe', 'careful', '--json')) as { job: Record<string, unknown> }).job;
  assert.equal(careful.targetSelection, 'CONTINUOUS');
  assert.deepEqual(careful.jobExecutionsRolloutConfig, { maximumPerMinute: 50 });
  assert.deepEqual(careful.timeoutConfig, { inProgressTimeoutInMinutes: 30 });
  assert.deepEqual(careful.jobExecutionsRetryConfig, { criteriaList: [{ failureType: 'ALL', numberOfRetries: 2 }] });
  assert.deepEqual(careful.abortConfig, {
    criteriaList: [{ failureType: 'ALL', action: 'CANCEL', thresholdPercentage: 12.5, minNumberOfExecutedThings: 4 }],
  });

  assert.equal(await thicket('jobs', 'cancel', 'reboot', '--reason-code', 'OOPS', '--comment', 'wrong image'), 'canceled job reboot\n');
  const canceled = (JSON.parse(await thicket('jobs', 'describe', 'reboot', '--json')) as { job: Record<string, unknown> }).job;
  assert.deepEqual([canceled.status, canceled.reasonCode, canceled.comment], ['CANCELED', 'OOPS', 'wrong image']);
  assert.match(await thicket('jobs', 'describe', 'reboot'), /^executions\s+queued 0 .* succeeded 1 .* canceled 2 {2}removed 0$/m);
  assert.equal(await thicket('jobs', 'delete', 'reboot'), 'deleted job reboot\n');
  assert.match(await fails('jobs', 'describe', 'reboot'), /^thicket: ResourceNotFoundException: Job reboot cannot be found\.\n$/);

  assert.match(await fails('jobs', 'delete', 'firmware'), /InvalidStateTransitionException: Job firmware is IN_PROGRESS/);
  assert.equal(await thicket('jobs', 'delete', 'firmware', '--force', '--json'), '{}\n');
  assert.doesNotMatch(await thicket('jobs', 'list'), /firmware/);
});

test('bad input: unknown or ambiguous targets and invalid documents fail with the reason', async () => {
  const { thingArn } = await api().send(new CreateThingCommand({ thingName: 'both' }));
  await api().send(new CreateThingGroupCommand({ thingGroupName: 'both' }));
  const missing = thingArn!.replace(/both$/, 'nope');

  assert.match(
    await fails('jobs', 'create', 'bad', '--targets', missing, '--document', '{}'),
    /ResourceNotFoundException: Thing nope cannot be found\./,
  );
  assert.match(
    await fails('jobs', 'create', 'bad', '--targets', 'nope', '--document', '{}'),
    /target nope: there is no thing or thing group/,
  );
  assert.match(
    await fails('jobs', 'create', 'bad', '--targets', 'thing/nope', '--document', '{}'),
    /target thing\/nope: there is no thing named nope/,
  );
  assert.match(
    await fails('jobs', 'create', 'bad', '--targets', 'both', '--document', '{}'),
    /target both is both a thing and a thing group: write thing\/both or group\/both/,
  );
  assert.match(
    await fails('jobs', 'create', 'bad', '--targets', 'thing/both', '--document', '{oops'),
    /^thicket: InvalidRequestException: document is not valid JSON: /,
  );
  assert.match(
    await fails('jobs', 'create', 'bad', '--targets', 'group/both', '--document', '[1]'),
    /InvalidRequestException: document must be a JSON object/,
  );
  assert.match(
    await fails('jobs', 'create', 'bad', '--targets', 'thing/both', '--document', '{}', '--max-per-minute', '0'),
    /InvalidRequestException: jobExecutionsRolloutConfig\.maximumPerMinute must be a whole number from 1 to 1000, not 0/,
  );
  assert.match(await fails('jobs', 'create', 'bad', '--targets', 'thing/both'), /give either --document or --template/);
  assert.match(await fails('jobs', 'create', 'bad', '--targets', 'thing/both', '--document', '@/nonexistent.json'), /cannot read/);
  assert.match(await fails('jobs', 'create', 'bad', '--targets', 'thing/both', '--document', '{}', '--abort-min', '3'), /go together/);
  assert.match(await fails('jobs', 'create', 'bad', '--targets', 'thing/both', '--template', 'nope'), /ResourceNotFoundException/);
  assert.match(await fails('jobs', 'list', '--status', 'DONE'), /InvalidRequestException: status must be one of/);
  assert.match(await fails('jobs', 'executions'), /give a job id, --thing, or both/);
  assert.match(await fails('jobs', 'watch', 'nope'), /ResourceNotFoundException: Job nope cannot be found\./);
  assert.doesNotMatch(await thicket('jobs', 'list'), /\bbad\b/);
});
