/**
 * The rules engine end to end with the republish action: rules created with the official
 * @aws-sdk/client-iot, devices publishing over MQTT, the output arriving on the republish topic;
 * MQTT 5 headers, the shadow topics (and the Jobs topics refused), Basic Ingest, disabled rules,
 * error actions, loops, and the per-rule metrics.
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

test('MQTT 5 headers: each a template, arriving as the properties of the republished message', async () => {
  await createRule(
    'headers',
    "SELECT * FROM 'hdr/+'",
    [
      republishTo('hdr/out', {
        qos: 1,
        headers: {
          payloadFormatIndicator: 'UTF8_DATA',
          contentType: 'application/json',
          responseTopic: 'resp/${topic(2)}',
          correlationData: "${encode(corr, 'base64')}",
          messageExpiry: '60',
          userProperties: [
            { key: 'device', value: '${topic(2)}' },
            { key: 'kind', value: '${v}' },
          ],
        },
      }),
    ],
    { awsIotSqlVersion: '2016-03-23' },
  );
  const out = await f.subscriber('hdr/out');
  const device = await f.client();
  await device.publishAsync('hdr/d7', JSON.stringify({ v: 'x1', corr: 'req-42' }), { qos: 1 });
  const got = await out.next();
  assert.equal(got.properties.payloadFormatIndicator, true);
  assert.equal(got.properties.contentType, 'application/json');
  assert.equal(got.properties.responseTopic, 'resp/d7');
  assert.equal(Buffer.from(got.properties.correlationData as Uint8Array).toString(), 'req-42');
  assert.ok((got.properties.messageExpiryInterval as number) > 0 && (got.properties.messageExpiryInterval as number) <= 60);
  assert.deepEqual(got.properties.userProperties, { device: 'd7', kind: 'x1' });
});

test('republish to $$aws/things/<thing>/shadow/update reaches the shadow; a reserved Jobs topic is refused to the error action', async () => {
  await createRule(
    'to_shadow',
    "SELECT VALUE {'state': {'reported': {'t': t}}} FROM 'shd/+'",
    [republishTo('$$aws/things/${topic(2)}/shadow/update')],
    { awsIotSqlVersion: '2016-03-23' },
  );
  const accepted = await f.subscriber('$aws/things/boiler1/shadow/update/accepted');
  const device = await f.client();
  await device.publishAsync('shd/boiler1', JSON.stringify({ t: 5 }), { qos: 1 });
  const doc = JSON.parse((await accepted.next()).payload.toString()) as { state: unknown; version: number };
  assert.deepEqual(doc.state, { reported: { t: 5 } });
  assert.equal(doc.version, 1);

  await createRule('to_jobs', "SELECT * FROM 'jb/+'", [republishTo('$$aws/things/${topic(2)}/jobs/get')], {
    errorAction: republishTo('errors/to_jobs'),
  });
  const errors = await f.subscriber('errors/to_jobs');
  const jobs = await f.subscriber('$aws/things/boiler1/jobs/#');
  await device.publishAsync('jb/boiler1', '{}', { qos: 1 });
  const failure = (JSON.parse((await errors.next()).payload.toString()) as { failures: Record<string, string>[] }).failures[0]!;
  assert.deepEqual(failure, {
    failedAction: 'RepublishAction',
    failedResource: '$aws/things/boiler1/jobs/get',
    errorMessage: "Republishing to the reserved Jobs topic '$aws/things/boiler1/jobs/get' is not allowed",
  });
  assert.deepEqual(await jobs.settle(200), [], 'nothing reached the Jobs topics');
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
  assert.match(metrics, /thicket_rules_messages_dropped_total\{account="123456789012",rule="loop",reason="loop"\} [1-9]/);
  assert.match(metrics, /thicket_rules_messages_dropped_total\{account="123456789012",rule="loop",reason="queue_full"\} 0/);
});

test('per-rule counters on /metrics', async () => {
  const metrics = await (await fetch(`http://127.0.0.1:${f.server.ports.http}/metrics`)).text();
  assert.match(metrics, /thicket_rules_messages_matched_total\{account="123456789012",rule="hot"\} 2/);
  assert.match(metrics, /thicket_rules_no_output_total\{account="123456789012",rule="hot"\} 1/);
  assert.match(metrics, /thicket_rules_actions_total\{account="123456789012",rule="hot",action="republish",outcome="success"\} 1/);
  assert.match(metrics, /thicket_rules_error_actions_total\{account="123456789012",rule="fails",outcome="success"\} 1/);
  assert.match(metrics, /thicket_rules_evaluation_seconds_count\{account="123456789012",rule="hot"\} 2/);
  // Action latency per rule and action type; an error action counts under its own type.
  assert.match(metrics, /thicket_rules_action_seconds_bucket\{account="123456789012",rule="hot",action="republish",le="\+Inf"\} 1/);
  assert.match(metrics, /thicket_rules_action_seconds_count\{account="123456789012",rule="hot",action="republish"\} 1/);
  assert.match(metrics, /thicket_rules_action_seconds_count\{account="123456789012",rule="fails",action="republish"\} 2/);
  assert.match(metrics, /thicket_rules_messages_dropped_total\{account="123456789012",rule="hot",reason="queue_full"\} 0/);
  assert.match(metrics, /\nthicket_rules_messages_queued 0\n/);
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
