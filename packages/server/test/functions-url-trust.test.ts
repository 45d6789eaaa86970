/**
 * Which URLs a URL function may call, and how many calls it may hold open: the URL needs the
 * consent the http rule action needs (a trusted prefix, or an ENABLED topic rule destination of the
 * account), checked at registration and at each call, for root keys too; at most 100 calls of one
 * function wait for its endpoint; aws_lambda()'s 2 s budget aborts the request.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfirmTopicRuleDestinationCommand,
  CreateTopicRuleCommand,
  CreateTopicRuleDestinationCommand,
  DeleteTopicRuleDestinationCommand,
  UpdateTopicRuleDestinationCommand,
} from '@aws-sdk/client-iot';
import { adminRequest, type AccessKey } from '@thicket/server';
import { createAccount, sleep } from './helpers.js';
import { failure, FunctionHost, functionsApi, type FunctionsApi } from './functions-helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';
import { Endpoint } from './rules-http-helpers.js';

let f: RulesFixture;
let host: FunctionHost;
let ep: Endpoint;
let api: FunctionsApi;
let otherApi: FunctionsApi;
let accountKey: AccessKey;

const ARN = (name: string) => `arn:aws:lambda:us-east-1:123456789012:function:${name}`;
const republishTo = (topic: string) => ({ republish: { roleArn: 'arn:aws:iam::123456789012:role/r', topic } });
const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const REFUSED =
  /is not one this server may call for account \d{12}: it must start with a URL prefix the operator trusts \(config rules\.trustedUrlPrefixes\) or fall under the confirmation URL of an ENABLED topic rule destination of the account/;

before(async () => {
  host = await FunctionHost.start();
  // The endpoint is not trusted: only a destination can admit it.
  ep = await Endpoint.start();
  f = await rulesFixture({ rules: { trustedUrlPrefixes: [host.prefix] } });
  const endpoint = `http://127.0.0.1:${f.server.ports.http}`;
  api = functionsApi(endpoint, f.server.adminKey);
  otherApi = functionsApi(endpoint, await createAccount(f.server, '210987654321'));
  accountKey = (
    await adminRequest<{ accessKey: AccessKey }>({
      endpoint,
      region: 'us-east-1',
      credentials: f.server.adminKey,
      method: 'POST',
      path: '/_thicket/access-keys',
      body: { description: 'not root' },
    })
  ).accessKey;
});
after(async () => {
  await f.close();
  await host.close();
  await ep.close();
});

async function until(done: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`not done within ${timeoutMs} ms`);
    await sleep(20);
  }
}

test('a URL function must be under a trusted prefix or an ENABLED destination, whoever registers it; nothing is stored otherwise', async () => {
  const fn = host.add();
  await api.register('trusted', { url: fn.url }, accountKey);
  assert.deepEqual((await api.invoke('trusted', { n: 1 })).result, { echo: { n: 1 } });
  const port = new URL(host.base).port;
  const probes: [string, AccessKey][] = [
    ['http://169.254.169.254/latest/meta-data/', accountKey],
    // The operator's root key gets no exception: the config (or a destination) is where trust is given.
    ['http://169.254.169.254/latest/meta-data/', f.server.adminKey],
    [`${host.base}/admin`, accountKey],
    [`http://localhost:${port}/fn/1`, accountKey],
    [`https://127.0.0.1:${port}/fn/1`, accountKey],
  ];
  for (const [url, key] of probes) {
    const message = await failure(api.register('probe', { url }, key));
    assert.match(message, new RegExp(`^InvalidRequestException: url '${escaped(new URL(url).href)}' `), message);
    assert.match(message, REFUSED);
  }
  assert.match(await failure(api.get('probe')), /ResourceNotFoundException/);
});

test("an ENABLED destination of the account admits URLs under it; an unconfirmed, disabled, deleted or another account's does not", async () => {
  const dest = `${ep.base}/hook/`;
  const created = await f.iot.send(
    new CreateTopicRuleDestinationCommand({ destinationConfiguration: { httpUrlConfiguration: { confirmationUrl: dest } } }),
  );
  const arn = created.topicRuleDestination!.arn!;
  const [confirmation] = await ep.waitFor('/hook/?');
  assert.match(await failure(api.register('hook', { url: `${dest}a` }, accountKey)), REFUSED, 'IN_PROGRESS is no consent yet');

  const token = (JSON.parse(confirmation!.body.toString()) as { confirmationToken: string }).confirmationToken;
  await f.iot.send(new ConfirmTopicRuleDestinationCommand({ confirmationToken: token }));
  await api.register('hook', { url: `${dest}a` }, accountKey);
  assert.equal((await api.invoke('hook', { n: 1 })).result, 'ok');
  assert.deepEqual(JSON.parse(ep.to('/hook/a')[0]!.body.toString()), { n: 1 });
  assert.match(await failure(api.register('beside', { url: `${ep.base}/other` }, accountKey)), REFUSED);
  assert.match(await failure(otherApi.register('hook', { url: `${dest}b` })), /for account 210987654321: /);

  // Disabling (or deleting) the destination withdraws the consent: calls fail without a request, registration is refused.
  await f.iot.send(new UpdateTopicRuleDestinationCommand({ arn, status: 'DISABLED' }));
  const refused = await api.invoke('hook', { n: 2 });
  assert.equal(refused.functionError, 'Unhandled');
  assert.equal(refused.error?.errorType, 'Function.UrlNotAllowed');
  assert.match(
    refused.error!.errorMessage,
    new RegExp(`^The function's url ${escaped(dest)}a is no longer under a trusted URL prefix or an ENABLED topic rule destination`),
  );
  assert.equal(ep.to('/hook/a').length, 1);
  assert.match(await failure(api.register('hook', { url: `${dest}a` }, accountKey)), REFUSED);
  await f.iot.send(new UpdateTopicRuleDestinationCommand({ arn, status: 'ENABLED' }));
  assert.equal((await api.invoke('hook', { n: 3 })).result, 'ok');
  await f.iot.send(new DeleteTopicRuleDestinationCommand({ arn }));
  assert.equal((await api.invoke('hook', { n: 4 })).error?.errorType, 'Function.UrlNotAllowed');
  assert.equal(ep.to('/hook/a').length, 2);
});

test('at most 100 calls of one URL function wait for its endpoint; more are refused at once, other functions go on', async () => {
  let hang = true;
  const stuck = host.add(() => (hang ? 'hang' : { body: '{"ok":true}' }));
  const free = host.add();
  await api.register('stuck', { url: stuck.url, timeout: 30 });
  await api.register('free', { url: free.url });
  const waiting = Array.from({ length: 100 }, (_, i) => api.invoke('stuck', { i }));
  await until(() => stuck.received.length === 100, 10_000);

  const refused = await api.invoke('stuck', { i: 100 });
  assert.deepEqual(refused.error, {
    errorType: 'TooManyRequestsException',
    errorMessage: `Rate exceeded: 100 calls of function ${ARN('stuck')} are already waiting for its endpoint`,
  });
  assert.equal(stuck.received.length, 100, 'the refused call sent nothing');
  assert.deepEqual((await api.invoke('free', { n: 1 })).result, { echo: { n: 1 } });

  stuck.release();
  for (const answer of await Promise.all(waiting)) assert.deepEqual(answer.result, {});
  hang = false;
  assert.deepEqual((await api.invoke('stuck', {})).result, { ok: true }, 'the answered calls gave their places back');
});

test('aws_lambda() gives a URL function 2 s: then the request is aborted, not held open to the function timeout', async () => {
  const fn = host.add(() => 'hang');
  await api.register('hanger', { url: fn.url, timeout: 30 });
  await f.iot.send(
    new CreateTopicRuleCommand({
      ruleName: 'budget',
      topicRulePayload: {
        sql: `SELECT aws_lambda('${ARN('hanger')}', {'n': n}) AS r FROM 'budget/in'`,
        awsIotSqlVersion: '2016-03-23',
        actions: [republishTo('budget/out')],
        errorAction: republishTo('errors/budget'),
      },
    }),
  );
  const errors = await f.subscriber('errors/budget');
  const device = await f.client();
  await device.publishAsync('budget/in', JSON.stringify({ n: 1 }), { qos: 1 });
  const doc = JSON.parse((await errors.next(10_000)).payload.toString()) as { failures: { failedAction: string; errorMessage: string }[] };
  assert.equal(doc.failures[0]!.failedAction, 'SQL');
  assert.match(doc.failures[0]!.errorMessage, /aws_lambda\(\): Sandbox\.Timedout: The function did not answer within 2\.00 seconds/);
  await until(() => fn.abandoned.length === 1, 3000);
  const held = fn.abandoned[0]! - fn.received[0]!.at;
  assert.ok(held >= 1500 && held < 5000, `the endpoint's request was open for ${held} ms`);
});

test('a destination that is not ENABLED withdraws what a trusted prefix grants, as it does for the http action', async () => {
  const fn = host.add();
  await api.register('covered', { url: fn.url });
  assert.equal((await api.invoke('covered', {})).functionError, undefined);
  const created = await f.iot.send(
    new CreateTopicRuleDestinationCommand({ destinationConfiguration: { httpUrlConfiguration: { confirmationUrl: host.prefix } } }),
  );
  // Under a trusted prefix a destination is ENABLED at once; the account then disables it.
  const arn = created.topicRuleDestination!.arn!;
  assert.equal(created.topicRuleDestination!.status, 'ENABLED');
  await f.iot.send(new UpdateTopicRuleDestinationCommand({ arn, status: 'DISABLED' }));
  assert.equal((await api.invoke('covered', {})).error?.errorType, 'Function.UrlNotAllowed');
  assert.match(await failure(api.register('covered2', { url: fn.url })), REFUSED);
  await f.iot.send(new DeleteTopicRuleDestinationCommand({ arn }));
  assert.equal((await api.invoke('covered', {})).functionError, undefined);
});
