/** Accounts × regions are separate namespaces over HTTP and MQTT; test mode resets everything quickly. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { CreateThingCommand, DescribeThingCommand, IoTClient, ListThingsCommand } from '@aws-sdk/client-iot';
import { adminRequest, type AccessKey } from '@thicket/server';
import { createAccount, provision, startTestServer, tlsOptions, type TestServer } from './helpers.js';

let server: TestServer;
let other: AccessKey;

before(async () => {
  server = await startTestServer({ testMode: true });
  other = await createAccount(server, '210987654321', 'second');
});
after(() => server.close());

const client = (region: string, credentials: AccessKey): IoTClient =>
  new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region, credentials });

async function errorName(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'no error',
    (e: { name: string }) => e.name,
  );
}

test('two accounts × two regions over HTTP: each sees only its own things; ARNs carry account and region', async () => {
  const spaces = [
    { region: 'us-east-1', key: server.adminKey, account: '123456789012' },
    { region: 'eu-west-1', key: server.adminKey, account: '123456789012' },
    { region: 'us-east-1', key: other, account: '210987654321' },
    { region: 'eu-west-1', key: other, account: '210987654321' },
  ];
  for (const [i, s] of spaces.entries()) {
    const iot = client(s.region, s.key);
    const r = await iot.send(new CreateThingCommand({ thingName: 'same-name', attributePayload: { attributes: { n: String(i) } } }));
    assert.equal(r.thingArn, `arn:aws:iot:${s.region}:${s.account}:thing/same-name`);
    await iot.send(new CreateThingCommand({ thingName: `only-in-${i}` }));
    iot.destroy();
  }
  for (const [i, s] of spaces.entries()) {
    const iot = client(s.region, s.key);
    assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'same-name' }))).attributes?.n, String(i));
    const names = (await iot.send(new ListThingsCommand({}))).things!.map((t) => t.thingName).sort();
    assert.deepEqual(names, [`only-in-${i}`, 'same-name']);
    for (let j = 0; j < spaces.length; j++) {
      if (j !== i)
        assert.equal(await errorName(iot.send(new DescribeThingCommand({ thingName: `only-in-${j}` }))), 'ResourceNotFoundException');
    }
    iot.destroy();
  }
});

test('a key of one account cannot act for another; only root keys create accounts', async () => {
  const api = { endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1' };
  await assert.rejects(
    adminRequest({ ...api, credentials: other, method: 'POST', path: '/_thicket/accounts', body: {} }),
    /AccessDeniedException: .*not a root key/,
  );
  const foreign = new IoTClient({ ...api, credentials: other });
  foreign.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-thicket-account'] = '123456789012';
      return next(args);
    },
    { step: 'build' },
  );
  assert.equal(await errorName(foreign.send(new ListThingsCommand({}))), 'AccessDeniedException');
  foreign.destroy();
  const readOnly = await adminRequest<{ accessKey: AccessKey }>({
    ...api,
    credentials: other,
    method: 'POST',
    path: '/_thicket/access-keys',
    body: { readOnly: true },
  });
  const ro = new IoTClient({ ...api, credentials: readOnly.accessKey });
  assert.ok(Array.isArray((await ro.send(new ListThingsCommand({}))).things));
  assert.equal(await errorName(ro.send(new CreateThingCommand({ thingName: 'nope' }))), 'AccessDeniedException');
  ro.destroy();
});

test('over MQTT, devices of different namespaces publishing on the same topic never meet', async () => {
  const devices = [
    await provision(server, 'ns-a', undefined, { region: 'us-east-1' }),
    await provision(server, 'ns-b', undefined, { region: 'eu-west-1' }),
    await provision(server, 'ns-c', undefined, { region: 'us-east-1', credentials: other }),
  ];
  const clients: MqttClient[] = [];
  const received: string[][] = [];
  for (const [i, d] of devices.entries()) {
    const c = await mqtt.connectAsync(`mqtts://localhost:${server.ports.mqtts}`, {
      ...tlsOptions(server, d),
      clientId: 'same-client-id',
      protocolVersion: 5,
      reconnectPeriod: 0,
    });
    received[i] = [];
    c.on('message', (_t, p) => received[i]!.push(p.toString()));
    await c.subscribeAsync('same/topic', { qos: 1 });
    clients.push(c);
  }
  for (const [i, c] of clients.entries()) {
    console.log('publishing', i);
    await c.publishAsync('same/topic', `from-${i}`, { qos: 1, retain: true });
  }
  console.log('published');
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(received, [['from-0'], ['from-1'], ['from-2']], 'same client id, same topic: three separate spaces');
  for (const c of clients) await c.endAsync();
});

test('test mode: POST /_thicket/reset clears every namespace under load, fast, and leaves a working server', async () => {
  const d = await provision(server, 'before-reset');
  const live = await mqtt.connectAsync(`mqtts://localhost:${server.ports.mqtts}`, {
    ...tlsOptions(server, d),
    clientId: 'before-reset',
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  const disconnected = new Promise<number | undefined>((r) => live.on('disconnect', (p) => r(p.reasonCode)));
  const ns = { accountId: '123456789012', region: 'us-east-1' };
  await server.platform
    .use('shadow')
    .shadows.update(ns, { thingName: 'before-reset', shadowName: '' }, '{"state":{"reported":{"on":true}}}');
  const pumping = setInterval(() => live.connected && live.publish('load/x', 'x', { qos: 1 }), 1);
  const t0 = performance.now();
  const res = await fetch(`http://127.0.0.1:${server.ports.http}/_thicket/reset`, { method: 'POST' });
  const elapsed = performance.now() - t0;
  clearInterval(pumping);
  assert.equal(res.status, 200);
  assert.ok(elapsed < 100, `reset took ${elapsed.toFixed(1)} ms`);
  assert.equal(await disconnected, 0x98);
  live.end(true);
  for (const key of [server.adminKey, other]) {
    const iot = client('us-east-1', key);
    assert.deepEqual((await iot.send(new ListThingsCommand({}))).things, []);
    iot.destroy();
  }
  assert.equal(server.broker.retainedCount, 0);
  assert.equal(server.broker.sessionCount, 0);
  await assert.rejects(server.platform.use('shadow').shadows.get(ns, { thingName: 'before-reset', shadowName: '' }), /No shadow exists/);
  const again = await provision(server, 'after-reset');
  const c = await mqtt.connectAsync(`mqtts://localhost:${server.ports.mqtts}`, {
    ...tlsOptions(server, again),
    clientId: 'after-reset',
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  await c.publishAsync('after/x', 'ok', { qos: 1 });
  await c.endAsync();
});

test('without --test-mode the reset route does not exist', async () => {
  const plain = await startTestServer();
  try {
    const res = await fetch(`http://127.0.0.1:${plain.ports.http}/_thicket/reset`, { method: 'POST' });
    assert.equal(res.status, 404);
  } finally {
    await plain.close();
  }
});
