/**
 * The nats action end to end against a real nats-server (started here on a loopback port, stopped
 * by PID): rules created as raw JSON (the AWS SDK drops the key), devices publishing over MQTT, a
 * NATS subscriber receiving the output with its headers; JetStream with the stream's ack; subjects
 * a device steers; the server down, then back; which server and account a rule may use.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTopicRuleCommand } from '@aws-sdk/client-iot';
import { connect, type NatsConnection, type Msg } from 'nats';
import { adminRequest, configFromEnv, resolveConfig } from '@thicket/server';
import { awsError } from './helpers.js';
import { freePort, startNats, type NatsServer } from './nats-helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';

let nats: NatsServer;
let sub: NatsConnection;
let f: RulesFixture;

before(async () => {
  nats = await startNats({ jetstream: true, maxPayload: 4096 });
  const natsPort = nats.port;
  const unused = await freePort();
  sub = await connect({ servers: `127.0.0.1:${natsPort}`, maxReconnectAttempts: -1, reconnectTimeWait: 200 });
  f = await rulesFixture({
    rules: {
      nats: {
        default: { servers: [`nats://127.0.0.1:${natsPort}`] },
        partners: { servers: `127.0.0.1:${natsPort}`, accounts: ['210987654321'] },
        nowhere: { servers: [`127.0.0.1:${unused}`] },
      },
    },
  });
});
after(async () => {
  await f?.close();
  await sub?.close();
  await nats?.close();
});

const ROLE = 'arn:aws:iam::123456789012:role/r';
const errorsTo = (topic: string) => ({ republish: { roleArn: ROLE, topic } });

/** CreateTopicRule as raw JSON: the AWS SDK would drop the `nats` key. */
function createRule(ruleName: string, sql: string, actions: object[], more: Record<string, unknown> = {}, region = 'us-east-1') {
  return adminRequest({
    endpoint: `http://127.0.0.1:${f.server.ports.http}`,
    region,
    credentials: f.server.adminKey,
    method: 'POST',
    path: `/rules/${ruleName}`,
    body: { sql, actions, ...more },
  });
}

/** Messages arriving on a subject, one at a time. */
function listen(subject: string): { next(timeoutMs?: number): Promise<Msg>; quiet(ms: number): Promise<Msg[]> } {
  const got: Msg[] = [];
  let wake: (() => void) | undefined;
  sub.subscribe(subject, {
    callback: (_err, m) => {
      got.push(m);
      wake?.();
    },
  });
  let taken = 0;
  return {
    async next(timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (taken >= got.length) {
        if (Date.now() > deadline) throw new Error(`nothing on ${subject} within ${timeoutMs} ms`);
        await new Promise<void>((r) => {
          const t = setTimeout(r, 50);
          wake = () => {
            clearTimeout(t);
            r();
          };
        });
      }
      return got[taken++]!;
    },
    async quiet(ms) {
      await new Promise((r) => setTimeout(r, ms));
      return got.slice(taken);
    },
  };
}

interface FailureDoc {
  failures: { failedAction: string; failedResource: string; errorMessage: string }[];
}

test('a device publishes; a NATS subscriber gets the output on the templated subject, with headers', async () => {
  await createRule('tonats', "SELECT temperature AS t FROM 'dt/+/temp'", [
    {
      nats: {
        subject: 'iot.${topic(2)}.temp',
        headers: [
          { key: 'X-Device', value: '${clientid()}' },
          { key: 'Content-Type', value: 'application/json' },
        ],
      },
    },
  ]);
  const inbox = listen('iot.*.temp');
  await sub.flush();
  const device = await f.client('sensor-9');
  await device.publishAsync('dt/d7/temp', JSON.stringify({ temperature: 22 }), { qos: 1 });
  const m = await inbox.next();
  assert.equal(m.subject, 'iot.d7.temp');
  assert.deepEqual(JSON.parse(Buffer.from(m.data).toString()), { t: 22 });
  assert.equal(m.headers?.get('X-Device'), 'sensor-9');
  assert.equal(m.headers?.get('Content-Type'), 'application/json');
});

test('jetstream: true publishes through JetStream and waits for the stream; no stream fails the action', async () => {
  const jsm = await sub.jetstreamManager();
  await jsm.streams.add({ name: 'TELEMETRY', subjects: ['js.>'] });
  await createRule('tojs', "SELECT * FROM 'js/+'", [{ nats: { subject: '${kind}.${topic(2)}', jetstream: true } }], {
    errorAction: errorsTo('errors/js'),
  });
  const errors = await f.subscriber('errors/js');
  const device = await f.client();
  await device.publishAsync('js/a', JSON.stringify({ kind: 'js', n: 1 }), { qos: 1 });
  await device.publishAsync('js/b', JSON.stringify({ kind: 'nostream', n: 2 }), { qos: 1 });
  const doc = JSON.parse((await errors.next()).payload.toString()) as FailureDoc;
  assert.equal(doc.failures[0]!.failedAction, 'NatsAction');
  assert.equal(doc.failures[0]!.failedResource, 'nostream.b');
  assert.match(doc.failures[0]!.errorMessage, /No JetStream stream takes subject 'nostream.b'/);
  const stored = await jsm.streams.getMessage('TELEMETRY', { last_by_subj: 'js.a' });
  assert.deepEqual(JSON.parse(Buffer.from(stored.data).toString()), { kind: 'js', n: 1 });
  assert.deepEqual(await errors.settle(100), []);
});

test('subjects a device steers: wildcards, $JS/$SYS, _INBOX, whitespace and empty tokens fail the action', async () => {
  await createRule('steered', "SELECT * FROM 'steer'", [{ nats: { subject: '${s}', headers: [{ key: 'X-Note', value: '${note}' }] } }], {
    errorAction: errorsTo('errors/steer'),
  });
  const errors = await f.subscriber('errors/steer');
  const all = listen('>');
  await sub.flush();
  const device = await f.client();
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ s: 'a.*' }, /wildcard/],
    [{ s: 'a.>' }, /wildcard/],
    [{ s: '$JS.API.STREAM.DELETE.TELEMETRY' }, /NATS system's/],
    [{ s: '$SYS.REQ.SERVER.PING' }, /NATS system's/],
    [{ s: '_INBOX.abc' }, /replies to requests/],
    [{ s: 'a b' }, /whitespace/],
    [{ s: 'a..b' }, /empty token/],
    [{ s: '.a' }, /empty token/],
    [{}, /subject is empty/],
    [{ s: 'x'.repeat(1025) }, /at most 1024/],
    [{ s: 'ok.subject', note: 'line\r\nPUB evil 1' }, /line break/],
  ];
  for (const [payload, message] of cases) {
    await device.publishAsync('steer', JSON.stringify(payload), { qos: 1 });
    const doc = JSON.parse((await errors.next()).payload.toString()) as FailureDoc;
    assert.equal(doc.failures[0]!.failedAction, 'NatsAction');
    assert.match(doc.failures[0]!.errorMessage, message, JSON.stringify(payload));
  }
  assert.deepEqual(
    (await all.quiet(100)).map((m) => m.subject).filter((s) => !s.startsWith('$JS.EVENT')),
    [],
    'nothing reached NATS',
  );
  const jsm = await sub.jetstreamManager();
  assert.equal((await jsm.streams.info('TELEMETRY')).config.name, 'TELEMETRY', 'the stream was not deleted');
});

test('a message larger than the NATS server takes fails the action', async () => {
  await createRule('big', "SELECT * FROM 'big'", [{ nats: { subject: 'big' } }], { errorAction: errorsTo('errors/big') });
  const errors = await f.subscriber('errors/big');
  const device = await f.client();
  await device.publishAsync('big', JSON.stringify({ pad: 'x'.repeat(5000) }), { qos: 1 });
  const doc = JSON.parse((await errors.next()).payload.toString()) as FailureDoc;
  assert.match(doc.failures[0]!.errorMessage, /larger than the NATS server accepts \(4096 bytes\)/);
});

test('NATS down: the action fails at once (error action); once it is back the connection recovers on its own', async () => {
  await createRule('resilient', "SELECT * FROM 'res'", [{ nats: { subject: 'res.out' } }], { errorAction: errorsTo('errors/res') });
  const errors = await f.subscriber('errors/res');
  const device = await f.client();
  const out = listen('res.out');
  await sub.flush();
  await device.publishAsync('res', '{"n":1}', { qos: 1 });
  assert.equal(Buffer.from((await out.next()).data).toString(), '{"n":1}');

  await nats.stop();
  const started = Date.now();
  await device.publishAsync('res', '{"n":2}', { qos: 1 });
  const doc = JSON.parse((await errors.next()).payload.toString()) as FailureDoc;
  assert.match(doc.failures[0]!.errorMessage, /Not connected to the NATS server 'default'|was lost|not confirmed/);
  assert.ok(Date.now() - started < 2500, 'failed without waiting out a long timeout');

  await nats.start();
  // Reconnection is the client's own; publish until a message goes through.
  const deadline = Date.now() + 10_000;
  for (let n = 3; ; n++) {
    await device.publishAsync('res', JSON.stringify({ n }), { qos: 1 });
    try {
      const m = await out.next(400);
      assert.equal(JSON.parse(Buffer.from(m.data).toString()).n, n);
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
});

test('a configured server that cannot be reached: the action fails, it does not hang', async () => {
  await createRule('unreachable', "SELECT * FROM 'unreach'", [{ nats: { subject: 'x', server: 'nowhere' } }], {
    errorAction: errorsTo('errors/unreach'),
  });
  const errors = await f.subscriber('errors/unreach');
  const device = await f.client();
  for (let i = 0; i < 3; i++) await device.publishAsync('unreach', '{}', { qos: 1 });
  for (let i = 0; i < 3; i++) {
    const doc = JSON.parse((await errors.next()).payload.toString()) as FailureDoc;
    assert.equal(doc.failures[0]!.failedResource, 'nowhere');
    assert.match(doc.failures[0]!.errorMessage, /Cannot connect to the NATS server 'nowhere'/);
  }
});

test('a rule names a configured server open to its account, never an address', async () => {
  const refused = async (nats: Record<string, unknown>) => awsError(createRule('bad', "SELECT * FROM 'x'", [{ nats }]));
  let e = await refused({ subject: 'a', server: 'nats://evil.example:4222' });
  assert.match(
    e.message,
    /^InvalidRequestException: .*no NATS server named 'nats:\/\/evil.example:4222' is configured \(configured: default, partners, nowhere\)/,
  );
  e = await refused({ subject: 'a', server: 'partners' });
  assert.match(e.message, /the NATS server 'partners' is not open to account 123456789012/);
  e = await refused({ subject: 'a.*' });
  assert.match(
    e.message,
    /Value 'a.\*' at 'topicRulePayload.actions.1.member.nats.subject' failed to satisfy constraint: a subject to publish to contains no wildcard/,
  );
  e = await refused({});
  assert.match(
    e.message,
    /Value null at 'topicRulePayload.actions.1.member.nats.subject' failed to satisfy constraint: Member must not be null/,
  );
  e = await refused({ subject: 'a', headers: [{ key: 'Bad: key', value: 'v' }] });
  assert.match(e.message, /nats.headers.1.member.key' failed to satisfy constraint: a header name/);
  e = await refused({ subject: 'a', jetstream: 'yes' });
  assert.match(e.message, /nats.jetstream' failed to satisfy constraint: Member must be a boolean/);
  // The AWS SDK knows no nats key and drops it: the rule arrives with an empty action.
  e = await awsError(
    f.iot.send(
      new CreateTopicRuleCommand({
        ruleName: 'viasdk',
        topicRulePayload: { sql: "SELECT * FROM 'x'", actions: [{ nats: { subject: 'a' } } as never] },
      }),
    ),
  );
  assert.equal(e.name, 'InvalidRequestException');
});

test('namespaces: a rule of another region sees only its own messages', async () => {
  await createRule('eu', "SELECT * FROM 'ns/t'", [{ nats: { subject: 'ns.eu' } }], {}, 'eu-west-1');
  await createRule('us', "SELECT * FROM 'ns/t'", [{ nats: { subject: 'ns.us' } }]);
  const all = listen('ns.*');
  await sub.flush();
  const device = await f.client();
  await device.publishAsync('ns/t', '{"from":"us"}', { qos: 1 });
  assert.equal((await all.next()).subject, 'ns.us');
  assert.deepEqual(await all.quiet(200), []);
});

test('config: rules.nats servers by name, THICKET_RULES_NATS_SERVERS for the default, refusals that say why', () => {
  const fromFile = { rules: { nats: { default: { servers: 'nats://a:4222', user: 'u', pass: 'p' }, other: ['tls://b:4443', 'c:4222'] } } };
  const c = resolveConfig(fromFile, configFromEnv({ THICKET_RULES_NATS_SERVERS: 'nats://x:1,nats://y:2' }));
  assert.deepEqual(c.rules.nats.default, { servers: ['nats://x:1', 'nats://y:2'], user: 'u', pass: 'p' });
  assert.deepEqual(c.rules.nats.other, { servers: ['tls://b:4443', 'nats://c:4222'] });
  assert.deepEqual(resolveConfig({}).rules.nats, {});
  const bad: [unknown, RegExp][] = [
    [{ default: { servers: 'http://a:80' } }, /must use nats:\/\/ or tls:\/\//],
    [{ default: { servers: [] } }, /at least one server address/],
    [{ default: { servers: 'a:1', url: 'b' } }, /unknown setting "url"/],
    [{ 'bad name': 'a:1' }, /is not a server name/],
    [{ default: { servers: 'a:1', accounts: ['12'] } }, /"12" is not an account id/],
    [{ default: { servers: 'a:1', tls: { cert: '/c.pem' } } }, /cert and key go together/],
  ];
  for (const [nats, message] of bad) assert.throws(() => resolveConfig({ rules: { nats } }), message);
  assert.throws(() => resolveConfig({ rules: { metrics: { maxSeries: -1 } } }), /rules.metrics.maxSeries: "-1" is not a whole number/);
});
