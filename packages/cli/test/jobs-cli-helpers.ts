/** A Thicket server for the `thicket jobs` tests, its CLI, and mqtt.js devices running executions. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import mqtt, { type MqttClient } from 'mqtt';
import { AddThingToThingGroupCommand, CreateThingCommand, CreateThingGroupCommand, IoTClient } from '@aws-sdk/client-iot';
import { parseCredentialsFile } from '@thicket/server';
import { cliWithHttpServer, type CliServer } from './helpers.js';

const ZEROS = { queued: 0, 'in progress': 0, succeeded: 0, failed: 0, rejected: 0, 'timed out': 0, canceled: 0, removed: 0 };

/** The progress line `thicket jobs watch` prints when stdout is not a terminal. */
export function progress(bar: string, counts: Partial<typeof ZEROS>, status: string): string {
  const text = Object.entries({ ...ZEROS, ...counts })
    .map(([k, v]) => `${k} ${v}`)
    .join('  ');
  return `[${bar}] ${text}  ${status}`;
}

/** Starts the test file's server (with MQTT, in development mode) and returns what its tests use. */
export function jobsCli() {
  /** For the setup that is not under test (things, groups, templates): the API directly, quicker than the CLI. */
  let iot: IoTClient;
  const ctx: CliServer = cliWithHttpServer({
    serveArgs: ['--dev', '--mqtt-port', '0'],
    setup: (server, dataDir) => {
      iot = new IoTClient({
        endpoint: `http://127.0.0.1:${server.ports.http}`,
        region: 'us-east-1',
        credentials: parseCredentialsFile(readFileSync(join(dataDir, 'credentials'), 'utf8'), 'default')!,
      });
    },
    teardown: () => iot.destroy(),
  });

  /** `thicket <args>` as a process whose stdout lines are collected as they come. */
  function start(args: string[], input?: string) {
    const proc = spawn(process.execPath, ctx.args(args), { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
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

  return { ctx, api: () => iot, start, device, request, startNext, finish, things, thingsInGroup };
}
