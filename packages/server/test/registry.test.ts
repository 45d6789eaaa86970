/** The registry over the AWS API, driven by the real @aws-sdk/client-iot and the aws CLI. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  AddThingToThingGroupCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  CreateThingTypeCommand,
  DeleteThingCommand,
  DeleteThingGroupCommand,
  DeleteThingTypeCommand,
  DeprecateThingTypeCommand,
  DescribeEventConfigurationsCommand,
  DescribeThingCommand,
  DescribeThingGroupCommand,
  DescribeThingTypeCommand,
  IoTClient,
  ListTagsForResourceCommand,
  ListThingGroupsCommand,
  ListThingGroupsForThingCommand,
  ListThingsCommand,
  ListThingsInThingGroupCommand,
  ListThingTypesCommand,
  RemoveThingFromThingGroupCommand,
  TagResourceCommand,
  UntagResourceCommand,
  UpdateEventConfigurationsCommand,
  UpdateThingCommand,
  UpdateThingGroupCommand,
  UpdateThingGroupsForThingCommand,
} from '@aws-sdk/client-iot';
import mqtt from 'mqtt';
import { awsError, startTestServer, type TestServer } from './helpers.js';

const run = promisify(execFile);
let server: TestServer;
let iot: IoTClient;

before(async () => {
  server = await startTestServer({ dev: true });
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  iot.destroy();
  await server.close();
});

test('things: create (idempotent), describe, update with merge and versions, list with paging and filters, delete', async () => {
  const created = await iot.send(new CreateThingCommand({ thingName: 'lamp-1', attributePayload: { attributes: { room: 'kitchen' } } }));
  assert.equal(created.thingArn, 'arn:aws:iot:us-east-1:123456789012:thing/lamp-1');
  assert.match(created.thingId!, /^[0-9a-f-]{36}$/);
  const again = await iot.send(new CreateThingCommand({ thingName: 'lamp-1', attributePayload: { attributes: { room: 'kitchen' } } }));
  assert.equal(again.thingId, created.thingId, 'same request, same thing');
  const conflict = await awsError(
    iot.send(new CreateThingCommand({ thingName: 'lamp-1', attributePayload: { attributes: { room: 'hall' } } })),
  );
  assert.equal(conflict.name, 'ResourceAlreadyExistsException');
  assert.equal(conflict.status, 409);

  const d = await iot.send(new DescribeThingCommand({ thingName: 'lamp-1' }));
  assert.deepEqual([d.thingName, d.defaultClientId, d.version, d.attributes], ['lamp-1', 'lamp-1', 1, { room: 'kitchen' }]);

  await iot.send(new UpdateThingCommand({ thingName: 'lamp-1', attributePayload: { attributes: { floor: '2', room: '' }, merge: true } }));
  const merged = await iot.send(new DescribeThingCommand({ thingName: 'lamp-1' }));
  assert.deepEqual(merged.attributes, { floor: '2' }, 'merge adds, and an empty value removes');
  assert.equal(merged.version, 2);
  const stale = await awsError(
    iot.send(new UpdateThingCommand({ thingName: 'lamp-1', expectedVersion: 1, attributePayload: { attributes: {} } })),
  );
  assert.equal(stale.name, 'VersionConflictException');

  for (let i = 0; i < 7; i++) {
    await iot.send(
      new CreateThingCommand({
        thingName: `pager-${i}`,
        attributePayload: { attributes: { batch: i < 4 ? 'a' : 'b', serial: `sn-${i}` } },
      }),
    );
  }
  const seen: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await iot.send(new ListThingsCommand({ maxResults: 3, nextToken, attributeName: 'batch', attributeValue: 'a' }));
    assert.ok(page.things!.length <= 3);
    seen.push(...page.things!.map((t) => t.thingName!));
    nextToken = page.nextToken;
  } while (nextToken);
  assert.deepEqual(seen, ['pager-0', 'pager-1', 'pager-2', 'pager-3']);
  const prefix = await iot.send(new ListThingsCommand({ attributeName: 'serial', attributeValue: 'sn-', usePrefixAttributeValue: true }));
  assert.equal(prefix.things!.length, 7);

  await iot.send(new DeleteThingCommand({ thingName: 'pager-6' }));
  assert.equal((await awsError(iot.send(new DescribeThingCommand({ thingName: 'pager-6' })))).name, 'ResourceNotFoundException');
  await iot.send(new DeleteThingCommand({ thingName: 'never-existed' }));
});

test('bad input: invalid names, too many attributes, bad tokens and bodies get InvalidRequestException with the reason', async () => {
  const badName = await awsError(iot.send(new CreateThingCommand({ thingName: 'has space' })));
  assert.equal(badName.name, 'InvalidRequestException');
  assert.match(badName.message, /thingName.*\[a-zA-Z0-9:_-\]\+/);
  const tooLong = await awsError(iot.send(new CreateThingCommand({ thingName: 'x'.repeat(129) })));
  assert.match(tooLong.message, /length less than or equal to 128/);
  const attrs = await awsError(
    iot.send(new CreateThingCommand({ thingName: 'many', attributePayload: { attributes: { a: '1', b: '2', c: '3', d: '4' } } })),
  );
  assert.match(attrs.message, /at most 3 attributes/);
  const badValue = await awsError(
    iot.send(new CreateThingCommand({ thingName: 'v', attributePayload: { attributes: { a: 'white space' } } })),
  );
  assert.equal(badValue.name, 'InvalidRequestException');
  const oversized = await awsError(
    iot.send(new CreateThingCommand({ thingName: 'big', attributePayload: { attributes: { a: 'x'.repeat(801) } } })),
  );
  assert.equal(oversized.name, 'InvalidRequestException');
  assert.match(oversized.message, /at most 800 characters/);
  const badToken = await awsError(iot.send(new ListThingsCommand({ nextToken: 'garbage!' })));
  assert.match(badToken.message, /nextToken is not valid/);
  const badMax = await awsError(iot.send(new ListThingsCommand({ maxResults: 1000 })));
  assert.match(badMax.message, /maxResults/);
  const unknownType = await awsError(iot.send(new CreateThingCommand({ thingName: 'typed', thingTypeName: 'NoSuchType' })));
  assert.equal(unknownType.name, 'ResourceNotFoundException');
});

test('thing types: create, describe, 50 attributes with a type, deprecate blocks new things, delete after deprecation', async () => {
  await iot.send(
    new CreateThingTypeCommand({
      thingTypeName: 'Sensor',
      thingTypeProperties: { thingTypeDescription: 'a sensor', searchableAttributes: ['model'] },
    }),
  );
  const t = await iot.send(new DescribeThingTypeCommand({ thingTypeName: 'Sensor' }));
  assert.equal(t.thingTypeProperties?.thingTypeDescription, 'a sensor');
  assert.equal(t.thingTypeMetadata?.deprecated, false);
  assert.ok(t.thingTypeMetadata?.creationDate instanceof Date);
  const attributes = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`a${i}`, `${i}`]));
  await iot.send(new CreateThingCommand({ thingName: 'sensor-1', thingTypeName: 'Sensor', attributePayload: { attributes } }));
  assert.equal((await iot.send(new ListThingsCommand({ thingTypeName: 'Sensor' }))).things!.length, 1);
  assert.equal((await awsError(iot.send(new DeleteThingTypeCommand({ thingTypeName: 'Sensor' })))).name, 'InvalidRequestException');
  await iot.send(new DeprecateThingTypeCommand({ thingTypeName: 'Sensor' }));
  assert.equal(
    (await awsError(iot.send(new CreateThingCommand({ thingName: 'sensor-2', thingTypeName: 'Sensor' })))).name,
    'InvalidRequestException',
  );
  assert.match((await awsError(iot.send(new DeleteThingTypeCommand({ thingTypeName: 'Sensor' })))).message, /still use it/);
  await iot.send(new UpdateThingCommand({ thingName: 'sensor-1', removeThingType: true, attributePayload: { attributes: {} } }));
  await iot.send(new DeleteThingTypeCommand({ thingTypeName: 'Sensor' }));
  assert.deepEqual((await iot.send(new ListThingTypesCommand({}))).thingTypes, []);
});

test('thing groups: hierarchy, membership both ways, one group per hierarchy, recursive listing, delete rules', async () => {
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'site', tags: [{ Key: 'owner', Value: 'ops' }] }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'floor-1', parentGroupName: 'site' }));
  await iot.send(
    new CreateThingGroupCommand({
      thingGroupName: 'room-1',
      parentGroupName: 'floor-1',
      thingGroupProperties: { thingGroupDescription: 'r1' },
    }),
  );
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'fleet' }));
  const room = await iot.send(new DescribeThingGroupCommand({ thingGroupName: 'room-1' }));
  assert.deepEqual(
    room.thingGroupMetadata?.rootToParentThingGroups?.map((g) => g.groupName),
    ['site', 'floor-1'],
  );
  await iot.send(new CreateThingCommand({ thingName: 'g-thing' }));
  await iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'room-1', thingName: 'g-thing' }));
  await iot.send(
    new AddThingToThingGroupCommand({ thingGroupArn: 'arn:aws:iot:us-east-1:123456789012:thinggroup/fleet', thingName: 'g-thing' }),
  );
  const same = await awsError(iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'site', thingName: 'g-thing' })));
  assert.match(same.message, /same hierarchy/);
  assert.deepEqual(
    (await iot.send(new ListThingGroupsForThingCommand({ thingName: 'g-thing' }))).thingGroups?.map((g) => g.groupName),
    ['fleet', 'room-1'],
  );
  assert.deepEqual((await iot.send(new ListThingsInThingGroupCommand({ thingGroupName: 'site' }))).things, []);
  assert.deepEqual((await iot.send(new ListThingsInThingGroupCommand({ thingGroupName: 'site', recursive: true }))).things, ['g-thing']);
  assert.deepEqual(
    (await iot.send(new ListThingGroupsCommand({ parentGroup: 'site', recursive: true }))).thingGroups?.map((g) => g.groupName),
    ['floor-1', 'room-1'],
  );
  const v = await iot.send(
    new UpdateThingGroupCommand({ thingGroupName: 'fleet', thingGroupProperties: { attributePayload: { attributes: { k: 'v' } } } }),
  );
  assert.equal(v.version, 2);
  await iot.send(new UpdateThingGroupsForThingCommand({ thingName: 'g-thing', thingGroupsToRemove: ['fleet'], thingGroupsToAdd: [] }));
  await iot.send(new RemoveThingFromThingGroupCommand({ thingGroupName: 'room-1', thingName: 'g-thing' }));
  assert.deepEqual((await iot.send(new ListThingGroupsForThingCommand({ thingName: 'g-thing' }))).thingGroups, []);
  assert.match((await awsError(iot.send(new DeleteThingGroupCommand({ thingGroupName: 'floor-1' })))).message, /child groups/);
  const tags = await iot.send(new ListTagsForResourceCommand({ resourceArn: 'arn:aws:iot:us-east-1:123456789012:thinggroup/site' }));
  assert.deepEqual(tags.tags, [{ Key: 'owner', Value: 'ops' }]);
  await iot.send(
    new TagResourceCommand({ resourceArn: 'arn:aws:iot:us-east-1:123456789012:thing/g-thing', tags: [{ Key: 'a', Value: 'b' }] }),
  );
  await iot.send(new UntagResourceCommand({ resourceArn: 'arn:aws:iot:us-east-1:123456789012:thing/g-thing', tagKeys: ['a'] }));
  assert.equal(
    (await awsError(iot.send(new ListTagsForResourceCommand({ resourceArn: 'arn:aws:iot:us-east-1:123456789012:thing/nope' })))).name,
    'ResourceNotFoundException',
  );
});

test('registry events are published over MQTT once enabled', async () => {
  const off = await iot.send(new DescribeEventConfigurationsCommand({}));
  assert.equal(off.eventConfigurations?.THING?.Enabled, false);
  const sub = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { protocolVersion: 5 });
  await sub.subscribeAsync('$aws/events/#', { qos: 1 });
  const events: Array<{ topic: string; body: Record<string, unknown> }> = [];
  sub.on('message', (topic, p) => events.push({ topic, body: JSON.parse(p.toString()) as Record<string, unknown> }));
  await iot.send(new CreateThingCommand({ thingName: 'silent' }));
  await iot.send(
    new UpdateEventConfigurationsCommand({ eventConfigurations: { THING: { Enabled: true }, THING_GROUP_MEMBERSHIP: { Enabled: true } } }),
  );
  await iot.send(new CreateThingCommand({ thingName: 'loud', attributePayload: { attributes: { x: '1' } } }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'ev-group' }));
  await iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'ev-group', thingName: 'loud' }));
  for (let i = 0; i < 50 && events.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  const topics = events
    .map((e) => e.topic)
    .filter((t) => !t.startsWith('$aws/events/presence') && !t.startsWith('$aws/events/subscriptions'));
  assert.deepEqual(topics, ['$aws/events/thing/loud/created', '$aws/events/thingGroupMembership/thingGroup/ev-group/thing/loud/added']);
  const created = events.find((e) => e.topic === '$aws/events/thing/loud/created')!.body;
  assert.equal(created.eventType, 'THING_EVENT');
  assert.equal(created.operation, 'CREATED');
  assert.equal(created.accountId, '123456789012');
  assert.deepEqual(created.attributes, { x: '1' });
  assert.equal((await iot.send(new DescribeEventConfigurationsCommand({}))).eventConfigurations?.THING?.Enabled, true);
  await sub.endAsync();
});

test('the aws CLI works with the generated credentials file', async () => {
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null', AWS_PROFILE: 'default' };
  const endpoint = ['--endpoint-url', `http://127.0.0.1:${server.ports.http}`, '--region', 'us-east-1', '--output', 'json'];
  const created = JSON.parse((await run('aws', ['iot', 'create-thing', '--thing-name', 'cli-thing', ...endpoint], { env })).stdout) as {
    thingArn: string;
  };
  assert.equal(created.thingArn, 'arn:aws:iot:us-east-1:123456789012:thing/cli-thing');
  const listed = JSON.parse((await run('aws', ['iot', 'list-things', ...endpoint], { env })).stdout) as {
    things: Array<{ thingName: string }>;
  };
  assert.ok(listed.things.some((t) => t.thingName === 'cli-thing'));
  const failed = await run('aws', ['iot', 'describe-thing', '--thing-name', 'absent', ...endpoint], { env }).catch(
    (e: { stderr: string }) => e,
  );
  assert.match((failed as { stderr: string }).stderr, /ResourceNotFoundException/);
});

test('requests signed with a wrong secret, or not at all, are refused with the AWS errors', async () => {
  const bad = new IoTClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: { accessKeyId: server.adminKey.accessKeyId, secretAccessKey: 'wrong' },
  });
  const e = await awsError(bad.send(new ListThingsCommand({})));
  assert.equal(e.name, 'InvalidSignatureException');
  assert.equal(e.status, 403);
  bad.destroy();
  const unknown = new IoTClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'TKIANOSUCHKEY0000000', secretAccessKey: 'x' },
  });
  assert.equal((await awsError(unknown.send(new ListThingsCommand({})))).name, 'UnrecognizedClientException');
  unknown.destroy();
  const res = await fetch(`http://127.0.0.1:${server.ports.http}/things`);
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
});
