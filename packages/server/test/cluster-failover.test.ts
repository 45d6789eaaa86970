/**
 * A cluster losing a part: a node killed with SIGKILL under QoS 1 load (its persistent subscriber
 * reconnects to another node and gets everything that was acknowledged), NATS stopped and started
 * again under load (QoS 1 refused while it is down, routing back once it returns), PostgreSQL stopped and started again under load (the node says so, refuses new
 * clients with 0x88, holds acknowledgements, and recovers by itself). Real processes, a real
 * nats-server and PostgreSQL, all on loopback.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startPostgres, type Postgres } from './pg-helpers.js';
import { spawnServer, startTestServer, tempDir, type ServerProcess, type TestServer } from './helpers.js';
import { settleNodes, startNats, type NatsServer } from './nats-helpers.js';

let pg: Postgres;
let nats: NatsServer;
const clients: MqttClient[] = [];
const servers: TestServer[] = [];

before(async () => {
  [pg, nats] = await Promise.all([startPostgres(), startNats()]);
});

after(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => {});
  for (const s of servers) await s.close().catch(() => {});
  await Promise.all([nats.close(), pg.stop()]);
});

async function until(cond: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function connect(port: number, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, protocolVersion: 5, ...opts });
  clients.push(c);
  return c;
}

/** Connects the persistent subscriber again (on another node), collecting from its first packet on; resolves with the CONNACK's session-present flag. */
async function resume(port: number, opts: IClientOptions, onMessage: (n: number) => void): Promise<boolean> {
  const again = mqtt.connect(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0, protocolVersion: 5, ...opts });
  clients.push(again);
  again.on('message', (_t, p) => onMessage(Number(p.toString())));
  const [connack] = (await new Promise((resolve, reject) => {
    again.once('connect', (...x) => resolve(x));
    again.once('error', reject);
  })) as [{ sessionPresent: boolean }];
  return connack.sessionPresent;
}

// Nodes take a silent node for dead after a second (the default is 15 s), so the test waits little.
process.env.THICKET_CLUSTER_LEASE_MS = '1000';

function node(database: string, id: string): Promise<ServerProcess> {
  return spawnServer([
    '--dev',
    '--database',
    database,
    '--cluster',
    nats.url,
    '--node-id',
    id,
    '--data-dir',
    tempDir(),
    '--mqtt-port',
    '0',
    '--http-port',
    '0',
    '--mqtts-port',
    'off',
    '--https-port',
    'off',
  ]);
}

test('kill -9 of a node under QoS 1 load: its persistent subscriber reconnects to another node and loses nothing acknowledged', async () => {
  const database = await pg.createDatabase('failover');
  const a = await node(database, 'a');
  const b = await node(database, 'b');
  try {
    const subOpts: IClientOptions = { clientId: 'watcher', clean: false, properties: { sessionExpiryInterval: 600 } };
    // And one that is offline when the node dies: another node takes its session over.
    const sleeperOpts: IClientOptions = { clientId: 'sleeper', clean: false, properties: { sessionExpiryInterval: 600 } };
    const sleeper = await connect(a.ports.mqtt!, sleeperOpts);
    await sleeper.subscribeAsync('wake/#', { qos: 1 });
    await sleeper.endAsync();
    // A slow consumer (one message in flight, each acknowledged after a while), so a backlog builds on node A.
    const sub = await connect(a.ports.mqtt!, { ...subOpts, properties: { ...subOpts.properties, receiveMaximum: 1 } });
    sub.handleMessage = (_packet, done) => void setTimeout(done, 5);
    await sub.subscribeAsync('load/#', { qos: 1 });
    const seenBefore = new Set<number>();
    sub.on('message', (_t, p) => seenBefore.add(Number(p.toString())));
    // The publisher is on the same node: each PUBACK means the message is stored for the subscriber's session.
    const pub = await connect(a.ports.mqtt!, { clientId: 'loader' });
    const acked: number[] = [];
    let next = 0;
    let running = true;
    void (async () => {
      while (running) {
        const n = next++;
        try {
          await pub.publishAsync('load/x', String(n), { qos: 1 });
          acked.push(n);
        } catch {
          return;
        }
      }
    })();
    await until(() => acked.length >= 400, '400 acknowledged messages');
    a.proc.kill('SIGKILL');
    await a.exited;
    running = false;
    const ackedAtKill = [...acked];

    const after: number[] = [];
    const present = await resume(b.ports.mqtt!, subOpts, (n) => after.push(n));
    assert.equal(present, true, 'the session moved from the dead node');
    const missing = (): number[] => ackedAtKill.filter((n) => !seenBefore.has(n) && !after.includes(n));
    await until(() => missing().length === 0, `every acknowledged message (missing ${missing().slice(0, 5).join(', ')}...)`);
    // What node B delivered came in publish order (redelivered in-flight ones first, then the queue).
    assert.deepEqual(
      after,
      [...after].sort((x, y) => x - y),
    );
    assert.ok(after.length > 0, 'some messages were still queued when the node died');

    // The offline session of the dead node now lives on node B: what is published for it waits there.
    await until(() => b.output.some((l) => l.includes('took over the sessions of nodes that died')), 'node B to take over the orphans');
    const pub2 = await connect(b.ports.mqtt!);
    for (let i = 0; i < 10; i++) await pub2.publishAsync('wake/up', String(i), { qos: 1 });
    const woke: number[] = [];
    const back = mqtt.connect(`mqtt://127.0.0.1:${b.ports.mqtt}`, { reconnectPeriod: 0, protocolVersion: 5, ...sleeperOpts });
    clients.push(back);
    back.on('message', (_t, p) => woke.push(Number(p.toString())));
    await until(() => woke.length >= 10, `the 10 messages queued for the sleeper (have ${woke.length})`);
    assert.deepEqual(
      woke,
      Array.from({ length: 10 }, (_, i) => i),
    );
  } finally {
    b.proc.kill('SIGTERM');
    await b.exited;
  }
});

test("kill -9 of the subscriber's node while another node's publisher is acknowledged: nothing acknowledged is lost, whether the takeover refuses or releases what was in flight", async () => {
  const database = await pg.createDatabase('subnode');
  const a = await node(database, 'sa');
  const b = await node(database, 'sb');
  try {
    const subOpts: IClientOptions = { clientId: 'far-watcher', clean: false, properties: { sessionExpiryInterval: 600 } };
    // A slow consumer on node A, so a backlog builds there; the publisher is on node B.
    const sub = await connect(a.ports.mqtt!, { ...subOpts, properties: { ...subOpts.properties, receiveMaximum: 1 } });
    sub.handleMessage = (_packet, done) => void setTimeout(done, 5);
    await sub.subscribeAsync('far/#', { qos: 1 });
    const seenBefore = new Set<number>();
    sub.on('message', (_t, p) => seenBefore.add(Number(p.toString())));
    const pub = await connect(b.ports.mqtt!, { clientId: 'far-loader' });
    // Node B learns of node A's persistent subscription: the first publishes wait for its confirmation.
    await new Promise((r) => setTimeout(r, 300));
    const acked: number[] = [];
    let next = 0;
    let running = true;
    const loading = (async () => {
      // 20 publishes in flight at a time: at the kill, some are in NATS, some in node A's commit.
      const one = async (): Promise<void> => {
        while (running) {
          const n = next++;
          try {
            await pub.publishAsync('far/x', String(n), { qos: 1 });
            acked.push(n);
          } catch {
            // Refused: the publisher would send it again; it is not counted as acknowledged.
          }
        }
      };
      await Promise.all(Array.from({ length: 20 }, one));
    })();
    // Back-pressure across nodes holds the publisher once node A's queue for the subscriber is
    // congested (250 messages): by then hundreds of acknowledged messages wait there.
    await until(() => acked.length >= 600, '600 acknowledged messages', 30_000);
    a.proc.kill('SIGKILL');
    await a.exited;
    // Publishing goes on while node A is dead, until node B has taken its sessions over. What waits
    // for node A's confirmation then is refused (0x80) and sent again; what node A had confirmed but
    // a hold of its congested session still held is acknowledged once the hold ends. Which of the
    // two happens depends on where each publish was at the kill: either way, every acknowledged one
    // must arrive.
    await until(
      () => b.output.some((l) => l.includes('took over the sessions of nodes that died')),
      "node B to take over node A's sessions",
    );
    running = false;
    await loading;
    const ackedAtStop = [...acked];

    const after = new Set<number>();
    const present = await resume(b.ports.mqtt!, subOpts, (n) => after.add(n));
    assert.equal(present, true, 'the session moved from the dead node');
    const missing = (): number[] => ackedAtStop.filter((n) => !seenBefore.has(n) && !after.has(n));
    await until(
      () => missing().length === 0,
      `every acknowledged message (missing ${missing().length}: ${missing().slice(0, 5).join(', ')}...)`,
    );
    // Once the cluster has dropped node A (none of its sessions is left), publishes are acknowledged again.
    const end = Date.now() + 15_000;
    for (;;) {
      const ok = await pub.publishAsync('far/x', 'last', { qos: 1 }).then(
        () => true,
        () => false,
      );
      if (ok) break;
      assert.ok(Date.now() < end, 'publishes are still refused 15 s after the takeover');
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    b.proc.kill('SIGTERM');
    await b.exited;
  }
});

async function twoNodes(name: string): Promise<[TestServer, TestServer]> {
  const database = await pg.createDatabase(name);
  const x = await startTestServer({ database, cluster: [nats.url], nodeId: `${name}-x`, dev: true });
  servers.push(x);
  const y = await startTestServer({ database, cluster: [nats.url], nodeId: `${name}-y`, dev: true });
  servers.push(y);
  return [x, y];
}

test('NATS stopped and started again under load: every message published on one node reaches the subscriber on the other, in order', async () => {
  const [x, y] = await twoNodes('natsrestart');
  const sub = await connect(x.ports.mqtt!);
  await sub.subscribeAsync('n/#', { qos: 1 });
  const got: number[] = [];
  let probes = 0;
  sub.on('message', (t, p) => (t === 'n/probe' ? probes++ : got.push(Number(p.toString()))));
  await settleNodes([x.cluster, y.cluster]);
  const pub = await connect(y.ports.mqtt!);
  let n = 0;
  for (; n < 100; n++) await pub.publishAsync('n/t', String(n), { qos: 1 });
  // A PUBACK does not wait for NATS: what was acknowledged but not yet written to NATS when it goes
  // away is lost for the other nodes (README, "not guaranteed yet"). The test stops it after a flush.
  await y.cluster!.flush();
  await nats.stop();
  await until(() => !y.cluster!.connected, 'the node to notice');
  const health = await fetch(`http://127.0.0.1:${y.ports.http}/healthz`);
  assert.equal(health.status, 503);
  assert.equal(((await health.json()) as Record<string, string>).cluster, 'NATS unreachable');
  // What could not reach the other node is refused, not acknowledged: 0x97 in the PUBACK.
  const refusal = await pub.publishAsync('n/t', 'during', { qos: 1 }).then(
    () => undefined,
    (err: { code?: number }) => err.code,
  );
  assert.equal(refusal, 0x97);
  const newcomer = await mqtt.connectAsync(`mqtt://127.0.0.1:${y.ports.mqtt}`, { reconnectPeriod: 0, protocolVersion: 5 }).then(
    (c) => (clients.push(c), undefined),
    (err: { code?: number }) => err.code,
  );
  assert.equal(newcomer, 0x88);
  await nats.start();
  await until(() => x.cluster!.connected && y.cluster!.connected, 'both links back', 30_000);
  // The nodes reconnect and subscribe again one after the other (core NATS): what is published before
  // both are back may miss the other node (README, "not guaranteed yet"). Once a probe crosses, routing is back.
  const deadline = Date.now() + 30_000;
  while (probes === 0) {
    if (Date.now() > deadline) throw new Error('routing between the nodes did not come back after NATS restarted');
    await pub.publishAsync('n/probe', 'probe', { qos: 1 });
    await new Promise((r) => setTimeout(r, 50));
  }
  for (; n < 200; n++) await pub.publishAsync('n/t', String(n), { qos: 1 });
  await until(() => got.length >= 200, `200 messages (have ${got.length})`, 30_000);
  assert.deepEqual(
    got,
    Array.from({ length: 200 }, (_, i) => i),
  );
});

test('PostgreSQL stopped and started again under load: acknowledgements wait, new clients are refused with 0x88, and the node recovers by itself', async () => {
  const [x] = await twoNodes('pgrestart');
  const sub = await connect(x.ports.mqtt!, { clientId: 'keeper', clean: false, properties: { sessionExpiryInterval: 600 } });
  await sub.subscribeAsync('p/#', { qos: 1 });
  const got: number[] = [];
  sub.on('message', (_t, p) => got.push(Number(p.toString())));
  const pub = await connect(x.ports.mqtt!);
  for (let i = 0; i < 50; i++) await pub.publishAsync('p/t', String(i), { qos: 1 });
  await pg.pause();
  // Publishes while the database is down: their PUBACKs wait for the commit.
  let acked = 0;
  const pending = Array.from({ length: 50 }, (_, i) => pub.publishAsync('p/t', String(50 + i), { qos: 1 }).then(() => acked++));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(acked, 0);
  const health = await fetch(`http://127.0.0.1:${x.ports.http}/healthz`);
  assert.equal(health.status, 503);
  const body = (await health.json()) as Record<string, string>;
  assert.notEqual(body.brokerStore, 'ok');
  const refused = await mqtt.connectAsync(`mqtt://127.0.0.1:${x.ports.mqtt}`, { reconnectPeriod: 0, protocolVersion: 5 }).then(
    (c) => (clients.push(c), undefined),
    (err: { code?: number }) => err.code,
  );
  assert.equal(refused, 0x88);
  await pg.resume();
  await Promise.all(pending);
  assert.equal(acked, 50);
  await until(() => got.length >= 100, `100 messages (have ${got.length})`, 30_000);
  assert.deepEqual(
    got,
    Array.from({ length: 100 }, (_, i) => i),
  );
  const healthy = await fetch(`http://127.0.0.1:${x.ports.http}/healthz`);
  assert.equal(healthy.status, 200);
  await connect(x.ports.mqtt!);
});
