/**
 * Job execution updates are durable once accepted: the server is killed with SIGKILL while a device
 * reports executions; after a restart every update it saw accepted is there, and the in-progress
 * timer of a started execution is still running.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import {
  CreateJobCommand,
  CreateThingCommand,
  DescribeJobExecutionCommand,
  IoTClient,
  ListJobExecutionsForJobCommand,
} from '@aws-sdk/client-iot';
import { parseCredentialsFile } from '@thicket/server';
import { spawnServer, tempDir, sleep, type ServerProcess } from './helpers.js';

const ARGS = ['--dev', '--mqtts-port', 'off', '--https-port', 'off', '--mqtt-port', '0', '--http-port', '0'];
const THINGS = Array.from({ length: 40 }, (_, i) => `dur-${i}`);

function admin(server: ServerProcess, dataDir: string): IoTClient {
  return new IoTClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: parseCredentialsFile(readFileSync(join(dataDir, 'credentials'), 'utf8'), 'default')!,
  });
}

test('kill -9 while a device reports job executions loses no accepted update; timers survive', async () => {
  const dataDir = tempDir();
  try {
    const first = await spawnServer(['--data-dir', dataDir, ...ARGS]);
    const iot = admin(first, dataDir);
    for (const t of THINGS) await iot.send(new CreateThingCommand({ thingName: t }));
    const arn = (t: string): string => `arn:aws:iot:us-east-1:123456789012:thing/${t}`;
    await iot.send(
      new CreateJobCommand({
        jobId: 'dur',
        targets: THINGS.map(arn),
        document: '{"op":"x"}',
        timeoutConfig: { inProgressTimeoutInMinutes: 30 },
      }),
    );
    iot.destroy();

    const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${first.ports.mqtt}`, { clientId: 'fleet', reconnectPeriod: 0 });
    device.on('error', () => {});
    const accepted = new Set<string>();
    device.on('message', (topic) => {
      const m = /^\$aws\/things\/([^/]+)\/jobs\/dur\/update\/accepted$/.exec(topic);
      if (m) accepted.add(m[1]!);
    });
    // The first thing only starts its execution: its timer must outlive the crash.
    await device.publishAsync('$aws/things/dur-0/jobs/dur/update', JSON.stringify({ status: 'IN_PROGRESS' }), { qos: 1 });
    for (const t of THINGS.slice(1))
      device.publish(`$aws/things/${t}/jobs/dur/update`, JSON.stringify({ status: 'SUCCEEDED' }), { qos: 1 });
    while (accepted.size < 20) await sleep(2);
    first.proc.kill('SIGKILL');
    await first.exited;
    const seen = new Set(accepted);
    device.end(true);

    const second = await spawnServer(['--data-dir', dataDir, ...ARGS]);
    const again = admin(second, dataDir);
    try {
      const list = await again.send(new ListJobExecutionsForJobCommand({ jobId: 'dur', maxResults: 100 }));
      const status = new Map(list.executionSummaries!.map((s) => [s.thingArn!.split('/')[1]!, s.jobExecutionSummary!.status]));
      assert.equal(status.size, THINGS.length);
      for (const t of seen) {
        assert.equal(status.get(t), t === 'dur-0' ? 'IN_PROGRESS' : 'SUCCEEDED', `${t} was accepted before the kill`);
      }
      const started = await again.send(new DescribeJobExecutionCommand({ jobId: 'dur', thingName: 'dur-0' }));
      const left = started.execution!.approximateSecondsBeforeTimedOut!;
      assert.ok(left > 29 * 60 && left <= 30 * 60, `the in-progress timer still runs after the restart (${left} s left)`);
    } finally {
      again.destroy();
      second.proc.kill('SIGTERM');
      await second.exited;
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
