/**
 * The http rule action end to end: rules created with @aws-sdk/client-iot, devices publishing over
 * MQTT, a loopback HTTP endpoint receiving the output; templates, content types, retries, timeouts,
 * the error action, the per-action bound, SigV4 with a Thicket role, and hostile URLs and headers.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateTopicRuleCommand, ListTopicRuleDestinationsCommand } from '@aws-sdk/client-iot';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';
import { closedPort, Endpoint } from './rules-http-helpers.js';
import { createRole, policy } from './roles-helpers.js';

let f: RulesFixture;
let ep: Endpoint;
let relay: Server;
let relayBase: string;
let deadPort: number;
let thicketPort = 0;

before(async () => {
  ep = await Endpoint.start();
  deadPort = await closedPort();
  // Forwards requests, headers untouched, to Thicket's own API: lets Thicket check a SigV4 signature made for this host.
  relay = createServer((req, res) => {
    const fwd = request({ host: '127.0.0.1', port: thicketPort, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(fwd);
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  relayBase = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
  f = await rulesFixture({
    rules: { trustedUrlPrefixes: [`${ep.base}/trusted`, `http://127.0.0.1:${deadPort}/`, `${relayBase}/topics/`] },
  });
  thicketPort = f.server.ports.http!;
});
after(async () => {
  await f.close();
  await ep.close();
  relay.closeAllConnections();
  await new Promise<void>((r) => relay.close(() => r()));
});

const ERROR_ACTION = (rule: string) => ({ republish: { roleArn: 'arn:aws:iam::123456789012:role/r', topic: `errors/${rule}` } });

async function rule(ruleName: string, sql: string, http: Record<string, unknown>, more: Record<string, unknown> = {}): Promise<void> {
  await f.iot.send(
    new CreateTopicRuleCommand({
      ruleName,
      topicRulePayload: { sql, actions: [{ http }], errorAction: ERROR_ACTION(ruleName), awsIotSqlVersion: '2016-03-23', ...more } as never,
    }),
  );
}

interface ErrorDoc {
  failures: { failedAction: string; failedResource: string; errorMessage: string }[];
}

async function refused(ruleName: string, http: Record<string, unknown>): Promise<string> {
  try {
    await rule(ruleName, "SELECT * FROM 'x'", http);
  } catch (err) {
    assert.equal((err as Error).name, 'InvalidRequestException');
    return (err as Error).message;
  }
  throw new Error(`rule ${ruleName} was accepted`);
}

test('the output is POSTed to the templated URL with templated headers; JSON, binary and a content-type header', async () => {
  await rule('deliver', "SELECT temperature AS t, topic(2) AS device FROM 'dt/+/temp'", {
    url: `${ep.base}/trusted/devices/\${topic(2)}?unit=c`,
    confirmationUrl: `${ep.base}/trusted`,
    headers: [
      { key: 'x-device', value: '${topic(2)}' },
      { key: 'x-static', value: 'yes' },
    ],
  });
  const device = await f.client('sensor-1');
  await device.publishAsync('dt/d7/temp', JSON.stringify({ temperature: 31 }), { qos: 1 });
  const [r] = await ep.waitFor('/trusted/devices/d7');
  assert.equal(r!.method, 'POST');
  assert.equal(r!.url, '/trusted/devices/d7?unit=c');
  assert.deepEqual(JSON.parse(r!.body.toString()), { t: 31, device: 'd7' });
  assert.equal(r!.headers['content-type'], 'application/json');
  assert.equal(r!.headers['x-device'], 'd7');
  assert.equal(r!.headers['x-static'], 'yes');

  await rule('binary', "SELECT * FROM 'bin/in'", { url: `${ep.base}/trusted/bin` });
  await rule('typed', "SELECT * FROM 'bin/in'", { url: `${ep.base}/trusted/typed`, headers: [{ key: 'Content-Type', value: 'text/csv' }] });
  await device.publishAsync('bin/in', Buffer.from([0xff, 0x00, 0x01]), { qos: 1 });
  const [bin] = await ep.waitFor('/trusted/bin');
  assert.deepEqual([...bin!.body], [0xff, 0x00, 0x01]);
  assert.equal(bin!.headers['content-type'], 'application/octet-stream');
  const [typed] = await ep.waitFor('/trusted/typed');
  assert.equal(typed!.headers['content-type'], 'text/csv');

  // Under a trusted prefix: the destinations were created ENABLED, and no confirmation was sent.
  const list = await f.iot.send(new ListTopicRuleDestinationsCommand({}));
  const trusted = list.destinationSummaries!.filter((s) => s.httpUrlSummary?.confirmationUrl?.startsWith(`${ep.base}/trusted`));
  assert.ok(trusted.length >= 3);
  for (const s of trusted) assert.equal(s.status, 'ENABLED');
  assert.equal(ep.requests.filter((r) => r.url.includes('confirmationToken')).length, 0);
});

test('keep-alive: a burst of messages to one endpoint reuses a few connections', async () => {
  await rule('burst', "SELECT * FROM 'burst/in'", { url: `${ep.base}/trusted/burst` });
  const device = await f.client();
  const before = ep.sockets.size;
  // Waves of 30 in flight at most: connections opened for one wave carry the next ones.
  for (let wave = 1; wave <= 10; wave++) {
    for (let i = 0; i < 30; i++) device.publish('burst/in', JSON.stringify({ wave, i }), { qos: 0 });
    await ep.waitFor('/trusted/burst', wave * 30, 10_000);
  }
  assert.ok(ep.sockets.size - before <= 60, `${ep.sockets.size - before} connections for 300 requests`);
});

test('retries: 500 twice then 200 is delivered; 429 three times and 400 once go to the error action', async () => {
  ep.behaviour = (r) => {
    if (r.url.startsWith('/trusted/flaky')) return ep.to('/trusted/flaky').length <= 2 ? { status: 500 } : { status: 200 };
    if (r.url.startsWith('/trusted/busy')) return { status: 429, body: 'slow down' };
    if (r.url.startsWith('/trusted/bad')) return { status: 400, body: 'no' };
    return { status: 200 };
  };
  try {
    for (const n of ['flaky', 'busy', 'bad']) await rule(n, `SELECT * FROM '${n}/in'`, { url: `${ep.base}/trusted/${n}` });
    const errors = await f.subscriber('errors/+');
    const device = await f.client();
    for (const n of ['flaky', 'busy', 'bad']) await device.publishAsync(`${n}/in`, '{}', { qos: 1 });
    await ep.waitFor('/trusted/flaky', 3);
    await ep.waitFor('/trusted/busy', 3);
    const got = [await errors.next(5000), await errors.next(5000)].map((m) => ({
      topic: m.topic,
      doc: JSON.parse(m.payload.toString()) as ErrorDoc,
    }));
    assert.deepEqual(got.map((g) => g.topic).sort(), ['errors/bad', 'errors/busy']);
    const busy = got.find((g) => g.topic === 'errors/busy')!.doc.failures[0]!;
    assert.equal(busy.failedAction, 'HttpAction');
    assert.equal(busy.failedResource, `${ep.base}/trusted/busy`);
    assert.match(busy.errorMessage, /answered 429: slow down after 2 retries/);
    const bad = got.find((g) => g.topic === 'errors/bad')!.doc.failures[0]!;
    assert.match(bad.errorMessage, /answered 400/);
    assert.deepEqual(await errors.settle(300), [], 'the flaky endpoint succeeded on its third try');
    assert.equal(ep.to('/trusted/flaky').length, 3);
    assert.equal(ep.to('/trusted/busy').length, 3);
    assert.equal(ep.to('/trusted/bad').length, 1, 'a 400 is not retried');
  } finally {
    ep.behaviour = () => ({ status: 200 });
  }
});

test('an endpoint that refuses connections: the error action runs (HttpAction, the URL) within 20 seconds', async () => {
  const url = `http://127.0.0.1:${deadPort}/ingest/\${topic(2)}`;
  await rule('dead', "SELECT * FROM 'dead/+'", { url, confirmationUrl: `http://127.0.0.1:${deadPort}/` });
  const errors = await f.subscriber('errors/dead');
  const device = await f.client();
  const started = Date.now();
  await device.publishAsync('dead/a1', JSON.stringify({ v: 1 }), { qos: 1 });
  const doc = JSON.parse((await errors.next(20_000)).payload.toString()) as ErrorDoc;
  const took = Date.now() - started;
  assert.ok(took < 20_000, `${took} ms`);
  assert.equal(doc.failures[0]!.failedAction, 'HttpAction');
  assert.equal(doc.failures[0]!.failedResource, `http://127.0.0.1:${deadPort}/ingest/a1`);
  assert.match(doc.failures[0]!.errorMessage, /ECONNREFUSED.* after 2 retries/);
});

// Before the slow-endpoint test: its hanging requests hold the shared sockets to the endpoint for a while.
test('an endpoint that never answers: each try is given 4 s, and after 3 tries the error action runs', async () => {
  ep.behaviour = (r) => (r.url.startsWith('/trusted/hang') ? 'hang' : { status: 200 });
  try {
    await rule('hang', "SELECT * FROM 'hang/in'", { url: `${ep.base}/trusted/hang` });
    const errors = await f.subscriber('errors/hang');
    const device = await f.client();
    const started = Date.now();
    await device.publishAsync('hang/in', '{}', { qos: 1 });
    const doc = JSON.parse((await errors.next(25_000)).payload.toString()) as ErrorDoc;
    const took = Date.now() - started;
    const tries = ep.to('/trusted/hang');
    // Seen once in CI: one try recorded of three, the error action told of timeouts after 2 retries; the details say which tries were missed.
    const seen = `${tries.length} tries seen at ${tries.map((t) => t.at - started).join(', ')} ms; connections accepted at ${ep.accepted
      .map((a) => a - started)
      .filter((a) => a >= 0)
      .join(', ')} ms; error after ${took} ms: ${doc.failures[0]!.errorMessage}`;
    assert.equal(tries.length, 3, seen);
    for (let i = 1; i < tries.length; i++) assert.ok(tries[i]!.at - tries[i - 1]!.at >= 3900, `try ${i + 1} came too early`);
    assert.ok(took >= 12_000 && took < 20_000, `${took} ms`);
    assert.equal(doc.failures[0]!.failedAction, 'HttpAction');
    assert.equal(doc.failures[0]!.failedResource, `${ep.base}/trusted/hang`);
    assert.match(
      doc.failures[0]!.errorMessage,
      /^HttpAction failed to make a request to the specified endpoint: Request timeout to 127\.0\.0\.1:\d+ after 4000 ms after 2 retries$/,
    );
  } finally {
    ep.behaviour = () => ({ status: 200 });
  }
});

test('a slow endpoint delays no other rule; past the per-action bound messages fail at once to the error action', async () => {
  ep.behaviour = (r) => (r.url.startsWith('/trusted/slow') ? 'hang' : { status: 200 });
  try {
    await rule('slow', "SELECT * FROM 'slow/in'", { url: `${ep.base}/trusted/slow` });
    await f.iot.send(
      new CreateTopicRuleCommand({
        ruleName: 'fast',
        topicRulePayload: {
          sql: "SELECT * FROM 'slow/in'",
          actions: [{ republish: { roleArn: 'arn:aws:iam::123456789012:role/r', topic: 'fast/out' } }],
        },
      }),
    );
    const out = await f.subscriber('fast/out');
    const errors = await f.subscriber('errors/slow');
    const device = await f.client();
    const started = Date.now();
    await device.publishAsync('slow/in', '{"n":0}', { qos: 1 });
    await out.next(2000);
    assert.ok(Date.now() - started < 2000);
    for (let i = 1; i <= 1010; i++) device.publish('slow/in', `{"n":${i}}`, { qos: 0 });
    for (let i = 1; i <= 1010; i++) await out.next(5000);
    const doc = JSON.parse((await errors.next(5000)).payload.toString()) as ErrorDoc;
    assert.match(doc.failures[0]!.errorMessage, /already in flight/);
    assert.equal(doc.failures[0]!.failedResource, `${ep.base}/trusted/slow`);
  } finally {
    ep.behaviour = () => ({ status: 200 });
  }
});

test('SigV4 with a Thicket role: Thicket itself accepts the signed request; a role of no account here cannot sign', async () => {
  const { role } = await createRole(
    f.server,
    'rules-http-publisher',
    policy([{ Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:us-east-1:123456789012:topic/signed/*' }]),
  );
  const sigv4 = { signingRegion: 'us-east-1', serviceName: 'iotdata', roleArn: role.roleArn };
  await rule('signed', "SELECT * FROM 'signed/in'", { url: `${relayBase}/topics/signed/out?qos=1`, auth: { sigv4 } });
  const out = await f.subscriber('signed/out');
  const device = await f.client();
  await device.publishAsync('signed/in', JSON.stringify({ ok: true }), { qos: 1 });
  assert.deepEqual(JSON.parse((await out.next(5000)).payload.toString()), { ok: true });

  // The role's policy still decides: a topic it does not allow is refused by Thicket (403).
  await rule('signedDenied', "SELECT * FROM 'signed/in2'", { url: `${relayBase}/topics/elsewhere?qos=1`, auth: { sigv4 } });
  const denied = await f.subscriber('errors/signedDenied');
  await device.publishAsync('signed/in2', '{}', { qos: 1 });
  assert.match((JSON.parse((await denied.next(5000)).payload.toString()) as ErrorDoc).failures[0]!.errorMessage, /answered 403/);

  // Another account's role (or no role) cannot be borrowed.
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  delete process.env.AWS_ACCESS_KEY_ID;
  delete process.env.AWS_SECRET_ACCESS_KEY;
  try {
    await rule('signedForeign', "SELECT * FROM 'signed/in3'", {
      url: `${relayBase}/topics/signed/x`,
      auth: { sigv4: { ...sigv4, roleArn: 'arn:aws:iam::999999999999:role/rules-http-publisher' } },
    });
    const foreign = await f.subscriber('errors/signedForeign');
    await device.publishAsync('signed/in3', '{}', { qos: 1 });
    assert.match(
      (JSON.parse((await foreign.next(5000)).payload.toString()) as ErrorDoc).failures[0]!.errorMessage,
      /Cannot sign with SigV4/,
    );
  } finally {
    if (saved.id !== undefined) process.env.AWS_ACCESS_KEY_ID = saved.id;
    if (saved.secret !== undefined) process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  }
});

test('hostile rules are refused at CreateTopicRule: schemes, credentials, CR/LF, reserved headers, missing confirmationUrl, batchConfig ranges (batching itself is accepted)', async () => {
  for (const url of [
    'file:///etc/passwd',
    'ftp://127.0.0.1/x',
    'javascript:alert(1)',
    'gopher://127.0.0.1:70/',
    'http://user:pw@127.0.0.1/x',
    'relative/path',
    `${ep.base}/a#frag`,
  ]) {
    assert.match(await refused('hostileUrl', { url }), /is not valid/, url);
  }
  assert.match(
    await refused('hostileHeader', { url: `${ep.base}/trusted/h`, headers: [{ key: 'x-a', value: 'a\r\nX-Injected: 1' }] }),
    /CR, LF/,
  );
  assert.match(
    await refused('hostileKey', { url: `${ep.base}/trusted/h`, headers: [{ key: 'x a:', value: 'v' }] }),
    /not a valid HTTP header name/,
  );
  assert.match(await refused('hostileHost', { url: `${ep.base}/trusted/h`, headers: [{ key: 'Host', value: 'evil' }] }), /set by Thicket/);
  assert.match(
    await refused('noConfirm', { url: `${ep.base}/trusted/\${topic()}` }),
    /confirmationUrl is required when the url has a substitution template/,
  );
  assert.match(
    await refused('notPrefix', { url: `${ep.base}/trusted/a`, confirmationUrl: `${ep.base}/other` }),
    /must be a prefix of the url/,
  );
  assert.match(
    await refused('hostPrefix', { url: `http://127.0.0.1.evil.net/x`, confirmationUrl: 'http://127.0.0.1' }),
    /must be a prefix/,
  );
  // Batching is accepted (rules-http-batching.test.ts); its batchConfig is held to AWS's ranges.
  await rule('batching', "SELECT * FROM 'x'", { url: `${ep.base}/trusted/b`, enableBatching: true, batchConfig: { maxBatchSize: 2 } });
  assert.match(
    await refused('batchOpen', { url: `${ep.base}/trusted/b`, enableBatching: true, batchConfig: { maxBatchOpenMs: 4 } }),
    /batchConfig.maxBatchOpenMs' failed to satisfy constraint: Member must have value greater than or equal to 5/,
  );
  assert.match(
    await refused('batchRange', { url: `${ep.base}/trusted/b`, batchConfig: { maxBatchSize: 11 } }),
    /Value '11' at 'topicRulePayload.actions.1.member.http.batchConfig.maxBatchSize' failed to satisfy constraint: Member must have value less than or equal to 10/,
  );
  assert.match(await refused('noUrl', {}), /Member must not be null/);
});

test('hostile output at run time: a template climbing out of the destination, or injecting a header line, sends nothing', async () => {
  await rule('climb', "SELECT * FROM 'climb/in'", {
    url: `${ep.base}/trusted/\${path}`,
    confirmationUrl: `${ep.base}/trusted/`,
    headers: [{ key: 'x-note', value: '${note}' }],
  });
  const errors = await f.subscriber('errors/climb');
  const device = await f.client();
  const before = ep.requests.length;
  await device.publishAsync('climb/in', JSON.stringify({ path: '../admin' }), { qos: 1 });
  const climb = (JSON.parse((await errors.next()).payload.toString()) as ErrorDoc).failures[0]!;
  assert.match(climb.errorMessage, /does not start with the confirmationUrl/);
  await device.publishAsync('climb/in', JSON.stringify({ path: 'ok', note: 'a\r\nX-Injected: 1' }), { qos: 1 });
  assert.match((JSON.parse((await errors.next()).payload.toString()) as ErrorDoc).failures[0]!.errorMessage, /CR, LF/);
  await device.publishAsync('climb/in', JSON.stringify({ path: '@evil.example/x' }), { qos: 1 });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(ep.requests.slice(before).filter((r) => r.headers['x-injected'] !== undefined || r.url.includes('admin')).length, 0);
});
