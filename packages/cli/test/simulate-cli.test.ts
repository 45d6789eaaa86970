/**
 * `thicket simulate` end to end: 200 devices provisioned by claim, connected, reporting in their
 * shadows and following desired state, and completing a rollout job with an OTA file — all
 * asserted through the API while the simulator runs as its own process.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateJobCommand,
  DescribeJobCommand,
  DescribeProvisioningTemplateCommand,
  IoTClient,
  ListThingsInThingGroupCommand,
} from '@aws-sdk/client-iot';
import { GetThingShadowCommand, IoTDataPlaneClient, UpdateThingShadowCommand } from '@aws-sdk/client-iot-data-plane';
import { parseCredentialsFile } from '@thicket/server';
import { sleep } from '../../server/test/helpers.js';
import { cliWithHttpServer } from './helpers.js';

let iot: IoTClient;
let data: IoTDataPlaneClient;
const ctx = cliWithHttpServer({
  serveArgs: ['--mqtts-port', '0', '--https-port', '0'],
  setup: (server, dataDir) => {
    const config = {
      endpoint: `http://127.0.0.1:${server.ports.http}`,
      region: 'us-east-1',
      credentials: parseCredentialsFile(readFileSync(join(dataDir, 'credentials'), 'utf8'), 'default')!,
    };
    iot = new IoTClient(config);
    data = new IoTDataPlaneClient(config);
  },
  teardown: () => {
    iot.destroy();
    data.destroy();
  },
});

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

async function members(group: string): Promise<string[]> {
  const out: string[] = [];
  let nextToken: string | undefined;
  do {
    const r = await iot.send(new ListThingsInThingGroupCommand({ thingGroupName: group, nextToken, maxResults: 250 }));
    out.push(...(r.things ?? []));
    nextToken = r.nextToken;
  } while (nextToken);
  return out;
}

test('200 simulated devices: provisioned by claim, connected, shadows followed, a rollout job with an OTA file completed', async () => {
  const DEVICES = 200;
  const firmware = randomBytes(64 * 1024);
  const file = join(ctx.dataDir(), 'fw-1.bin');
  writeFileSync(file, firmware);
  await ctx.thicket('files', 'upload', file);
  const scenario = join(ctx.dataDir(), 'scenario.yaml');
  writeFileSync(
    scenario,
    [
      'telemetry:',
      '  - topic: dt/{thingName}/env',
      '    interval: 2s',
      '    values:',
      '      temperature: { type: walk, start: 20, step: 0.5, min: 10, max: 30 }',
      '      state: { type: choice, values: [ok, warn], weights: [9, 1] }',
      'shadow:',
      '  reportEvery: 3s',
      '  values: [temperature]',
      'jobs:',
      '  successRate: 1',
      '  duration: 100ms',
    ].join('\n'),
  );
  const proc = spawn(
    process.execPath,
    ctx.args(['simulate', '--devices', String(DEVICES), '--duration', '150s', '--group', 'fleet', '--scenario', scenario, '--json']),
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  try {
    // Every device provisioned itself into the group, through the template the simulator made.
    await until('200 devices in the group', async () => ((await members('fleet')).length === DEVICES ? true : undefined), 90_000);
    const template = await iot.send(new DescribeProvisioningTemplateCommand({ templateName: 'thicket-simulator' }));
    assert.equal(template.enabled, true);

    // Shadows: every device reports; a desired change is applied and reported back.
    const shadowOf = async (thing: string) =>
      JSON.parse(Buffer.from((await data.send(new GetThingShadowCommand({ thingName: thing }))).payload!).toString()) as {
        state: { reported?: Record<string, unknown>; delta?: Record<string, unknown> };
      };
    await until(
      'sim-0200 reported its temperature',
      async () => (await shadowOf('sim-0200')).state.reported?.temperature ?? undefined,
      20_000,
    );
    await data.send(new UpdateThingShadowCommand({ thingName: 'sim-0007', payload: Buffer.from('{"state":{"desired":{"led":"on"}}}') }));
    await until(
      'sim-0007 applied the desired state',
      async () => ((await shadowOf('sim-0007')).state.reported?.led === 'on' ? true : undefined),
      20_000,
    );

    // A rollout job with the file: every device downloads it, checks it and succeeds.
    const document = JSON.stringify({
      operation: 'ota',
      url: '${thicket:PresignedUrl:fw-1.bin}',
      sha256: '${thicket:FileSha256:fw-1.bin}',
      size: '${thicket:FileSize:fw-1.bin}',
    });
    assert.equal(createHash('sha256').update(firmware).digest('hex').length, 64);
    await iot.send(
      new CreateJobCommand({
        jobId: 'fw-1',
        targets: ['arn:aws:iot:us-east-1:123456789012:thinggroup/fleet'],
        document,
        jobExecutionsRolloutConfig: { maximumPerMinute: 1000 },
      }),
    );
    const done = await until(
      'the job to complete',
      async () => {
        const j = (await iot.send(new DescribeJobCommand({ jobId: 'fw-1' }))).job!;
        return j.jobProcessDetails?.numberOfSucceededThings === DEVICES ? j : undefined;
      },
      90_000,
    );
    assert.equal(done.jobProcessDetails?.numberOfFailedThings ?? 0, 0);
  } finally {
    proc.kill('SIGINT');
  }
  assert.equal(await exited, 0, stderr);
  const summary = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>;
  assert.equal(summary.provisioned, DEVICES);
  assert.equal(summary.jobsSucceeded, DEVICES);
  assert.equal(summary.otaDownloads, DEVICES);
  assert.ok(summary.messages! > DEVICES, `telemetry flowed (${summary.messages} messages)`);
  assert.ok(summary.deltasApplied! >= 1);
  assert.equal(summary.errors, 0, JSON.stringify(summary.errorsByKind));
});

test('churn: devices drop off and come back as restarted devices, with their own certificates, without errors', async () => {
  const scenario = join(ctx.dataDir(), 'churn.yaml');
  writeFileSync(
    scenario,
    [
      'telemetry:',
      '  - topic: dt/{thingName}/t',
      '    interval: 200ms',
      'shadow: false',
      'churn: { disconnectsPerHour: 3600, offline: 300ms }',
    ].join('\n'),
  );
  const out = await ctx.thicket(
    'simulate',
    '--devices',
    '3',
    '--duration',
    '8s',
    '--prefix',
    'churn-',
    '--group',
    'churners',
    '--scenario',
    scenario,
    '--json',
  );
  const summary = JSON.parse(out.trim().split('\n').pop()!) as Record<string, number>;
  assert.equal(summary.provisioned, 3);
  assert.ok(summary.disconnects! >= 3, `devices went offline (${summary.disconnects} times)`);
  assert.ok(summary.messages! > 30, `and kept sending once back (${summary.messages} messages)`);
  assert.equal(summary.errors, 0, JSON.stringify(summary.errorsByKind));
});

test('devices that cannot reach the broker: the run still lasts its time, says why in the summary and exits 1', async () => {
  const proc = spawn(
    process.execPath,
    ctx.args(['simulate', '--devices', '2', '--duration', '2s', '--mqtt-url', 'mqtts://127.0.0.1:9', '--json']),
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  const code = await new Promise<number | null>((resolve) => proc.once('exit', resolve));
  assert.equal(code, 1);
  const summary = JSON.parse(stdout.trim()) as { provisioned: number; errors: number; errorsByKind: Record<string, number> };
  assert.equal(summary.provisioned, 0);
  assert.deepEqual(summary.errorsByKind, { 'connect ECONNREFUSED 127.0.0.1:9': 2 });
});
