/** Device shadows over MQTT: the reserved topics, documents, errors and limits, with mqtt.js clients. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { provision, sleep, startTestServer, tlsOptions, type TestServer } from './helpers.js';
import { Inbox } from './shadow-helpers.js';

let server: TestServer;
const clients: MqttClient[] = [];

before(async () => {
  server = await startTestServer({ dev: true, shadow: { maxNamedShadowsPerThing: 3 } });
});
after(async () => {
  for (const c of clients) c.end(true);
  await server.close();
});

async function device(thing: string, protocolVersion: 4 | 5 = 5): Promise<{ c: MqttClient; inbox: Inbox }> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, {
    clientId: `dev-${thing}-${protocolVersion}`,
    protocolVersion,
    reconnectPeriod: 0,
  });
  clients.push(c);
  const inbox = new Inbox(c);
  await c.subscribeAsync(`$aws/things/${thing}/shadow/#`, { qos: 1 });
  return { c, inbox };
}

const publish = (c: MqttClient, topic: string, body: unknown): Promise<unknown> =>
  c.publishAsync(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });

for (const v of [4, 5] as const) {
  test(`classic shadow lifecycle over MQTT ${v === 4 ? '3.1.1' : '5'}: update, delta, documents, get, conflict, delete, version continuity`, async () => {
    const thing = `lamp-v${v}`;
    const p = `$aws/things/${thing}/shadow`;
    const { c, inbox } = await device(thing, v);

    await publish(c, `${p}/update`, { state: { desired: { color: 'red', level: 3 } }, clientToken: 't-1' });
    const accepted = await inbox.next(`${p}/update/accepted`);
    assert.deepEqual(accepted.state, { desired: { color: 'red', level: 3 } });
    assert.equal(accepted.version, 1);
    assert.equal(accepted.clientToken, 't-1');
    const ts = accepted.timestamp!;
    assert.ok(Math.abs(ts - Date.now() / 1000) < 5, 'timestamp in epoch seconds');
    assert.deepEqual(accepted.metadata, { desired: { color: { timestamp: ts }, level: { timestamp: ts } } });
    const delta = await inbox.next(`${p}/update/delta`);
    assert.deepEqual(delta.state, { color: 'red', level: 3 });
    assert.equal(delta.version, 1);
    const docs = await inbox.next(`${p}/update/documents`);
    assert.deepEqual((docs.current as { state: unknown }).state, { desired: { color: 'red', level: 3 } });
    assert.equal((docs.current as { version: number }).version, 1);
    assert.equal(docs.clientToken, 't-1');

    // The device reports one of the two: the delta left is the other, and no delta is published for a reported-only update.
    await publish(c, `${p}/update`, { state: { reported: { color: 'red' } } });
    const acc2 = await inbox.next(`${p}/update/accepted`);
    assert.equal(acc2.version, 2);
    assert.equal('clientToken' in acc2, false);
    const docs2 = await inbox.next(`${p}/update/documents`);
    assert.equal((docs2.previous as { version: number }).version, 1);

    await publish(c, `${p}/get`, { clientToken: 'g-1' });
    const got = await inbox.next(`${p}/get/accepted`);
    assert.deepEqual(got.state, { desired: { color: 'red', level: 3 }, reported: { color: 'red' }, delta: { level: 3 } });
    assert.equal(got.version, 2);
    assert.equal(got.clientToken, 'g-1');
    assert.equal(inbox.pending(`${p}/update/delta`), 0, 'a reported-only update publishes no delta');

    await publish(c, `${p}/update`, { state: { reported: { level: 1 } }, version: 1, clientToken: 'stale' });
    const conflict = await inbox.next(`${p}/update/rejected`);
    assert.equal(conflict.code, 409);
    assert.equal(conflict.message, 'Version conflict');
    assert.equal(conflict.clientToken, 'stale');

    await publish(c, `${p}/delete`, { clientToken: 'd-1' });
    const deleted = await inbox.next(`${p}/delete/accepted`);
    assert.equal(deleted.version, 2);
    assert.equal(deleted.clientToken, 'd-1');
    assert.equal(typeof deleted.timestamp, 'number');

    await publish(c, `${p}/get`, '');
    const missing = await inbox.next(`${p}/get/rejected`);
    assert.equal(missing.code, 404);
    assert.equal(missing.message, `No shadow exists with name: '${thing}'`);
    await publish(c, `${p}/delete`, '');
    assert.equal((await inbox.next(`${p}/delete/rejected`)).code, 404);

    // Re-created within 48 hours: the version sequence continues.
    await publish(c, `${p}/update`, { state: { reported: { on: true } } });
    assert.equal((await inbox.next(`${p}/update/accepted`)).version, 3);
  });
}

test('named shadows: their own topics, documents and 404 naming thing~shadow; the limit per thing', async () => {
  const { c, inbox } = await device('multi');
  const p = '$aws/things/multi/shadow/name/config';
  await publish(c, `${p}/update`, { state: { desired: { rate: 5 } }, clientToken: 'n-1' });
  const acc = await inbox.next(`${p}/update/accepted`);
  assert.equal(acc.version, 1);
  assert.equal((await inbox.next(`${p}/update/delta`)).clientToken, 'n-1');
  assert.equal(inbox.count('$aws/things/multi/shadow/update/accepted'), 0, 'the classic shadow is untouched');

  await publish(c, '$aws/things/multi/shadow/name/other/get', '');
  const missing = await inbox.next('$aws/things/multi/shadow/name/other/get/rejected');
  assert.equal(missing.message, "No shadow exists with name: 'multi~other'");

  for (const name of ['b', 'c']) await publish(c, `$aws/things/multi/shadow/name/${name}/update`, { state: { reported: { x: 1 } } });
  await inbox.next('$aws/things/multi/shadow/name/c/update/accepted');
  await publish(c, '$aws/things/multi/shadow/name/d/update', { state: { reported: { x: 1 } }, clientToken: 'too-many' });
  const refused = await inbox.next('$aws/things/multi/shadow/name/d/update/rejected');
  assert.equal(refused.code, 400);
  assert.match(refused.message!, /maximum of 3 named shadows/);
  assert.equal(refused.clientToken, 'too-many');
  // Updating an existing named shadow is not creating one.
  await publish(c, `${p}/update`, { state: { reported: { rate: 5 } } });
  assert.equal((await inbox.next(`${p}/update/accepted`)).version, 2);
});

test('bad requests are rejected on /rejected with the AWS code and message, echoing the clientToken', async () => {
  const { c, inbox } = await device('picky');
  const p = '$aws/things/picky/shadow';
  const cases: Array<[unknown, number, string | RegExp]> = [
    ['{not json', 400, 'Invalid JSON'],
    [{ clientToken: 'a' }, 400, 'Missing required node: state'],
    [{ state: 'on', clientToken: 'a' }, 400, 'State node must be an object'],
    [{ state: { desired: 5 }, clientToken: 'a' }, 400, 'Desired node must be an object'],
    [{ state: { reported: [1] }, clientToken: 'a' }, 400, 'Reported node must be an object'],
    [{ state: { delta: {} }, clientToken: 'a' }, 400, 'State contains an invalid node'],
    [{ state: { desired: { a: 1 } }, version: 'x', clientToken: 'a' }, 400, 'Invalid version'],
    [
      { state: { desired: { a: { b: { c: { d: { e: { f: { g: 1 } } } } } } } }, clientToken: 'a' },
      400,
      /too many levels of nesting; maximum is 6/,
    ],
    [{ state: { reported: { blob: 'x'.repeat(8200) } }, clientToken: 'a' }, 413, 'The payload exceeds the maximum size allowed'],
  ];
  for (const [body, code, message] of cases) {
    await publish(c, `${p}/update`, body);
    const r = await inbox.next(`${p}/update/rejected`);
    assert.equal(r.code, code, JSON.stringify(body).slice(0, 80));
    if (typeof message === 'string') assert.equal(r.message, message);
    else assert.match(r.message!, message);
    if (typeof body === 'object') assert.equal(r.clientToken, 'a');
  }
  await publish(c, `${p}/update`, { state: { desired: { a: 1 } }, clientToken: 'x'.repeat(65) });
  assert.equal((await inbox.next(`${p}/update/rejected`)).message, 'Invalid clientToken');
  assert.equal(inbox.count(`${p}/update/accepted`), 0, 'nothing was accepted');

  // A name outside the shadow-name charset is refused with a message that names the rule.
  await c.subscribeAsync('$aws/things/picky/shadow/name/+/update/rejected', { qos: 1 });
  await publish(c, '$aws/things/picky/shadow/name/has.dot/update', { state: { desired: { a: 1 } } });
  const badName = await inbox.next('$aws/things/picky/shadow/name/has.dot/update/rejected');
  assert.equal(badName.code, 400);
  assert.match(badName.message!, /Invalid shadow name 'has.dot'/);
});

test('concurrent updates from many clients to one shadow serialize: every field arrives, versions are 1..N', async () => {
  const n = 40;
  const writers = await Promise.all(Array.from({ length: 8 }, (_, i) => device(`busy-${i}`)));
  const { inbox } = await device('busy');
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      publish(writers[i % writers.length]!.c, '$aws/things/busy/shadow/update', { state: { reported: { [`k${i}`]: i } } }),
    ),
  );
  const versions: number[] = [];
  for (let i = 0; i < n; i++) versions.push((await inbox.next('$aws/things/busy/shadow/update/accepted')).version!);
  assert.deepEqual(
    versions.sort((a, b) => a - b),
    Array.from({ length: n }, (_, i) => i + 1),
  );
  const { c } = writers[0]!;
  const probe = new Inbox(c);
  await c.subscribeAsync('$aws/things/busy/shadow/get/accepted', { qos: 1 });
  await publish(c, '$aws/things/busy/shadow/get', '');
  const got = await probe.next('$aws/things/busy/shadow/get/accepted');
  assert.equal(Object.keys((got.state as { reported: object }).reported).length, n);
  assert.equal(got.version, n);
});

test('--profile aws throttles at 20 shadow requests per second per thing: 429 on /rejected and ThrottlingException over HTTP', async () => {
  const aws = await startTestServer({ dev: true, profile: 'aws' });
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${aws.ports.mqtt}`, { clientId: 'hasty', reconnectPeriod: 0 });
  try {
    const inbox = new Inbox(c);
    await c.subscribeAsync('$aws/things/hasty/shadow/update/+', { qos: 1 });
    await Promise.all(Array.from({ length: 30 }, (_, i) => publish(c, '$aws/things/hasty/shadow/update', { state: { reported: { i } } })));
    const rejected = await inbox.next('$aws/things/hasty/shadow/update/rejected');
    assert.equal(rejected.code, 429);
    await sleep(300);
    assert.equal(inbox.count('$aws/things/hasty/shadow/update/accepted'), 20);
    assert.equal(inbox.count('$aws/things/hasty/shadow/update/rejected'), 10);
    // Another thing has its own budget.
    await c.subscribeAsync('$aws/things/calm/shadow/update/accepted', { qos: 1 });
    await publish(c, '$aws/things/calm/shadow/update', { state: { reported: { ok: 1 } } });
    await inbox.next('$aws/things/calm/shadow/update/accepted');
  } finally {
    await c.endAsync();
    await aws.close();
  }
});

test('topic-level policies decide shadow requests and answers over MQTT, as AWS evaluates them', async () => {
  const ARN = 'arn:aws:iot:us-east-1:123456789012';
  const own = '$aws/things/${iot:Connection.Thing.ThingName}/shadow';
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: [`${ARN}:topic/${own}/update`, `${ARN}:topic/${own}/get`] },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/$aws/things/*` },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/${own}/*` },
    ],
  });
  const a = await provision(server, 'pol-a', policy);
  await provision(server, 'pol-b', policy);
  const c = await mqtt.connectAsync(`mqtts://localhost:${server.ports.mqtts}`, {
    ...tlsOptions(server, a),
    clientId: 'pol-a',
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  clients.push(c);
  const inbox = new Inbox(c);
  await c.subscribeAsync(['$aws/things/pol-a/shadow/update/accepted', '$aws/things/pol-b/shadow/update/accepted'], { qos: 1 });
  await publish(c, '$aws/things/pol-a/shadow/update', { state: { reported: { mine: true } } });
  assert.equal((await inbox.next('$aws/things/pol-a/shadow/update/accepted')).version, 1);
  // Another thing's shadow: the publish is refused (PUBACK 0x87) and the shadow is not created.
  const refused = await c
    .publishAsync('$aws/things/pol-b/shadow/update', JSON.stringify({ state: { reported: { x: 1 } } }), { qos: 1 })
    .then(
      () => 0,
      (e: { code?: number }) => e.code,
    );
  assert.equal(refused, 0x87);
  // Delete is not in the policy either.
  const noDelete = await c.publishAsync('$aws/things/pol-a/shadow/delete', '', { qos: 1 }).then(
    () => 0,
    (e: { code?: number }) => e.code,
  );
  assert.equal(noDelete, 0x87);
  // Answers about pol-b's shadow (updated by someone allowed) are not delivered to pol-a (no iot:Receive).
  const admin = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId: 'pol-admin', reconnectPeriod: 0 });
  clients.push(admin);
  const adminInbox = new Inbox(admin);
  await admin.subscribeAsync('$aws/things/pol-b/shadow/update/accepted', { qos: 1 });
  await publish(admin, '$aws/things/pol-b/shadow/update', { state: { reported: { y: 2 } } });
  assert.equal((await adminInbox.next('$aws/things/pol-b/shadow/update/accepted')).version, 1, 'pol-b was never created by pol-a');
  await sleep(200);
  assert.equal(inbox.count('$aws/things/pol-b/shadow/update/accepted'), 0);
});
