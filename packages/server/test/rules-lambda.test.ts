/**
 * Rules and Thicket functions: the `lambda` action (HTTP and module functions receive the rule's
 * output; failures reach the error action), and the SQL host: aws_lambda() enriching a message,
 * get_thing_shadow() and get_registry_data() reading the rule's own account, and the AWS-only
 * external functions failing with a message that names their service.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AddThingToThingGroupCommand, CreateThingCommand, CreateThingGroupCommand, CreateTopicRuleCommand } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, UpdateThingShadowCommand } from '@aws-sdk/client-iot-data-plane';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';
import { FunctionHost, functionsApi, moduleFile, type FunctionsApi } from './functions-helpers.js';
import { sleep } from './helpers.js';

let f: RulesFixture;
let host: FunctionHost;
let api: FunctionsApi;
let data: IoTDataPlaneClient;
const ARN = (name: string, account = '123456789012', region = 'us-east-1') => `arn:aws:lambda:${region}:${account}:function:${name}`;
const ROLE = 'arn:aws:iam::123456789012:role/rules';
const republishTo = (topic: string) => ({ republish: { roleArn: ROLE, topic } });
const lambdaTo = (functionArn: string) => ({ lambda: { functionArn } });

before(async () => {
  host = await FunctionHost.start();
  f = await rulesFixture({ rules: { trustedUrlPrefixes: [host.prefix] } });
  api = functionsApi(`http://127.0.0.1:${f.server.ports.http}`, f.server.adminKey);
  data = new IoTDataPlaneClient({
    endpoint: `http://127.0.0.1:${f.server.ports.http}`,
    region: 'us-east-1',
    credentials: f.server.adminKey,
    maxAttempts: 1,
  });
});
after(async () => {
  data.destroy();
  await f.close();
  await host.close();
});

async function createRule(ruleName: string, sql: string, actions: object[], more: Record<string, unknown> = {}): Promise<void> {
  await f.iot.send(
    new CreateTopicRuleCommand({ ruleName, topicRulePayload: { sql, actions, awsIotSqlVersion: '2016-03-23', ...more } as never }),
  );
}

async function createFails(sql: string, actions: object[]): Promise<string> {
  try {
    await createRule('refused', sql, actions);
  } catch (err) {
    return `${(err as Error).name}: ${(err as Error).message}`;
  }
  throw new Error('expected CreateTopicRule to fail');
}

interface ErrorDocument {
  ruleName: string;
  failures: { failedAction: string; failedResource: string; errorMessage: string }[];
}

async function waitForFile(path: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(path) || readFileSync(path, 'utf8') === '') {
    if (Date.now() > deadline) throw new Error(`${path} was not written`);
    await sleep(20);
  }
  return readFileSync(path, 'utf8');
}

test('the lambda action: an HTTP function receives the rule output as its event', async () => {
  const fn = host.add();
  try {
    await api.register('collector', { url: fn.url });
    await createRule('to_http', "SELECT temperature, topic(2) AS device FROM 'lambda/+/temp' WHERE temperature > 30", [
      lambdaTo(ARN('collector')),
    ]);
    const device = await f.client();
    await device.publishAsync('lambda/d1/temp', JSON.stringify({ temperature: 20 }), { qos: 1 });
    await device.publishAsync('lambda/d2/temp', JSON.stringify({ temperature: 40 }), { qos: 1 });
    const got = await fn.next();
    assert.deepEqual(got.event, { temperature: 40, device: 'd2' });
    assert.equal(got.headers['x-thicket-function-arn'], ARN('collector'));
    await sleep(200);
    assert.equal(fn.received.length, 1, 'the message under the threshold invoked nothing');
  } finally {
    await fn.close();
  }
});

test('the lambda action: a module function receives the output; a template picks the function; binary output arrives as base64', async () => {
  const path = moduleFile(`
import { appendFileSync } from 'node:fs';
export async function handler(event, context) {
  appendFileSync(new URL('./events.jsonl', import.meta.url), JSON.stringify({ fn: context.functionName, event }) + '\\n');
}`);
  const log = join(dirname(path), 'events.jsonl');
  await api.register('recorder', { module: path });
  await createRule('to_module', "SELECT *, clientid() AS cid FROM 'mod/in'", [lambdaTo(ARN('recorder'))]);
  await createRule('by_template', "SELECT * FROM 'pick/+'", [lambdaTo('arn:aws:lambda:us-east-1:123456789012:function:${topic(2)}')]);
  const device = await f.client('dev-9');
  await device.publishAsync('mod/in', JSON.stringify({ v: 1 }), { qos: 1 });
  assert.deepEqual(JSON.parse(await waitForFile(log)), { fn: 'recorder', event: { v: 1, cid: 'dev-9' } });
  await device.publishAsync('pick/recorder', Buffer.from([0xff, 0x00, 0x01]), { qos: 1 });
  const deadline = Date.now() + 5000;
  while (readFileSync(log, 'utf8').trim().split('\n').length < 2 && Date.now() < deadline) await sleep(20);
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  assert.deepEqual(JSON.parse(lines[1]!), { fn: 'recorder', event: Buffer.from([0xff, 0x00, 0x01]).toString('base64') });
});

test('a function that does not exist, throws or times out is a LambdaAction failure with the ARN as failedResource', async () => {
  await api.register('thrower', { module: moduleFile("export const handler = async () => { throw new RangeError('no way'); };") });
  await api.register('sleeper', { module: moduleFile('export const handler = () => new Promise(() => {});'), timeout: 1 });
  await createRule('failing', "SELECT * FROM 'fail/+'", [lambdaTo('arn:aws:lambda:us-east-1:123456789012:function:${topic(2)}')], {
    errorAction: republishTo('errors/lambda'),
  });
  const errors = await f.subscriber('errors/lambda');
  const device = await f.client();
  const failureOf = async (topic: string) => {
    await device.publishAsync(topic, '{}', { qos: 1 });
    const doc = JSON.parse((await errors.next(5000)).payload.toString()) as ErrorDocument;
    assert.equal(doc.ruleName, 'failing');
    assert.equal(doc.failures.length, 1);
    return doc.failures[0]!;
  };
  assert.deepEqual(await failureOf('fail/ghost'), {
    failedAction: 'LambdaAction',
    failedResource: ARN('ghost'),
    errorMessage: `ResourceNotFoundException: Function not found: ${ARN('ghost')}`,
  });
  assert.deepEqual(await failureOf('fail/thrower'), {
    failedAction: 'LambdaAction',
    failedResource: ARN('thrower'),
    errorMessage: 'RangeError: no way',
  });
  assert.deepEqual(await failureOf('fail/sleeper'), {
    failedAction: 'LambdaAction',
    failedResource: ARN('sleeper'),
    errorMessage: 'Sandbox.Timedout: Task timed out after 1.00 seconds',
  });
});

test("another account's or region's function ARN is refused, at CreateTopicRule and when a template names it", async () => {
  assert.match(
    await createFails("SELECT * FROM 'x'", [lambdaTo(ARN('theirs', '210987654321'))]),
    /InvalidRequestException: 1 validation error detected: Value 'arn:aws:lambda:us-east-1:210987654321:function:theirs' at 'topicRulePayload.actions.1.member.lambda.functionArn' failed to satisfy constraint: Function .* belongs to account 210987654321 in us-east-1; only functions of account 123456789012 in us-east-1 can be invoked from here/,
  );
  assert.match(
    await createFails("SELECT * FROM 'x'", [lambdaTo(ARN('mine', '123456789012', 'eu-west-1'))]),
    /belongs to account 123456789012 in eu-west-1/,
  );
  assert.match(await createFails("SELECT * FROM 'x'", [lambdaTo('collector')]), /Member must be a Lambda function ARN/);
  assert.match(await createFails("SELECT * FROM 'x'", [lambdaTo(`${ARN('collector')}:prod`)]), /no versions or aliases/);
  assert.match(
    await createFails("SELECT * FROM 'x'", [{ lambda: {} }]),
    /Value null at 'topicRulePayload.actions.1.member.lambda.functionArn' failed to satisfy constraint: Member must not be null/,
  );

  // A template that renders another account's ARN fails per message.
  const fn = host.add();
  try {
    await api.register('collector2', { url: fn.url });
    await createRule('cross', "SELECT * FROM 'cross/+'", [lambdaTo('arn:aws:lambda:us-east-1:${topic(2)}:function:collector2')], {
      errorAction: republishTo('errors/cross'),
    });
    const errors = await f.subscriber('errors/cross');
    const device = await f.client();
    await device.publishAsync('cross/210987654321', '{}', { qos: 1 });
    const doc = JSON.parse((await errors.next()).payload.toString()) as ErrorDocument;
    assert.equal(doc.failures[0]!.failedResource, ARN('collector2', '210987654321'));
    assert.match(doc.failures[0]!.errorMessage, /^AccessDeniedException: Function .* belongs to account 210987654321/);
    await device.publishAsync('cross/123456789012', '{"ok":1}', { qos: 1 });
    assert.deepEqual((await fn.next()).event, { ok: 1 }, 'the own account’s ARN works');
  } finally {
    await fn.close();
  }
});

test('aws_lambda() enriches a message with the function’s result', async () => {
  await api.register('lookup', {
    module: moduleFile("export const handler = async (e) => ({ owner: 'team-' + e.device, limits: { max: e.t + 10 } });"),
  });
  // Warm the module first: aws_lambda() waits 2 s, and a cold start under a loaded test machine is slow.
  await api.invoke('lookup', { device: 'warm', t: 0 });
  await createRule('enrich', `SELECT t, aws_lambda('${ARN('lookup')}', {'device': topic(2), 't': t}) AS info FROM 'enrich/+'`, [
    republishTo('enriched/${topic(2)}'),
  ]);
  const out = await f.subscriber('enriched/#');
  const device = await f.client();
  await device.publishAsync('enrich/pump1', JSON.stringify({ t: 5 }), { qos: 1 });
  const got = await out.next(5000);
  assert.equal(got.topic, 'enriched/pump1');
  assert.deepEqual(JSON.parse(got.payload.toString()), { t: 5, info: { owner: 'team-pump1', limits: { max: 15 } } });
});

test('aws_lambda() failures (missing function, another account, slow function) are SQL failures for the error action', async () => {
  await api.register('slowpoke', {
    module: moduleFile('export const handler = () => new Promise((r) => setTimeout(() => r(1), 2600));'),
    timeout: 5,
  });
  await createRule('enrich_fail', "SELECT aws_lambda(get(*, 'fn'), {}) AS r FROM 'enrichfail/+'", [republishTo('enrichfailed/out')], {
    errorAction: republishTo('errors/enrich'),
  });
  const errors = await f.subscriber('errors/enrich');
  const device = await f.client();
  const failureOf = async (fn: string) => {
    await device.publishAsync('enrichfail/x', JSON.stringify({ fn }), { qos: 1 });
    const doc = JSON.parse((await errors.next(5000)).payload.toString()) as ErrorDocument;
    assert.equal(doc.failures[0]!.failedAction, 'SQL');
    return doc.failures[0]!.errorMessage;
  };
  assert.match(await failureOf(ARN('nothing')), /aws_lambda\(\): ResourceNotFoundException: Function not found/);
  assert.match(await failureOf(ARN('lookup', '210987654321')), /aws_lambda\(\): Function .* belongs to account 210987654321/);
  assert.match(await failureOf('not-an-arn'), /is not a Lambda function ARN/);
  assert.match(await failureOf(ARN('slowpoke')), /aws_lambda\(\): Sandbox.Timedout: The function did not answer within 2.00 seconds/);
});

test('get_thing_shadow() reads the classic and a named shadow set through the shadow API; a missing one fails', async () => {
  await data.send(
    new UpdateThingShadowCommand({
      thingName: 'boiler',
      payload: Buffer.from(JSON.stringify({ state: { reported: { alarm: 'ON', temp: 71 } } })),
    }),
  );
  await data.send(
    new UpdateThingShadowCommand({
      thingName: 'boiler',
      shadowName: 'config',
      payload: Buffer.from(JSON.stringify({ state: { desired: { max: 80 } } })),
    }),
  );
  await createRule(
    'shadowed',
    `SELECT get_thing_shadow(topic(2), '${ROLE}').state.reported AS reported,
            get_thing_shadow(topic(2), 'config', '${ROLE}').state.desired.max AS max,
            get_thing_shadow(topic(2), '${ROLE}').version AS version
     FROM 'shadowed/+' WHERE get_thing_shadow(topic(2), '${ROLE}').state.reported.alarm = 'ON'`,
    [republishTo('shadowout')],
    { errorAction: republishTo('errors/shadowed') },
  );
  const out = await f.subscriber('shadowout');
  const errors = await f.subscriber('errors/shadowed');
  const device = await f.client();
  await device.publishAsync('shadowed/boiler', '{}', { qos: 1 });
  assert.deepEqual(JSON.parse((await out.next()).payload.toString()), { reported: { alarm: 'ON', temp: 71 }, max: 80, version: 1 });

  await device.publishAsync('shadowed/ghost', '{}', { qos: 1 });
  const doc = JSON.parse((await errors.next()).payload.toString()) as ErrorDocument;
  assert.equal(doc.failures[0]!.failedAction, 'SQL');
  assert.match(doc.failures[0]!.errorMessage, /get_thing_shadow\(\): No shadow exists with name: 'ghost'/);
  assert.deepEqual(await out.settle(200), []);

  await createRule(
    'shadow_foreign',
    `SELECT get_thing_shadow('boiler', 'arn:aws:iam::210987654321:role/r') AS s FROM 'shadowforeign'`,
    [republishTo('x/out')],
    {
      errorAction: republishTo('errors/shadowforeign'),
    },
  );
  const foreignErrors = await f.subscriber('errors/shadowforeign');
  await device.publishAsync('shadowforeign', '{}', { qos: 1 });
  const foreign = JSON.parse((await foreignErrors.next()).payload.toString()) as ErrorDocument;
  assert.match(
    foreign.failures[0]!.errorMessage,
    /roleArn arn:aws:iam::210987654321:role\/r belongs to account 210987654321; a rule reaches its own account \(123456789012\) only/,
  );
});

test('get_registry_data() answers DescribeThing and ListThingGroupsForThing from the registry', async () => {
  await f.iot.send(new CreateThingCommand({ thingName: 'meter7', attributePayload: { attributes: { site: 'north' } } }));
  await f.iot.send(new CreateThingGroupCommand({ thingGroupName: 'meters' }));
  await f.iot.send(new AddThingToThingGroupCommand({ thingName: 'meter7', thingGroupName: 'meters' }));
  await createRule(
    'registry',
    `SELECT get_registry_data('DescribeThing', topic(2), '${ROLE}').attributes.site AS site,
            get_registry_data('ListThingGroupsForThing', topic(2), '${ROLE}').thingGroups AS groups FROM 'registry/+'`,
    [republishTo('registry/out')],
  );
  const out = await f.subscriber('registry/out');
  const device = await f.client();
  await device.publishAsync('registry/meter7', '{}', { qos: 1 });
  assert.deepEqual(JSON.parse((await out.next()).payload.toString()), {
    site: 'north',
    groups: [{ groupName: 'meters', groupArn: 'arn:aws:iot:us-east-1:123456789012:thinggroup/meters' }],
  });
});

test('external functions that need an AWS service Thicket lacks fail naming the service; the error action runs', async () => {
  await createRule(
    'dynamo',
    `SELECT get_dynamodb('table', 'id', '1', '${ROLE}') AS item, get_secret('s', 'SecretString', 'k', '${ROLE}') AS secret FROM 'dynamo/in'`,
    [republishTo('dynamo/out')],
    { errorAction: republishTo('errors/dynamo') },
  );
  const errors = await f.subscriber('errors/dynamo');
  const device = await f.client();
  await device.publishAsync('dynamo/in', '{}', { qos: 1 });
  const doc = JSON.parse((await errors.next()).payload.toString()) as ErrorDocument;
  const messages = doc.failures.map((x) => x.errorMessage).sort();
  assert.deepEqual(messages, [
    'get_dynamodb() needs Amazon DynamoDB, which Thicket does not have',
    'get_secret() needs AWS Secrets Manager, which Thicket does not have',
  ]);
});
