/**
 * The http action with `enableBatching`: messages gathered into one POST of a JSON array, flushed by
 * size, bytes and time; batches per rendered URL; a failed batch fails each of its messages; a
 * deleted rule sends what it held. End to end over MQTT to a loopback endpoint, plus the batcher alone.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTopicRuleCommand, DeleteTopicRuleCommand } from '@aws-sdk/client-iot';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';
import { Endpoint } from './rules-http-helpers.js';
import { HttpBatcher, batchElement } from '../src/rules/actions/http-batcher.js';

let f: RulesFixture;
let ep: Endpoint;

before(async () => {
  ep = await Endpoint.start();
  f = await rulesFixture({ rules: { trustedUrlPrefixes: [`${ep.base}/trusted`] } });
});
after(async () => {
  await f.close();
  await ep.close();
});

async function rule(ruleName: string, sql: string, http: Record<string, unknown>): Promise<void> {
  await f.iot.send(
    new CreateTopicRuleCommand({
      ruleName,
      topicRulePayload: {
        sql,
        actions: [{ http }],
        errorAction: { republish: { roleArn: 'arn:aws:iam::123456789012:role/r', topic: `errors/${ruleName}` } },
        awsIotSqlVersion: '2016-03-23',
      } as never,
    }),
  );
}

const bodies = (path: string): unknown[] => ep.to(path).map((r) => JSON.parse(r.body.toString()) as unknown);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('5 messages with maxBatchSize 5 arrive as one POST of a 5-element JSON array, in order', async () => {
  await rule('full', "SELECT * FROM 'batch/full'", {
    url: `${ep.base}/trusted/full`,
    headers: [{ key: 'content-type', value: 'text/plain' }],
    enableBatching: true,
    batchConfig: { maxBatchSize: 5, maxBatchOpenMs: 200 },
  });
  const device = await f.client();
  for (let i = 1; i <= 5; i++) device.publish('batch/full', JSON.stringify({ i }), { qos: 0 });
  const [r] = await ep.waitFor('/trusted/full');
  assert.deepEqual(JSON.parse(r!.body.toString()), [{ i: 1 }, { i: 2 }, { i: 3 }, { i: 4 }, { i: 5 }]);
  assert.equal(r!.headers['content-type'], 'application/json', 'a batch is JSON whatever the headers say');
  await sleep(300);
  assert.equal(ep.to('/trusted/full').length, 1);
});

test('maxBatchOpenMs sends a batch that is not full; maxBatchSizeBytes splits batches', async () => {
  await rule('partial', "SELECT * FROM 'batch/partial'", {
    url: `${ep.base}/trusted/partial`,
    enableBatching: true,
    batchConfig: { maxBatchOpenMs: 50 },
  });
  const device = await f.client();
  const started = Date.now();
  for (let i = 1; i <= 3; i++) device.publish('batch/partial', JSON.stringify({ i }), { qos: 0 });
  const [r] = await ep.waitFor('/trusted/partial');
  assert.ok(r!.at - started >= 45, `sent ${r!.at - started} ms after the first message`);
  assert.deepEqual(JSON.parse(r!.body.toString()), [{ i: 1 }, { i: 2 }, { i: 3 }]);

  // Each output is 40 bytes: two make a 83-byte array, a third would make 124 > 100.
  await rule('bytes', "SELECT * FROM 'batch/bytes'", {
    url: `${ep.base}/trusted/bytes`,
    enableBatching: true,
    batchConfig: { maxBatchOpenMs: 200, maxBatchSizeBytes: 100 },
  });
  for (let i = 1; i <= 6; i++) device.publish('batch/bytes', JSON.stringify({ i, pad: 'x'.repeat(23) }), { qos: 0 });
  const got = await ep.waitFor('/trusted/bytes', 3);
  for (const g of got) assert.ok(g.body.length <= 100, `${g.body.length} bytes`);
  assert.deepEqual(
    bodies('/trusted/bytes').map((b) => (b as { i: number }[]).map((x) => x.i)),
    [
      [1, 2],
      [3, 4],
      [5, 6],
    ],
  );
});

test('messages to different rendered URLs go in different batches; without enableBatching each message is its own POST', async () => {
  await rule('urls', "SELECT * FROM 'batch/urls/+'", {
    url: `${ep.base}/trusted/urls/\${topic(3)}`,
    confirmationUrl: `${ep.base}/trusted/urls/`,
    enableBatching: true,
    batchConfig: { maxBatchOpenMs: 100 },
  });
  const device = await f.client();
  for (let i = 1; i <= 4; i++) device.publish(`batch/urls/${i % 2 ? 'a' : 'b'}`, JSON.stringify({ i }), { qos: 0 });
  await ep.waitFor('/trusted/urls/a');
  await ep.waitFor('/trusted/urls/b');
  assert.deepEqual(bodies('/trusted/urls/a'), [[{ i: 1 }, { i: 3 }]]);
  assert.deepEqual(bodies('/trusted/urls/b'), [[{ i: 2 }, { i: 4 }]]);

  await rule('single', "SELECT * FROM 'batch/single'", { url: `${ep.base}/trusted/single`, enableBatching: false, batchConfig: {} });
  await rule('plain', "SELECT * FROM 'batch/single'", { url: `${ep.base}/trusted/plain` });
  for (let i = 1; i <= 3; i++) device.publish('batch/single', JSON.stringify({ i }), { qos: 0 });
  await ep.waitFor('/trusted/single', 3);
  await ep.waitFor('/trusted/plain', 3);
  for (const path of ['/trusted/single', '/trusted/plain']) {
    assert.deepEqual(
      bodies(path).sort((x, y) => (x as { i: number }).i - (y as { i: number }).i),
      [{ i: 1 }, { i: 2 }, { i: 3 }],
    );
  }
});

test('a failed batch runs the error action once for each of its messages, with the batch error; retries apply to the batch', async () => {
  ep.behaviour = (r) => (r.url.startsWith('/trusted/fail') ? { status: 400, body: 'rejected' } : { status: 200 });
  try {
    await rule('fail', "SELECT * FROM 'batch/fail'", {
      url: `${ep.base}/trusted/fail`,
      enableBatching: true,
      batchConfig: { maxBatchSize: 3, maxBatchOpenMs: 200 },
    });
    const errors = await f.subscriber('errors/fail');
    const device = await f.client();
    for (let i = 1; i <= 3; i++) device.publish('batch/fail', JSON.stringify({ i }), { qos: 0 });
    const docs = [];
    for (let i = 0; i < 3; i++) {
      docs.push(
        JSON.parse((await errors.next(5000)).payload.toString()) as { failures: { failedResource: string; errorMessage: string }[] },
      );
    }
    assert.deepEqual(await errors.settle(300), []);
    assert.equal(ep.to('/trusted/fail').length, 1, 'one request, a 400 is not retried');
    for (const d of docs) {
      assert.equal(d.failures[0]!.failedResource, `${ep.base}/trusted/fail`);
      assert.match(d.failures[0]!.errorMessage, /answered 400: rejected/);
    }

    // Retries apply to the batch: a 500 then a 200 delivers the whole batch, the error action stays quiet.
    let flaky = 0;
    ep.behaviour = (r) => (r.url.startsWith('/trusted/retried') && ++flaky === 1 ? { status: 500 } : { status: 200 });
    await rule('retried', "SELECT * FROM 'batch/retried'", {
      url: `${ep.base}/trusted/retried`,
      enableBatching: true,
      batchConfig: { maxBatchSize: 2, maxBatchOpenMs: 200 },
    });
    const retriedErrors = await f.subscriber('errors/retried');
    for (let i = 1; i <= 2; i++) device.publish('batch/retried', JSON.stringify({ i }), { qos: 0 });
    await ep.waitFor('/trusted/retried', 2);
    assert.deepEqual(bodies('/trusted/retried'), [
      [{ i: 1 }, { i: 2 }],
      [{ i: 1 }, { i: 2 }],
    ]);
    assert.deepEqual(await retriedErrors.settle(300), []);
  } finally {
    ep.behaviour = () => ({ status: 200 });
  }
});

test('deleting a rule sends the batch it holds', async () => {
  await rule('gone', "SELECT * FROM 'batch/gone'", {
    url: `${ep.base}/trusted/gone`,
    enableBatching: true,
    batchConfig: { maxBatchOpenMs: 200 },
  });
  const device = await f.client();
  // The batch's own timer cannot fire before started + 200 ms: arriving earlier means the delete sent it.
  const started = Date.now();
  await device.publishAsync('batch/gone', JSON.stringify({ i: 1 }), { qos: 1 });
  await sleep(30);
  await f.iot.send(new DeleteTopicRuleCommand({ ruleName: 'gone' }));
  const [r] = await ep.waitFor('/trusted/gone');
  assert.deepEqual(JSON.parse(r!.body.toString()), [{ i: 1 }]);
  assert.ok(r!.at - started < 200, `sent ${r!.at - started} ms after the publish, by the batch's timer rather than the delete`);
});

test('the batcher: close() sends open batches at once, later messages go alone; outputs that are not JSON objects', async () => {
  const sent: string[] = [];
  const b = new HttpBatcher<string>({ maxBatchOpenMs: 200, maxBatchSize: 10, maxBatchSizeBytes: 1000 }, (t, body) => {
    sent.push(`${t} ${body.toString()}`);
    return Promise.resolve();
  });
  const first = [b.add('k1', 'u1', Buffer.from('1')), b.add('k1', 'u1', Buffer.from('"s"')), b.add('k2', 'u2', Buffer.from('{}'))];
  assert.equal(b.openBatches, 2);
  b.close();
  await Promise.all(first);
  assert.deepEqual(sent, ['u1 [1,"s"]', 'u2 [{}]']);
  await b.add('k1', 'u1', Buffer.from('2'));
  assert.deepEqual(sent.slice(2), ['u1 [2]']);

  const failing = new HttpBatcher<string>({ maxBatchOpenMs: 5, maxBatchSize: 10, maxBatchSizeBytes: 1000 }, () =>
    Promise.reject(new Error('down')),
  );
  const outcomes = await Promise.allSettled([failing.add('k', 'u', Buffer.from('1')), failing.add('k', 'u', Buffer.from('2'))]);
  assert.deepEqual(
    outcomes.map((o) => (o.status === 'rejected' ? (o.reason as Error).message : 'ok')),
    ['down', 'down'],
  );

  assert.equal(batchElement(Buffer.from(' 42 '), true).toString(), '42');
  assert.equal(batchElement(Buffer.from('"text"'), true).toString(), '"text"');
  assert.equal(batchElement(Buffer.from('a,b\n1,2'), false).toString(), '"a,b\\n1,2"');
});
