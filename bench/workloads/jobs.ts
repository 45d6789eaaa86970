/**
 * One job to a fleet: `devices` things in a thing group, each with its own MQTT connection
 * subscribed to its `notify-next`. The job is created through the control-plane API; each device,
 * when told of it, asks `start-next` and reports SUCCEEDED, as a device agent does. Measured: the
 * time from CreateJob to the last accepted SUCCEEDED, the notification delay, and the round trip
 * of the device requests; the job must end COMPLETED with every thing succeeded.
 */
import { readFileSync } from 'node:fs';
import {
  AddThingToThingGroupCommand,
  CreateJobCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  DescribeJobCommand,
  IoTClient,
} from '@aws-sdk/client-iot';
import { parseCredentialsFile } from '@thicket/server';
import { generate } from 'mqtt-packet';
import { closeAll, connectAll, lost, sleep, type Endpoint } from '../clients.js';
import { AckBatch, PUBLISH, connectPacket } from '../protocol.js';
import { cpuMeter } from '../proc-stats.js';
import type { JobsMeasurement } from '../results.js';

const SETUP_TIMEOUT_MS = 30_000;
const RUN_TIMEOUT_MS = 60_000;
const API_CONCURRENCY = 16;
/** The account of the server's first access key (`thicket serve` default). */
const ACCOUNT = '123456789012';

async function inParallel<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function percentile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

export async function runJobs(
  to: Endpoint,
  brokerPid: number,
  devices: number,
  api: { httpPort: number; credentialsFile: string },
): Promise<JobsMeasurement> {
  const credentials = parseCredentialsFile(readFileSync(api.credentialsFile, 'utf8'), 'default');
  if (!credentials) throw new Error(`no default profile in ${api.credentialsFile}`);
  const iot = new IoTClient({ endpoint: `http://${to.host}:${api.httpPort}`, region: 'us-east-1', credentials });
  const run = Date.now().toString(36).slice(-5);
  const group = `fleet-${run}`;
  const things = Array.from({ length: devices }, (_, i) => `dev-${run}-${i}`);
  await iot.send(new CreateThingGroupCommand({ thingGroupName: group }));
  await inParallel(things, API_CONCURRENCY, async (thingName) => {
    await iot.send(new CreateThingCommand({ thingName }));
    await iot.send(new AddThingToThingGroupCommand({ thingGroupName: group, thingName }));
  });

  const clients = await connectAll(to, devices, 100, (i) => connectPacket(things[i]!, 120), SETUP_TIMEOUT_MS);
  try {
    await Promise.all(
      clients.map((c, i) =>
        c.subscribe(
          generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `$aws/things/${things[i]}/jobs/notify-next`, qos: 1 }] }),
          SETUP_TIMEOUT_MS,
        ),
      ),
    );
    let t0 = 0;
    const notified: number[] = [];
    const roundTrips: number[] = [];
    let done = 0;
    let rejected = 0;
    let firstRejection = '';
    clients.forEach((client, i) => {
      const thing = things[i]!;
      const prefix = `$aws/things/${thing}/jobs`;
      const acks = new AckBatch();
      let sentAt = 0;
      let packetId = 0;
      const send = (topic: string, body: object): void => {
        sentAt = performance.now();
        client.write(
          generate({
            cmd: 'publish',
            topic,
            payload: JSON.stringify(body),
            qos: 1,
            messageId: (packetId++ % 65535) + 1,
            retain: false,
            dup: false,
          }),
        );
      };
      client.handler = (type, flags, buf, start, end) => {
        if (type !== PUBLISH) return;
        const now = performance.now();
        const topicEnd = start + 2 + buf.readUInt16BE(start);
        const topic = buf.toString('utf8', start + 2, topicEnd);
        let p = topicEnd;
        if ((flags >> 1) & 3) {
          acks.add(buf.readUInt16BE(p));
          p += 2;
        }
        const doc = JSON.parse(buf.toString('utf8', p, end)) as {
          execution?: { jobId: string; status: string };
          code?: string;
          message?: string;
        };
        if (topic.endsWith('/rejected')) {
          rejected++;
          firstRejection ||= `${doc.code}: ${doc.message}`;
        } else if (topic === `${prefix}/notify-next`) {
          if (doc.execution?.status !== 'QUEUED') return;
          notified.push(now - t0);
          send(`${prefix}/start-next`, { clientToken: thing });
        } else if (topic === `${prefix}/start-next/accepted`) {
          roundTrips.push(now - sentAt);
          if (doc.execution) send(`${prefix}/${doc.execution.jobId}/update`, { status: 'SUCCEEDED', statusDetails: { by: 'bench' } });
        } else if (topic.endsWith('/update/accepted')) {
          roundTrips.push(now - sentAt);
          done++;
        }
      };
      client.afterChunk = () => {
        const out = acks.take();
        if (out !== null) client.write(out);
      };
    });

    const lostBefore = lost.connections;
    const meter = cpuMeter(brokerPid);
    t0 = performance.now();
    const jobId = `bench-${run}`;
    await iot.send(
      new CreateJobCommand({
        jobId,
        targets: [`arn:aws:iot:us-east-1:${ACCOUNT}:thinggroup/${group}`],
        document: JSON.stringify({ operation: 'noop' }),
      }),
    );
    const createdMs = performance.now() - t0;
    const deadline = performance.now() + RUN_TIMEOUT_MS;
    while (done < devices && rejected === 0 && performance.now() < deadline) await sleep(5);
    const completionMs = performance.now() - t0;
    const cpu = meter.stop();
    if (rejected > 0) throw new Error(`${rejected} requests rejected, the first: ${firstRejection}`);
    if (lost.connections > lostBefore) throw new Error(`the broker closed ${lost.connections - lostBefore} connections during the run`);
    if (done < devices) throw new Error(`only ${done} of ${devices} executions succeeded within ${RUN_TIMEOUT_MS / 1000} s`);
    const job = (await iot.send(new DescribeJobCommand({ jobId }))).job!;
    return {
      kind: 'jobs',
      devices,
      createMs: createdMs,
      completionMs,
      perSecond: (devices * 1000) / completionMs,
      notifyP50Ms: percentile(notified, 0.5),
      notifyP99Ms: percentile(notified, 0.99),
      requestP50Ms: percentile(roundTrips, 0.5),
      requestP99Ms: percentile(roundTrips, 0.99),
      jobStatus: job.status ?? 'unknown',
      succeeded: job.jobProcessDetails?.numberOfSucceededThings ?? 0,
      cpu,
    };
  } finally {
    closeAll(clients);
    iot.destroy();
  }
}
