/** Billing groups over the AWS API: @aws-sdk/client-iot, the aws CLI, boto3 and raw signed requests. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  AddThingToBillingGroupCommand,
  CreateBillingGroupCommand,
  CreateThingCommand,
  DeleteBillingGroupCommand,
  DeleteThingCommand,
  DescribeBillingGroupCommand,
  DescribeThingCommand,
  IoTClient,
  ListBillingGroupsCommand,
  ListTagsForResourceCommand,
  ListThingsInBillingGroupCommand,
  RemoveThingFromBillingGroupCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateBillingGroupCommand,
} from '@aws-sdk/client-iot';
import { adminRequest, signedFetch, type AccessKey } from '@thicket/server';
import { awsError, createAccount, startTestServer, type TestServer } from './helpers.js';

const run = promisify(execFile);
const ACCOUNT = '123456789012';
const ARN = `arn:aws:iot:us-east-1:${ACCOUNT}`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let server: TestServer;
let iot: IoTClient;
let endpoint: string;
let other: AccessKey;

before(async () => {
  server = await startTestServer({ testMode: true });
  endpoint = `http://127.0.0.1:${server.ports.http}`;
  iot = new IoTClient({ endpoint, region: 'us-east-1', credentials: server.adminKey });
  other = await createAccount(server, '210987654321', 'second');
});
after(async () => {
  iot.destroy();
  await server.close();
});

/** The response without the SDK's $metadata. */
function body<T extends { $metadata?: unknown }>(r: T): Omit<T, '$metadata'> {
  const { $metadata: _, ...rest } = r;
  return rest;
}

test('create, describe, update (versions, expectedVersion), list with prefix and paging, delete', async () => {
  const created = await iot.send(
    new CreateBillingGroupCommand({
      billingGroupName: 'cost-center-1',
      billingGroupProperties: { billingGroupDescription: 'first floor' },
      tags: [{ Key: 'cc', Value: '1001' }],
    }),
  );
  assert.equal(created.billingGroupName, 'cost-center-1');
  assert.equal(created.billingGroupArn, `${ARN}:billinggroup/cost-center-1`);
  assert.match(created.billingGroupId!, UUID);
  const before = Date.now() / 1000;
  const described = await iot.send(new DescribeBillingGroupCommand({ billingGroupName: 'cost-center-1' }));
  const creationDate = described.billingGroupMetadata?.creationDate;
  assert.ok(creationDate instanceof Date && Math.abs(creationDate.getTime() / 1000 - before) < 30);
  assert.deepEqual(body(described), {
    billingGroupName: 'cost-center-1',
    billingGroupId: created.billingGroupId,
    billingGroupArn: `${ARN}:billinggroup/cost-center-1`,
    version: 1,
    billingGroupProperties: { billingGroupDescription: 'first floor' },
    billingGroupMetadata: { creationDate },
  });

  const again = await awsError(iot.send(new CreateBillingGroupCommand({ billingGroupName: 'cost-center-1' })));
  assert.deepEqual(again, { name: 'ResourceAlreadyExistsException', message: 'Billing group cost-center-1 already exists.', status: 409 });

  const v2 = await iot.send(
    new UpdateBillingGroupCommand({
      billingGroupName: 'cost-center-1',
      billingGroupProperties: { billingGroupDescription: 'second floor' },
      expectedVersion: 1,
    }),
  );
  assert.equal(v2.version, 2);
  const stale = await awsError(
    iot.send(new UpdateBillingGroupCommand({ billingGroupName: 'cost-center-1', billingGroupProperties: {}, expectedVersion: 1 })),
  );
  assert.deepEqual(stale, {
    name: 'VersionConflictException',
    message: 'The version for billing group cost-center-1 does not match the expected version.',
    status: 409,
  });
  assert.equal(
    (await iot.send(new DescribeBillingGroupCommand({ billingGroupName: 'cost-center-1' }))).billingGroupProperties
      ?.billingGroupDescription,
    'second floor',
  );
  // The properties given replace the stored ones: an empty object removes the description.
  assert.equal(
    (await iot.send(new UpdateBillingGroupCommand({ billingGroupName: 'cost-center-1', billingGroupProperties: {} }))).version,
    3,
  );
  const cleared = await iot.send(new DescribeBillingGroupCommand({ billingGroupName: 'cost-center-1' }));
  assert.deepEqual(cleared.billingGroupProperties, {});
  assert.equal(cleared.version, 3);

  for (const n of ['cost-center-2', 'cost-center-3', 'lab']) await iot.send(new CreateBillingGroupCommand({ billingGroupName: n }));
  const all = await iot.send(new ListBillingGroupsCommand({}));
  assert.deepEqual(all.billingGroups, [
    { groupName: 'cost-center-1', groupArn: `${ARN}:billinggroup/cost-center-1` },
    { groupName: 'cost-center-2', groupArn: `${ARN}:billinggroup/cost-center-2` },
    { groupName: 'cost-center-3', groupArn: `${ARN}:billinggroup/cost-center-3` },
    { groupName: 'lab', groupArn: `${ARN}:billinggroup/lab` },
  ]);
  assert.equal(all.nextToken, undefined);
  const first = await iot.send(new ListBillingGroupsCommand({ namePrefixFilter: 'cost-', maxResults: 2 }));
  assert.deepEqual(
    first.billingGroups?.map((g) => g.groupName),
    ['cost-center-1', 'cost-center-2'],
  );
  assert.ok(first.nextToken);
  const second = await iot.send(new ListBillingGroupsCommand({ namePrefixFilter: 'cost-', maxResults: 2, nextToken: first.nextToken }));
  assert.deepEqual(
    second.billingGroups?.map((g) => g.groupName),
    ['cost-center-3'],
  );
  assert.equal(second.nextToken, undefined);

  const wrongVersion = await awsError(iot.send(new DeleteBillingGroupCommand({ billingGroupName: 'lab', expectedVersion: 7 })));
  assert.equal(wrongVersion.name, 'VersionConflictException');
  await iot.send(new DeleteBillingGroupCommand({ billingGroupName: 'lab', expectedVersion: 1 }));
  const gone = await awsError(iot.send(new DescribeBillingGroupCommand({ billingGroupName: 'lab' })));
  assert.deepEqual(gone, { name: 'ResourceNotFoundException', message: 'Billing group lab cannot be found.', status: 404 });
  // DeleteBillingGroup models no ResourceNotFoundException: deleting what is not there succeeds.
  await iot.send(new DeleteBillingGroupCommand({ billingGroupName: 'lab' }));
  assert.equal(
    (await awsError(iot.send(new UpdateBillingGroupCommand({ billingGroupName: 'lab', billingGroupProperties: {} })))).name,
    'ResourceNotFoundException',
  );
  assert.equal(
    (await awsError(iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: 'lab' })))).name,
    'ResourceNotFoundException',
  );
});

test('membership: by name or ARN, one billing group per thing (adding moves it), DescribeThing, CreateThing, removal, deletion', async () => {
  await iot.send(new CreateBillingGroupCommand({ billingGroupName: 'bg-a' }));
  await iot.send(new CreateBillingGroupCommand({ billingGroupName: 'bg-b' }));
  for (const t of ['m-1', 'm-2', 'm-3']) await iot.send(new CreateThingCommand({ thingName: t }));
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'm-1' }))).billingGroupName, undefined);

  await iot.send(new AddThingToBillingGroupCommand({ billingGroupName: 'bg-a', thingName: 'm-1' }));
  await iot.send(new AddThingToBillingGroupCommand({ billingGroupArn: `${ARN}:billinggroup/bg-a`, thingArn: `${ARN}:thing/m-2` }));
  await iot.send(new AddThingToBillingGroupCommand({ billingGroupName: 'bg-a', thingName: 'm-2' }));
  assert.deepEqual((await iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: 'bg-a' }))).things, ['m-1', 'm-2']);
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'm-1' }))).billingGroupName, 'bg-a');

  // A thing is in at most one billing group: adding it to another moves it.
  await iot.send(new AddThingToBillingGroupCommand({ billingGroupName: 'bg-b', thingName: 'm-1' }));
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'm-1' }))).billingGroupName, 'bg-b');
  assert.deepEqual((await iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: 'bg-a' }))).things, ['m-2']);
  assert.deepEqual((await iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: 'bg-b' }))).things, ['m-1']);

  // Removing from a group the thing is not in changes nothing.
  await iot.send(new RemoveThingFromBillingGroupCommand({ billingGroupName: 'bg-a', thingName: 'm-1' }));
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'm-1' }))).billingGroupName, 'bg-b');
  await iot.send(new RemoveThingFromBillingGroupCommand({ billingGroupArn: `${ARN}:billinggroup/bg-b`, thingArn: `${ARN}:thing/m-1` }));
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'm-1' }))).billingGroupName, undefined);
  assert.deepEqual((await iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: 'bg-b' }))).things, []);

  // CreateThing puts the thing in the group; an unknown group creates nothing.
  const made = await iot.send(new CreateThingCommand({ thingName: 'm-4', billingGroupName: 'bg-b' }));
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'm-4' }))).billingGroupName, 'bg-b');
  const same = await iot.send(new CreateThingCommand({ thingName: 'm-4', billingGroupName: 'bg-b' }));
  assert.equal(same.thingId, made.thingId, 'the same request is idempotent');
  assert.equal(
    (await awsError(iot.send(new CreateThingCommand({ thingName: 'm-4', billingGroupName: 'bg-a' })))).name,
    'ResourceAlreadyExistsException',
  );
  const unknown = await awsError(iot.send(new CreateThingCommand({ thingName: 'm-5', billingGroupName: 'nope' })));
  assert.deepEqual(unknown, { name: 'ResourceNotFoundException', message: 'Billing group nope cannot be found.', status: 404 });
  assert.equal((await awsError(iot.send(new DescribeThingCommand({ thingName: 'm-5' })))).name, 'ResourceNotFoundException');

  // Unknown things and groups.
  assert.deepEqual(await awsError(iot.send(new AddThingToBillingGroupCommand({ billingGroupName: 'bg-a', thingName: 'ghost' }))), {
    name: 'ResourceNotFoundException',
    message: 'Thing ghost cannot be found.',
    status: 404,
  });
  assert.equal(
    (await awsError(iot.send(new AddThingToBillingGroupCommand({ billingGroupName: 'ghost', thingName: 'm-3' })))).name,
    'ResourceNotFoundException',
  );
  assert.deepEqual(await awsError(iot.send(new AddThingToBillingGroupCommand({ thingName: 'm-3' }))), {
    name: 'InvalidRequestException',
    message: 'Either billingGroupName or its ARN is required',
    status: 400,
  });

  // A deleted thing leaves its group; a deleted group leaves its things in none.
  await iot.send(new AddThingToBillingGroupCommand({ billingGroupName: 'bg-a', thingName: 'm-3' }));
  await iot.send(new DeleteThingCommand({ thingName: 'm-2' }));
  assert.deepEqual((await iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: 'bg-a' }))).things, ['m-3']);
  await iot.send(new CreateThingCommand({ thingName: 'm-2' }));
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'm-2' }))).billingGroupName, undefined);
  await iot.send(new DeleteBillingGroupCommand({ billingGroupName: 'bg-a' }));
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'm-3' }))).billingGroupName, undefined);
  await iot.send(new CreateBillingGroupCommand({ billingGroupName: 'bg-a' }));
  assert.deepEqual((await iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: 'bg-a' }))).things, []);
});

test('ListThingsInBillingGroup pages with nextToken/maxResults', async () => {
  await iot.send(new CreateBillingGroupCommand({ billingGroupName: 'paged' }));
  for (let i = 0; i < 5; i++) {
    await iot.send(new CreateThingCommand({ thingName: `p-${i}`, billingGroupName: 'paged' }));
  }
  const seen: string[] = [];
  let nextToken: string | undefined;
  do {
    const r = await iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: 'paged', maxResults: 2, nextToken }));
    assert.ok(r.things!.length <= 2);
    seen.push(...r.things!);
    nextToken = r.nextToken;
  } while (nextToken);
  assert.deepEqual(seen, ['p-0', 'p-1', 'p-2', 'p-3', 'p-4']);
  assert.equal(
    (await awsError(iot.send(new ListThingsInBillingGroupCommand({ billingGroupName: 'paged', maxResults: 251 })))).name,
    'InvalidRequestException',
  );
});

test('tags on billing group ARNs: at creation, TagResource, UntagResource; gone with the group', async () => {
  await iot.send(new CreateBillingGroupCommand({ billingGroupName: 'tagged', tags: [{ Key: 'team', Value: 'ops' }] }));
  const arn = `${ARN}:billinggroup/tagged`;
  assert.deepEqual((await iot.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, [{ Key: 'team', Value: 'ops' }]);
  await iot.send(new TagResourceCommand({ resourceArn: arn, tags: [{ Key: 'cost', Value: '42' }] }));
  await iot.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['team'] }));
  assert.deepEqual((await iot.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags, [{ Key: 'cost', Value: '42' }]);
  await iot.send(new DeleteBillingGroupCommand({ billingGroupName: 'tagged' }));
  assert.deepEqual(await awsError(iot.send(new ListTagsForResourceCommand({ resourceArn: arn }))), {
    name: 'ResourceNotFoundException',
    message: `Resource ${arn} cannot be found.`,
    status: 404,
  });
  await iot.send(new CreateBillingGroupCommand({ billingGroupName: 'tagged' }));
  assert.deepEqual(
    (await iot.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags,
    [],
    'a new group does not inherit old tags',
  );
});

test('hostile input: bad names, oversized values, other namespaces, ARNs of other kinds, percent-escapes', async () => {
  const invalid = async (p: Promise<unknown>, message: string | RegExp): Promise<void> => {
    const e = await awsError(p);
    assert.equal(e.name, 'InvalidRequestException', `${e.name}: ${e.message}`);
    assert.equal(e.status, 400);
    if (typeof message === 'string') assert.equal(e.message, message);
    else assert.match(e.message, message);
  };
  await invalid(
    iot.send(new CreateBillingGroupCommand({ billingGroupName: 'has space' })),
    "1 validation error detected: Value 'has space' at 'billingGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+",
  );
  await invalid(
    iot.send(new CreateBillingGroupCommand({ billingGroupName: 'x'.repeat(129) })),
    /at 'billingGroupName' failed to satisfy constraint: Member must have length less than or equal to 128/,
  );
  await invalid(
    iot.send(
      new CreateBillingGroupCommand({
        billingGroupName: 'long-desc',
        billingGroupProperties: { billingGroupDescription: 'd'.repeat(2029) },
      }),
    ),
    /at 'billingGroupProperties.billingGroupDescription' failed to satisfy constraint: Member must have length less than or equal to 2028/,
  );
  await invalid(iot.send(new ListBillingGroupsCommand({ namePrefixFilter: 'a*' })), /at 'namePrefixFilter'/);
  await invalid(iot.send(new ListBillingGroupsCommand({ maxResults: 0 })), "maxResults must be a whole number from 1 to 250, not '0'");
  await invalid(iot.send(new ListBillingGroupsCommand({ nextToken: 'garbage' })), 'The nextToken is not valid');
  assert.equal(
    (await awsError(iot.send(new DescribeBillingGroupCommand({ billingGroupName: 'long-desc' })))).name,
    'ResourceNotFoundException',
  );

  // A slash smuggled in a path label arrives percent-encoded and is one (invalid) name, never a path.
  const slash = await signedFetch({
    endpoint,
    region: 'us-east-1',
    credentials: server.adminKey,
    method: 'POST',
    path: '/billing-groups/a%2Fb',
    body: {},
  });
  assert.equal(slash.status, 400);
  assert.equal(slash.headers.get('x-amzn-errortype'), 'InvalidRequestException');
  assert.match(((await slash.json()) as { message: string }).message, /Value 'a\/b' at 'billingGroupName'/);
  const traversal = await signedFetch({
    endpoint,
    region: 'us-east-1',
    credentials: server.adminKey,
    method: 'GET',
    path: '/billing-groups/..%2Fthings',
  });
  assert.equal(traversal.status, 400);
  assert.deepEqual(await traversal.json(), {
    __type: 'InvalidRequestException',
    message:
      "1 validation error detected: Value '../things' at 'billingGroupName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+",
  });

  await iot.send(new CreateBillingGroupCommand({ billingGroupName: 'mine' }));
  await iot.send(new CreateThingCommand({ thingName: 'my-thing' }));
  // ARNs naming another kind, another account or region, or an unparseable name are refused.
  for (const billingGroupArn of [
    `${ARN}:thinggroup/mine`,
    `arn:aws:iot:us-east-1:210987654321:billinggroup/mine`,
    `arn:aws:iot:eu-west-1:${ACCOUNT}:billinggroup/mine`,
    'mine',
  ]) {
    const e = await awsError(iot.send(new AddThingToBillingGroupCommand({ billingGroupArn, thingName: 'my-thing' })));
    assert.deepEqual(e, { name: 'ResourceNotFoundException', message: `${billingGroupArn} cannot be found.`, status: 404 });
  }
  await invalid(
    iot.send(new AddThingToBillingGroupCommand({ billingGroupArn: `${ARN}:billinggroup/mine/../x`, thingName: 'my-thing' })),
    /Value 'mine\/..\/x' at 'billingGroupName'/,
  );
  assert.equal((await iot.send(new DescribeThingCommand({ thingName: 'my-thing' }))).billingGroupName, undefined);

  // Another account sees none of it, and cannot reach it by ARN.
  const stranger = new IoTClient({ endpoint, region: 'us-east-1', credentials: other });
  try {
    assert.deepEqual((await stranger.send(new ListBillingGroupsCommand({}))).billingGroups, []);
    assert.equal(
      (await awsError(stranger.send(new DescribeBillingGroupCommand({ billingGroupName: 'mine' })))).name,
      'ResourceNotFoundException',
    );
    await stranger.send(new CreateThingCommand({ thingName: 'their-thing' }));
    assert.equal(
      (
        await awsError(
          stranger.send(new AddThingToBillingGroupCommand({ billingGroupArn: `${ARN}:billinggroup/mine`, thingName: 'their-thing' })),
        )
      ).name,
      'ResourceNotFoundException',
    );
    assert.equal(
      (await awsError(stranger.send(new ListTagsForResourceCommand({ resourceArn: `${ARN}:billinggroup/mine` })))).name,
      'ResourceNotFoundException',
    );
    // Its own group of the same name is its own.
    const theirs = await stranger.send(new CreateBillingGroupCommand({ billingGroupName: 'mine' }));
    assert.equal(theirs.billingGroupArn, 'arn:aws:iot:us-east-1:210987654321:billinggroup/mine');
    await stranger.send(new DeleteBillingGroupCommand({ billingGroupName: 'mine' }));
  } finally {
    stranger.destroy();
  }
  assert.equal((await iot.send(new DescribeBillingGroupCommand({ billingGroupName: 'mine' }))).billingGroupName, 'mine');
});

test('the aws CLI and boto3 drive billing groups', async () => {
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null', AWS_PROFILE: 'default' };
  const cli = async (...args: string[]): Promise<Record<string, unknown>> => {
    const out = (await run('aws', ['iot', ...args, '--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json'], { env }))
      .stdout;
    return out.trim() ? (JSON.parse(out) as Record<string, unknown>) : {};
  };
  const created = await cli(
    'create-billing-group',
    '--billing-group-name',
    'cli-bg',
    '--billing-group-properties',
    'billingGroupDescription=from cli',
  );
  assert.equal(created.billingGroupArn, `${ARN}:billinggroup/cli-bg`);
  await cli('create-thing', '--thing-name', 'cli-bg-thing');
  await cli('add-thing-to-billing-group', '--billing-group-name', 'cli-bg', '--thing-name', 'cli-bg-thing');
  assert.deepEqual(await cli('list-things-in-billing-group', '--billing-group-name', 'cli-bg'), { things: ['cli-bg-thing'] });
  assert.equal((await cli('describe-thing', '--thing-name', 'cli-bg-thing')).billingGroupName, 'cli-bg');

  const script = `
import boto3, json, sys
iot = boto3.client('iot', endpoint_url=sys.argv[1], region_name='us-east-1')
before = iot.describe_billing_group(billingGroupName='cli-bg')['billingGroupProperties']
iot.update_billing_group(billingGroupName='cli-bg', billingGroupProperties={'billingGroupDescription': 'from boto3'}, expectedVersion=1)
d = iot.describe_billing_group(billingGroupName='cli-bg')
iot.remove_thing_from_billing_group(billingGroupName='cli-bg', thingName='cli-bg-thing')
try:
    iot.update_billing_group(billingGroupName='cli-bg', billingGroupProperties={}, expectedVersion=1)
    err = None
except iot.exceptions.VersionConflictException as e:
    err = e.response['Error']
print(json.dumps({'before': before, 'version': d['version'], 'desc': d['billingGroupProperties'], 'things': iot.list_things_in_billing_group(billingGroupName='cli-bg')['things'], 'err': err}))
`;
  const out = JSON.parse((await run('python3', ['-c', script, endpoint], { env })).stdout) as Record<string, unknown>;
  assert.deepEqual(out, {
    before: { billingGroupDescription: 'from cli' },
    version: 2,
    desc: { billingGroupDescription: 'from boto3' },
    things: [],
    err: { Code: 'VersionConflictException', Message: 'The version for billing group cli-bg does not match the expected version.' },
  });
});

test('test-mode reset removes billing groups and memberships', async () => {
  await iot.send(new CreateBillingGroupCommand({ billingGroupName: 'before-reset' }));
  await adminRequest({ endpoint, region: 'us-east-1', credentials: server.adminKey, method: 'POST', path: '/_thicket/reset' });
  assert.deepEqual((await iot.send(new ListBillingGroupsCommand({}))).billingGroups, []);
});
