/**
 * Topic rules end to end: a thousand rules in one account all running, each control-plane change
 * seen by the next message, accounts kept apart, HTTPS publishes, binary payloads, MQTT 5
 * properties, and rules that survive a restart.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Agent } from 'node:https';
import { rmSync } from 'node:fs';
import {
  CreateTopicRuleCommand,
  DeleteTopicRuleCommand,
  DisableTopicRuleCommand,
  EnableTopicRuleCommand,
  GetTopicRuleCommand,
  IoTClient,
  ListTagsForResourceCommand,
  ListTopicRulesCommand,
  ReplaceTopicRuleCommand,
  type TopicRulePayload,
} from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import mqtt from 'mqtt';
import { awsError, createAccount, tempDir } from './helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';

const ROLE = 'arn:aws:iam::123456789012:role/rules';
const OTHER = '210987654321';

let f: RulesFixture;
before(async () => {
  f = await rulesFixture();
});
after(() => f.close());

const republish = (topic: string, qos = 1) => ({ republish: { roleArn: ROLE, topic, qos } });

function create(iot: IoTClient, ruleName: string, payload: Partial<TopicRulePayload>, tags?: string) {
  return iot.send(new CreateTopicRuleCommand({ ruleName, topicRulePayload: payload as TopicRulePayload, tags }));
}

/** A counter of /metrics with exactly these labels (0 when the series does not exist yet). */
async function metric(name: string, labels: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${f.server.ports.http}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

test('1,000 rules in one account all run, and each change is seen by the next message within 0.5 s', async () => {
  const N = 1000;
  const names = Array.from({ length: N }, (_, i) => `load_${i}`);
  for (let i = 0; i < N; i += 50) {
    await Promise.all(
      names
        .slice(i, i + 50)
        .map((name, j) =>
          create(f.iot, name, { sql: `SELECT n, ${i + j} AS rule FROM 'load/${i + j}'`, actions: [republish('loadout/${topic(2)}')] }),
        ),
    );
  }
  let listed = 0;
  let nextToken: string | undefined;
  do {
    const page = await f.iot.send(new ListTopicRulesCommand({ nextToken, maxResults: 400 }));
    listed += page.rules!.filter((r) => r.ruleName!.startsWith('load_')).length;
    nextToken = page.nextToken;
  } while (nextToken);
  assert.equal(listed, N);

  const out = await f.subscriber('loadout/#');
  const device = await f.client('loader');
  await Promise.all(names.map((_, i) => device.publishAsync(`load/${i}`, JSON.stringify({ n: i }), { qos: 1 })));
  const seen = new Set<string>();
  for (let k = 0; k < N; k++) {
    const m = await out.next(10_000);
    const body = JSON.parse(m.payload.toString()) as { n: number; rule: number };
    assert.equal(m.topic, `loadout/${body.n}`);
    assert.equal(body.rule, body.n, 'each message reached the rule of its topic');
    seen.add(m.topic);
  }
  assert.equal(seen.size, N, 'every one of the 1,000 rules ran');
  assert.deepEqual(await out.settle(200), [], 'no rule ran twice');

  // Each change, then the next message, with all 1,000 rules installed.
  const send = () => device.publishAsync('load/7', JSON.stringify({ n: 7 }), { qos: 1 });
  const arrives = async (what: string, expected: Record<string, unknown>) => {
    const since = performance.now();
    await send();
    const m = await out.next(500);
    assert.ok(performance.now() - since <= 500, `${what}: ${Math.round(performance.now() - since)} ms`);
    assert.deepEqual(JSON.parse(m.payload.toString()), expected, what);
  };
  const silent = async (what: string) => {
    await send();
    assert.deepEqual(await out.settle(500), [], what);
  };
  await f.iot.send(
    new ReplaceTopicRuleCommand({
      ruleName: 'load_7',
      topicRulePayload: { sql: "SELECT n, 'replaced' AS rule FROM 'load/7'", actions: [republish('loadout/${topic(2)}')] },
    }),
  );
  await arrives('replace', { n: 7, rule: 'replaced' });
  await f.iot.send(new DisableTopicRuleCommand({ ruleName: 'load_7' }));
  await silent('disable');
  await f.iot.send(new EnableTopicRuleCommand({ ruleName: 'load_7' }));
  await arrives('enable', { n: 7, rule: 'replaced' });
  await f.iot.send(new DeleteTopicRuleCommand({ ruleName: 'load_7' }));
  await silent('delete');
  await create(f.iot, 'load_7', { sql: "SELECT n, 'created again' AS rule FROM 'load/7'", actions: [republish('loadout/${topic(2)}')] });
  await arrives('create', { n: 7, rule: 'created again' });
  // A replace that moves the rule to another topic leaves the old one.
  await f.iot.send(
    new ReplaceTopicRuleCommand({
      ruleName: 'load_7',
      topicRulePayload: { sql: "SELECT n, 'moved' AS rule FROM 'load/moved'", actions: [republish('loadout/${topic(2)}')] },
    }),
  );
  await silent('replace onto another topic');
  await device.publishAsync('load/moved', JSON.stringify({ n: 'moved' }), { qos: 1 });
  assert.deepEqual(JSON.parse((await out.next(500)).payload.toString()), { n: 'moved', rule: 'moved' });
});

test("rules are kept per account: B's rule never sees A's messages, and A cannot get, list, change or delete B's rules", async () => {
  const endpoint = `http://127.0.0.1:${f.server.ports.http}`;
  const key = await createAccount(f.server, OTHER);
  const b = new IoTClient({ endpoint, region: 'us-east-1', credentials: key, maxAttempts: 1 });
  const bData = new IoTDataPlaneClient({ endpoint, region: 'us-east-1', credentials: key, maxAttempts: 1 });
  try {
    const sql = "SELECT *, accountid() AS account FROM 'iso/t'";
    await create(f.iot, 'iso_rule', { sql, actions: [republish('iso/out')] });
    await create(b, 'iso_rule', { sql, actions: [republish('iso/out')] });
    await create(b, 'b_only', { sql: "SELECT * FROM 'iso/t'", actions: [republish('iso/b')] });
    assert.equal((await b.send(new GetTopicRuleCommand({ ruleName: 'iso_rule' }))).ruleArn, `arn:aws:iot:us-east-1:${OTHER}:rule/iso_rule`);

    const seenByA = await f.subscriber('iso/#');
    const device = await f.client('a-device');
    await device.publishAsync('iso/t', JSON.stringify({ from: 'A' }), { qos: 1 });
    await device.publishAsync('$aws/rules/b_only/x', JSON.stringify({ from: 'A, basic ingest' }), { qos: 1 });
    const got = await seenByA.settle(400);
    assert.deepEqual(
      got.map((m) => [m.topic, JSON.parse(m.payload.toString())]),
      [
        ['iso/t', { from: 'A' }],
        ['iso/out', { from: 'A', account: '123456789012' }],
      ],
    );
    const matched = (account: string, rule: string) =>
      metric('thicket_rules_messages_matched_total', `account="${account}",rule="${rule}"`);
    assert.equal(await matched(OTHER, 'iso_rule'), 0);
    assert.equal(await matched(OTHER, 'b_only'), 0);

    // B's own message (iot-data Publish with B's key) runs B's rules, and A sees none of it.
    await bData.send(new PublishCommand({ topic: 'iso/t', payload: Buffer.from(JSON.stringify({ from: 'B' })), qos: 1 }));
    const deadline = Date.now() + 2000;
    while ((await matched(OTHER, 'iso_rule')) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await matched(OTHER, 'iso_rule'), 1);
    assert.equal(await matched(OTHER, 'b_only'), 1);
    assert.equal(await metric('thicket_rules_actions_total', `account="${OTHER}",rule="iso_rule",action="republish",outcome="success"`), 1);
    assert.equal(await matched('123456789012', 'iso_rule'), 1, "A's rule did not see B's message");
    assert.deepEqual(await seenByA.settle(300), []);

    const denied = (name: string) => ({ name: 'UnauthorizedException', message: `Access to topic rule '${name}' was denied`, status: 401 });
    assert.deepEqual(await awsError(f.iot.send(new GetTopicRuleCommand({ ruleName: 'b_only' }))), denied('b_only'));
    assert.deepEqual(await awsError(f.iot.send(new DeleteTopicRuleCommand({ ruleName: 'b_only' }))), denied('b_only'));
    assert.deepEqual(await awsError(f.iot.send(new DisableTopicRuleCommand({ ruleName: 'b_only' }))), denied('b_only'));
    assert.deepEqual(
      await awsError(
        f.iot.send(new ReplaceTopicRuleCommand({ ruleName: 'b_only', topicRulePayload: { sql: "SELECT * FROM 'hijack'", actions: [] } })),
      ),
      denied('b_only'),
    );
    const aList = (await f.iot.send(new ListTopicRulesCommand({ topic: 'iso/t' }))).rules!;
    assert.deepEqual(
      aList.map((r) => r.ruleArn),
      ['arn:aws:iot:us-east-1:123456789012:rule/iso_rule'],
    );
    assert.deepEqual(
      (await b.send(new ListTopicRulesCommand({ topic: 'iso/t' }))).rules!.map((r) => r.ruleArn),
      [`arn:aws:iot:us-east-1:${OTHER}:rule/b_only`, `arn:aws:iot:us-east-1:${OTHER}:rule/iso_rule`],
    );
    assert.equal(
      (await awsError(f.iot.send(new ListTagsForResourceCommand({ resourceArn: `arn:aws:iot:us-east-1:${OTHER}:rule/b_only` })))).name,
      'ResourceNotFoundException',
    );
    // Another region of the same account is another namespace too.
    const eu = new IoTClient({ endpoint, region: 'eu-west-1', credentials: f.server.adminKey, maxAttempts: 1 });
    try {
      assert.deepEqual(await awsError(eu.send(new GetTopicRuleCommand({ ruleName: 'iso_rule' }))), denied('iso_rule'));
      assert.deepEqual((await eu.send(new ListTopicRulesCommand({}))).rules, []);
    } finally {
      eu.destroy();
    }
    // A deleting its own iso_rule leaves B's.
    await f.iot.send(new DeleteTopicRuleCommand({ ruleName: 'iso_rule' }));
    assert.equal((await b.send(new GetTopicRuleCommand({ ruleName: 'iso_rule' }))).rule!.sql, sql);
    assert.equal((await b.send(new GetTopicRuleCommand({ ruleName: 'b_only' }))).rule!.ruleDisabled, false);
  } finally {
    b.destroy();
    bData.destroy();
  }
});

test('an iot-data Publish over HTTPS feeds a rule, with clientid() n/a', async () => {
  await create(f.iot, 'https_in', {
    sql: "SELECT *, clientid() AS cid, topic() AS t, principal() AS p FROM 'https/in'",
    actions: [republish('https/out')],
  });
  const out = await f.subscriber('https/out');
  const data = new IoTDataPlaneClient({
    endpoint: `https://127.0.0.1:${f.server.ports.https}`,
    region: 'us-east-1',
    credentials: f.server.adminKey,
    requestHandler: new NodeHttpHandler({ httpsAgent: new Agent({ ca: f.server.pki.caCertPem }) }),
  });
  try {
    await data.send(new PublishCommand({ topic: 'https/in', payload: Buffer.from(JSON.stringify({ v: 1 })), qos: 1 }));
  } finally {
    data.destroy();
  }
  const got = JSON.parse((await out.next()).payload.toString()) as Record<string, unknown>;
  assert.equal(got.cid, 'n/a');
  assert.equal(got.t, 'https/in');
  assert.equal(got.v, 1);
});

test("binary payloads: SELECT * passes the bytes unchanged; encode(*, 'base64') turns them into text", async () => {
  await create(f.iot, 'bin_raw', { sql: "SELECT * FROM 'bin/in'", actions: [republish('bin/raw')] });
  await create(f.iot, 'bin_b64', {
    sql: "SELECT encode(*, 'base64') AS data, topic() AS t, bytes AS missing FROM 'bin/in'",
    awsIotSqlVersion: '2016-03-23',
    actions: [republish('bin/b64')],
  });
  await create(f.iot, 'bin_where', { sql: "SELECT * FROM 'bin/in' WHERE bytes > 1", actions: [republish('bin/where')] });
  const raw = await f.subscriber('bin/raw');
  const b64 = await f.subscriber('bin/b64');
  const where = await f.subscriber('bin/where');
  const bytes = Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x7b]), Buffer.from(Array.from({ length: 256 }, (_, i) => i))]);
  const device = await f.client();
  await device.publishAsync('bin/in', bytes, { qos: 1 });
  assert.ok((await raw.next()).payload.equals(bytes), 'the same bytes');
  assert.deepEqual(JSON.parse((await b64.next()).payload.toString()), { data: bytes.toString('base64'), t: 'bin/in' });
  assert.deepEqual(await where.settle(200), [], 'a field of a binary payload is Undefined, so WHERE is not true');
  // A JSON payload is encoded as its text.
  await device.publishAsync('bin/in', '{"a": 1}', { qos: 1 });
  assert.equal((await raw.next()).payload.toString(), '{"a":1}');
  assert.equal((JSON.parse((await b64.next()).payload.toString()) as { data: string }).data, Buffer.from('{"a": 1}').toString('base64'));
});

test('MQTT 5 properties of the incoming message are visible to get_mqtt_property and get_user_properties', async () => {
  await create(f.iot, 'props', {
    sql:
      "SELECT get_mqtt_property('content_type') AS ct, get_mqtt_property('format_indicator') AS fi, " +
      "get_mqtt_property('response_topic') AS rt, get_mqtt_property('correlation_data') AS cd, " +
      "get_user_properties('k') AS up, get_mqtt_property('nope') AS none FROM 'props/in'",
    actions: [republish('props/out')],
  });
  const out = await f.subscriber('props/out');
  const device = await f.client();
  await device.publishAsync('props/in', '{}', {
    qos: 1,
    properties: {
      contentType: 'application/json; v=2',
      payloadFormatIndicator: true,
      responseTopic: 'props/reply',
      correlationData: Buffer.from('corr-1'),
      userProperties: { k: ['v1', 'v2'], other: 'x' },
    },
  });
  assert.deepEqual(JSON.parse((await out.next()).payload.toString()), {
    ct: 'application/json; v=2',
    fi: 'UTF8_DATA',
    rt: 'props/reply',
    cd: Buffer.from('corr-1').toString('base64'),
    up: ['v1', 'v2'],
  });
  // An MQTT 3.1.1 publisher has none of them.
  const v3 = await mqtt.connectAsync(`mqtt://127.0.0.1:${f.server.ports.mqtt}`, { protocolVersion: 4, reconnectPeriod: 0 });
  f.clients.push(v3);
  await v3.publishAsync('props/in', '{}', { qos: 1 });
  assert.deepEqual(JSON.parse((await out.next()).payload.toString()), {});
});

test('rules survive a restart: definitions, createdAt, disabled state and tags, and they run again', async () => {
  const dataDir = tempDir();
  try {
    const first = await rulesFixture({ dataDir });
    let stored: unknown;
    try {
      await create(
        first.iot,
        'durable',
        { sql: "SELECT VALUE n FROM 'durable/in'", awsIotSqlVersion: '2016-03-23', actions: [republish('durable/out')] },
        'k=v',
      );
      await create(first.iot, 'durable_off', {
        sql: "SELECT * FROM 'durable/in'",
        actions: [republish('durable/off')],
        ruleDisabled: true,
      });
      stored = (await first.iot.send(new GetTopicRuleCommand({ ruleName: 'durable' }))).rule;
    } finally {
      await first.close();
    }
    const second = await rulesFixture({ dataDir });
    try {
      assert.deepEqual((await second.iot.send(new GetTopicRuleCommand({ ruleName: 'durable' }))).rule, stored);
      assert.equal((await second.iot.send(new GetTopicRuleCommand({ ruleName: 'durable_off' }))).rule!.ruleDisabled, true);
      assert.deepEqual(
        (await second.iot.send(new ListTagsForResourceCommand({ resourceArn: 'arn:aws:iot:us-east-1:123456789012:rule/durable' }))).tags,
        [{ Key: 'k', Value: 'v' }],
      );
      const out = await second.subscriber('durable/#');
      const device = await second.client();
      await device.publishAsync('durable/in', JSON.stringify({ n: 42 }), { qos: 1 });
      const got = [await out.next(), await out.next(), ...(await out.settle(300))].filter((m) => m.topic !== 'durable/in');
      assert.deepEqual(
        got.map((m) => [m.topic, m.payload.toString()]),
        [['durable/out', '42']],
      );
    } finally {
      await second.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
