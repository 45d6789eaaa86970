/**
 * Answers that once differed from AWS's documented or observed ones, each pinned to AWS's fields
 * and words: principals of unknown things, unknown policies, thing group idempotency, listings,
 * descriptions and attributes, UpdateThing's empty values, and the policy/certificate messages.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  DeleteCertificateCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DescribeThingCommand,
  DescribeThingGroupCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
  IoTClient,
  ListPolicyPrincipalsCommand,
  ListTargetsForPolicyCommand,
  ListThingGroupsCommand,
  ListThingPrincipalsCommand,
  ListThingPrincipalsV2Command,
  ResourceAlreadyExistsException,
  UpdateCertificateCommand,
  UpdateThingCommand,
  UpdateThingGroupCommand,
} from '@aws-sdk/client-iot';
import { ALLOW_ALL, awsError, startTestServer, type TestServer } from './helpers.js';

const run = promisify(execFile);
const ARN = 'arn:aws:iot:us-east-1:123456789012';

let server: TestServer;
let iot: IoTClient;
let endpoint: string;
let env: NodeJS.ProcessEnv;

before(async () => {
  server = await startTestServer();
  endpoint = `http://127.0.0.1:${server.ports.http}`;
  iot = new IoTClient({ endpoint, region: 'us-east-1', credentials: server.adminKey });
  env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null', AWS_PROFILE: 'default' };
});
after(async () => {
  iot.destroy();
  await server.close();
});

/** Runs a boto3 script with the endpoint as argv[1]; it prints one JSON value. */
async function boto3<T>(script: string): Promise<T> {
  const prelude = "import boto3, json, sys\niot = boto3.client('iot', endpoint_url=sys.argv[1], region_name='us-east-1')\n";
  return JSON.parse((await run('python3', ['-c', prelude + script, endpoint], { env })).stdout) as T;
}

test('ListThingPrincipals (v1 and v2) of an unknown thing: AWS wording', async () => {
  const expected = {
    name: 'ResourceNotFoundException',
    message: 'Failed to list principals for thing no-such-thing because the thing does not exist in your account',
    status: 404,
  };
  assert.deepEqual(await awsError(iot.send(new ListThingPrincipalsCommand({ thingName: 'no-such-thing' }))), expected);
  assert.deepEqual(await awsError(iot.send(new ListThingPrincipalsV2Command({ thingName: 'no-such-thing' }))), expected);
  await iot.send(new CreateThingCommand({ thingName: 'has-no-principals' }));
  assert.deepEqual((await iot.send(new ListThingPrincipalsCommand({ thingName: 'has-no-principals' }))).principals, []);
});

test('unknown policy: ListTargetsForPolicy is ResourceNotFoundException "Policy not found"; ListPolicyPrincipals an empty list', async () => {
  assert.deepEqual(await awsError(iot.send(new ListTargetsForPolicyCommand({ policyName: 'no-such-policy' }))), {
    name: 'ResourceNotFoundException',
    message: 'Policy not found',
    status: 404,
  });
  const principals = await iot.send(new ListPolicyPrincipalsCommand({ policyName: 'no-such-policy' }));
  assert.equal(principals.$metadata.httpStatusCode, 200);
  assert.deepEqual(principals.principals, []);
  assert.equal(principals.nextMarker, undefined);

  // The same through the aws CLI: the error name and message reach the user unchanged.
  const failed = await run(
    'aws',
    ['iot', 'list-targets-for-policy', '--policy-name', 'no-such-policy', '--endpoint-url', endpoint, '--region', 'us-east-1'],
    {
      env,
    },
  ).then(
    () => ({ stderr: '' }),
    (e: { stderr: string }) => e,
  );
  assert.match(failed.stderr, /\(ResourceNotFoundException\) when calling the ListTargetsForPolicy operation: Policy not found/);
});

test('CreateThingGroup is idempotent for identical properties; different ones are ResourceAlreadyExistsException', async () => {
  const props = { thingGroupDescription: 'lights', attributePayload: { attributes: { floor: '1' } } };
  const first = await iot.send(new CreateThingGroupCommand({ thingGroupName: 'idem', thingGroupProperties: props }));
  const again = await iot.send(new CreateThingGroupCommand({ thingGroupName: 'idem', thingGroupProperties: props }));
  assert.deepEqual([again.thingGroupName, again.thingGroupArn, again.thingGroupId], ['idem', `${ARN}:thinggroup/idem`, first.thingGroupId]);
  assert.equal((await iot.send(new DescribeThingGroupCommand({ thingGroupName: 'idem' }))).version, 1, 'nothing was written');

  for (const different of [
    { thingGroupDescription: 'other' },
    { thingGroupDescription: 'lights', attributePayload: { attributes: { floor: '2' } } },
    { thingGroupDescription: 'lights' },
  ]) {
    const err = await iot.send(new CreateThingGroupCommand({ thingGroupName: 'idem', thingGroupProperties: different })).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ResourceAlreadyExistsException, String(err));
    assert.equal(err.message, 'Thing Group idem already exists in current account with different properties');
    assert.equal(err.resourceId, first.thingGroupId);
    assert.equal(err.resourceArn, `${ARN}:thinggroup/idem`);
    assert.equal(err.$metadata.httpStatusCode, 409);
  }

  // boto3 sees the same: a group without properties created twice is one group.
  const r = await boto3<{ a: string; b: string; err: Record<string, string> }>(`
a = iot.create_thing_group(thingGroupName='idem-py')['thingGroupId']
b = iot.create_thing_group(thingGroupName='idem-py')['thingGroupId']
try:
    iot.create_thing_group(thingGroupName='idem-py', thingGroupProperties={'thingGroupDescription': 'x'})
    err = None
except iot.exceptions.ResourceAlreadyExistsException as e:
    err = {'code': e.response['Error']['Code'], 'message': e.response['Error']['Message'], 'resourceId': e.response.get('resourceId')}
print(json.dumps({'a': a, 'b': b, 'err': err}))
`);
  assert.equal(r.a, r.b);
  assert.deepEqual(r.err, {
    code: 'ResourceAlreadyExistsException',
    message: 'Thing Group idem-py already exists in current account with different properties',
    resourceId: r.a,
  });
});

test('ListThingGroups with parentGroup lists all descendants unless recursive=false; namePrefixFilter applies to that set', async () => {
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'lt-root' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'lt-a', parentGroupName: 'lt-root' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'lt-b', parentGroupName: 'lt-root' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'lt-a-1', parentGroupName: 'lt-a' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'lt-a-1-x', parentGroupName: 'lt-a-1' }));
  const names = async (q: { parentGroup?: string; recursive?: boolean; namePrefixFilter?: string }): Promise<string[]> =>
    ((await iot.send(new ListThingGroupsCommand(q))).thingGroups ?? []).map((g) => g.groupName!);
  assert.deepEqual(await names({ parentGroup: 'lt-root' }), ['lt-a', 'lt-a-1', 'lt-a-1-x', 'lt-b']);
  assert.deepEqual(await names({ parentGroup: 'lt-root', recursive: true }), ['lt-a', 'lt-a-1', 'lt-a-1-x', 'lt-b']);
  assert.deepEqual(await names({ parentGroup: 'lt-root', recursive: false }), ['lt-a', 'lt-b']);
  assert.deepEqual(await names({ parentGroup: 'lt-root', namePrefixFilter: 'lt-a-' }), ['lt-a-1', 'lt-a-1-x']);
  assert.deepEqual(await names({ parentGroup: 'lt-root', namePrefixFilter: 'lt-a-', recursive: false }), []);
  assert.deepEqual(await names({ parentGroup: 'lt-a-1-x' }), []);
  assert.deepEqual(await awsError(iot.send(new ListThingGroupsCommand({ parentGroup: 'lt-none' }))), {
    name: 'ResourceNotFoundException',
    message: 'Thing Group lt-none cannot be found.',
    status: 404,
  });
});

test('DescribeThingGroup: a root group has only creationDate in its metadata; no attributePayload without attributes', async () => {
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'dg-root' }));
  await iot.send(
    new CreateThingGroupCommand({
      thingGroupName: 'dg-child',
      parentGroupName: 'dg-root',
      thingGroupProperties: { thingGroupDescription: 'c' },
    }),
  );
  const root = await iot.send(new DescribeThingGroupCommand({ thingGroupName: 'dg-root' }));
  assert.deepEqual(Object.keys(root.thingGroupMetadata!), ['creationDate']);
  assert.ok(root.thingGroupMetadata!.creationDate instanceof Date);
  assert.deepEqual(root.thingGroupProperties, {});
  const child = await iot.send(new DescribeThingGroupCommand({ thingGroupName: 'dg-child' }));
  assert.deepEqual(child.thingGroupMetadata, {
    parentGroupName: 'dg-root',
    rootToParentThingGroups: [{ groupName: 'dg-root', groupArn: `${ARN}:thinggroup/dg-root` }],
    creationDate: child.thingGroupMetadata!.creationDate,
  });
  assert.deepEqual(child.thingGroupProperties, { thingGroupDescription: 'c' });

  // The wire itself carries no empty members (boto3 shows the JSON as sent).
  const wire = await boto3<{ root: Record<string, unknown>; props: Record<string, unknown> }>(`
d = iot.describe_thing_group(thingGroupName='dg-root')
print(json.dumps({'root': list(d['thingGroupMetadata'].keys()), 'props': d['thingGroupProperties']}))
`);
  assert.deepEqual(wire, { root: ['creationDate'], props: {} });

  // Updating with empty attributes adds nothing; with attributes, they appear; empty again keeps them.
  await iot.send(
    new UpdateThingGroupCommand({ thingGroupName: 'dg-root', thingGroupProperties: { attributePayload: { attributes: {} } } }),
  );
  assert.deepEqual((await iot.send(new DescribeThingGroupCommand({ thingGroupName: 'dg-root' }))).thingGroupProperties, {});
  await iot.send(
    new UpdateThingGroupCommand({ thingGroupName: 'dg-root', thingGroupProperties: { attributePayload: { attributes: { a: '1' } } } }),
  );
  await iot.send(
    new UpdateThingGroupCommand({ thingGroupName: 'dg-root', thingGroupProperties: { attributePayload: { attributes: {} } } }),
  );
  const withAttrs = await iot.send(new DescribeThingGroupCommand({ thingGroupName: 'dg-root' }));
  assert.deepEqual(withAttrs.thingGroupProperties, { attributePayload: { attributes: { a: '1' } } });
  assert.equal(withAttrs.version, 4);
  // Merging an empty value removes the attribute, and the payload goes with the last one.
  await iot.send(
    new UpdateThingGroupCommand({
      thingGroupName: 'dg-root',
      thingGroupProperties: { attributePayload: { attributes: { a: '' }, merge: true } },
    }),
  );
  assert.deepEqual((await iot.send(new DescribeThingGroupCommand({ thingGroupName: 'dg-root' }))).thingGroupProperties, {});
});

test('UpdateThing without merge never stores attributes whose value is empty', async () => {
  await iot.send(new CreateThingCommand({ thingName: 'empties', attributePayload: { attributes: { a: '1', b: '2' } } }));
  await iot.send(new UpdateThingCommand({ thingName: 'empties', attributePayload: { attributes: { c: '3', d: '' } } }));
  assert.deepEqual((await iot.send(new DescribeThingCommand({ thingName: 'empties' }))).attributes, { c: '3' });
  await iot.send(new UpdateThingCommand({ thingName: 'empties', attributePayload: { attributes: { c: '' }, merge: false } }));
  assert.deepEqual((await iot.send(new DescribeThingCommand({ thingName: 'empties' }))).attributes, {});
  await iot.send(new UpdateThingCommand({ thingName: 'empties', attributePayload: { attributes: { e: '5', f: '' }, merge: true } }));
  assert.deepEqual((await iot.send(new DescribeThingCommand({ thingName: 'empties' }))).attributes, { e: '5' });
});

test('policy messages: existing name, a sixth version, deleting while attached or with versions', async () => {
  await iot.send(new CreatePolicyCommand({ policyName: 'msg-pol', policyDocument: ALLOW_ALL }));
  const exists = await iot.send(new CreatePolicyCommand({ policyName: 'msg-pol', policyDocument: ALLOW_ALL })).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.ok(exists instanceof ResourceAlreadyExistsException);
  assert.equal(exists.message, 'Policy cannot be created - name already exists (name=msg-pol)');
  assert.equal(exists.resourceArn, `${ARN}:policy/msg-pol`);

  for (let i = 2; i <= 5; i++) await iot.send(new CreatePolicyVersionCommand({ policyName: 'msg-pol', policyDocument: ALLOW_ALL }));
  assert.deepEqual(await awsError(iot.send(new CreatePolicyVersionCommand({ policyName: 'msg-pol', policyDocument: ALLOW_ALL }))), {
    name: 'VersionsLimitExceededException',
    message: 'The policy msg-pol already has the maximum number of versions (5)',
    status: 409,
  });

  const cert = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: false }));
  await iot.send(new AttachPolicyCommand({ policyName: 'msg-pol', target: cert.certificateArn }));
  // Attachment is checked before versions, as on AWS.
  assert.deepEqual(await awsError(iot.send(new DeletePolicyCommand({ policyName: 'msg-pol' }))), {
    name: 'DeleteConflictException',
    message: 'The policy cannot be deleted as the policy is attached to one or more principals (name=msg-pol)',
    status: 409,
  });
  await iot.send(new DetachPolicyCommand({ policyName: 'msg-pol', target: cert.certificateArn }));
  assert.deepEqual(await awsError(iot.send(new DeletePolicyCommand({ policyName: 'msg-pol' }))), {
    name: 'DeleteConflictException',
    message: 'Cannot delete the policy because it has one or more policy versions attached to it (name=msg-pol)',
    status: 409,
  });
  for (const v of ['2', '3', '4', '5']) await iot.send(new DeletePolicyVersionCommand({ policyName: 'msg-pol', policyVersionId: v }));
  await iot.send(new DeletePolicyCommand({ policyName: 'msg-pol' }));
});

test('DeleteCertificate messages: ACTIVE (with its Id), things attached, policies attached (with the ARN)', async () => {
  await iot.send(new CreatePolicyCommand({ policyName: 'cert-msg-pol', policyDocument: ALLOW_ALL }));
  const c = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  const id = c.certificateId!;
  const arn = c.certificateArn!;
  assert.deepEqual(await awsError(iot.send(new DeleteCertificateCommand({ certificateId: id }))), {
    name: 'CertificateStateException',
    message: `Certificate must be deactivated (not ACTIVE) before deletion. Id: ${id}`,
    status: 406,
  });
  await iot.send(new UpdateCertificateCommand({ certificateId: id, newStatus: 'INACTIVE' }));
  await iot.send(new CreateThingCommand({ thingName: 'cert-holder' }));
  await iot.send(new AttachThingPrincipalCommand({ thingName: 'cert-holder', principal: arn }));
  assert.deepEqual(await awsError(iot.send(new DeleteCertificateCommand({ certificateId: id, forceDelete: true }))), {
    name: 'DeleteConflictException',
    message: `Things must be detached before deletion (arn: ${arn})`,
    status: 409,
  });
  await iot.send(new DetachThingPrincipalCommand({ thingName: 'cert-holder', principal: arn }));
  await iot.send(new AttachPolicyCommand({ policyName: 'cert-msg-pol', target: arn }));
  assert.deepEqual(await awsError(iot.send(new DeleteCertificateCommand({ certificateId: id }))), {
    name: 'DeleteConflictException',
    message: `Certificate policies must be detached before deletion (arn: ${arn})`,
    status: 409,
  });
  await iot.send(new DeleteCertificateCommand({ certificateId: id, forceDelete: true }));
  assert.equal((await awsError(iot.send(new ListTargetsForPolicyCommand({ policyName: 'cert-msg-pol' })))).name, 'no error');
  assert.deepEqual((await iot.send(new ListTargetsForPolicyCommand({ policyName: 'cert-msg-pol' }))).targets, []);
});
