/**
 * The rules engine end to end with the republish action: rules created with the official
 * @aws-sdk/client-iot, devices publishing over MQTT, the output arriving on the republish topic;
 * Basic Ingest, disabled rules, error actions, loops, namespaces.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateTopicRuleCommand,
  DeleteTopicRuleCommand,
  DisableTopicRuleCommand,
  EnableTopicRuleCommand,
  ReplaceTopicRuleCommand,
} from '@aws-sdk/client-iot';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';

let f: RulesFixture;
before(async () => {
  f = await rulesFixture();
});
after(() => f.close());

const republishTo = (topic: string, extra: Record<string, unknown> = {}) => ({
  republish: { roleArn: 'arn:aws:iam::123456789012:role/r', topic, ...extra },
});

async function createRule(ruleName: string, sql: string, actions: object[], more: Record<string, unknown> = {}): Promise<void> {
  await f.iot.send(new CreateTopicRuleCommand({ ruleName, topicRulePayload: { sql, actions, ...more } as never }));
}

test('a device publishes; the rule filters, transforms and republishes with the topic template', async () => {
  await createRule('hot', "SELECT temperature AS t, topic(2) AS device, clientid() AS cid FROM 'dt/+/temp' WHERE temperature > 30", [
    republishTo('alerts/${topic(2)}', { qos: 1 }),
  ]);
  const alerts = await f.subscriber('alerts/#');
  const device = await f.client('sensor-7');
  await device.publishAsync('dt/d1/temp', JSON.stringify({ temperature: 25 }), { qos: 1 });
  await device.publishAsync('dt/d1/temp', JSON.stringify({ temperature: 35 }), { qos: 1 });
  const got = await alerts.next();
  assert.equal(got.topic, 'alerts/d1');
  assert.deepEqual(JSON.parse(got.payload.toString()), { t: 35, device: 'd1', cid: 'sensor-7' });
  assert.equal(got.qos, 1);
  assert.deepEqual(await alerts.settle(200), [], 'the message under the threshold gave no output');
});

test('Basic Ingest: $aws/rules/<rule>/... reaches that rule only, never a subscriber; topic() sees the rest', async () => {
  await createRule('ingest', "SELECT *, topic() AS t FROM 'ignored/by/basic/ingest'", [republishTo('ingested')]);
  const ingested = await f.subscriber('ingested');
  const spy = await f.subscriber('$aws/rules/#');
  const device = await f.client();
  await device.publishAsync('$aws/rules/ingest/plant/7', JSON.stringify({ v: 1 }), { qos: 1 });
  const got = await ingested.next();
  assert.deepEqual(JSON.parse(got.payload.toString()), { v: 1, t: 'plant/7' });
  assert.deepEqual(await spy.settle(200), [], 'no subscriber sees a Basic Ingest message');
  // An unknown rule name: nothing happens, and still nobody receives it.
  await device.publishAsync('$aws/rules/nosuchrule/x', 'x', { qos: 1 });
  assert.deepEqual(await spy.settle(200), []);
});

test('disable, enable, replace and delete take effect for the next message', async () => {
  await createRule('toggle', "SELECT VALUE n FROM 'toggle/in'", [republishTo('toggle/out')], { awsIotSqlVersion: '2016-03-23' });
  const out = await f.subscriber('toggle/out');
  const device = await f.client();
  const send = (n: number) => device.publishAsync('toggle/in', JSON.stringify({ n }), { qos: 1 });
  await send(1);
  assert.equal((await out.next()).payload.toString(), '1');
  await f.iot.send(new DisableTopicRuleCommand({ ruleName: 'toggle' }));
  await send(2);
  assert.deepEqual(await out.settle(200), []);
  await f.iot.send(new EnableTopicRuleCommand({ ruleName: 'toggle' }));
  await send(3);
  assert.equal((await out.next()).payload.toString(), '3');
  await f.iot.send(
    new ReplaceTopicRuleCommand({
      ruleName: 'toggle',
      topicRulePayload: {
        sql: "SELECT VALUE n * 10 FROM 'toggle/in'",
        actions: [republishTo('toggle/out')],
        awsIotSqlVersion: '2016-03-23',
      },
    }),
  );
  await send(4);
  assert.equal((await out.next()).payload.toString(), '40');
  await f.iot.send(new DeleteTopicRuleCommand({ ruleName: 'toggle' }));
  await send(5);
  assert.deepEqual(await out.settle(200), []);
});

test('a failing action triggers the error action with AWS failure document', async () => {
  // A wildcard in the rendered topic makes the republish fail for this message.
  await createRule('fails', "SELECT * FROM 'fail/in'", [republishTo('bad/${kind}')], {
    errorAction: republishTo('errors/fails'),
  });
  const errors = await f.subscriber('errors/#');
  const device = await f.client('failing-device');
  await device.publishAsync('fail/in', JSON.stringify({ kind: '+' }), { qos: 1 });
  const got = await errors.next();
  const doc = JSON.parse(got.payload.toString()) as Record<string, unknown>;
  assert.equal(doc.ruleName, 'fails');
  assert.equal(doc.topic, 'fail/in');
  assert.equal(doc.clientId, 'failing-device');
  assert.equal(Buffer.from(doc.base64OriginalPayload as string, 'base64').toString(), JSON.stringify({ kind: '+' }));
  assert.match(doc.cloudwatchTraceId as string, /^[0-9a-f-]{36}$/);
  const failures = doc.failures as { failedAction: string; failedResource: string; errorMessage: string }[];
  assert.equal(failures.length, 1);
  assert.equal(failures[0]!.failedAction, 'RepublishAction');
  assert.equal(failures[0]!.failedResource, 'bad/+');
  assert.match(failures[0]!.errorMessage, /wildcard/);
});

test('a rule that republishes onto its own topic is cut off instead of looping forever', async () => {
  await createRule('loop', "SELECT * FROM 'loop/t'", [republishTo('loop/t')]);
  const seen = await f.subscriber('loop/t');
  const device = await f.client();
  await device.publishAsync('loop/t', '{"x":1}', { qos: 0 });
  const all = await seen.settle(500);
  assert.ok(all.length >= 2 && all.length <= 12, `saw ${all.length} copies`);
  const metrics = await (await fetch(`http://127.0.0.1:${f.server.ports.http}/metrics`)).text();
  assert.match(metrics, /thicket_rules_messages_dropped_total\{reason="loop"\} [1-9]/);
});

test('per-rule counters on /metrics', async () => {
  const metrics = await (await fetch(`http://127.0.0.1:${f.server.ports.http}/metrics`)).text();
  assert.match(metrics, /thicket_rules_messages_matched_total\{account="123456789012",rule="hot"\} 2/);
  assert.match(metrics, /thicket_rules_no_output_total\{account="123456789012",rule="hot"\} 1/);
  assert.match(metrics, /thicket_rules_actions_total\{account="123456789012",rule="hot",action="republish",outcome="success"\} 1/);
  assert.match(metrics, /thicket_rules_error_actions_total\{account="123456789012",rule="fails",outcome="success"\} 1/);
  assert.match(metrics, /thicket_rules_evaluation_seconds_count\{account="123456789012",rule="hot"\} 2/);
});

test("a rule's counters go on across ReplaceTopicRule, and go away with DeleteTopicRule", async () => {
  const payload = (n: number) => ({ sql: `SELECT ${n} AS v FROM 'counted/in'`, actions: [republishTo('counted/out')] });
  await f.iot.send(new CreateTopicRuleCommand({ ruleName: 'counted', topicRulePayload: payload(1) }));
  const out = await f.subscriber('counted/out');
  const device = await f.client();
  await device.publishAsync('counted/in', '{}', { qos: 1 });
  await out.next();
  await f.iot.send(new ReplaceTopicRuleCommand({ ruleName: 'counted', topicRulePayload: payload(2) }));
  await device.publishAsync('counted/in', '{}', { qos: 1 });
  assert.deepEqual(JSON.parse((await out.next()).payload.toString()), { v: 2 });
  const metrics = () => fetch(`http://127.0.0.1:${f.server.ports.http}/metrics`).then((r) => r.text());
  assert.match(await metrics(), /thicket_rules_messages_matched_total\{account="123456789012",rule="counted"\} 2/);
  await f.iot.send(new DeleteTopicRuleCommand({ ruleName: 'counted' }));
  assert.doesNotMatch(await metrics(), /rule="counted"/);
});
