/**
 * The credentials provider end to end: a device gets temporary credentials over HTTPS with its
 * certificate, then the real @aws-sdk/client-iot and client-iot-data-plane sign with them (SigV4 with
 * X-Amz-Security-Token) and are allowed exactly what the role's policy allows — until the
 * credentials expire or what issued them (certificate, alias, role) is gone.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import {
  CreateRoleAliasCommand,
  CreateThingCommand,
  DeleteCertificateCommand,
  DeleteRoleAliasCommand,
  DescribeThingCommand,
  DetachThingPrincipalCommand,
  IoTClient,
  ListThingsCommand,
  UpdateCertificateCommand,
  UpdateRoleAliasCommand,
} from '@aws-sdk/client-iot';
import { GetThingShadowCommand, IoTDataPlaneClient, PublishCommand, UpdateThingShadowCommand } from '@aws-sdk/client-iot-data-plane';
import { signedUpload } from '@thicket/server';
import { iamRequest } from '../src/roles/index.js';
import { awsError, provision, startTestServer, tempDir, type Device, type TestServer } from './helpers.js';
import { createRole, credentialsRequest, dataAs, iotAs, issue, policy, rolesApi, type TemporaryCredentials } from './roles-helpers.js';

const run = promisify(execFile);
const ACCOUNT = '123456789012';
const ALIAS_ARN = (alias: string) => `arn:aws:iot:us-east-1:${ACCOUNT}:rolealias/${alias}`;
const THING_ARN = (thing: string) => `arn:aws:iot:us-east-1:${ACCOUNT}:thing/${thing}`;

let server: TestServer;
let iot: IoTClient;
let data: IoTDataPlaneClient;
/** May assume `edge-alias` and `short-alias` (not `other-alias`). */
let cam: Device;
/** Has a policy, but without iot:AssumeRoleWithCertificate. */
let stranger: Device;

const ROLE_POLICY = policy([
  { Effect: 'Allow', Action: ['iot:DescribeThing', 'iot:ListThings'], Resource: '*' },
  { Effect: 'Allow', Action: 'iot:GetThingShadow', Resource: `arn:aws:iot:us-east-1:${ACCOUNT}:thing/\${credentials-iot:ThingName}` },
  { Effect: 'Deny', Action: 'iot:DescribeThing', Resource: 'arn:aws:iot:*:*:thing/secret' },
]);

before(async () => {
  server = await startTestServer({ testMode: true });
  const endpoint = `http://127.0.0.1:${server.ports.http}`;
  iot = new IoTClient({ endpoint, region: 'us-east-1', credentials: server.adminKey });
  data = new IoTDataPlaneClient({ endpoint, region: 'us-east-1', credentials: server.adminKey });
  const devicePolicy = policy([
    {
      Effect: 'Allow',
      Action: 'iot:AssumeRoleWithCertificate',
      Resource: [ALIAS_ARN('edge-alias'), ALIAS_ARN('short-alias'), ALIAS_ARN('gone-*'), ALIAS_ARN('pub-alias')],
    },
  ]);
  cam = await provision(server, 'cam-1', devicePolicy);
  stranger = await provision(server, 'cam-2', policy([{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*' }]));
  await iot.send(new CreateThingCommand({ thingName: 'secret' }));
  await createRole(server, 'device-role', ROLE_POLICY);
  await iot.send(new CreateRoleAliasCommand({ roleAlias: 'edge-alias', roleArn: `arn:aws:iam::${ACCOUNT}:role/device-role` }));
  for (const thingName of ['cam-1', 'cam-2']) {
    await data.send(
      new UpdateThingShadowCommand({ thingName, payload: Buffer.from(JSON.stringify({ state: { reported: { on: true } } })) }),
    );
  }
});
after(async () => {
  iot.destroy();
  data.destroy();
  await server.close();
});

test('a device gets credentials in AWS shape; they sign client-iot and client-iot-data-plane calls its role allows', async () => {
  const t0 = Date.now();
  const r = await credentialsRequest(server, cam, 'edge-alias', { 'x-amzn-iot-thingname': 'cam-1' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(Object.keys(r.body), ['credentials']);
  const c = r.body.credentials as TemporaryCredentials;
  assert.deepEqual(Object.keys(c), ['accessKeyId', 'secretAccessKey', 'sessionToken', 'expiration']);
  assert.match(c.accessKeyId, /^ASIA[A-Z2-7]{16}$/);
  assert.ok(c.secretAccessKey.length >= 40);
  assert.ok(c.sessionToken.length >= 100, 'an opaque, long token');
  assert.match(c.expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  const expires = Date.parse(c.expiration);
  assert.ok(Math.abs(expires - (t0 + 3600_000)) < 5000, `expires an hour from now (${c.expiration})`);

  const asRole = iotAs(server, c);
  const dataAsRole = dataAs(server, c);
  try {
    const thing = await asRole.send(new DescribeThingCommand({ thingName: 'cam-1' }));
    assert.equal(thing.thingName, 'cam-1');
    assert.ok((await asRole.send(new ListThingsCommand({}))).things!.some((t) => t.thingName === 'cam-2'));
    const shadow = JSON.parse(
      Buffer.from((await dataAsRole.send(new GetThingShadowCommand({ thingName: 'cam-1' }))).payload!).toString(),
    ) as {
      state: unknown;
    };
    assert.deepEqual(shadow.state, { reported: { on: true } });

    const create = await awsError(asRole.send(new CreateThingCommand({ thingName: 'new' })));
    assert.deepEqual(
      [create.name, create.status, create.message],
      [
        'AccessDeniedException',
        403,
        `User: arn:aws:sts::${ACCOUNT}:assumed-role/device-role/${cam.certificateId} is not authorized to perform: iot:CreateThing on resource: ${THING_ARN('new')} because no identity-based policy allows the iot:CreateThing action`,
      ],
    );
    const denied = await awsError(asRole.send(new DescribeThingCommand({ thingName: 'secret' })));
    assert.deepEqual(
      [denied.name, denied.message],
      [
        'AccessDeniedException',
        `User: arn:aws:sts::${ACCOUNT}:assumed-role/device-role/${cam.certificateId} is not authorized to perform: iot:DescribeThing on resource: ${THING_ARN('secret')} with an explicit deny in an identity-based policy`,
      ],
    );
    // ${credentials-iot:ThingName} is the thing named when the credentials were issued.
    const otherShadow = await awsError(dataAsRole.send(new GetThingShadowCommand({ thingName: 'cam-2' })));
    assert.equal(otherShadow.name, 'AccessDeniedException');
    assert.match(otherShadow.message, new RegExp(`perform: iot:GetThingShadow on resource: ${THING_ARN('cam-2')} because`));
    const write = await awsError(
      dataAsRole.send(new UpdateThingShadowCommand({ thingName: 'cam-1', payload: Buffer.from('{"state":{}}') })),
    );
    assert.equal(write.name, 'AccessDeniedException');
    assert.ok((await awsError(asRole.send(new CreateThingCommand({ thingName: 'new' })))).name === 'AccessDeniedException');
    assert.equal(
      (await awsError(iot.send(new DescribeThingCommand({ thingName: 'new' })))).name,
      'ResourceNotFoundException',
      'nothing created',
    );
  } finally {
    asRole.destroy();
    dataAsRole.destroy();
  }

  // Without the thing header the thing variables are unresolved: the thing's shadow is not reachable.
  const plain = await issue(server, cam, 'edge-alias');
  const dataPlain = dataAs(server, plain);
  try {
    assert.equal((await awsError(dataPlain.send(new GetThingShadowCommand({ thingName: 'cam-1' })))).name, 'AccessDeniedException');
  } finally {
    dataPlain.destroy();
  }
});

test('the key without its token, with a wrong token or a wrong secret is refused; so is acting for another account', async () => {
  const c = await issue(server, cam, 'edge-alias');
  const call = (creds: Parameters<typeof iotAs>[1]) => {
    const client = iotAs(server, creds);
    return awsError(client.send(new DescribeThingCommand({ thingName: 'cam-1' }))).finally(() => client.destroy());
  };
  const invalid = ['UnrecognizedClientException', 403, 'The security token included in the request is invalid.'];
  const noToken = await call({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey });
  assert.deepEqual([noToken.name, noToken.status, noToken.message], invalid);
  const wrongToken = await call({ ...c, sessionToken: c.sessionToken.slice(0, -4) + 'AAAA' });
  assert.deepEqual([wrongToken.name, wrongToken.status, wrongToken.message], invalid);
  const other = await issue(server, cam, 'edge-alias');
  const swapped = await call({ ...c, sessionToken: other.sessionToken });
  assert.deepEqual([swapped.name, swapped.status, swapped.message], invalid, "another credential's token does not fit");
  const wrongSecret = await call({ ...c, secretAccessKey: other.secretAccessKey });
  assert.equal(wrongSecret.name, 'InvalidSignatureException');
  const unknown = await call({ ...c, accessKeyId: 'ASIAAAAAAAAAAAAAAAAA' });
  assert.deepEqual([unknown.name, unknown.message], [invalid[0], invalid[2]]);
  assert.equal((await call(c)).name, 'no error', 'the genuine credentials still work');
  const strayToken = await call({ ...server.adminKey, sessionToken: c.sessionToken });
  assert.deepEqual([strayToken.name, strayToken.status, strayToken.message], invalid, 'a long-term key takes no session token');

  await assert.rejects(
    rolesApi(server, 'GET', '/_thicket/roles', undefined, c),
    new RegExp(
      `AccessDeniedException: User: arn:aws:sts::${ACCOUNT}:assumed-role/device-role/${cam.certificateId} is not authorized to perform: thicket:ListRoles on resource: \\*`,
    ),
  );
  await assert.rejects(rolesApi(server, 'POST', '/_thicket/access-keys', {}, c), /AccessDeniedException: .*thicket:CreateAccessKey/);
  // File uploads take another path than the API's routes; temporary credentials are refused there.
  const content = Buffer.from('firmware');
  const upload = await signedUpload({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: c }, 'fw.bin', {
    content: (async function* () {
      yield content;
    })(),
    sha256: createHash('sha256').update(content).digest('hex'),
    contentType: 'application/octet-stream',
    length: content.length,
  });
  assert.equal(upload.status, 403);
  assert.equal(upload.headers.get('x-amzn-errortype'), 'AccessDeniedException');
  assert.match(await upload.text(), /may not call this operation with temporary credentials/);
  const client = new IoTClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken },
    maxAttempts: 1,
  });
  client.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers['x-thicket-account'] = '999999999999';
      return next(args);
    },
    { step: 'build' },
  );
  try {
    const e = await awsError(client.send(new DescribeThingCommand({ thingName: 'cam-1' })));
    assert.deepEqual([e.name, e.status], ['AccessDeniedException', 403]);
    assert.match(e.message, /may not act for account 999999999999/);
  } finally {
    client.destroy();
  }
});

test('credentials endpoint errors as AWS answers them: thing name, policy, alias, role, certificate', async () => {
  const thingMismatch = await credentialsRequest(server, cam, 'edge-alias', { 'x-amzn-iot-thingname': 'cam-2' });
  assert.deepEqual(
    [thingMismatch.status, thingMismatch.errorType, thingMismatch.body.message],
    [403, 'AccessDeniedException', 'Invalid thing name passed'],
  );
  const noThing = await credentialsRequest(server, cam, 'edge-alias', { 'x-amzn-iot-thingname': 'no-such-thing' });
  assert.deepEqual([noThing.status, noThing.body.message], [403, 'Invalid thing name passed']);
  const emptyThing = await credentialsRequest(server, cam, 'edge-alias', { 'x-amzn-iot-thingname': '' });
  assert.deepEqual([emptyThing.status, emptyThing.body.message], [403, 'Invalid thing name passed']);

  // Another device's certificate, without iot:AssumeRoleWithCertificate, learns nothing about aliases.
  for (const alias of ['edge-alias', 'no-such-alias']) {
    const r = await credentialsRequest(server, stranger, alias);
    assert.deepEqual([r.status, r.errorType, r.body.message], [403, 'AccessDeniedException', 'Access Denied'], alias);
  }
  const borrowed = await credentialsRequest(server, stranger, 'edge-alias', { 'x-amzn-iot-thingname': 'cam-1' });
  assert.deepEqual([borrowed.status, borrowed.body.message], [403, 'Invalid thing name passed']);
  // The policy names aliases one by one: other-alias is not among them.
  await iot.send(new CreateRoleAliasCommand({ roleAlias: 'other-alias', roleArn: `arn:aws:iam::${ACCOUNT}:role/device-role` }));
  assert.equal((await credentialsRequest(server, cam, 'other-alias')).body.message, 'Access Denied');

  const missing = await credentialsRequest(server, cam, 'short-alias');
  assert.deepEqual(
    [missing.status, missing.errorType, missing.body.message],
    [404, 'ResourceNotFoundException', 'Role alias does not exist'],
  );

  await iot.send(new CreateRoleAliasCommand({ roleAlias: 'short-alias', roleArn: `arn:aws:iam::${ACCOUNT}:role/nobody` }));
  const noRole = await credentialsRequest(server, cam, 'short-alias');
  assert.deepEqual([noRole.status, noRole.body.message], [400, 'Unable to assume the role, or the role to assume does not exist']);
  await iot.send(
    new UpdateRoleAliasCommand({
      roleAlias: 'short-alias',
      roleArn: `arn:aws:iam::${ACCOUNT}:role/device-role`,
      credentialDurationSeconds: 7200,
    }),
  );
  const tooLong = await credentialsRequest(server, cam, 'short-alias');
  assert.deepEqual(
    [tooLong.status, tooLong.body.message],
    [400, 'The requested CredentialDurationSeconds exceeds the MaxSessionDuration set for the role'],
  );
  await iot.send(new UpdateRoleAliasCommand({ roleAlias: 'short-alias', credentialDurationSeconds: 900 }));
  const short = await issue(server, cam, 'short-alias');
  assert.ok(Math.abs(Date.parse(short.expiration) - (Date.now() + 900_000)) < 5000);

  // No certificate: nothing authenticates the request. A signed request is no device either.
  const anonymous = await credentialsRequest(server, undefined, 'edge-alias');
  assert.deepEqual([anonymous.status, anonymous.errorType], [403, 'MissingAuthenticationTokenException']);
  const signed = await rolesApi(server, 'GET', '/role-aliases/edge-alias/credentials').catch((e: Error) => e.message);
  assert.match(String(signed), /^AccessDeniedException: The credentials provider authenticates devices by their certificate/);

  // Hostile alias names never reach an alias (nor a 500).
  for (const alias of ['..%2F..%2Fthings', '%2A', 'edge-alias%00', 'edge-alias%2Fcredentials', 'a%20b', 'x'.repeat(129)]) {
    const r = await credentialsRequest(server, cam, alias);
    assert.ok(r.status === 400 || r.status === 404, `${alias}: ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.credentials, undefined);
  }
});

test('credentials expire after credentialDurationSeconds (ExpiredTokenException), by the provider clock', async () => {
  const c = await issue(server, cam, 'edge-alias');
  const provider = server.platform.use('roles').provider;
  const realNow = provider.now;
  const client = iotAs(server, c);
  try {
    provider.now = () => realNow() + 3599_000;
    assert.equal((await awsError(client.send(new DescribeThingCommand({ thingName: 'cam-1' })))).name, 'no error');
    provider.now = () => realNow() + 3601_000;
    const e = await awsError(client.send(new DescribeThingCommand({ thingName: 'cam-1' })));
    assert.deepEqual(
      [e.name, e.status, e.message],
      ['ExpiredTokenException', 403, 'The security token included in the request is expired'],
    );
  } finally {
    provider.now = realNow;
    client.destroy();
  }
});

test('removing the certificate (or deactivating it), the alias or the role ends the credentials; a policy change applies at once', async () => {
  const invalid = 'UnrecognizedClientException';
  const describe = async (c: TemporaryCredentials) => {
    const client = iotAs(server, c);
    return awsError(client.send(new DescribeThingCommand({ thingName: 'cam-1' }))).finally(() => client.destroy());
  };

  // Certificate deactivated, then deleted.
  const c1 = await issue(server, cam, 'edge-alias');
  assert.equal((await describe(c1)).name, 'no error');
  await iot.send(new UpdateCertificateCommand({ certificateId: cam.certificateId, newStatus: 'INACTIVE' }));
  assert.equal((await describe(c1)).name, invalid);
  assert.equal((await credentialsRequest(server, cam, 'edge-alias')).status, 401, 'an inactive certificate gets nothing new');
  await iot.send(new UpdateCertificateCommand({ certificateId: cam.certificateId, newStatus: 'ACTIVE' }));

  const spare = await provision(
    server,
    'cam-3',
    policy([{ Effect: 'Allow', Action: 'iot:AssumeRoleWithCertificate', Resource: ALIAS_ARN('*') }]),
  );
  const c2 = await issue(server, spare, 'edge-alias');
  assert.equal((await describe(c2)).name, 'no error');
  await iot.send(new DetachThingPrincipalCommand({ thingName: 'cam-3', principal: spare.certificateArn }));
  await iot.send(new UpdateCertificateCommand({ certificateId: spare.certificateId, newStatus: 'INACTIVE' }));
  await iot.send(new DeleteCertificateCommand({ certificateId: spare.certificateId, forceDelete: true }));
  assert.equal((await describe(c2)).name, invalid);

  // Alias deleted: gone, and an alias created again under its name does not revive them.
  await iot.send(new CreateRoleAliasCommand({ roleAlias: 'gone-alias', roleArn: `arn:aws:iam::${ACCOUNT}:role/device-role` }));
  const c3 = await issue(server, cam, 'gone-alias');
  assert.equal((await describe(c3)).name, 'no error');
  await iot.send(new DeleteRoleAliasCommand({ roleAlias: 'gone-alias' }));
  assert.equal((await describe(c3)).name, invalid);
  await iot.send(new CreateRoleAliasCommand({ roleAlias: 'gone-alias', roleArn: `arn:aws:iam::${ACCOUNT}:role/device-role` }));
  assert.equal((await describe(c3)).name, invalid);

  // Role policy changed: existing credentials follow it at once.
  const c4 = await issue(server, cam, 'edge-alias');
  await rolesApi(server, 'PUT', '/_thicket/roles/device-role', {
    policyDocument: policy([{ Effect: 'Allow', Action: 'iot:ListThings', Resource: '*' }]),
  });
  assert.equal((await describe(c4)).name, 'AccessDeniedException');
  await rolesApi(server, 'PUT', '/_thicket/roles/device-role', { policyDocument: ROLE_POLICY });
  assert.equal((await describe(c4)).name, 'no error');

  // Role deleted: the credentials authenticate but allow nothing; a new role of that name is another role.
  await rolesApi(server, 'DELETE', '/_thicket/roles/device-role');
  const gone = await describe(c4);
  assert.deepEqual([gone.name, gone.status], ['AccessDeniedException', 403]);
  assert.match(gone.message, /assumed-role\/device-role\/.* is not authorized to perform: iot:DescribeThing/);
  await createRole(server, 'device-role', ROLE_POLICY);
  assert.equal((await describe(c4)).name, 'AccessDeniedException');
  assert.equal((await describe(await issue(server, cam, 'edge-alias'))).name, 'no error', 'new credentials act as the new role');
});

test('the aws CLI signs with temporary credentials (AWS_SESSION_TOKEN)', async () => {
  const c = await issue(server, cam, 'edge-alias', { 'x-amzn-iot-thingname': 'cam-1' });
  const dir = tempDir();
  const env = {
    ...process.env,
    AWS_ACCESS_KEY_ID: c.accessKeyId,
    AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
    AWS_SESSION_TOKEN: c.sessionToken,
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_CONFIG_FILE: `${dir}/none`,
    AWS_SHARED_CREDENTIALS_FILE: `${dir}/none`,
  };
  const url = `http://127.0.0.1:${server.ports.http}`;
  const out = await run('aws', ['iot', 'describe-thing', '--thing-name', 'cam-1', '--endpoint-url', url, '--output', 'json'], { env });
  assert.equal((JSON.parse(out.stdout) as { thingName: string }).thingName, 'cam-1');
  const err = await run('aws', ['iot', 'create-thing', '--thing-name', 'nope', '--endpoint-url', url], { env }).catch(
    (e: { stderr: string }) => e.stderr,
  );
  assert.match(String(err), /AccessDeniedException.*not authorized to perform: iot:CreateThing/);
});

test('data-plane requests are iot:<Operation> (or iotdata:) on the topic; every route maps to an action and a resource', async () => {
  await createRole(
    server,
    'publisher',
    policy([{ Effect: 'Allow', Action: 'iotdata:Publish', Resource: `arn:aws:iot:us-east-1:${ACCOUNT}:topic/sensors/*` }]),
  );
  await iot.send(new CreateRoleAliasCommand({ roleAlias: 'pub-alias', roleArn: `arn:aws:iam::${ACCOUNT}:role/publisher` }));
  const c = await issue(server, cam, 'pub-alias');
  const client = dataAs(server, c);
  try {
    assert.equal((await awsError(client.send(new PublishCommand({ topic: 'sensors/t1', payload: Buffer.from('{}') })))).name, 'no error');
    const e = await awsError(client.send(new PublishCommand({ topic: 'admin/reboot', payload: Buffer.from('{}') })));
    assert.deepEqual([e.name, e.status], ['AccessDeniedException', 403]);
    assert.match(e.message, new RegExp(`perform: iot:Publish on resource: arn:aws:iot:us-east-1:${ACCOUNT}:topic/admin/reboot because`));
  } finally {
    client.destroy();
  }

  const ns = { accountId: ACCOUNT, region: 'us-east-1' };
  const find = (method: string, path: string, service = 'iot') =>
    server.platform.routes.find((r) => r.method === method && r.path === path && r.service === service)!;
  assert.deepEqual(iamRequest(find('DELETE', '/things/:thingName'), { thingName: 'lamp' }, ns), {
    actions: ['iot:DeleteThing'],
    resource: THING_ARN('lamp'),
  });
  assert.deepEqual(iamRequest(find('GET', '/jobs/:jobId/things'), { jobId: 'j1' }, ns), {
    actions: ['iot:ListJobExecutionsForJob'],
    resource: `arn:aws:iot:us-east-1:${ACCOUNT}:job/j1`,
  });
  assert.deepEqual(iamRequest(find('GET', '/things/:thingName/jobs/:jobId', 'iot-jobs-data'), { thingName: 't', jobId: 'j' }, ns), {
    actions: ['iotjobsdata:DescribeJobExecution'],
    resource: THING_ARN('t'),
  });
  assert.deepEqual(iamRequest(find('POST', '/_thicket/access-keys'), {}, ns), { actions: ['thicket:CreateAccessKey'], resource: '*' });
  assert.deepEqual(iamRequest(find('GET', '/role-aliases/:roleAlias'), { roleAlias: 'a' }, ns), {
    actions: ['iot:DescribeRoleAlias'],
    resource: ALIAS_ARN('a'),
  });
  for (const r of server.platform.routes) {
    const { actions } = iamRequest(r, {}, ns);
    assert.ok(actions.length > 0 && actions.every((a) => /^[a-z]+:[A-Za-z0-9]+$/.test(a)), `${r.method} ${r.path}: ${actions.join()}`);
  }
});
