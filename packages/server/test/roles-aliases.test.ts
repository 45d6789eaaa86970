/**
 * Role aliases through the real @aws-sdk/client-iot and the aws CLI (shapes, paging, limits and
 * errors as AWS answers them), and Thicket's roles API (policies validated as IAM validates them).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateRoleAliasCommand,
  DeleteRoleAliasCommand,
  DescribeRoleAliasCommand,
  IoTClient,
  ListRoleAliasesCommand,
  ListTagsForResourceCommand,
  UpdateRoleAliasCommand,
} from '@aws-sdk/client-iot';
import { awsError, startTestServer, tempDir, type TestServer } from './helpers.js';
import { createRole, policy, rolesApi } from './roles-helpers.js';

const run = promisify(execFile);
let server: TestServer;
let iot: IoTClient;
const ROLE_ARN = 'arn:aws:iam::123456789012:role/device-role';

before(async () => {
  server = await startTestServer({ testMode: true });
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  iot.destroy();
  await server.close();
});

const rejected = (e: unknown): string => {
  const err = e as { name: string; message: string; $metadata?: { httpStatusCode?: number } };
  return `${err.$metadata?.httpStatusCode} ${err.name}: ${err.message}`;
};

test('CreateRoleAlias / DescribeRoleAlias / UpdateRoleAlias / DeleteRoleAlias with the AWS SDK', async () => {
  await server.platform.reset();
  const before = Date.now() / 1000;
  const created = await iot.send(
    new CreateRoleAliasCommand({ roleAlias: 'edge-tes', roleArn: ROLE_ARN, tags: [{ Key: 'team', Value: 'edge' }] }),
  );
  assert.equal(created.roleAlias, 'edge-tes');
  assert.equal(created.roleAliasArn, 'arn:aws:iot:us-east-1:123456789012:rolealias/edge-tes');

  const d = (await iot.send(new DescribeRoleAliasCommand({ roleAlias: 'edge-tes' }))).roleAliasDescription!;
  assert.equal(d.roleAlias, 'edge-tes');
  assert.equal(d.roleAliasArn, created.roleAliasArn);
  assert.equal(d.roleArn, ROLE_ARN);
  assert.equal(d.owner, '123456789012');
  assert.equal(d.credentialDurationSeconds, 3600, 'AWS default');
  assert.ok(d.creationDate instanceof Date && d.creationDate.getTime() / 1000 >= before - 1);
  assert.ok(d.lastModifiedDate instanceof Date);
  const tags = await iot.send(new ListTagsForResourceCommand({ resourceArn: created.roleAliasArn }));
  assert.deepEqual(tags.tags, [{ Key: 'team', Value: 'edge' }]);

  const updated = await iot.send(
    new UpdateRoleAliasCommand({ roleAlias: 'edge-tes', roleArn: 'arn:aws:iam::123456789012:role/other', credentialDurationSeconds: 900 }),
  );
  assert.deepEqual([updated.roleAlias, updated.roleAliasArn], ['edge-tes', created.roleAliasArn]);
  const d2 = (await iot.send(new DescribeRoleAliasCommand({ roleAlias: 'edge-tes' }))).roleAliasDescription!;
  assert.equal(d2.roleArn, 'arn:aws:iam::123456789012:role/other');
  assert.equal(d2.credentialDurationSeconds, 900);
  // Only the duration: the role stays.
  await iot.send(new UpdateRoleAliasCommand({ roleAlias: 'edge-tes', credentialDurationSeconds: 43200 }));
  const d3 = (await iot.send(new DescribeRoleAliasCommand({ roleAlias: 'edge-tes' }))).roleAliasDescription!;
  assert.deepEqual([d3.roleArn, d3.credentialDurationSeconds], ['arn:aws:iam::123456789012:role/other', 43200]);

  const dup = await awsError(iot.send(new CreateRoleAliasCommand({ roleAlias: 'edge-tes', roleArn: ROLE_ARN })));
  assert.deepEqual([dup.name, dup.status, dup.message], ['ResourceAlreadyExistsException', 409, 'Role alias edge-tes already exists']);

  await iot.send(new DeleteRoleAliasCommand({ roleAlias: 'edge-tes' }));
  const gone = await awsError(iot.send(new DescribeRoleAliasCommand({ roleAlias: 'edge-tes' })));
  assert.deepEqual([gone.name, gone.status, gone.message], ['ResourceNotFoundException', 404, 'Role alias edge-tes does not exist']);
  const again = await awsError(iot.send(new DeleteRoleAliasCommand({ roleAlias: 'edge-tes' })));
  assert.equal(again.name, 'ResourceNotFoundException');
  const noUpdate = await awsError(iot.send(new UpdateRoleAliasCommand({ roleAlias: 'edge-tes', credentialDurationSeconds: 900 })));
  assert.equal(noUpdate.name, 'ResourceNotFoundException');
  const tagsGone = await iot.send(new ListTagsForResourceCommand({ resourceArn: created.roleAliasArn })).catch(rejected);
  assert.ok(typeof tagsGone === 'string' || (tagsGone.tags ?? []).length === 0, 'the tags went with the alias');
});

test('CreateRoleAlias validation: durations, role ARNs and hostile alias names are refused as AWS words it', async () => {
  await server.platform.reset();
  const bad = async (input: ConstructorParameters<typeof CreateRoleAliasCommand>[0]) =>
    awsError(iot.send(new CreateRoleAliasCommand(input)));
  const short = await bad({ roleAlias: 'a', roleArn: ROLE_ARN, credentialDurationSeconds: 899 });
  assert.deepEqual(
    [short.name, short.status, short.message],
    [
      'InvalidRequestException',
      400,
      "1 validation error detected: Value '899' at 'credentialDurationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900",
    ],
  );
  const long = await bad({ roleAlias: 'a', roleArn: ROLE_ARN, credentialDurationSeconds: 43201 });
  assert.match(long.message, /Member must have value less than or equal to 43200$/);
  const noArn = await bad({ roleAlias: 'a', roleArn: undefined as unknown as string });
  assert.equal(noArn.name, 'InvalidRequestException');
  assert.match(noArn.message, /at 'roleArn' failed to satisfy constraint: Member must not be null/);
  const notRole = await bad({ roleAlias: 'a', roleArn: 'arn:aws:iot:us-east-1:123456789012:thing/x' });
  assert.deepEqual(
    [notRole.name, notRole.message],
    [
      'InvalidRequestException',
      'Role ARN arn:aws:iot:us-east-1:123456789012:thing/x is not valid: expected arn:aws:iam::<account>:role/<name>',
    ],
  );
  const tooShortArn = await bad({ roleAlias: 'a', roleArn: 'arn:x' });
  assert.match(tooShortArn.message, /at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20/);

  for (const name of ['a b', 'x*', 'a/b', '..', 'a%2Fb', 'é', 'x'.repeat(129)]) {
    const e = await bad({ roleAlias: name, roleArn: ROLE_ARN });
    assert.equal(e.name, 'InvalidRequestException', name);
    assert.equal(e.status, 400, name);
  }
  const list = await iot.send(new ListRoleAliasesCommand({}));
  assert.deepEqual(list.roleAliases, [], 'nothing was created by a refused request');
});

test('ListRoleAliases pages with pageSize/marker in either order; 100 aliases per namespace (LimitExceededException)', async () => {
  await server.platform.reset();
  const names = Array.from({ length: 100 }, (_, i) => `alias-${String(i).padStart(3, '0')}`);
  for (const roleAlias of names) await iot.send(new CreateRoleAliasCommand({ roleAlias, roleArn: ROLE_ARN }));
  const limit = await awsError(iot.send(new CreateRoleAliasCommand({ roleAlias: 'one-too-many', roleArn: ROLE_ARN })));
  assert.deepEqual([limit.name, limit.status], ['LimitExceededException', 410]);

  const seen: string[] = [];
  let marker: string | undefined;
  let pages = 0;
  do {
    const page = await iot.send(new ListRoleAliasesCommand({ pageSize: 30, marker }));
    seen.push(...page.roleAliases!);
    marker = page.nextMarker;
    pages++;
  } while (marker);
  assert.deepEqual(seen, names);
  assert.equal(pages, 4);
  const desc = await iot.send(new ListRoleAliasesCommand({ pageSize: 3, ascendingOrder: false }));
  assert.deepEqual(desc.roleAliases, ['alias-099', 'alias-098', 'alias-097']);
  const next = await iot.send(new ListRoleAliasesCommand({ pageSize: 2, ascendingOrder: false, marker: desc.nextMarker }));
  assert.deepEqual(next.roleAliases, ['alias-096', 'alias-095']);

  const badSize = await awsError(iot.send(new ListRoleAliasesCommand({ pageSize: 251 })));
  assert.deepEqual(
    [badSize.name, badSize.message],
    ['InvalidRequestException', "pageSize must be a whole number from 1 to 250, not '251'"],
  );
  const badMarker = await awsError(iot.send(new ListRoleAliasesCommand({ marker: 'not-a-marker' })));
  assert.deepEqual([badMarker.name, badMarker.message], ['InvalidRequestException', 'The marker is not valid']);

  // Another region is another namespace: it sees none of them and has its own limit.
  const west = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-west-2', credentials: server.adminKey });
  try {
    assert.deepEqual((await west.send(new ListRoleAliasesCommand({}))).roleAliases, []);
    const w = await west.send(new CreateRoleAliasCommand({ roleAlias: 'alias-000', roleArn: ROLE_ARN }));
    assert.equal(w.roleAliasArn, 'arn:aws:iot:us-west-2:123456789012:rolealias/alias-000');
  } finally {
    west.destroy();
  }
});

test('the aws CLI creates, lists, describes and deletes a role alias', async () => {
  await server.platform.reset();
  const dir = tempDir();
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: server.adminKey.accessKeyId,
    AWS_SECRET_ACCESS_KEY: server.adminKey.secretAccessKey,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: `${dir}/none`,
    AWS_SHARED_CREDENTIALS_FILE: `${dir}/none`,
  };
  const aws = async (...args: string[]) =>
    JSON.parse(
      (await run('aws', ['iot', ...args, '--endpoint-url', `http://127.0.0.1:${server.ports.http}`, '--output', 'json'], { env })).stdout ||
        '{}',
    ) as Record<string, unknown>;
  const created = await aws(
    'create-role-alias',
    '--role-alias',
    'cli-alias',
    '--role-arn',
    ROLE_ARN,
    '--credential-duration-seconds',
    '1800',
  );
  assert.deepEqual(created, { roleAlias: 'cli-alias', roleAliasArn: 'arn:aws:iot:us-east-1:123456789012:rolealias/cli-alias' });
  assert.deepEqual(await aws('list-role-aliases'), { roleAliases: ['cli-alias'] });
  const d = (await aws('describe-role-alias', '--role-alias', 'cli-alias')).roleAliasDescription as Record<string, unknown>;
  assert.equal(d.credentialDurationSeconds, 1800);
  assert.equal(d.roleArn, ROLE_ARN);
  await aws('delete-role-alias', '--role-alias', 'cli-alias');
  const err = await run(
    'aws',
    ['iot', 'describe-role-alias', '--role-alias', 'cli-alias', '--endpoint-url', `http://127.0.0.1:${server.ports.http}`],
    { env },
  ).catch((e: { stderr: string }) => e.stderr);
  assert.match(String(err), /ResourceNotFoundException.*Role alias cli-alias does not exist/);
});

test('roles API: create, get, list, update, delete; IAM names, policies and limits checked', async () => {
  await server.platform.reset();
  const doc = policy([{ Effect: 'Allow', Action: ['iot:DescribeThing', 'iotjobsdata:*'], Resource: '*' }]);
  const created = await createRole(server, 'reader', doc, { description: 'reads things' });
  const role = created.role as unknown as Record<string, unknown>;
  assert.equal(role.roleArn, 'arn:aws:iam::123456789012:role/reader');
  assert.match(String(role.roleId), /^AROA[A-Z2-7]{17}$/);
  assert.equal(role.maxSessionDuration, 3600, 'IAM default');
  assert.equal(role.policyDocument, doc);
  assert.equal(role.description, 'reads things');

  const got = await rolesApi<{ role: Record<string, unknown> }>(server, 'GET', '/_thicket/roles/reader');
  assert.equal(got.role.roleId, role.roleId);
  const list = await rolesApi<{ roles: Array<{ roleName: string }> }>(server, 'GET', '/_thicket/roles');
  assert.deepEqual(
    list.roles.map((r) => r.roleName),
    ['reader'],
  );

  // Role names are unique regardless of case, as in IAM.
  await assert.rejects(createRole(server, 'READER', doc), /ResourceAlreadyExistsException: Role with name reader already exists\./);
  const updated = await rolesApi<{ role: Record<string, unknown> }>(server, 'PUT', '/_thicket/roles/reader', { maxSessionDuration: 43200 });
  assert.deepEqual([updated.role.maxSessionDuration, updated.role.policyDocument], [43200, doc]);

  const malformed = async (d: unknown, pattern: RegExp) =>
    assert.rejects(createRole(server, 'bad', typeof d === 'string' ? d : JSON.stringify(d)), pattern);
  await malformed('{not json', /MalformedPolicyDocumentException: Policy document is not valid JSON/);
  await malformed(
    { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'CreateThing', Resource: '*' }] },
    /Invalid action "CreateThing"/,
  );
  await malformed({ Version: '2012-10-17', Statement: [{ Effect: 'Maybe', Action: 'iot:*', Resource: '*' }] }, /invalid Effect "Maybe"/);
  await malformed(
    { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: 'thing/x' }] },
    /must be an ARN or "\*"/,
  );
  await malformed({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*' }] }, /missing the required element "Resource"/);
  await malformed(
    { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: 'arn:aws:iot:*:*:thing/' + 'x'.repeat(10_300) }] },
    /too large: \d+ characters excluding whitespace, the limit is 10240/,
  );
  await assert.rejects(rolesApi(server, 'POST', '/_thicket/roles/nopolicy', {}), /InvalidRequestException: policyDocument is required/);
  await assert.rejects(
    createRole(server, 'x', doc, { maxSessionDuration: 100 }),
    /at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater than or equal to 3600/,
  );
  await assert.rejects(createRole(server, 'bad%20name', doc), /InvalidRequestException: .*roleName/);
  await assert.rejects(createRole(server, 'x'.repeat(65), doc), /Member must have length less than or equal to 64/);
  await assert.rejects(
    rolesApi(server, 'GET', '/_thicket/roles/nobody'),
    /ResourceNotFoundException: The role with name nobody cannot be found\./,
  );

  await rolesApi(server, 'DELETE', '/_thicket/roles/reader');
  await assert.rejects(rolesApi(server, 'DELETE', '/_thicket/roles/reader'), /ResourceNotFoundException/);
  const none = await rolesApi<{ roles: unknown[] }>(server, 'GET', '/_thicket/roles');
  assert.deepEqual(none.roles, []);
});
