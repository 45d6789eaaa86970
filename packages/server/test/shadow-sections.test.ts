/**
 * Empty top-level shadow sections through the running server: UpdateThingShadow / GetThingShadow
 * with @aws-sdk/client-iot-data-plane and MQTT requests, checking that the answers (the HTTP body,
 * `/update/accepted`, `/update/documents` previous/current, GET) agree that a `desired` or
 * `reported` section without properties does not exist, while nested `{}` values stay.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { GetThingShadowCommand, IoTDataPlaneClient, UpdateThingShadowCommand } from '@aws-sdk/client-iot-data-plane';
import { startTestServer, type TestServer } from './helpers.js';
import { Inbox, type Doc } from './shadow-helpers.js';

let server: TestServer;
let data: IoTDataPlaneClient;
let watcher: MqttClient;
let inbox: Inbox;

before(async () => {
  server = await startTestServer({ dev: true });
  data = new IoTDataPlaneClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId: 'sections-watcher', reconnectPeriod: 0 });
  inbox = new Inbox(watcher);
  await watcher.subscribeAsync('$aws/things/+/shadow/#', { qos: 1 });
});
after(async () => {
  await watcher.endAsync();
  data.destroy();
  await server.close();
});

const json = (bytes: Uint8Array | undefined): Doc => JSON.parse(Buffer.from(bytes ?? []).toString()) as Doc;
const body = (doc: unknown): Uint8Array => Buffer.from(JSON.stringify(doc));

async function updateHttp(thingName: string, doc: unknown, shadowName?: string): Promise<Doc> {
  return json((await data.send(new UpdateThingShadowCommand({ thingName, shadowName, payload: body(doc) }))).payload);
}
async function getHttp(thingName: string, shadowName?: string): Promise<Doc> {
  return json((await data.send(new GetThingShadowCommand({ thingName, shadowName }))).payload);
}

/** The next `/update/accepted` and `/update/documents` of a shadow, in that order. */
async function published(prefix: string): Promise<{ accepted: Doc; documents: Doc }> {
  const accepted = await inbox.next(`${prefix}/update/accepted`);
  const documents = await inbox.next(`${prefix}/update/documents`);
  return { accepted, documents };
}

/** GET's state without its delta, and its metadata, must equal `/update/documents` current. */
function assertAgree(get: Doc, documents: Doc): void {
  const current = documents['current'] as Doc;
  const { delta: _delta, ...sections } = get.state ?? {};
  assert.deepEqual(sections, current.state, 'GET state and documents.current state');
  assert.deepEqual(get.metadata, current.metadata, 'GET metadata and documents.current metadata');
  assert.equal(get.version, current.version);
}

test('removing the last desired property removes desired from every answer; the version still increments', async () => {
  const prefix = '$aws/things/lamp-1/shadow';
  await updateHttp('lamp-1', { state: { desired: { color: 'red' }, reported: { color: 'blue' } } });
  await published(prefix);
  assert.deepEqual((await inbox.next(`${prefix}/update/delta`)).state, { color: 'red' });

  const answer = await updateHttp('lamp-1', { state: { desired: { color: null } }, clientToken: 'rm' });
  const ts = answer.timestamp;
  assert.equal(typeof ts, 'number');
  assert.deepEqual(answer, {
    state: { desired: { color: null } },
    metadata: { desired: { color: { timestamp: ts } } },
    version: 2,
    timestamp: ts,
    clientToken: 'rm',
  });
  const { accepted, documents } = await published(prefix);
  assert.deepEqual(accepted, answer);
  const previous = documents['previous'] as Doc;
  const current = documents['current'] as Doc;
  assert.deepEqual(previous.state, { desired: { color: 'red' }, reported: { color: 'blue' } });
  assert.equal(previous.version, 1);
  assert.deepEqual(current.state, { reported: { color: 'blue' } });
  assert.deepEqual(Object.keys(current.metadata ?? {}), ['reported']);
  assert.equal(current.version, 2);

  const get = await getHttp('lamp-1');
  assert.deepEqual(get.state, { reported: { color: 'blue' } });
  assertAgree(get, documents);
  assert.equal(inbox.pending(`${prefix}/update/delta`), 0, 'no delta once desired is gone');
});

test('removing the last reported property leaves desired and a delta of all of it', async () => {
  await updateHttp('lamp-2', { state: { desired: { on: true }, reported: { on: true } } });
  await published('$aws/things/lamp-2/shadow');
  await updateHttp('lamp-2', { state: { reported: { on: null } } });
  const { documents } = await published('$aws/things/lamp-2/shadow');
  const get = await getHttp('lamp-2');
  assert.deepEqual(get.state, { desired: { on: true }, delta: { on: true } });
  assertAgree(get, documents);
});

test('a null for a property that never existed, sent over MQTT, does not create the section', async () => {
  const prefix = '$aws/things/lamp-3/shadow';
  await updateHttp('lamp-3', { state: { reported: { temp: 20 } } });
  await published(prefix);
  await watcher.publishAsync(`${prefix}/update`, JSON.stringify({ state: { desired: { ghost: null } }, clientToken: 'g' }), { qos: 1 });
  const { accepted, documents } = await published(prefix);
  assert.deepEqual(accepted.state, { desired: { ghost: null } });
  assert.equal(accepted.version, 2);
  assert.deepEqual((documents['current'] as Doc).state, { reported: { temp: 20 } });
  const get = await getHttp('lamp-3');
  assert.deepEqual(get.state, { reported: { temp: 20 } });
  assertAgree(get, documents);
  assert.equal(inbox.count(`${prefix}/update/rejected`), 0);
});

test('"desired": {} changes nothing on a named shadow but the version', async () => {
  const prefix = '$aws/things/lamp-4/shadow/name/cfg';
  await updateHttp('lamp-4', { state: { reported: { mode: 'eco' } } }, 'cfg');
  await published(prefix);
  const before = await getHttp('lamp-4', 'cfg');

  const answer = await updateHttp('lamp-4', { state: { desired: {} } }, 'cfg');
  assert.deepEqual(answer, { state: { desired: {} }, metadata: { desired: {} }, version: 2, timestamp: answer.timestamp });
  const { documents } = await published(prefix);
  assert.deepEqual((documents['previous'] as Doc).state, (documents['current'] as Doc).state);
  assert.deepEqual((documents['previous'] as Doc).metadata, (documents['current'] as Doc).metadata);
  const after = await getHttp('lamp-4', 'cfg');
  assert.deepEqual(after.state, { reported: { mode: 'eco' } });
  assert.deepEqual(after.metadata, before.metadata, 'timestamps are kept');
  assert.equal(after.version, 2);
  assertAgree(after, documents);
});

test('a first update of only empty sections creates an empty shadow at version 1', async () => {
  const answer = await updateHttp('lamp-5', { state: { desired: {}, reported: {} } });
  assert.equal(answer.version, 1);
  const { documents } = await published('$aws/things/lamp-5/shadow');
  assert.equal(documents['previous'], null);
  const get = await getHttp('lamp-5');
  assert.deepEqual(get.state, {});
  assert.deepEqual(get.metadata, {});
  assertAgree(get, documents);
});

test('nested empty objects are values: stored, shown by GET, in the delta and in documents', async () => {
  const prefix = '$aws/things/lamp-6/shadow';
  await updateHttp('lamp-6', { state: { desired: { cfg: {}, net: { wifi: 'on' } }, reported: { net: { wifi: 'on' } } } });
  await published(prefix);
  assert.deepEqual((await inbox.next(`${prefix}/update/delta`)).state, { cfg: {} });
  await updateHttp('lamp-6', { state: { reported: { net: { wifi: null } } } });
  const docs = (await published(prefix)).documents;
  const get = await getHttp('lamp-6');
  assert.deepEqual(get.state, {
    desired: { cfg: {}, net: { wifi: 'on' } },
    reported: { net: {} },
    delta: { cfg: {}, net: { wifi: 'on' } },
  });
  assert.deepEqual((get.metadata as Doc)['reported'], { net: {} });
  assertAgree(get, docs);
});
