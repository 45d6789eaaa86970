/** IoT policies, versions and attachments through @aws-sdk/client-iot and the aws CLI; signed-request replay. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import {
  AttachPolicyCommand,
  AttachPrincipalPolicyCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  AddThingToThingGroupCommand,
  DeletePolicyCommand,
  DeletePolicyVersionCommand,
  DetachPolicyCommand,
  DetachPrincipalPolicyCommand,
  GetEffectivePoliciesCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  IoTClient,
  ListAttachedPoliciesCommand,
  ListPoliciesCommand,
  ListPolicyPrincipalsCommand,
  ListPolicyVersionsCommand,
  ListPrincipalPoliciesCommand,
  ListTargetsForPolicyCommand,
  SetDefaultPolicyVersionCommand,
  TestAuthorizationCommand,
} from '@aws-sdk/client-iot';
import { awsError, startTestServer, type TestServer } from './helpers.js';

const run = promisify(execFile);
const ARN = 'arn:aws:iot:us-east-1:123456789012';
const doc = (...statements: object[]): string => JSON.stringify({ Version: '2012-10-17', Statement: statements });
const allowPublish = (topic: string): string => doc({ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/${topic}` });

let server: TestServer;
let iot: IoTClient;

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  iot.destroy();
  await server.close();
});

test('CreatePolicy and bad documents: MalformedPolicyException with the position of a JSON error, the unknown action named', async () => {
  const created = await iot.send(new CreatePolicyCommand({ policyName: 'pub-a', policyDocument: allowPublish('a/*') }));
  assert.deepEqual([created.policyArn, created.policyVersionId], [`${ARN}:policy/pub-a`, '1']);
  assert.equal((await iot.send(new GetPolicyCommand({ policyName: 'pub-a' }))).defaultVersionId, '1');
  const json = await awsError(
    iot.send(new CreatePolicyCommand({ policyName: 'broken', policyDocument: '{\n  "Version": "2012-10-17",\n  "Statement": [,]\n}' })),
  );
  assert.equal(json.name, 'MalformedPolicyException');
  assert.match(json.message, /line 3, column \d+/);
  const action = await awsError(
    iot.send(
      new CreatePolicyCommand({ policyName: 'typo', policyDocument: doc({ Effect: 'Allow', Action: 'iot:Publsh', Resource: '*' }) }),
    ),
  );
  assert.equal(action.name, 'MalformedPolicyException');
  assert.match(action.message, /iot:Publsh/);
  assert.match(
    (
      await awsError(
        iot.send(new CreatePolicyCommand({ policyName: 'no-effect', policyDocument: doc({ Action: 'iot:*', Resource: '*' }) })),
      )
    ).message,
    /Effect/,
  );
  assert.match(
    (await awsError(iot.send(new CreatePolicyCommand({ policyName: 'bad name', policyDocument: allowPublish('x') })))).message,
    /policyName/,
  );
  assert.equal(
    (await awsError(iot.send(new CreatePolicyCommand({ policyName: 'pub-a', policyDocument: allowPublish('b') })))).name,
    'ResourceAlreadyExistsException',
  );
  assert.ok((await iot.send(new ListPoliciesCommand({}))).policies!.some((p) => p.policyName === 'pub-a'));
});

test('versions: five at most, default switching, the default cannot be deleted, DeletePolicy waits for the others', async () => {
  await iot.send(new CreatePolicyCommand({ policyName: 'versioned', policyDocument: allowPublish('v1') }));
  for (let v = 2; v <= 5; v++) {
    const r = await iot.send(
      new CreatePolicyVersionCommand({ policyName: 'versioned', policyDocument: allowPublish(`v${v}`), setAsDefault: v === 3 }),
    );
    assert.equal(r.policyVersionId, String(v));
    assert.equal(r.isDefaultVersion, v === 3);
  }
  const limit = await awsError(iot.send(new CreatePolicyVersionCommand({ policyName: 'versioned', policyDocument: allowPublish('v6') })));
  assert.deepEqual([limit.name, limit.status], ['VersionsLimitExceededException', 409]);
  assert.deepEqual(
    (await iot.send(new ListPolicyVersionsCommand({ policyName: 'versioned' }))).policyVersions?.map((v) => [
      v.versionId,
      v.isDefaultVersion,
    ]),
    [
      ['5', false],
      ['4', false],
      ['3', true],
      ['2', false],
      ['1', false],
    ],
  );
  assert.match((await iot.send(new GetPolicyVersionCommand({ policyName: 'versioned', policyVersionId: '3' }))).policyDocument!, /v3/);
  assert.equal(
    (await awsError(iot.send(new DeletePolicyVersionCommand({ policyName: 'versioned', policyVersionId: '3' })))).name,
    'DeleteConflictException',
  );
  await iot.send(new SetDefaultPolicyVersionCommand({ policyName: 'versioned', policyVersionId: '5' }));
  assert.match((await iot.send(new GetPolicyCommand({ policyName: 'versioned' }))).policyDocument!, /v5/);
  assert.equal((await awsError(iot.send(new DeletePolicyCommand({ policyName: 'versioned' })))).name, 'DeleteConflictException');
  for (const v of ['1', '2', '3', '4']) await iot.send(new DeletePolicyVersionCommand({ policyName: 'versioned', policyVersionId: v }));
  const next = await iot.send(new CreatePolicyVersionCommand({ policyName: 'versioned', policyDocument: allowPublish('v6') }));
  assert.equal(next.policyVersionId, '6', 'version ids are never reused');
  await iot.send(new DeletePolicyVersionCommand({ policyName: 'versioned', policyVersionId: '6' }));
  await iot.send(new DeletePolicyCommand({ policyName: 'versioned' }));
});

test('attachments to certificates and thing groups, both listings, recursion, the deprecated APIs, limits, effective policies and TestAuthorization', async () => {
  const cert = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
  await iot.send(new CreatePolicyCommand({ policyName: 'cert-pol', policyDocument: allowPublish('c/*') }));
  await iot.send(new CreatePolicyCommand({ policyName: 'group-pol', policyDocument: allowPublish('g/*') }));
  await iot.send(
    new CreatePolicyCommand({
      policyName: 'deny-pol',
      policyDocument: doc({ Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/c/secret` }),
    }),
  );
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'parent' }));
  await iot.send(new CreateThingGroupCommand({ thingGroupName: 'child', parentGroupName: 'parent' }));
  await iot.send(new AttachPolicyCommand({ policyName: 'cert-pol', target: cert.certificateArn }));
  await iot.send(new AttachPolicyCommand({ policyName: 'group-pol', target: `${ARN}:thinggroup/parent` }));
  assert.deepEqual((await iot.send(new ListTargetsForPolicyCommand({ policyName: 'group-pol' }))).targets, [`${ARN}:thinggroup/parent`]);
  const childOnly = await iot.send(new ListAttachedPoliciesCommand({ target: `${ARN}:thinggroup/child` }));
  assert.deepEqual(childOnly.policies, []);
  const recursive = await iot.send(new ListAttachedPoliciesCommand({ target: `${ARN}:thinggroup/child`, recursive: true }));
  assert.deepEqual(
    recursive.policies?.map((p) => p.policyName),
    ['group-pol'],
  );
  assert.equal(
    (await awsError(iot.send(new AttachPolicyCommand({ policyName: 'cert-pol', target: `${ARN}:thinggroup/nope` })))).name,
    'ResourceNotFoundException',
  );
  assert.equal((await awsError(iot.send(new DeletePolicyCommand({ policyName: 'group-pol' })))).name, 'DeleteConflictException');

  // The deprecated principal-policy APIs share the same attachments.
  await iot.send(new AttachPrincipalPolicyCommand({ policyName: 'deny-pol', principal: cert.certificateArn }));
  assert.deepEqual(
    (await iot.send(new ListPrincipalPoliciesCommand({ principal: cert.certificateArn }))).policies?.map((p) => p.policyName),
    ['cert-pol', 'deny-pol'],
  );
  assert.deepEqual((await iot.send(new ListPolicyPrincipalsCommand({ policyName: 'deny-pol' }))).principals, [cert.certificateArn]);

  await iot.send(new CreateThingCommand({ thingName: 'eff' }));
  await iot.send(new AddThingToThingGroupCommand({ thingGroupName: 'child', thingName: 'eff' }));
  const eff = await iot.send(new GetEffectivePoliciesCommand({ principal: cert.certificateArn, thingName: 'eff' }));
  assert.deepEqual(eff.effectivePolicies?.map((p) => p.policyName).sort(), ['cert-pol', 'deny-pol', 'group-pol']);

  const tested = await iot.send(
    new TestAuthorizationCommand({
      principal: cert.certificateArn,
      authInfos: [
        { actionType: 'PUBLISH', resources: [`${ARN}:topic/c/ok`] },
        { actionType: 'PUBLISH', resources: [`${ARN}:topic/c/secret`] },
        { actionType: 'SUBSCRIBE', resources: [`${ARN}:topicfilter/c/#`] },
      ],
    }),
  );
  assert.deepEqual(
    tested.authResults?.map((r) => r.authDecision),
    ['ALLOWED', 'EXPLICIT_DENY', 'IMPLICIT_DENY'],
  );
  assert.deepEqual(
    tested.authResults?.[1]?.denied?.explicitDeny?.policies?.map((p) => p.policyName),
    ['deny-pol'],
  );

  await iot.send(new DetachPrincipalPolicyCommand({ policyName: 'deny-pol', principal: cert.certificateArn }));
  await iot.send(new DetachPolicyCommand({ policyName: 'cert-pol', target: cert.certificateArn }));
  assert.deepEqual((await iot.send(new ListAttachedPoliciesCommand({ target: cert.certificateArn }))).policies, []);
  for (let i = 0; i < 10; i++) {
    await iot.send(new CreatePolicyCommand({ policyName: `many-${i}`, policyDocument: allowPublish(`m${i}`) }));
    await iot.send(new AttachPolicyCommand({ policyName: `many-${i}`, target: cert.certificateArn }));
  }
  const limit = await awsError(iot.send(new AttachPolicyCommand({ policyName: 'cert-pol', target: cert.certificateArn })));
  assert.deepEqual([limit.name, limit.status], ['LimitExceededException', 410]);
});

test('the aws CLI manages certificates, policies and attachments', async () => {
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null' };
  const aws = async (...args: string[]): Promise<Record<string, unknown>> => {
    const { stdout } = await run(
      'aws',
      ['iot', ...args, '--endpoint-url', `http://127.0.0.1:${server.ports.http}`, '--region', 'us-east-1', '--output', 'json'],
      { env },
    );
    return stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : {};
  };
  const cert = await aws('create-keys-and-certificate', '--set-as-active');
  assert.match(String(cert.certificateId), /^[0-9a-f]{64}$/);
  await aws('create-policy', '--policy-name', 'cli-pol', '--policy-document', allowPublish('cli/*'));
  await aws('attach-policy', '--policy-name', 'cli-pol', '--target', String(cert.certificateArn));
  assert.deepEqual((await aws('list-targets-for-policy', '--policy-name', 'cli-pol')).targets, [cert.certificateArn]);
  await aws('create-thing', '--thing-name', 'cli-dev');
  await aws('attach-thing-principal', '--thing-name', 'cli-dev', '--principal', String(cert.certificateArn));
  assert.deepEqual((await aws('list-thing-principals', '--thing-name', 'cli-dev')).principals, [cert.certificateArn]);
  await aws('update-certificate', '--certificate-id', String(cert.certificateId), '--new-status', 'INACTIVE');
  const bad = await run(
    'aws',
    [
      'iot',
      'create-policy',
      '--policy-name',
      'bad',
      '--policy-document',
      '{"Statement": [',
      '--endpoint-url',
      `http://127.0.0.1:${server.ports.http}`,
      '--region',
      'us-east-1',
    ],
    { env },
  ).catch((e: { stderr: string }) => e);
  assert.match((bad as { stderr: string }).stderr, /MalformedPolicyException/);
});

test('a captured signed request sent again after its 15-minute window is refused (Signature expired)', async () => {
  const signer = new SignatureV4({ credentials: server.adminKey, region: 'us-east-1', service: 'iot', sha256: Sha256 });
  const host = `127.0.0.1:${server.ports.http}`;
  const body = JSON.stringify({});
  const signed = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: server.ports.http!,
      path: '/things/replayed',
      headers: { host, 'content-type': 'application/json' },
      body,
    },
    { signingDate: new Date(Date.now() - 16 * 60 * 1000) },
  );
  const res = await fetch(`http://${host}/things/replayed`, { method: 'POST', headers: signed.headers as Record<string, string>, body });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('x-amzn-errortype'), 'InvalidSignatureException');
  assert.match(((await res.json()) as { message: string }).message, /Signature expired/);
});
