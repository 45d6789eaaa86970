/**
 * The rules engine's settings (config `rules.engine`): defaults, validation, and a server run with a
 * tiny queue and in-flight bound, where drops are counted per rule on /metrics and an action past
 * its bound fails at once to the error action.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTopicRuleCommand } from '@aws-sdk/client-iot';
import { resolveConfig } from '@thicket/server';
import { sleep } from './helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';
import { Endpoint } from './rules-http-helpers.js';

let f: RulesFixture;
let ep: Endpoint;

before(async () => {
  ep = await Endpoint.start();
  f = await rulesFixture({
    rules: { engine: { maxQueued: 1, maxInFlightPerAction: 1 }, trustedUrlPrefixes: [`${ep.base}/`] },
  });
});
after(async () => {
  // First: the request left hanging ends, so no action is still running while the server stops.
  await ep.close();
  await f.close();
});

const republishTo = (topic: string) => ({ republish: { roleArn: 'arn:aws:iam::123456789012:role/r', topic } });

async function metrics(): Promise<string> {
  return (await fetch(`http://127.0.0.1:${f.server.ports.http}/metrics`)).text();
}

function counter(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  if (line === undefined) throw new Error(`no ${name}{${labels}} on /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('defaults are the engine constants of before; a later source overrides one setting; strings (environment) are numbers', () => {
  assert.deepEqual(resolveConfig({}).rules.engine, { maxQueued: 50_000, cpuShare: 0.1, maxSliceMs: 2, maxInFlightPerAction: 1_000 });
  const c = resolveConfig({ rules: { engine: { maxQueued: '500', cpuShare: '0.25' } } }, { rules: { engine: { maxSliceMs: 0.5 } } });
  assert.deepEqual(c.rules.engine, { maxQueued: 500, cpuShare: 0.25, maxSliceMs: 0.5, maxInFlightPerAction: 1_000 });
});

test('bad engine settings are refused at start with the setting named', () => {
  const bad: [unknown, RegExp][] = [
    [{ maxQueued: 0 }, /rules\.engine\.maxQueued: "0" is not a whole number of at least 1$/],
    [{ maxQueued: 1.5 }, /rules\.engine\.maxQueued: "1\.5" is not a whole number/],
    [{ maxInFlightPerAction: 'lots' }, /rules\.engine\.maxInFlightPerAction: "lots" is not a whole number of at least 1$/],
    [{ cpuShare: 0 }, /rules\.engine\.cpuShare: "0" is not a number greater than 0 and less than 1$/],
    [{ cpuShare: 1 }, /rules\.engine\.cpuShare: "1" is not a number greater than 0 and less than 1$/],
    [{ maxSliceMs: -1 }, /rules\.engine\.maxSliceMs: "-1" is not a number of milliseconds greater than 0 and at most 1000$/],
    [{ maxSliceMs: 'NaN' }, /rules\.engine\.maxSliceMs: "NaN" is not a number/],
    [{ queueSize: 10 }, /rules\.engine: unknown setting "queueSize" \(known: maxQueued, cpuShare, maxSliceMs, maxInFlightPerAction\)$/],
    [[1], /rules\.engine: expected a mapping/],
  ];
  for (const [engine, expected] of bad) assert.throws(() => resolveConfig({ rules: { engine } }), expected, JSON.stringify(engine));
  assert.throws(() => resolveConfig({ rules: { engines: {} } }), /rules: unknown setting "engines" \(known: .*engine.*\)/);
});

test('maxQueued: what the engine cannot hold is dropped, counted per rule with reason queue_full', async () => {
  for (const name of ['burst', 'burst_copy'])
    await f.iot.send(
      new CreateTopicRuleCommand({
        ruleName: name,
        topicRulePayload: { sql: "SELECT * FROM 'burst/in'", actions: [republishTo('burst/out')] },
      }),
    );
  await f.iot.send(
    new CreateTopicRuleCommand({ ruleName: 'elsewhere', topicRulePayload: { sql: "SELECT * FROM 'calm/in'", actions: [] } }),
  );
  const device = await f.client();
  // Published in one go, the messages reach the server together and are routed in one turn: all
  // but the first find the one-evaluation queue full.
  for (let i = 0; i < 300; i++) device.publish('burst/in', `{"n":${i}}`, { qos: 0 });
  await device.publishAsync('burst/in', '{"n":300}', { qos: 1 });

  const labels = (rule: string, more = '') => `account="123456789012",rule="${rule}"${more}`;
  const dropped = (text: string, rule: string) =>
    counter(text, 'thicket_rules_messages_dropped_total', labels(rule, ',reason="queue_full"'));
  let text = await metrics();
  // Every matched message was either evaluated (its republish ran) or dropped.
  for (const deadline = Date.now() + 5000; ; await sleep(50), text = await metrics()) {
    const settled = ['burst', 'burst_copy'].every(
      (r) =>
        counter(text, 'thicket_rules_actions_total', labels(r, ',action="republish",outcome="success"')) + dropped(text, r) ===
        counter(text, 'thicket_rules_messages_matched_total', labels(r)),
    );
    if (settled && counter(text, 'thicket_rules_messages_matched_total', labels('burst')) === 301) break;
    if (Date.now() > deadline) throw new Error(`the counts did not settle:\n${text}`);
  }
  assert.ok(dropped(text, 'burst') > 0, 'some evaluations of burst were dropped');
  assert.ok(dropped(text, 'burst_copy') > 0, 'and of burst_copy');
  assert.equal(dropped(text, 'elsewhere'), 0, 'a rule the burst did not match dropped nothing');
  assert.equal(counter(text, 'thicket_rules_messages_dropped_total', labels('burst', ',reason="loop"')), 0);
});

test('maxInFlightPerAction: with one request waiting, the next message fails at once to the error action', async () => {
  ep.behaviour = () => 'hang';
  await f.iot.send(
    new CreateTopicRuleCommand({
      ruleName: 'narrow',
      topicRulePayload: {
        sql: "SELECT * FROM 'narrow/in'",
        actions: [{ http: { url: `${ep.base}/narrow` } }],
        errorAction: republishTo('errors/narrow'),
      },
    }),
  );
  const errors = await f.subscriber('errors/narrow');
  const device = await f.client();
  await device.publishAsync('narrow/in', '{"n":1}', { qos: 1 });
  await ep.waitFor('/narrow');
  const started = Date.now();
  await device.publishAsync('narrow/in', '{"n":2}', { qos: 1 });
  const doc = JSON.parse((await errors.next(3000)).payload.toString()) as { failures: { failedAction: string; errorMessage: string }[] };
  assert.ok(Date.now() - started < 3000);
  assert.deepEqual(doc.failures, [
    {
      failedAction: 'HttpAction',
      failedResource: `${ep.base}/narrow`,
      errorMessage: '1 messages of this action are already in flight; it cannot keep up',
    },
  ]);
  assert.equal(ep.to('/narrow').length, 1, 'the second message sent nothing');
});
