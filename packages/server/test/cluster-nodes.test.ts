/**
 * Whole Thicket nodes as `thicket serve --database ... --cluster ...` starts them: three servers on
 * one throwaway PostgreSQL and one nats-server, all on loopback. Every node serves every API with
 * the one admin key; what one node writes is seen on the others; MQTT crosses nodes in order; a
 * client id moving to another node takes its session along (0x8E on the old one); a file uploaded
 * through one node downloads through the others.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  AddThingToThingGroupCommand,
  CreateAuthorizerCommand,
  CreateJobCommand,
  CreateRoleAliasCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  CreatePolicyCommand,
  DeleteJobCommand,
  DeleteThingCommand,
  DescribeJobCommand,
  GetPolicyCommand,
  UpdateCertificateCommand,
  UpdateThingCommand,
  DescribeRoleAliasCommand,
  DescribeThingCommand,
  DescribeThingGroupCommand,
  GetJobDocumentCommand,
  IoTClient,
  ListAuthorizersCommand,
  ListJobExecutionsForJobCommand,
  ListThingGroupsForThingCommand,
} from '@aws-sdk/client-iot';
import mqtt, { type MqttClient } from 'mqtt';
import { filesApi, get, presignedUrl, sha256, uploaded } from './files-helpers.js';
import { provision, startTestServer, tlsOptions, type TestServer } from './helpers.js';
import { settleNodes, startNats, type NatsServer } from './nats-helpers.js';
import { startPostgres, type Postgres } from './pg-helpers.js';

let pg: Postgres;
let nats: NatsServer;
const nodes: TestServer[] = [];
const clients: MqttClient[] = [];

before(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats()]);
  const database = await pg.createDatabase('cluster');
  // The first node creates the schema and the identity; the others join a running cluster.
  for (const id of ['a', 'b', 'c'])
    nodes.push(await startTestServer({ database, cluster: [nats.url], nodeId: id, dev: true, testMode: true }));
});

after(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => {});
  for (const n of nodes) await n.close();
  await Promise.all([nats.close(), pg.stop()]);
});

const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }] });

const iot = (n: TestServer): IoTClient =>
  new IoTClient({ endpoint: `http://127.0.0.1:${n.ports.http}`, region: 'us-east-1', credentials: n.adminKey });

async function until<T>(probe: () => Promise<T | undefined> | T | undefined, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function client(n: TestServer, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${n.ports.mqtt}`, { reconnectPeriod: 0, protocolVersion: 5, ...opts });
  clients.push(c);
  return c;
}

test('every node has the one CA and admin key; each says it is healthy and names itself in its metrics', async () => {
  const ca = nodes.map((n) => readFileSync(join(n.dataDir, 'ca.pem'), 'utf8'));
  assert.equal(new Set(ca).size, 1);
  assert.equal(new Set(nodes.map((n) => n.adminKey.accessKeyId)).size, 1);
  for (const [i, n] of nodes.entries()) {
    const health = (await (await fetch(`http://127.0.0.1:${n.ports.http}/healthz`)).json()) as Record<string, unknown>;
    assert.deepEqual([health.status, health.database, health.cluster], ['ok', 'ok', 'ok']);
    const metrics = await (await fetch(`http://127.0.0.1:${n.ports.http}/metrics`)).text();
    assert.match(metrics, new RegExp(`node="${['a', 'b', 'c'][i]}"`));
  }
});

test('what one node writes through the API every other node serves in its next answer (read-after-write)', async () => {
  const api = nodes.map(iot);
  const [a, b, c] = api;
  await a!.send(new CreateRoleAliasCommand({ roleAlias: 'fleet', roleArn: 'arn:aws:iam::123456789012:role/fleet' }));
  for (const other of [b!, c!]) {
    const d = await other.send(new DescribeRoleAliasCommand({ roleAlias: 'fleet' }));
    assert.equal(d.roleAliasDescription?.roleArn, 'arn:aws:iam::123456789012:role/fleet');
  }
  // Each write through one node, read through the next one at once: no retry, no wait.
  for (let i = 0; i < 12; i++) {
    const writer = api[i % 3]!;
    const reader = api[(i + 1) % 3]!;
    const thingName = `raw-${i}`;
    await writer.send(new CreateThingCommand({ thingName, attributePayload: { attributes: { round: '0' } } }));
    await writer.send(
      new CreateJobCommand({ jobId: `raw-job-${i}`, targets: [`arn:aws:iot:us-east-1:123456789012:thing/${thingName}`], document: '{}' }),
    );
    const job = await reader.send(new DescribeJobCommand({ jobId: `raw-job-${i}` }));
    assert.equal(job.job?.jobId, `raw-job-${i}`);
    await writer.send(new CreatePolicyCommand({ policyName: `raw-policy-${i}`, policyDocument: POLICY }));
    assert.equal((await reader.send(new GetPolicyCommand({ policyName: `raw-policy-${i}` }))).policyName, `raw-policy-${i}`);
    await writer.send(new UpdateThingCommand({ thingName, attributePayload: { attributes: { round: '1' } } }));
    assert.equal((await reader.send(new DescribeThingCommand({ thingName }))).attributes?.round, '1');
    await writer.send(new DeleteJobCommand({ jobId: `raw-job-${i}`, force: true }));
    await writer.send(new DeleteThingCommand({ thingName }));
    await assert.rejects(reader.send(new DescribeThingCommand({ thingName })), { name: 'ResourceNotFoundException' });
  }
});

test('a device provisioned through node B connects through node A at once; deactivated through node C, it is disconnected from A', async () => {
  const device = await provision(nodes[1]!, 'cross-node-device');
  // The certificate, its policy and the thing's principal were written through B; A serves them without waiting.
  const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${nodes[0]!.ports.mqtts}`, {
    ...tlsOptions(nodes[0]!, device),
    clientId: device.thingName,
    reconnectPeriod: 0,
    protocolVersion: 5,
  });
  clients.push(c);
  await c.publishAsync(`devices/${device.thingName}/hello`, 'hi', { qos: 1 });
  const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
  await iot(nodes[2]!).send(new UpdateCertificateCommand({ certificateId: device.certificateId, newStatus: 'INACTIVE' }));
  await until(() => (c.connected ? undefined : true), 'the connection on A to close');
  await closed;
  await assert.rejects(
    mqtt.connectAsync(`mqtts://127.0.0.1:${nodes[0]!.ports.mqtts}`, {
      ...tlsOptions(nodes[0]!, device),
      reconnectPeriod: 0,
      protocolVersion: 5,
    }),
  );
});

test('a QoS 1 subscriber on node A receives every message published on node B, in order', async () => {
  const sub = await client(nodes[0]!);
  await sub.subscribeAsync('fleet/+/telemetry', { qos: 1 });
  const got: number[] = [];
  sub.on('message', (_t, p) => got.push(Number(p.toString())));
  await settleNodes(nodes.map((n) => n.cluster));
  const pub = await client(nodes[1]!);
  const N = 200;
  for (let i = 0; i < N; i++) await pub.publishAsync('fleet/d1/telemetry', String(i), { qos: 1 });
  await until(() => (got.length >= N ? true : undefined), `${N} messages (have ${got.length})`);
  assert.deepEqual(
    got,
    Array.from({ length: N }, (_, i) => i),
  );
});

test('a client id that connects to node C while connected to node A is disconnected from A with 0x8E', async () => {
  const first = await client(nodes[0]!, { clientId: 'wanderer' });
  const reason = new Promise<number | undefined>((resolve) => first.once('disconnect', (p) => resolve(p.reasonCode)));
  await client(nodes[2]!, { clientId: 'wanderer' });
  assert.equal(await reason, 0x8e);
});

test('a persistent session resumes on another node with the messages queued for it while it was offline', async () => {
  const opts = { clientId: 'traveller', clean: false, properties: { sessionExpiryInterval: 600 } };
  const first = await client(nodes[0]!, opts);
  await first.subscribeAsync('travel/#', { qos: 1 });
  await first.endAsync();
  await settleNodes(nodes.map((n) => n.cluster));
  const pub = await client(nodes[2]!);
  for (let i = 0; i < 20; i++) await pub.publishAsync('travel/x', String(i), { qos: 1 });
  // Node A holds the offline session: the messages reach it over NATS and wait in its queue.
  await until(() => (nodes[0]!.broker.queuedCount >= 20 ? true : undefined), 'the queue on node A');
  await nodes[0]!.broker.whenDurable();
  const got: number[] = [];
  const second = mqtt.connect(`mqtt://127.0.0.1:${nodes[1]!.ports.mqtt}`, { reconnectPeriod: 0, protocolVersion: 5, ...opts });
  clients.push(second);
  second.on('message', (_t, p) => got.push(Number(p.toString())));
  const [connack] = (await new Promise((resolve) => second.once('connect', (...a) => resolve(a)))) as [{ sessionPresent: boolean }];
  assert.equal(connack.sessionPresent, true);
  await until(() => (got.length >= 20 ? true : undefined), `20 messages on node B (have ${got.length})`);
  assert.deepEqual(
    got,
    Array.from({ length: 20 }, (_, i) => i),
  );
  // The session lives on node B now: what is published next reaches it there, and node A let go.
  assert.equal(nodes[0]!.broker.isConnected('', 'traveller'), false);
  await settleNodes(nodes.map((n) => n.cluster));
  await pub.publishAsync('travel/y', '20', { qos: 1 });
  await until(() => (got.length === 21 ? true : undefined), 'the next message');
  assert.equal(nodes[0]!.broker.queuedCount, 0);
});

for (const [where, at] of [
  ['a third node', 2],
  ['the node it moves to', 1],
  ['the node it leaves', 0],
] as const)
  test(`a persistent subscriber moving to another node while ${where} publishes at QoS 1 misses nothing acknowledged, in order`, async () => {
    const opts = { clientId: `commuter-${at}`, clean: false, properties: { sessionExpiryInterval: 600 } };
    const onA: number[] = [];
    const onB: number[] = [];
    const first = await client(nodes[0]!, opts);
    first.on('message', (_t, p) => onA.push(Number(p.toString())));
    await first.subscribeAsync(`commute/${at}/#`, { qos: 1 });
    await settleNodes(nodes.map((n) => n.cluster));
    const pub = await client(nodes[at]!);
    let acked = 0;
    let stop = false;
    const publishing = (async () => {
      while (!stop) {
        await pub.publishAsync(`commute/${at}/x`, String(acked), { qos: 1 });
        acked++;
      }
    })();
    await until(() => (onA.length >= 50 ? true : undefined), 'messages on node A');
    // The client comes back on node B (as through a load balancer): node A's connection closes with 0x8E.
    // Listening before the CONNACK: what the moved session holds follows it in the same read.
    const second = mqtt.connect(`mqtt://127.0.0.1:${nodes[1]!.ports.mqtt}`, { reconnectPeriod: 0, protocolVersion: 5, ...opts });
    clients.push(second);
    second.on('message', (_t, p) => onB.push(Number(p.toString())));
    await new Promise((resolve, reject) => second.once('connect', resolve).once('error', reject));
    const movedAt = acked;
    await until(() => (acked >= movedAt + 100 ? true : undefined), 'publishing after the move');
    stop = true;
    await publishing;
    await until(
      () => (onB.includes(acked - 1) ? true : undefined),
      `the last message on node B (have ${onB.length}, ${acked} acknowledged)`,
    );
    // What node A delivered and its client had not acknowledged comes again on node B (QoS 1, at least once).
    const seen = new Set([...onA, ...onB]);
    const missing = Array.from({ length: acked }, (_, i) => i).filter((i) => !seen.has(i));
    assert.deepEqual(missing, [], `acknowledged to the publisher, never delivered (moved after ${movedAt})`);
    for (const [name, list] of [
      ['A', onA],
      ['B', onB],
    ] as const)
      assert.ok(
        list.every((v, i) => i === 0 || v > list[i - 1]!),
        `in order on node ${name}`,
      );
  });

test('a second node under a name already running in the cluster refuses to start', async () => {
  const database = nodes[0]!.config.database!;
  await assert.rejects(
    startTestServer({ database, cluster: [nats.url], nodeId: 'b', dev: true }),
    /another node of the cluster already runs as --node-id b/,
  );
});

test("a job's rollout runs once in the cluster: at most its rate, whichever nodes' timers tick", async () => {
  const api = iot(nodes[1]!);
  const things = ['roll-1', 'roll-2', 'roll-3', 'roll-4'];
  for (const thingName of things) await api.send(new CreateThingCommand({ thingName }));
  const arns = await Promise.all(things.map(async (t) => (await api.send(new DescribeThingCommand({ thingName: t }))).thingArn!));
  await api.send(
    new CreateJobCommand({
      jobId: 'paced',
      targets: arns,
      document: '{"op":"x"}',
      jobExecutionsRolloutConfig: { maximumPerMinute: 1 },
    }),
  );
  // Three nodes tick every second; a rollout per node would have created an execution on each.
  await new Promise((r) => setTimeout(r, 3500));
  const executions = await api.send(new ListJobExecutionsForJobCommand({ jobId: 'paced' }));
  assert.equal(executions.executionSummaries?.length, 1);
});

test('a file uploaded through node A downloads through nodes B and C, whole and by range; deleted through C, it is gone everywhere', async () => {
  const [a, b, c] = nodes as [TestServer, TestServer, TestServer];
  // Past two chunks of the database's content table, with a tail.
  const body = Buffer.alloc(2 * 1024 * 1024 + 12_345);
  for (let i = 0; i < body.length; i++) body[i] = (i * 31 + (i >> 11)) & 0xff;
  const stored = await uploaded(a, 'cluster-fw.bin', body);
  assert.equal(stored.sha256, sha256(body));
  for (const n of [b, c]) {
    const url = await presignedUrl(n, 'cluster-fw.bin');
    const whole = await get(url, n.pki.caCertPem);
    assert.equal(whole.status, 200);
    assert.equal(sha256(whole.body), sha256(body));
    // A range across the border of the first two chunks.
    const start = 1024 * 1024 - 7;
    const part = await get(url, n.pki.caCertPem, { headers: { range: `bytes=${start}-${start + 99}` } });
    assert.equal(part.status, 206);
    assert.deepEqual(part.body, body.subarray(start, start + 100));
  }
  // A job document kept as a file, uploaded through one node, read by another's CreateJob.
  await uploaded(c, 'cluster-doc.json', Buffer.from('{"operation":"install"}'));
  const { thingArn } = await iot(b).send(new CreateThingCommand({ thingName: 'file-dev' }));
  await iot(b).send(
    new CreateJobCommand({
      jobId: 'from-file',
      targets: [thingArn!],
      documentSource: 'thicket:files/cluster-doc.json',
    }),
  );
  assert.equal((await iot(b).send(new GetJobDocumentCommand({ jobId: 'from-file' }))).document, '{"operation":"install"}');
  const urlOnA = await presignedUrl(a, 'cluster-fw.bin');
  await filesApi(c, 'DELETE', '/cluster-fw.bin');
  assert.equal((await get(urlOnA, a.pki.caCertPem)).status, 404);
});

test('a per-account limit holds across nodes: 16 CreateAuthorizer calls at once through three nodes create exactly 10', async () => {
  const results = await Promise.all(
    Array.from({ length: 16 }, (_, i) =>
      iot(nodes[i % 3]!)
        .send(
          new CreateAuthorizerCommand({
            authorizerName: `limit-${i}`,
            authorizerFunctionArn: 'http://127.0.0.1:9/auth',
            signingDisabled: true,
          }),
        )
        .then(
          () => 'created',
          (err: Error) => err.name,
        ),
    ),
  );
  assert.deepEqual(
    [results.filter((r) => r === 'created').length, results.filter((r) => r === 'LimitExceededException').length],
    [10, 6],
    results.join(', '),
  );
  assert.equal((await iot(nodes[2]!).send(new ListAuthorizersCommand({}))).authorizers?.length, 10);
});

test("a thing's limit of 10 groups holds when three nodes add it to groups at once", async () => {
  const api = iot(nodes[0]!);
  await api.send(new CreateThingCommand({ thingName: 'busy' }));
  for (let i = 0; i < 12; i++) await api.send(new CreateThingGroupCommand({ thingGroupName: `limit-group-${i}` }));
  for (let i = 0; i < 9; i++) await api.send(new AddThingToThingGroupCommand({ thingName: 'busy', thingGroupName: `limit-group-${i}` }));
  const groupsOf = async (n: TestServer): Promise<number> =>
    (await iot(n).send(new ListThingGroupsForThingCommand({ thingName: 'busy' }))).thingGroups?.length ?? 0;
  // Every node has heard of the nine memberships and the last groups before the race.
  for (const n of nodes) {
    await until(async () => ((await groupsOf(n)) === 9 ? true : undefined), `node ${n.config.nodeId} to see 9 groups`);
    await until(
      () =>
        iot(n)
          .send(new DescribeThingGroupCommand({ thingGroupName: 'limit-group-11' }))
          .then(
            () => true,
            () => undefined,
          ),
      'the last group everywhere',
    );
  }
  const results = await Promise.all(
    [9, 10, 11].map((g, i) =>
      iot(nodes[i]!)
        .send(new AddThingToThingGroupCommand({ thingName: 'busy', thingGroupName: `limit-group-${g}` }))
        .then(
          () => 'added',
          (err: Error) => err.name,
        ),
    ),
  );
  assert.deepEqual(results.sort(), ['LimitExceededException', 'LimitExceededException', 'added'], results.join(', '));
  assert.equal(await groupsOf(nodes[0]!), 10);
});
