/**
 * The iot-data shadow API over HTTP: the real @aws-sdk/client-iot-data-plane and `aws iot-data`
 * (SigV4), devices calling with their certificate (policies decide), and what HTTP updates publish.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { IoTClient, UpdateCertificateCommand } from '@aws-sdk/client-iot';
import {
  DeleteThingShadowCommand,
  GetThingShadowCommand,
  IoTDataPlaneClient,
  ListNamedShadowsForThingCommand,
  UpdateThingShadowCommand,
} from '@aws-sdk/client-iot-data-plane';
import { awsError, certificateRequest, provision, startTestServer, tempDir, type Device, type TestServer } from './helpers.js';
import { Inbox, type Doc } from './shadow-helpers.js';

const run = promisify(execFile);
let server: TestServer;
let data: IoTDataPlaneClient;

before(async () => {
  server = await startTestServer({ dev: true });
  data = new IoTDataPlaneClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  data.destroy();
  await server.close();
});

const json = (bytes: Uint8Array | undefined): Doc => JSON.parse(Buffer.from(bytes ?? []).toString()) as Doc;
const body = (doc: unknown): Uint8Array => Buffer.from(JSON.stringify(doc));

test('GetThingShadow / UpdateThingShadow / DeleteThingShadow with the AWS SDK, classic and named', async () => {
  const up = await data.send(
    new UpdateThingShadowCommand({ thingName: 'sdk-lamp', payload: body({ state: { desired: { on: true } }, clientToken: 'c1' }) }),
  );
  const accepted = json(up.payload);
  assert.equal(accepted.version, 1);
  assert.equal(accepted.clientToken, 'c1');
  assert.deepEqual(accepted.state, { desired: { on: true } });

  const got = json((await data.send(new GetThingShadowCommand({ thingName: 'sdk-lamp' }))).payload);
  assert.deepEqual(got.state, { desired: { on: true }, delta: { on: true } });
  assert.equal(got.version, 1);

  await data.send(
    new UpdateThingShadowCommand({ thingName: 'sdk-lamp', shadowName: 'cfg', payload: body({ state: { reported: { mode: 'eco' } } }) }),
  );
  const named = json((await data.send(new GetThingShadowCommand({ thingName: 'sdk-lamp', shadowName: 'cfg' }))).payload);
  assert.deepEqual(named.state, { reported: { mode: 'eco' } });

  const conflict = await awsError(
    data.send(new UpdateThingShadowCommand({ thingName: 'sdk-lamp', payload: body({ state: {}, version: 7 }) })),
  );
  assert.deepEqual([conflict.name, conflict.status, conflict.message], ['ConflictException', 409, 'Version conflict']);
  const invalid = await awsError(data.send(new UpdateThingShadowCommand({ thingName: 'sdk-lamp', payload: Buffer.from('{oops') })));
  assert.deepEqual([invalid.name, invalid.status, invalid.message], ['InvalidRequestException', 400, 'Invalid JSON']);
  const big = await awsError(
    data.send(new UpdateThingShadowCommand({ thingName: 'sdk-lamp', payload: body({ state: { reported: { b: 'x'.repeat(9000) } } }) })),
  );
  assert.deepEqual([big.name, big.status], ['RequestEntityTooLargeException', 413]);

  const del = json((await data.send(new DeleteThingShadowCommand({ thingName: 'sdk-lamp' }))).payload);
  assert.equal(del.version, 1);
  const gone = await awsError(data.send(new GetThingShadowCommand({ thingName: 'sdk-lamp' })));
  assert.deepEqual([gone.name, gone.status, gone.message], ['ResourceNotFoundException', 404, "No shadow exists with name: 'sdk-lamp'"]);
  const goneNamed = await awsError(data.send(new DeleteThingShadowCommand({ thingName: 'sdk-lamp', shadowName: 'nope' })));
  assert.equal(goneNamed.message, "No shadow exists with name: 'sdk-lamp~nope'");
  const badThing = await awsError(data.send(new GetThingShadowCommand({ thingName: 'bad name' })));
  assert.equal(badThing.name, 'InvalidRequestException');
});

test('ListNamedShadowsForThing pages through names in order; the classic shadow is not listed; an unknown thing has none', async () => {
  await data.send(new UpdateThingShadowCommand({ thingName: 'lister', payload: body({ state: { reported: { a: 1 } } }) }));
  const names = ['delta', 'alpha', 'echo', 'charlie', 'bravo'];
  for (const shadowName of names) {
    await data.send(new UpdateThingShadowCommand({ thingName: 'lister', shadowName, payload: body({ state: { reported: { a: 1 } } }) }));
  }
  await data.send(new DeleteThingShadowCommand({ thingName: 'lister', shadowName: 'echo' }));
  const seen: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await data.send(new ListNamedShadowsForThingCommand({ thingName: 'lister', pageSize: 2, nextToken }));
    assert.ok((page.results ?? []).length <= 2);
    assert.equal(typeof page.timestamp, 'number');
    seen.push(...(page.results ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  assert.deepEqual(seen, ['alpha', 'bravo', 'charlie', 'delta']);
  const none = await data.send(new ListNamedShadowsForThingCommand({ thingName: 'never-seen' }));
  assert.deepEqual(none.results, []);
  const badSize = await awsError(data.send(new ListNamedShadowsForThingCommand({ thingName: 'lister', pageSize: 101 })));
  assert.equal(badSize.name, 'InvalidRequestException');
});

test('an HTTP update publishes /update/accepted, /update/delta and /update/documents to MQTT subscribers; errors publish nothing', async () => {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId: 'watcher', reconnectPeriod: 0 });
  const inbox = new Inbox(c);
  await c.subscribeAsync('$aws/things/http-fed/shadow/#', { qos: 1 });
  await data.send(
    new UpdateThingShadowCommand({ thingName: 'http-fed', payload: body({ state: { desired: { t: 21 } }, clientToken: 'h' }) }),
  );
  assert.equal((await inbox.next('$aws/things/http-fed/shadow/update/accepted')).clientToken, 'h');
  assert.deepEqual((await inbox.next('$aws/things/http-fed/shadow/update/delta')).state, { t: 21 });
  assert.equal(((await inbox.next('$aws/things/http-fed/shadow/update/documents')).current as Doc).version, 1);
  await awsError(data.send(new UpdateThingShadowCommand({ thingName: 'http-fed', payload: body({ nostate: 1 }) })));
  await data.send(new DeleteThingShadowCommand({ thingName: 'http-fed' }));
  assert.equal((await inbox.next('$aws/things/http-fed/shadow/delete/accepted')).version, 1);
  assert.equal(inbox.count('$aws/things/http-fed/shadow/update/rejected'), 0);
  await c.endAsync();
});

test('shadows are per namespace: the same thing in another region is another shadow', async () => {
  const eu = new IoTDataPlaneClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'eu-west-1',
    credentials: server.adminKey,
  });
  await data.send(new UpdateThingShadowCommand({ thingName: 'twin', payload: body({ state: { reported: { where: 'us' } } }) }));
  assert.equal((await awsError(eu.send(new GetThingShadowCommand({ thingName: 'twin' })))).name, 'ResourceNotFoundException');
  await eu.send(new UpdateThingShadowCommand({ thingName: 'twin', payload: body({ state: { reported: { where: 'eu' } } }) }));
  assert.deepEqual(json((await eu.send(new GetThingShadowCommand({ thingName: 'twin' }))).payload).state, { reported: { where: 'eu' } });
  assert.deepEqual(json((await data.send(new GetThingShadowCommand({ thingName: 'twin' }))).payload).state, { reported: { where: 'us' } });
  eu.destroy();
});

test('aws iot-data get/update/delete-thing-shadow and list-named-shadows-for-thing', async () => {
  const dir = tempDir();
  const env = { ...process.env, AWS_SHARED_CREDENTIALS_FILE: server.credentialsPath, AWS_CONFIG_FILE: '/dev/null', AWS_PROFILE: 'default' };
  const endpoint = ['--endpoint-url', `http://127.0.0.1:${server.ports.http}`, '--region', 'us-east-1', '--output', 'json'];
  try {
    const doc = JSON.stringify({ state: { desired: { fan: 'high' } } });
    const out = join(dir, 'out.json');
    // The v1 CLI sends a blob argument as given: the document itself.
    await run('aws', ['iot-data', 'update-thing-shadow', '--thing-name', 'cli-fan', '--payload', doc, ...endpoint, out], { env });
    assert.equal((JSON.parse(readFileSync(out, 'utf8')) as Doc).version, 1);
    await run(
      'aws',
      ['iot-data', 'update-thing-shadow', '--thing-name', 'cli-fan', '--shadow-name', 'n1', '--payload', doc, ...endpoint, out],
      { env },
    );
    await run('aws', ['iot-data', 'get-thing-shadow', '--thing-name', 'cli-fan', ...endpoint, out], { env });
    assert.deepEqual((JSON.parse(readFileSync(out, 'utf8')) as Doc).state, { desired: { fan: 'high' }, delta: { fan: 'high' } });
    const listed = JSON.parse(
      (await run('aws', ['iot-data', 'list-named-shadows-for-thing', '--thing-name', 'cli-fan', ...endpoint], { env })).stdout,
    ) as {
      results: string[];
    };
    assert.deepEqual(listed.results, ['n1']);
    await run('aws', ['iot-data', 'delete-thing-shadow', '--thing-name', 'cli-fan', ...endpoint, out], { env });
    const failed = (await run('aws', ['iot-data', 'get-thing-shadow', '--thing-name', 'cli-fan', ...endpoint, out], { env }).catch(
      (e: unknown) => e,
    )) as {
      stderr: string;
    };
    assert.match(failed.stderr, /ResourceNotFoundException/);
    assert.match(failed.stderr, /No shadow exists with name: 'cli-fan'/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** An HTTPS request with a device certificate and no signature. */
const deviceCall = (d: Device | undefined, method: string, path: string, payload?: unknown) =>
  certificateRequest<Doc>(server, d, method, path, payload);

test('a device calls the shadow API over HTTPS with its certificate; its policy decides each action and resource', async () => {
  const ARN = 'arn:aws:iot:us-east-1:123456789012';
  const policy = JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: ['iot:GetThingShadow', 'iot:UpdateThingShadow'], Resource: `${ARN}:thing/cert-lamp` },
      { Effect: 'Allow', Action: 'iot:UpdateThingShadow', Resource: `${ARN}:thing/cert-lamp/settings` },
      { Effect: 'Allow', Action: 'iot:ListNamedShadowsForThing', Resource: `${ARN}:thing/cert-lamp` },
    ],
  });
  const d = await provision(server, 'cert-lamp', policy);
  const up = await deviceCall(d, 'POST', '/things/cert-lamp/shadow', { state: { reported: { on: true } } });
  assert.equal(up.status, 200);
  assert.equal(up.body.version, 1);
  const got = await deviceCall(d, 'GET', '/things/cert-lamp/shadow');
  assert.deepEqual(got.body.state, { reported: { on: true } });
  assert.equal((await deviceCall(d, 'POST', '/things/cert-lamp/shadow?name=settings', { state: { reported: { a: 1 } } })).status, 200);
  assert.deepEqual((await deviceCall(d, 'GET', '/api/things/shadow/ListNamedShadowsForThing/cert-lamp')).body.results, ['settings']);

  const deleteDenied = await deviceCall(d, 'DELETE', '/things/cert-lamp/shadow');
  assert.equal(deleteDenied.status, 403);
  assert.equal(deleteDenied.body.__type, 'ForbiddenException');
  assert.match(deleteDenied.body.message!, /iot:DeleteThingShadow/);
  assert.equal((await deviceCall(d, 'GET', '/things/cert-lamp/shadow?name=settings')).status, 403, 'named shadows are their own resource');
  assert.equal((await deviceCall(d, 'GET', '/things/other-lamp/shadow')).status, 403);
  // Control-plane routes are not open to device certificates.
  assert.equal((await deviceCall(d, 'GET', '/things/cert-lamp')).status, 403);
  // Without a certificate or a signature: the SigV4 error.
  const anonymous = await deviceCall(undefined, 'GET', '/things/cert-lamp/shadow');
  assert.equal(anonymous.status, 403);
  assert.equal(anonymous.body.__type, 'MissingAuthenticationTokenException');

  // A certificate that is no longer ACTIVE: 401, and the message says why.
  const iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  await iot.send(new UpdateCertificateCommand({ certificateId: d.certificateId, newStatus: 'INACTIVE' }));
  iot.destroy();
  const inactive = await deviceCall(d, 'GET', '/things/cert-lamp/shadow');
  assert.equal(inactive.status, 401);
  assert.equal(inactive.body.__type, 'UnauthorizedException');
  assert.match(inactive.body.message!, /INACTIVE/);
});
