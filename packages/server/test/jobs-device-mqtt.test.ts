/**
 * Jobs on the device side over MQTT 3.1.1 and MQTT 5 with mqtt.js (reference dataplane §3.1): every
 * request topic, the notifications, errors, answers delivered only to the requester, and policies.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import mqtt, { type MqttClient } from 'mqtt';
import { provision, sleep, startTestServer, tlsOptions, type TestServer } from './helpers.js';
import { Inbox } from './inbox.js';
import { ids, JobsAdmin, nowSeconds, type JobsDoc } from './jobs-helpers.js';

let server: TestServer;
let admin: JobsAdmin;
const clients: MqttClient[] = [];

before(async () => {
  server = await startTestServer({ dev: true });
  admin = new JobsAdmin(server);
});
after(async () => {
  for (const c of clients) c.end(true);
  admin.destroy();
  await server.close();
});

async function device(clientId: string, protocolVersion: 4 | 5 = 5): Promise<{ c: MqttClient; inbox: Inbox<JobsDoc> }> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId, protocolVersion, reconnectPeriod: 0 });
  clients.push(c);
  return { c, inbox: new Inbox<JobsDoc>(c) };
}

/** Publishes a request (an object as JSON, a string as it is) and returns the answer on `accepted` or `rejected`. */
async function ask(
  d: { c: MqttClient; inbox: Inbox<JobsDoc> },
  topic: string,
  body: unknown,
  outcome: 'accepted' | 'rejected' = 'accepted',
): Promise<JobsDoc> {
  const answer = d.inbox.next(`${topic}/${outcome}`);
  await d.c.publishAsync(topic, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 });
  return answer;
}

for (const v of [4, 5] as const) {
  test(`get, $next/get, start-next, {jobId}/get and {jobId}/update over MQTT ${v === 4 ? '3.1.1' : '5'}, without subscribing`, async () => {
    const thing = `mq${v}-dev`;
    const p = `$aws/things/${thing}/jobs`;
    const [j1, j2, j3] = [`mq${v}-first`, `mq${v}-second`, `mq${v}-third`];
    for (const j of [j1, j2, j3]) await admin.job(j, [thing], { operation: 'install', job: j });
    const d = await device(`c-${thing}`, v);

    const pending = await ask(d, `${p}/get`, { clientToken: 'g-1' });
    assert.deepEqual(pending.inProgressJobs, []);
    assert.deepEqual(ids(pending.queuedJobs), [j1, j2, j3], 'oldest first');
    const s = pending.queuedJobs![0]!;
    assert.deepEqual([s.versionNumber, s.executionNumber, s.startedAt], [1, 1, undefined]);
    assert.ok(Math.abs(s.queuedAt - nowSeconds()) <= 5, 'queuedAt in whole epoch seconds');
    assert.equal(s.lastUpdatedAt, s.queuedAt);
    assert.equal(pending.clientToken, 'g-1');
    assert.ok(Number.isInteger(pending.timestamp) && Math.abs(pending.timestamp! - nowSeconds()) <= 5);

    // $next/get: the document is included unless the request says otherwise.
    const next = await ask(d, `${p}/$next/get`, { clientToken: 'n-1' });
    assert.equal(next.clientToken, 'n-1');
    assert.deepEqual(
      [next.execution?.jobId, next.execution?.thingName, next.execution?.status, next.execution?.versionNumber],
      [j1, thing, 'QUEUED', 1],
    );
    assert.deepEqual(next.execution?.jobDocument, { operation: 'install', job: j1 });
    const bare = await ask(d, `${p}/$next/get`, { includeJobDocument: false });
    assert.equal(bare.execution?.jobId, j1);
    assert.equal('jobDocument' in bare.execution!, false);
    assert.equal('clientToken' in bare, false, 'no clientToken asked, none echoed');

    // start-next: the oldest QUEUED execution becomes IN_PROGRESS with the given details and step timer.
    const started = await ask(d, `${p}/start-next`, { statusDetails: { step: 'download' }, stepTimeoutInMinutes: 5, clientToken: 's-1' });
    const e = started.execution!;
    assert.deepEqual([e.jobId, e.status, e.versionNumber, e.executionNumber], [j1, 'IN_PROGRESS', 2, 1]);
    assert.deepEqual(e.statusDetails, { step: 'download' });
    assert.deepEqual(e.jobDocument, { operation: 'install', job: j1 });
    assert.ok(e.startedAt! >= e.queuedAt);
    assert.ok(e.approximateSecondsBeforeTimedOut! > 290 && e.approximateSecondsBeforeTimedOut! <= 300);
    assert.equal(started.clientToken, 's-1');
    // An IN_PROGRESS execution is next: start-next returns it unchanged.
    const again = await ask(d, `${p}/start-next`, { statusDetails: { step: 'ignored' } });
    assert.deepEqual([again.execution?.jobId, again.execution?.versionNumber], [j1, 2]);
    assert.deepEqual(again.execution?.statusDetails, { step: 'download' });

    const afterStart = await ask(d, `${p}/get`, {});
    assert.deepEqual(ids(afterStart.inProgressJobs), [j1]);
    assert.deepEqual(ids(afterStart.queuedJobs), [j2, j3]);
    assert.equal(afterStart.inProgressJobs![0]!.startedAt, e.startedAt);

    // {jobId}/get with an executionNumber, and one that does not exist.
    const second = await ask(d, `${p}/${j2}/get`, { executionNumber: 1, clientToken: 'd-1' });
    assert.deepEqual([second.execution?.jobId, second.execution?.status, second.execution?.executionNumber], [j2, 'QUEUED', 1]);
    assert.deepEqual(second.execution?.jobDocument, { operation: 'install', job: j2 });
    const noSuch = await ask(d, `${p}/${j2}/get`, { executionNumber: 2, clientToken: 'd-2' }, 'rejected');
    assert.deepEqual([noSuch.code, noSuch.clientToken], ['ResourceNotFound', 'd-2']);

    // {jobId}/update: expectedVersion, the optional parts of the answer, statusDetails replaced.
    const upd = await ask(d, `${p}/${j1}/update`, {
      status: 'IN_PROGRESS',
      statusDetails: { step: 'flash', progress: '50' },
      expectedVersion: 2,
      includeJobExecutionState: true,
      clientToken: 'u-1',
    });
    assert.deepEqual(upd.executionState, { status: 'IN_PROGRESS', statusDetails: { step: 'flash', progress: '50' }, versionNumber: 3 });
    assert.equal('jobDocument' in upd, false, 'includeJobDocument defaults to false');
    assert.equal(upd.clientToken, 'u-1');
    const plain = await ask(d, `${p}/${j1}/update`, { status: 'IN_PROGRESS', statusDetails: { progress: '90' } });
    assert.deepEqual(Object.keys(plain).sort(), ['timestamp'], 'includeJobExecutionState defaults to false');
    assert.deepEqual((await ask(d, `${p}/${j1}/get`, {})).execution?.statusDetails, { progress: '90' }, 'replaced, not merged');

    const stale = await ask(d, `${p}/${j1}/update`, { status: 'SUCCEEDED', expectedVersion: 2, clientToken: 'u-2' }, 'rejected');
    assert.equal(stale.code, 'VersionMismatch');
    assert.equal(stale.clientToken, 'u-2');
    assert.deepEqual(stale.executionState, { status: 'IN_PROGRESS', statusDetails: { progress: '90' }, versionNumber: 4 });

    const done = await ask(d, `${p}/${j1}/update`, { status: 'SUCCEEDED', expectedVersion: 4, includeJobDocument: true });
    assert.deepEqual(done.jobDocument, { operation: 'install', job: j1 });
    assert.equal('executionState' in done, false);
    assert.deepEqual((await ask(d, `${p}/${j1}/get`, {})).execution?.statusDetails, { progress: '90' }, 'omitted: unchanged');

    const terminal = await ask(d, `${p}/${j1}/update`, { status: 'IN_PROGRESS', clientToken: 'u-3' }, 'rejected');
    assert.equal(terminal.code, 'InvalidStateTransition');
    assert.equal(terminal.clientToken, 'u-3');
    assert.deepEqual(terminal.executionState, { status: 'SUCCEEDED', statusDetails: { progress: '90' }, versionNumber: 5 });

    // A device may end a QUEUED execution directly.
    const rejected = await ask(d, `${p}/${j3}/update`, { status: 'REJECTED', includeJobExecutionState: true });
    assert.deepEqual(rejected.executionState, { status: 'REJECTED', statusDetails: {}, versionNumber: 2 });
    const last = await ask(d, `${p}/get`, {});
    assert.deepEqual([ids(last.inProgressJobs), ids(last.queuedJobs)], [[], [j2]]);
  });
}

test('nothing pending: start-next and $next/get answer without an execution; an unknown job is ResourceNotFound', async () => {
  const p = '$aws/things/idle-dev/jobs';
  await admin.thing('idle-dev');
  const d = await device('c-idle');
  const start = await ask(d, `${p}/start-next`, { clientToken: 'idle-1' });
  assert.deepEqual(Object.keys(start).sort(), ['clientToken', 'timestamp']);
  assert.equal(start.clientToken, 'idle-1');
  const next = await ask(d, `${p}/$next/get`, { clientToken: 'idle-2' });
  assert.deepEqual(Object.keys(next).sort(), ['clientToken', 'timestamp']);
  const pending = await ask(d, `${p}/get`, {});
  assert.deepEqual([pending.inProgressJobs, pending.queuedJobs], [[], []]);
  for (const op of ['get', 'update']) {
    const r = await ask(d, `${p}/missing-job/${op}`, { status: 'IN_PROGRESS', clientToken: `nf-${op}` }, 'rejected');
    assert.deepEqual([r.code, r.clientToken], ['ResourceNotFound', `nf-${op}`]);
    assert.match(r.message!, /missing-job/);
    assert.equal('executionState' in r, false);
  }
});

test('notify when executions join or leave the pending list or start (IN_PROGRESS first); notify-next when the next one changes', async () => {
  const thing = 'notified-dev';
  const p = `$aws/things/${thing}/jobs`;
  await admin.thing(thing);
  const d = await device('c-notified');
  await d.c.subscribeAsync([`${p}/notify`, `${p}/notify-next`], { qos: 1 });
  const notify = async () => (await d.inbox.next(`${p}/notify`)).jobs!;
  const notifyNext = () => d.inbox.next(`${p}/notify-next`);

  await admin.job('nt-a', [thing]);
  const n1 = await d.inbox.next(`${p}/notify`);
  assert.deepEqual(Object.keys(n1.jobs!), ['QUEUED']);
  assert.deepEqual(ids(n1.jobs!.QUEUED), ['nt-a']);
  assert.ok(Math.abs(n1.timestamp! - nowSeconds()) <= 5);
  const nn1 = await notifyNext();
  assert.deepEqual([nn1.execution?.jobId, nn1.execution?.status], ['nt-a', 'QUEUED']);
  assert.deepEqual(nn1.execution?.jobDocument, { operation: 'nt-a' });

  // A second job joins the list but is not next.
  await admin.job('nt-b', [thing]);
  assert.deepEqual(ids((await notify()).QUEUED), ['nt-a', 'nt-b']);

  // nt-b starts: AWS lists an execution that "changes to a non-terminal status", and nt-b
  // (IN_PROGRESS) is next now.
  await ask(d, `${p}/nt-b/update`, { status: 'IN_PROGRESS' });
  const n2 = await notify();
  assert.deepEqual([ids(n2.IN_PROGRESS), ids(n2.QUEUED)], [['nt-b'], ['nt-a']]);
  const nn2 = await notifyNext();
  assert.deepEqual([nn2.execution?.jobId, nn2.execution?.status], ['nt-b', 'IN_PROGRESS']);

  await admin.job('nt-c', [thing]);
  const n3 = await notify();
  assert.deepEqual(Object.keys(n3), ['IN_PROGRESS', 'QUEUED']);
  assert.deepEqual([ids(n3.IN_PROGRESS), ids(n3.QUEUED)], [['nt-b'], ['nt-a', 'nt-c']]);
  assert.equal(n3.IN_PROGRESS![0]!.versionNumber, 2);

  // New details of an IN_PROGRESS execution change neither the list nor the next execution.
  await ask(d, `${p}/nt-b/update`, { status: 'IN_PROGRESS', statusDetails: { pct: '10' } });
  // Each execution that ends leaves the list, and the next one is announced.
  await ask(d, `${p}/nt-b/update`, { status: 'SUCCEEDED' });
  const n4 = await notify();
  assert.deepEqual([Object.keys(n4), ids(n4.QUEUED)], [['QUEUED'], ['nt-a', 'nt-c']]);
  assert.equal((await notifyNext()).execution?.jobId, 'nt-a');
  await ask(d, `${p}/nt-a/update`, { status: 'FAILED' });
  assert.deepEqual(ids((await notify()).QUEUED), ['nt-c']);
  assert.equal((await notifyNext()).execution?.jobId, 'nt-c');
  await ask(d, `${p}/nt-c/update`, { status: 'REJECTED' });
  assert.deepEqual(await notify(), {}, 'an empty list is "jobs":{}');
  const empty = await notifyNext();
  assert.equal('execution' in empty, false);
  assert.equal(typeof empty.timestamp, 'number');

  await sleep(200);
  assert.equal(d.inbox.count(`${p}/notify`), 7, 'one notify per execution joining, starting or leaving');
  assert.equal(d.inbox.count(`${p}/notify-next`), 5, 'one notify-next per change of the next execution');
});

test('answers reach only the requester, subscribed or not; notifications reach every subscriber', async () => {
  const thing = 'shared-dev';
  const p = `$aws/things/${thing}/jobs`;
  await admin.job('sh-1', [thing]);
  const requester = await device('c-requester', 4);
  const bystander = await device('c-bystander');
  await bystander.c.subscribeAsync([`${p}/#`, `${p}/+/get/accepted`], { qos: 1 });
  // The requester subscribes to its own answers (as the v2 SDK does): still one copy.
  await requester.c.subscribeAsync(`${p}/get/+`, { qos: 1 });

  assert.deepEqual(ids((await ask(requester, `${p}/get`, { clientToken: 'mine' })).queuedJobs), ['sh-1']);
  assert.equal((await ask(requester, `${p}/sh-1/get`, {})).execution?.jobId, 'sh-1');
  assert.equal((await ask(requester, `${p}/sh-1/update`, { status: 'DONE', clientToken: 'bad' }, 'rejected')).code, 'InvalidRequest');
  await ask(requester, `${p}/sh-1/update`, { status: 'SUCCEEDED' });
  // The bystander sees the requests (plain publishes) and the notifications, never the answers.
  assert.deepEqual((await bystander.inbox.next(`${p}/notify`)).jobs, {});
  assert.equal('execution' in (await bystander.inbox.next(`${p}/notify-next`)), false);
  await sleep(200);
  assert.equal(bystander.inbox.count(`${p}/get`), 1);
  for (const t of ['get/accepted', 'sh-1/get/accepted', 'sh-1/update/rejected', 'sh-1/update/accepted']) {
    assert.equal(bystander.inbox.count(`${p}/${t}`), 0, t);
  }
  assert.equal(requester.inbox.count(`${p}/get/accepted`), 1, 'one copy for a subscribed requester');
});

test('bad requests: InvalidJson, InvalidRequest, InvalidTopic, with the clientToken echoed when there is one', async () => {
  const thing = 'strict-dev';
  const p = `$aws/things/${thing}/jobs`;
  await admin.job('st-1', [thing]);
  const d = await device('c-strict');

  for (const raw of ['{not json', '[1,2]', '"text"']) {
    const r = await ask(d, `${p}/get`, raw, 'rejected');
    assert.equal(r.code, 'InvalidJson', raw);
    assert.equal('clientToken' in r, false);
    assert.equal(typeof r.timestamp, 'number');
  }
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['st-1/update', { status: 'DONE' }, /status/],
    ['st-1/update', {}, /status is required/],
    ['st-1/update', { status: 'IN_PROGRESS', statusDetails: { pct: 5 } }, /statusDetails/],
    ['st-1/update', { status: 'IN_PROGRESS', statusDetails: 'fine' }, /statusDetails/],
    ['st-1/update', { status: 'IN_PROGRESS', statusDetails: { v: 'x'.repeat(1025) } }, /1024/],
    ['st-1/update', { status: 'IN_PROGRESS', stepTimeoutInMinutes: 0 }, /stepTimeoutInMinutes/],
    ['st-1/update', { status: 'IN_PROGRESS', stepTimeoutInMinutes: 10081 }, /stepTimeoutInMinutes/],
    ['st-1/update', { status: 'IN_PROGRESS', expectedVersion: 'one' }, /expectedVersion/],
    ['start-next', { stepTimeoutInMinutes: 'soon' }, /stepTimeoutInMinutes/],
    ['start-next', { statusDetails: [1] }, /statusDetails/],
    ['st-1/get', { executionNumber: 0 }, /executionNumber/],
    ['st-1/get', { includeJobDocument: 'yes' }, /includeJobDocument/],
  ];
  for (const [op, body, message] of cases) {
    const r = await ask(d, `${p}/${op}`, { ...body, clientToken: 'tok' }, 'rejected');
    assert.equal(r.code, 'InvalidRequest', `${op} ${JSON.stringify(body)}`);
    assert.match(r.message!, message);
    assert.equal(r.clientToken, 'tok');
  }
  // A service-only status is not a device's to set.
  const service = await ask(d, `${p}/st-1/update`, { status: 'CANCELED', clientToken: 'svc' }, 'rejected');
  assert.deepEqual([service.code, service.executionState?.status], ['InvalidStateTransition', 'QUEUED']);

  for (const topic of [`${p}/foo/bar`, `${p}/st-1`, `${p}/start-next/now`, `${p}/st-1/get/more`]) {
    const r = await ask(d, topic, { clientToken: 'where' }, 'rejected');
    assert.deepEqual([r.code, r.clientToken], ['InvalidTopic', 'where'], topic);
  }
  const st = await ask(d, `${p}/st-1/get`, {});
  assert.deepEqual([st.execution?.status, st.execution?.versionNumber], ['QUEUED', 1], 'nothing changed');
});

test('topic-level policies: a device may ask only about its own thing; other things are refused by the broker', async () => {
  const ARN = 'arn:aws:iot:us-east-1:123456789012';
  const own = '$aws/things/${iot:Connection.Thing.ThingName}/jobs';
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}` },
      { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/${own}/*` },
      { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${ARN}:topicfilter/${own}/*` },
      { Effect: 'Allow', Action: 'iot:Receive', Resource: `${ARN}:topic/${own}/*` },
    ],
  });
  const a = await provision(server, 'jpol-a', policy);
  await admin.thing('jpol-a', true);
  await admin.job('jpol-job', ['jpol-a', 'jpol-b']);
  const c = await mqtt.connectAsync(`mqtts://localhost:${server.ports.mqtts}`, {
    ...tlsOptions(server, a),
    clientId: 'jpol-a',
    protocolVersion: 5,
    reconnectPeriod: 0,
  });
  clients.push(c);
  const d = { c, inbox: new Inbox<JobsDoc>(c) };
  await c.subscribeAsync('$aws/things/jpol-a/jobs/notify', { qos: 1 });
  assert.deepEqual(ids((await ask(d, '$aws/things/jpol-a/jobs/get', {})).queuedJobs), ['jpol-job']);
  const started = await ask(d, '$aws/things/jpol-a/jobs/start-next', {});
  assert.equal(started.execution?.status, 'IN_PROGRESS');
  assert.deepEqual(Object.keys((await d.inbox.next('$aws/things/jpol-a/jobs/notify')).jobs!), ['IN_PROGRESS']);
  await ask(d, '$aws/things/jpol-a/jobs/jpol-job/update', { status: 'SUCCEEDED' });
  assert.deepEqual((await d.inbox.next('$aws/things/jpol-a/jobs/notify')).jobs, {});

  for (const op of ['get', 'start-next', 'jpol-job/update', 'jpol-job/get']) {
    const refused = await c.publishAsync(`$aws/things/jpol-b/jobs/${op}`, JSON.stringify({ status: 'SUCCEEDED' }), { qos: 1 }).then(
      () => 0,
      (e: { code?: number }) => e.code,
    );
    assert.equal(refused, 0x87, op);
  }
  // jpol-b's execution was not touched.
  const other = await device('c-jpol-admin');
  const b = await ask(other, '$aws/things/jpol-b/jobs/jpol-job/get', {});
  assert.deepEqual([b.execution?.status, b.execution?.versionNumber], ['QUEUED', 1]);
  await sleep(100);
  assert.equal(d.inbox.count('$aws/things/jpol-b/jobs/get/accepted'), 0);
});
