/**
 * Topic rule destinations with the official @aws-sdk/client-iot: the confirmation message AWS sends,
 * ConfirmTopicRuleDestination, nothing delivered before it; the destination an http action's rule
 * creates; statuses, paging, accounts kept apart, and the token kept secret.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  ConfirmTopicRuleDestinationCommand,
  CreateTopicRuleCommand,
  CreateTopicRuleDestinationCommand,
  DeleteTopicRuleDestinationCommand,
  GetTopicRuleDestinationCommand,
  IoTClient,
  ListTopicRuleDestinationsCommand,
  ReplaceTopicRuleCommand,
  UpdateTopicRuleDestinationCommand,
} from '@aws-sdk/client-iot';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resetAgents } from '../src/rules/actions/http-request.js';
import { createAccount } from './helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';
import { Endpoint } from './rules-http-helpers.js';

let f: RulesFixture;
let ep: Endpoint;
let other: IoTClient;

before(async () => {
  ep = await Endpoint.start();
  f = await rulesFixture();
  const endpoint = `http://127.0.0.1:${f.server.ports.http}`;
  await createAccount(f.server, '210987654321');
  // The root key acting for the other account: everything it does happens there.
  other = new IoTClient({ endpoint, region: 'us-east-1', credentials: f.server.adminKey, maxAttempts: 1 });
  other.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-thicket-account'] = '210987654321';
      return next(args);
    },
    { step: 'build' },
  );
});
after(async () => {
  other.destroy();
  await f.close();
  await ep.close();
});

async function awsError(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { name: string; message: string };
  }
  throw new Error('the call succeeded');
}

const errorsOf = async (topic: string) => f.subscriber(topic);

interface Confirmation {
  arn: string;
  confirmationToken: string;
  enableUrl: string;
  messageType: string;
}

test('CreateTopicRuleDestination: IN_PROGRESS, the confirmation POSTed as AWS sends it; confirming enables it; nothing is delivered before', async () => {
  const url = `${ep.base}/flow`;
  const created = await f.iot.send(
    new CreateTopicRuleDestinationCommand({ destinationConfiguration: { httpUrlConfiguration: { confirmationUrl: url } } }),
  );
  const d = created.topicRuleDestination!;
  assert.match(d.arn!, /^arn:aws:iot:us-east-1:123456789012:ruledestination\/http\/[0-9a-f-]{36}$/);
  assert.equal(d.status, 'IN_PROGRESS');
  assert.equal(d.httpUrlProperties?.confirmationUrl, url);
  assert.ok(d.createdAt instanceof Date && d.lastUpdatedAt instanceof Date);

  const [req] = await ep.waitFor('/flow?');
  assert.equal(req!.method, 'POST');
  assert.equal(req!.headers['x-amz-rules-engine-message-type'], 'DestinationConfirmation');
  assert.equal(req!.headers['x-amz-rules-engine-destination-arn'], d.arn);
  assert.equal(req!.headers['content-type'], 'application/json');
  const body = JSON.parse(req!.body.toString()) as Confirmation;
  assert.deepEqual(Object.keys(body).sort(), ['arn', 'confirmationToken', 'enableUrl', 'messageType']);
  assert.equal(body.arn, d.arn);
  assert.equal(body.messageType, 'DestinationConfirmation');
  assert.equal(new URL(req!.url, ep.base).searchParams.get('confirmationToken'), body.confirmationToken);
  assert.ok(body.confirmationToken.length >= 40);
  assert.equal(body.enableUrl, `http://127.0.0.1:${f.server.ports.http}/confirmdestination/${body.confirmationToken}`);

  // A rule sending there fails, to its error action, until the destination is confirmed.
  const errors = await errorsOf('errors/flow');
  await f.iot.send(
    new CreateTopicRuleCommand({
      ruleName: 'flow',
      topicRulePayload: {
        sql: "SELECT * FROM 'flow/in'",
        actions: [{ http: { url: `${url}/data`, confirmationUrl: url } }],
        errorAction: { republish: { roleArn: 'arn:aws:iam::123456789012:role/r', topic: 'errors/flow' } },
      },
    }),
  );
  const device = await f.client();
  await device.publishAsync('flow/in', JSON.stringify({ n: 1 }), { qos: 1 });
  const doc = JSON.parse((await errors.next()).payload.toString()) as {
    failures: { failedAction: string; failedResource: string; errorMessage: string }[];
  };
  assert.equal(doc.failures[0]!.failedAction, 'HttpAction');
  assert.equal(doc.failures[0]!.failedResource, `${url}/data`);
  assert.match(doc.failures[0]!.errorMessage, /Destination not enabled: .* is IN_PROGRESS/);
  assert.equal(ep.to('/flow/data').length, 0);
  // The action's destination existed already: saving the rule did not create (nor re-challenge) one.
  assert.equal(ep.to('/flow?').length, 1);

  // Enabling without the token is refused: the endpoint has not said it wants the traffic.
  const refused = await awsError(f.iot.send(new UpdateTopicRuleDestinationCommand({ arn: d.arn, status: 'ENABLED' })));
  assert.equal(refused.name, 'InvalidRequestException');

  await f.iot.send(new ConfirmTopicRuleDestinationCommand({ confirmationToken: body.confirmationToken }));
  const got = await f.iot.send(new GetTopicRuleDestinationCommand({ arn: d.arn }));
  assert.equal(got.topicRuleDestination?.status, 'ENABLED');
  await device.publishAsync('flow/in', JSON.stringify({ n: 2 }), { qos: 1 });
  const [delivered] = await ep.waitFor('/flow/data');
  assert.deepEqual(JSON.parse(delivered!.body.toString()), { n: 2 });
  assert.deepEqual(await errors.settle(200), []);

  // A token works once.
  const again = await awsError(f.iot.send(new ConfirmTopicRuleDestinationCommand({ confirmationToken: body.confirmationToken })));
  assert.equal(again.name, 'InvalidRequestException');

  // DISABLED stops delivery; ENABLED again (confirmed before) needs no new token.
  await f.iot.send(new UpdateTopicRuleDestinationCommand({ arn: d.arn, status: 'DISABLED' }));
  await device.publishAsync('flow/in', JSON.stringify({ n: 3 }), { qos: 1 });
  assert.match((JSON.parse((await errors.next()).payload.toString()) as typeof doc).failures[0]!.errorMessage, /is DISABLED/);
  await f.iot.send(new UpdateTopicRuleDestinationCommand({ arn: d.arn, status: 'ENABLED' }));
  await device.publishAsync('flow/in', JSON.stringify({ n: 4 }), { qos: 1 });
  await ep.waitFor('/flow/data', 2);

  // IN_PROGRESS sends a new challenge with a new token.
  await f.iot.send(new UpdateTopicRuleDestinationCommand({ arn: d.arn, status: 'IN_PROGRESS' }));
  const challenges = await ep.waitFor('/flow?', 2);
  const second = JSON.parse(challenges[1]!.body.toString()) as Confirmation;
  assert.notEqual(second.confirmationToken, body.confirmationToken);

  const dup = await awsError(
    f.iot.send(new CreateTopicRuleDestinationCommand({ destinationConfiguration: { httpUrlConfiguration: { confirmationUrl: url } } })),
  );
  assert.equal(dup.name, 'ResourceAlreadyExistsException');
});

test('CreateTopicRule with an http action creates the destination of its URL (IN_PROGRESS, challenged); ReplaceTopicRule too', async () => {
  const url = `${ep.base}/auto/x`;
  await f.iot.send(
    new CreateTopicRuleCommand({ ruleName: 'auto', topicRulePayload: { sql: "SELECT * FROM 'auto/in'", actions: [{ http: { url } }] } }),
  );
  const [req] = await ep.waitFor('/auto/x?');
  const body = JSON.parse(req!.body.toString()) as Confirmation;
  const list = await f.iot.send(new ListTopicRuleDestinationsCommand({}));
  const mine = list.destinationSummaries!.find((s) => s.httpUrlSummary?.confirmationUrl === url);
  assert.equal(mine?.status, 'IN_PROGRESS');
  assert.equal(mine?.arn, body.arn);

  await f.iot.send(new ConfirmTopicRuleDestinationCommand({ confirmationToken: body.confirmationToken }));
  const device = await f.client();
  await device.publishAsync('auto/in', 'raw bytes', { qos: 1 });
  const [delivered] = await ep.waitFor('/auto/x', 2);
  const data = ep.to('/auto/x').find((r) => !r.url.includes('confirmationToken'))!;
  assert.ok(delivered);
  assert.equal(data.body.toString(), 'raw bytes');
  assert.equal(data.headers['content-type'], 'application/octet-stream');

  await f.iot.send(
    new ReplaceTopicRuleCommand({
      ruleName: 'auto',
      topicRulePayload: {
        sql: "SELECT * FROM 'auto/in'",
        actions: [{ http: { url: `${ep.base}/auto2/y`, confirmationUrl: `${ep.base}/auto2` } }],
      },
    }),
  );
  await ep.waitFor('/auto2?');
});

test('list pages; delete removes; another account can neither see, change, delete nor confirm the destination', async () => {
  const created = [];
  for (const p of ['p1', 'p2', 'p3']) {
    const r = await f.iot.send(
      new CreateTopicRuleDestinationCommand({ destinationConfiguration: { httpUrlConfiguration: { confirmationUrl: `${ep.base}/${p}` } } }),
    );
    created.push(r.topicRuleDestination!);
  }
  const [challenge] = await ep.waitFor('/p3?');
  const token = (JSON.parse(challenge!.body.toString()) as Confirmation).confirmationToken;
  const all = [];
  let nextToken: string | undefined;
  do {
    const page = await f.iot.send(new ListTopicRuleDestinationsCommand({ maxResults: 2, nextToken }));
    assert.ok(page.destinationSummaries!.length <= 2);
    all.push(...page.destinationSummaries!);
    nextToken = page.nextToken;
  } while (nextToken);
  for (const c of created) assert.ok(all.some((s) => s.arn === c.arn));

  const arn = created[2]!.arn!;
  assert.equal((await awsError(other.send(new GetTopicRuleDestinationCommand({ arn })))).name, 'UnauthorizedException');
  assert.deepEqual((await other.send(new ListTopicRuleDestinationsCommand({}))).destinationSummaries, []);
  assert.equal(
    (await awsError(other.send(new UpdateTopicRuleDestinationCommand({ arn, status: 'DISABLED' })))).name,
    'UnauthorizedException',
  );
  assert.equal((await awsError(other.send(new DeleteTopicRuleDestinationCommand({ arn })))).name, 'UnauthorizedException');
  assert.equal(
    (await awsError(other.send(new ConfirmTopicRuleDestinationCommand({ confirmationToken: token })))).name,
    'InvalidRequestException',
  );
  assert.equal((await f.iot.send(new GetTopicRuleDestinationCommand({ arn }))).topicRuleDestination?.status, 'IN_PROGRESS');

  await f.iot.send(new DeleteTopicRuleDestinationCommand({ arn }));
  assert.equal((await awsError(f.iot.send(new GetTopicRuleDestinationCommand({ arn })))).name, 'UnauthorizedException');
  // Its token died with it.
  assert.equal(
    (await awsError(f.iot.send(new ConfirmTopicRuleDestinationCommand({ confirmationToken: token })))).name,
    'InvalidRequestException',
  );
});

test('a confirmation that cannot be delivered puts the destination in ERROR, with a reason that never shows the token', async () => {
  ep.behaviour = (r) => (r.url.startsWith('/echo') ? { status: 500, body: r.body.toString() } : { status: 200 });
  try {
    const r = await f.iot.send(
      new CreateTopicRuleDestinationCommand({ destinationConfiguration: { httpUrlConfiguration: { confirmationUrl: `${ep.base}/echo` } } }),
    );
    const reqs = await ep.waitFor('/echo', 3);
    const token = (JSON.parse(reqs[0]!.body.toString()) as Confirmation).confirmationToken;
    let d = (await f.iot.send(new GetTopicRuleDestinationCommand({ arn: r.topicRuleDestination!.arn }))).topicRuleDestination!;
    for (let i = 0; i < 50 && d.status !== 'ERROR'; i++) {
      await new Promise((res) => setTimeout(res, 50));
      d = (await f.iot.send(new GetTopicRuleDestinationCommand({ arn: r.topicRuleDestination!.arn }))).topicRuleDestination!;
    }
    assert.equal(d.status, 'ERROR');
    assert.match(d.statusReason!, /answered 500/);
    assert.ok(!d.statusReason!.includes(token), 'the token is not in statusReason');
    assert.equal(ep.to('/echo').length, 3, 'three tries in all');
  } finally {
    ep.behaviour = () => ({ status: 200, body: 'ok' });
  }
});

test('bad destinations are refused with a clear answer: VPC, other schemes, credentials, missing URL, bad status', async () => {
  const create = (c: object) => awsError(f.iot.send(new CreateTopicRuleDestinationCommand({ destinationConfiguration: c as never })));
  const vpc = await create({ vpcConfiguration: { subnetIds: ['s'], vpcId: 'v', roleArn: 'arn:aws:iam::123456789012:role/r' } });
  assert.equal(vpc.name, 'InvalidRequestException');
  assert.match(vpc.message, /VPC destinations .* not supported/);
  for (const bad of [
    'ftp://127.0.0.1/x',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'http://user:pw@127.0.0.1/x',
    'not a url',
    `${ep.base}/a\r\nb`,
  ]) {
    const e = await create({ httpUrlConfiguration: { confirmationUrl: bad } });
    assert.equal(e.name, 'InvalidRequestException', bad);
  }
  const missing = await create({ httpUrlConfiguration: {} });
  assert.match(
    missing.message,
    /Value null at 'destinationConfiguration.httpUrlConfiguration.confirmationUrl' failed to satisfy constraint: Member must not be null/,
  );
  const long = await create({ httpUrlConfiguration: { confirmationUrl: `${ep.base}/${'a'.repeat(2000)}` } });
  assert.match(long.message, /Member must have length less than or equal to 2000/);
  const r = await f.iot.send(
    new CreateTopicRuleDestinationCommand({ destinationConfiguration: { httpUrlConfiguration: { confirmationUrl: `${ep.base}/st` } } }),
  );
  const bad = await awsError(
    f.iot.send(new UpdateTopicRuleDestinationCommand({ arn: r.topicRuleDestination!.arn, status: 'BOGUS' as never })),
  );
  assert.match(bad.message, /Member must satisfy enum value set: \[ENABLED, IN_PROGRESS, DISABLED, ERROR, DELETING\]/);
  const notArn = await awsError(f.iot.send(new GetTopicRuleDestinationCommand({ arn: 'arn:aws:iot:us-east-1:123456789012:rule/x' })));
  assert.equal(notArn.name, 'UnauthorizedException');
});

test('outgoing HTTPS trusts NODE_EXTRA_CA_CERTS (and refuses a certificate nobody vouches for)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'thicket-ca-'));
  const seen: string[] = [];
  const server = createHttpsServer({ key: f.server.pki.serverKeyPem, cert: f.server.pki.serverCertPem }, (req, res) => {
    seen.push(req.url ?? '');
    req.resume();
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://localhost:${(server.address() as AddressInfo).port}/tls`;
  const saved = process.env.NODE_EXTRA_CA_CERTS;
  try {
    resetAgents();
    const r = await f.iot.send(
      new CreateTopicRuleDestinationCommand({ destinationConfiguration: { httpUrlConfiguration: { confirmationUrl: url } } }),
    );
    const arn = r.topicRuleDestination!.arn!;
    let d = (await f.iot.send(new GetTopicRuleDestinationCommand({ arn }))).topicRuleDestination!;
    for (let i = 0; i < 60 && d.status !== 'ERROR'; i++) {
      await new Promise((res) => setTimeout(res, 50));
      d = (await f.iot.send(new GetTopicRuleDestinationCommand({ arn }))).topicRuleDestination!;
    }
    assert.equal(d.status, 'ERROR', "Thicket's own CA is not trusted by default");
    assert.equal(seen.length, 0);
    writeFileSync(join(dir, 'ca.pem'), f.server.pki.caCertPem);
    process.env.NODE_EXTRA_CA_CERTS = join(dir, 'ca.pem');
    resetAgents();
    await f.iot.send(new UpdateTopicRuleDestinationCommand({ arn, status: 'IN_PROGRESS' }));
    for (let i = 0; i < 60 && seen.length === 0; i++) await new Promise((res) => setTimeout(res, 50));
    assert.match(seen[0] ?? '', /^\/tls\?confirmationToken=/);
  } finally {
    if (saved === undefined) delete process.env.NODE_EXTRA_CA_CERTS;
    else process.env.NODE_EXTRA_CA_CERTS = saved;
    resetAgents();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});
