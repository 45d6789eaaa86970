/**
 * The cloudwatchMetric action end to end: rules created with @aws-sdk/client-iot, devices
 * publishing over MQTT (and over HTTPS publish in other namespaces), the samples on /metrics; values
 * that are not numbers and other refusals going to the error action; the series caps.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTopicRuleCommand, IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import { awsError, createAccount } from './helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';

let f: RulesFixture;
before(async () => {
  f = await rulesFixture();
});
after(() => f.close());

const ROLE = 'arn:aws:iam::123456789012:role/metrics';
const metricAction = (fields: Record<string, unknown>) => ({
  cloudwatchMetric: { roleArn: ROLE, metricUnit: 'None', ...fields },
});
const errorsTo = (topic: string) => ({ republish: { roleArn: ROLE, topic } });

async function createRule(
  iot: IoTClient,
  ruleName: string,
  sql: string,
  actions: object[],
  more: Record<string, unknown> = {},
): Promise<void> {
  await iot.send(new CreateTopicRuleCommand({ ruleName, topicRulePayload: { sql, actions, ...more } as never }));
}

async function metrics(server = f.server): Promise<string> {
  return (await fetch(`http://127.0.0.1:${server.ports.http}/metrics`)).text();
}

/** The value of the sample line whose name and labels are given exactly, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const line = text.split('\n').find((x) => x.startsWith(`${name}{${l}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function until<T>(what: () => Promise<T | undefined>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await what();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const labels = (namespace: string, metric: string, unit = 'None', region = 'us-east-1', account = '123456789012') => ({
  account,
  region,
  namespace,
  metric,
  unit,
});

test('a device publishes; the value shows on /metrics as the last value, a sample count and a sum', async () => {
  await createRule(f.iot, 'temps', "SELECT * FROM 'plant/+/temp'", [
    metricAction({ metricNamespace: 'Plant/${topic(2)}', metricName: 'temperature', metricValue: '${temp}', metricUnit: 'None' }),
  ]);
  const device = await f.client();
  for (const temp of [21.5, 20, 30]) await device.publishAsync('plant/d1/temp', JSON.stringify({ temp }), { qos: 1 });
  const l = labels('Plant/d1', 'temperature');
  await until(async () => ((sample(await metrics(), 'thicket_rule_metric_samples_total', l) ?? 0) >= 3 ? true : undefined));
  const text = await metrics();
  assert.equal(sample(text, 'thicket_rule_metric', l), 30);
  assert.equal(sample(text, 'thicket_rule_metric_samples_total', l), 3);
  assert.equal(sample(text, 'thicket_rule_metric_sum', l), 71.5);
  const at = sample(text, 'thicket_rule_metric_timestamp_seconds', l)!;
  assert.ok(Math.abs(at - Date.now() / 1000) < 10, `timestamp ${at}`);
  assert.match(text, /# TYPE thicket_rule_metric gauge/);
  assert.match(text, /# TYPE thicket_rule_metric_samples_total counter/);
  assert.match(text, /thicket_rules_actions_total\{account="123456789012",rule="temps",action="cloudwatchMetric",outcome="success"\} 3/);
});

test('metricTimestamp: a sample older than the last value counts in the sum but does not replace the last value', async () => {
  await createRule(f.iot, 'stamped', "SELECT * FROM 'stamped'", [
    metricAction({ metricNamespace: 'Stamped', metricName: 'v', metricValue: '${v}', metricUnit: 'Count', metricTimestamp: '${ts}' }),
  ]);
  const device = await f.client();
  const now = Math.floor(Date.now() / 1000);
  await device.publishAsync('stamped', JSON.stringify({ v: 5, ts: now - 10 }), { qos: 1 });
  await device.publishAsync('stamped', JSON.stringify({ v: 7, ts: now - 60 }), { qos: 1 });
  const l = labels('Stamped', 'v', 'Count');
  await until(async () => ((sample(await metrics(), 'thicket_rule_metric_samples_total', l) ?? 0) >= 2 ? true : undefined));
  const text = await metrics();
  assert.equal(sample(text, 'thicket_rule_metric', l), 5);
  assert.equal(sample(text, 'thicket_rule_metric_timestamp_seconds', l), now - 10);
  assert.equal(sample(text, 'thicket_rule_metric_sum', l), 12);
});

test('what CloudWatch would refuse fails the action and reaches the error action', async () => {
  await createRule(
    f.iot,
    'badvalues',
    "SELECT * FROM 'bad/metric'",
    [metricAction({ metricNamespace: '${ns}', metricName: 'm', metricValue: '${v}', metricUnit: '${unit}', metricTimestamp: '${ts}' })],
    { errorAction: errorsTo('errors/metric') },
  );
  const errors = await f.subscriber('errors/metric');
  const device = await f.client();
  const now = Math.floor(Date.now() / 1000);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ns: 'N', v: 'twelve', unit: 'None' }, /'twelve' is not a number/],
    [{ ns: 'N', unit: 'None' }, /'' is not a number/],
    [{ ns: 'N', v: '0x10', unit: 'None' }, /not a number/],
    [{ ns: 'N', v: 'Infinity', unit: 'None' }, /not a number/],
    [{ ns: 'N', v: 1e308, unit: 'None' }, /2\^360/],
    [{ ns: 'N', v: 1, unit: 'Furlongs' }, /unit 'Furlongs' is not one of/],
    [{ ns: 'N', v: 1, unit: 'None', ts: now - 15 * 24 * 3600 }, /two weeks old/],
    [{ ns: 'N', v: 1, unit: 'None', ts: now * 1000 }, /two hours ahead/],
    [{ ns: 'AWS/IoT', v: 1, unit: 'None' }, /reserved for AWS/],
    [{ ns: '', v: 1, unit: 'None' }, /namespace is empty/],
    [{ ns: 'x'.repeat(256), v: 1, unit: 'None' }, /more than 255/],
    [{ ns: 'line\nbreak', v: 1, unit: 'None' }, /control character/],
  ];
  for (const [payload, message] of cases) {
    await device.publishAsync('bad/metric', JSON.stringify(payload), { qos: 1 });
    const doc = JSON.parse((await errors.next()).payload.toString()) as {
      failures: { failedAction: string; failedResource: string; errorMessage: string }[];
    };
    assert.equal(doc.failures.length, 1, JSON.stringify(payload));
    assert.equal(doc.failures[0]!.failedAction, 'CloudwatchMetricAction');
    assert.match(doc.failures[0]!.errorMessage, message, JSON.stringify(payload));
  }
  const text = await metrics();
  assert.doesNotMatch(text, /namespace="N"/, 'no refused sample opened a series');
  assert.match(
    text,
    /thicket_rules_actions_total\{account="123456789012",rule="badvalues",action="cloudwatchMetric",outcome="failure"\} 12/,
  );
});

test('label values a device steers are escaped in the exposition, never break it', async () => {
  await createRule(f.iot, 'hostile', "SELECT * FROM 'hostile/+'", [
    metricAction({ metricNamespace: 'H', metricName: '${name}', metricValue: '1' }),
  ]);
  const device = await f.client();
  const name = 'a"b\\c} 99\n# TYPE evil counter';
  await device.publishAsync('hostile/x', JSON.stringify({ name: 'a"b\\c} 99' }), { qos: 1 });
  await device.publishAsync('hostile/x', JSON.stringify({ name }), { qos: 1 });
  await until(async () => ((await metrics()).includes('namespace="H"') ? true : undefined));
  const text = await metrics();
  assert.ok(text.includes('metric="a\\"b\\\\c} 99"'), 'quotes and backslashes are escaped');
  assert.doesNotMatch(text, /^# TYPE evil/m);
});

test('CreateTopicRule checks the fields with AWS wording', async () => {
  const missing = await awsError(
    createRule(f.iot, 'incomplete', "SELECT * FROM 'x'", [
      { cloudwatchMetric: { roleArn: ROLE, metricNamespace: 'N', metricName: 'm', metricUnit: 'None' } },
    ]),
  );
  assert.equal(missing.name, 'InvalidRequestException');
  assert.match(
    missing.message,
    /Value null at 'topicRulePayload.actions.1.member.cloudwatchMetric.metricValue' failed to satisfy constraint: Member must not be null/,
  );
  const noRole = await awsError(
    createRule(f.iot, 'norole', "SELECT * FROM 'x'", [
      { cloudwatchMetric: { metricNamespace: 'N', metricName: 'm', metricValue: '1', metricUnit: 'None' } },
    ]),
  );
  assert.match(noRole.message, /cloudwatchMetric.roleArn' failed to satisfy constraint: Member must not be null/);
  const badTemplate = await awsError(
    createRule(f.iot, 'badtpl', "SELECT * FROM 'x'", [metricAction({ metricNamespace: 'N', metricName: 'm', metricValue: '${v +}' })]),
  );
  assert.match(badTemplate.message, /substitution template in topicRulePayload.actions.1.member.cloudwatchMetric.metricValue/);
});

test('namespaces are isolated: a rule sees its own namespace only, and series carry account and region', async () => {
  const endpoint = `http://127.0.0.1:${f.server.ports.http}`;
  const eu = new IoTClient({ endpoint, region: 'eu-west-1', credentials: f.server.adminKey, maxAttempts: 1 });
  const euData = new IoTDataPlaneClient({ endpoint, region: 'eu-west-1', credentials: f.server.adminKey, maxAttempts: 1 });
  try {
    await createRule(eu, 'temps', "SELECT * FROM 'plant/+/temp'", [
      metricAction({ metricNamespace: 'Plant/${topic(2)}', metricName: 'temperature', metricValue: '${temp}' }),
    ]);
    await euData.send(new PublishCommand({ topic: 'plant/d1/temp', payload: Buffer.from(JSON.stringify({ temp: -4 })), qos: 1 }));
    const euLabels = labels('Plant/d1', 'temperature', 'None', 'eu-west-1');
    await until(async () => sample(await metrics(), 'thicket_rule_metric', euLabels));
    const text = await metrics();
    assert.equal(sample(text, 'thicket_rule_metric', euLabels), -4);
    // The us-east-1 series of the first test is untouched by the eu-west-1 message.
    assert.equal(sample(text, 'thicket_rule_metric_samples_total', labels('Plant/d1', 'temperature')), 3);
    assert.equal(sample(text, 'thicket_rule_metric', labels('Plant/d1', 'temperature')), 30);
  } finally {
    eu.destroy();
    euData.destroy();
  }
});

test('series caps: per account and in all; refused samples fail the action and are counted', async () => {
  const g = await rulesFixture({ rules: { metrics: { maxSeries: 5, maxSeriesPerAccount: 3 } } });
  const endpoint = `http://127.0.0.1:${g.server.ports.http}`;
  const key = await createAccount(g.server, '210987654321');
  const other = new IoTClient({ endpoint, region: 'us-east-1', credentials: key, maxAttempts: 1 });
  const otherData = new IoTDataPlaneClient({ endpoint, region: 'us-east-1', credentials: key, maxAttempts: 1 });
  try {
    const rule = (iot: IoTClient) =>
      createRule(
        iot,
        'many',
        "SELECT * FROM 'many'",
        [metricAction({ metricNamespace: 'Many', metricName: '${name}', metricValue: '1' })],
        {
          errorAction: errorsTo('errors/many'),
        },
      );
    await rule(g.iot);
    await rule(other);
    const errors = await g.subscriber('errors/many');
    const device = await g.client();
    // A device inventing names: the first 3 open series, the rest are refused.
    for (let i = 0; i < 6; i++) await device.publishAsync('many', JSON.stringify({ name: `n${i}` }), { qos: 1 });
    for (let i = 0; i < 3; i++) {
      const doc = JSON.parse((await errors.next()).payload.toString()) as { failures: { errorMessage: string; failedResource: string }[] };
      assert.match(doc.failures[0]!.errorMessage, /already has 3 metric series.*maxSeriesPerAccount/);
      assert.equal(doc.failures[0]!.failedResource, `Many/n${i + 3}`);
    }
    // An existing series still takes samples.
    await device.publishAsync('many', JSON.stringify({ name: 'n0' }), { qos: 1 });
    const l = (name: string, account = '123456789012') => labels('Many', name, 'None', 'us-east-1', account);
    await until(async () => ((sample(await metrics(g.server), 'thicket_rule_metric_samples_total', l('n0')) ?? 0) >= 2 ? true : undefined));
    // The second account has its own 3, but the server keeps 5 in all.
    for (let i = 0; i < 3; i++)
      await otherData.send(new PublishCommand({ topic: 'many', payload: Buffer.from(JSON.stringify({ name: `o${i}` })), qos: 1 }));
    await until(async () => {
      const t = await metrics(g.server);
      return sample(t, 'thicket_rule_metric_refused_total', { account: '210987654321', reason: 'series_limit' }) === 1 ? t : undefined;
    });
    const text = await metrics(g.server);
    assert.equal(sample(text, 'thicket_rule_metric_series', {}) ?? Number(/^thicket_rule_metric_series (\d+)$/m.exec(text)?.[1]), 5);
    assert.equal(sample(text, 'thicket_rule_metric_refused_total', { account: '123456789012', reason: 'account_series_limit' }), 3);
    assert.equal(sample(text, 'thicket_rule_metric', l('n5')), undefined);
    assert.equal(sample(text, 'thicket_rule_metric', l('o1', '210987654321')), 1);
    assert.equal(sample(text, 'thicket_rule_metric', l('o2', '210987654321')), undefined);
    assert.deepEqual(await errors.settle(100), [], "the other account's failures go to its own error action, not this one's");
  } finally {
    other.destroy();
    otherData.destroy();
    await g.close();
  }
});
