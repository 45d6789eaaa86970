/** `thicket jobs` against a running server, with mqtt.js devices running the executions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import {
  AddThingToThingGroupCommand,
  CreateJobTemplateCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  IoTClient,
} from '@aws-sdk/client-iot';
import { parseCredentialsFile } from '@thicket/server';
import { cliWithHttpServer } from './helpers.js';

/** For the setup that is not under test (things, groups, templates): the API directly, quicker than the CLI. */
let iot: IoTClient;
const ctx = cliWithHttpServer({
  serveArgs: ['--dev', '--mqtt-port', '0'],
  setup: (_server, dataDir) => {
    iot = new IoTClient({
      endpoint: `http://127.0.0.1:${ctx.server().ports.http}`,
      region: 'us-east-1',
      credentials: parseCredentialsFile(readFileSync(join(dataDir, 'credentials'), 'utf8'), 'default')!,
    });
  },
  teardown: () => iot.destroy(),
});
const { args: cliArgs, thicket, fails } = ctx;

const ZEROS = { queued: 0, 'in progress': 0, succeeded: 0, failed: 0, rejected: 0, 'timed out': 0, canceled: 0, removed: 0 };
/** The progress line `thicket jobs watch` prints when stdout is not a terminal. */
function progress(bar: string, counts: Partial<typeof ZEROS>, status: string): string {
  const text = Object.entries({ ...ZEROS, ...counts })
    .map(([k, v]) => `${k} ${v}`)
    .join('  ');
  return `[${bar}] ${text}  ${status}`;
}

/** `thicket <args>` as a process whose stdout lines are collected as they come. */
function start(args: string[], input?: string) {
  const proc = spawn(process.execPath, cliArgs(args), { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
  if (input !== undefined) proc.stdin!.end(input);
  const lines: string[] = [];
  let stderr = '';
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('close', (code) => r(code)));
  /** Resolves once `n` lines have been printed. */
  const printed = async (n: number, timeoutMs = 10_000): Promise<string[]> => {
    const deadline = Date.now() + timeoutMs;
    while (lines.length < n) {
      if (Date.now() > deadline || proc.exitCode !== null) {
        throw new Error(`expected ${n} lines, got:\n${lines.join('\n')}\nstderr: ${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return lines;
  };
  return { proc, lines, exited, printed, stderr: () => stderr };
}

/** A device on MQTT running the Jobs API by its topics. */
async function device(thing: string): Promise<MqttClient> {
  return mqtt.connectAsync(`mqtt://127.0.0.1:${ctx.server().ports.mqtt}`, { clientId: thing, protocolVersion: 5, reconnectPeriod: 0 });
}

/** Publishes a Jobs request and resolves to its `accepted` answer (it goes to the requester without a subscription). */
function request(c: MqttClient, topic: string, body: object): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const onMessage = (t: string, payload: Buffer): void => {
      if (t !== `${topic}/accepted` && t !== `${topic}/rejected`) return;
      c.off('message', onMessage);
      const doc = JSON.parse(payload.toString()) as Record<string, unknown>;
      if (t.endsWith('/accepted')) resolve(doc);
      else reject(new Error(`${topic} rejected: ${payload.toString()}`));
    };
    c.on('message', onMessage);
    c.publish(topic, JSON.stringify(body), { qos: 1 });
  });
}

async function startNext(c: MqttClient, thing: string): Promise<string> {
  const r = (await request(c, `$aws/things/${thing}/jobs/start-next`, {})) as { execution?: { jobId: string } };
  assert.ok(r.execution, `${thing} has a job to start`);
  return r.execution.jobId;
}

function finish(c: MqttClient, thing: string, jobId: string, status: 'SUCCEEDED' | 'FAILED' | 'REJECTED') {
  return request(c, `$aws/things/${thing}/jobs/${jobId}/update`, { status });
}

async function things(...names: string[]): Promise<void> {
  for (const thingName of names) await iot.send(new CreateThingCommand({ thingName }));
}

async function thingsInGroup(group: string, names: string[]): Promise<void> {
  await iot.send(new CreateThingGroupCommand({ thingGroupName: group }));
  await things(...names);
  for (const thingName of names) await iot.send(new AddThingToThingGroupCommand({ thingGroupName: group, thingName }));
}

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
  await iot.send(
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
  const { thingArn } = await iot.send(new CreateThingCommand({ thingName: 'both' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'both' }));
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

test('jobs watch, not on a terminal, prints a line per change while devices work, and exits 1 when one failed', async () => {
  const things = ['w-1', 'w-2', 'w-3'];
  await thingsInGroup('watched', things);
  await thicket('jobs', 'create', 'rollout', '--targets', 'watched', '--document', '{"op":"update"}');
  const watch = start(['jobs', 'watch', 'rollout']);
  const devices = await Promise.all(things.map(device));
  try {
    await watch.printed(1);
    let n = 1;
    const step = async (action: () => Promise<unknown>): Promise<void> => {
      await action();
      await watch.printed(++n);
    };
    await step(() => startNext(devices[0]!, 'w-1'));
    await step(() => finish(devices[0]!, 'w-1', 'rollout', 'SUCCEEDED'));
    await step(() => startNext(devices[1]!, 'w-2'));
    await step(() => finish(devices[1]!, 'w-2', 'rollout', 'FAILED'));
    await step(() => startNext(devices[2]!, 'w-3'));
    await step(() => finish(devices[2]!, 'w-3', 'rollout', 'SUCCEEDED'));
    assert.equal(await watch.exited, 1, watch.stderr());
    assert.deepEqual(watch.lines, [
      progress('....................', { queued: 3 }, 'IN_PROGRESS'),
      progress('>>>>>>>.............', { queued: 2, 'in progress': 1 }, 'IN_PROGRESS'),
      progress('#######.............', { queued: 2, succeeded: 1 }, 'IN_PROGRESS'),
      progress('#######>>>>>>>......', { queued: 1, 'in progress': 1, succeeded: 1 }, 'IN_PROGRESS'),
      progress('#######!!!!!!!......', { queued: 1, succeeded: 1, failed: 1 }, 'IN_PROGRESS'),
      progress('#######!!!!!!!>>>>>>', { 'in progress': 1, succeeded: 1, failed: 1 }, 'IN_PROGRESS'),
      progress('#############!!!!!!!', { succeeded: 2, failed: 1 }, 'COMPLETED'),
    ]);
    assert.equal(watch.stderr(), '');
  } finally {
    await Promise.all(devices.map((d) => d.endAsync()));
  }
});

test('jobs create --watch follows the rollout to COMPLETED and exits 0 when every execution succeeded', async () => {
  const things = ['auto-1', 'auto-2'];
  await thingsInGroup('auto', things);
  // Devices that run every job they are told about: start-next, then SUCCEEDED a moment later.
  const devices = await Promise.all(
    things.map(async (thing) => {
      const c = await device(thing);
      c.on('message', (topic, payload) => {
        if (topic !== `$aws/things/${thing}/jobs/notify-next`) return;
        if (!(JSON.parse(payload.toString()) as { execution?: unknown }).execution) return;
        void (async () => {
          const jobId = await startNext(c, thing);
          await new Promise((r) => setTimeout(r, 600));
          await finish(c, thing, jobId, 'SUCCEEDED');
        })();
      });
      await c.subscribeAsync(`$aws/things/${thing}/jobs/notify-next`, { qos: 1 });
      return c;
    }),
  );
  try {
    const run = start(['jobs', 'create', 'auto-update', '--targets', 'group/auto', '--document', '{"op":"update"}', '--watch']);
    assert.equal(await run.exited, 0, run.stderr());
    const [first, ...rest] = run.lines;
    assert.match(first!, /^created job auto-update \(arn:aws:iot:us-east-1:\d{12}:job\/auto-update\)$/);
    assert.equal(rest.at(-1), progress('####################', { succeeded: 2 }, 'COMPLETED'));
    assert.ok(rest.length >= 2, rest.join('\n'));
    for (const [i, line] of rest.entries()) {
      assert.match(line, /^\[[#>.]{20}\] queued \d {2}in progress \d {2}succeeded \d .* (IN_PROGRESS|COMPLETED)$/);
      if (i > 0) assert.notEqual(line, rest[i - 1], 'a line only when something changed');
    }
  } finally {
    await Promise.all(devices.map((d) => d.endAsync()));
  }
});

test('jobs watch ends when the job is canceled, in JSON with --json, and stops on Ctrl-C with 130', async () => {
  await things('idle-1');
  await thicket('jobs', 'create', 'stays', '--targets', 'idle-1', '--document', '{}');
  const json = start(['jobs', 'watch', 'stays', '--json']);
  await json.printed(1);
  await thicket('jobs', 'cancel', 'stays');
  assert.equal(await json.exited, 0, json.stderr());
  const docs = json.lines.map((l) => JSON.parse(l) as { jobId: string; status: string; jobProcessDetails: Record<string, number> });
  assert.deepEqual(
    docs.map((d) => [d.jobId, d.status, d.jobProcessDetails.numberOfQueuedThings, d.jobProcessDetails.numberOfCanceledThings]),
    [
      ['stays', 'IN_PROGRESS', 1, 0],
      ['stays', 'CANCELED', 0, 1],
    ],
  );

  await thicket('jobs', 'create', 'waits', '--targets', 'idle-1', '--document', '{}');
  const watch = start(['jobs', 'watch', 'waits']);
  await watch.printed(1);
  watch.proc.kill('SIGINT');
  assert.equal(await watch.exited, 130);
  assert.deepEqual(watch.lines, [progress('....................', { queued: 1 }, 'IN_PROGRESS')]);
  assert.equal(watch.stderr(), '');
});
