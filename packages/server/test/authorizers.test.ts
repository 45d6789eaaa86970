/**
 * Custom authorizers: the control plane (directly and through @aws-sdk/client-iot), webhook
 * functions, AWS token signatures, the built-in JWT verifier (static keys, HMAC, JWKS) and how a
 * connection finds its authorizer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { constants, createHash, createHmac, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import Database from 'better-sqlite3';
import Fastify, { type FastifyInstance } from 'fastify';
import pino from 'pino';
import {
  ClearDefaultAuthorizerCommand,
  CreateAuthorizerCommand,
  DeleteAuthorizerCommand,
  DescribeAuthorizerCommand,
  DescribeDefaultAuthorizerCommand,
  IoTClient,
  ListAuthorizersCommand,
  SetDefaultAuthorizerCommand,
  TestInvokeAuthorizerCommand,
  UpdateAuthorizerCommand,
} from '@aws-sdk/client-iot';
import { AccountStore, accountMigrations } from '../src/accounts/account-store.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import type { Namespace } from '../src/accounts/namespace.js';
import { registerApi } from '../src/api/aws-api.js';
import { AwsError } from '../src/aws/errors.js';
import { newAccessKey } from '../src/credentials.js';
import { compilePolicies, iotResourceArn, parsePolicyDocument, type PolicyDocument } from '../src/policies/engine/index.js';
import {
  AuthorizerStore,
  authorizerMigrations,
  CustomAuthorizers,
  authorizerRoutes,
  customAuthRequestFromHttp,
  customAuthRequestFromMqtt,
  decodeJwt,
  JwtError,
  type CustomAuthOutcome,
  type CustomAuthorizersOptions,
  type CustomAuthRequest,
} from '../src/authorizers/index.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const NS_EU: Namespace = { accountId: '123456789012', region: 'eu-west-1' };
const NS_OTHER: Namespace = { accountId: '210987654321', region: 'us-east-1' };
const silent = pino({ level: 'silent' });

// ---- keys -------------------------------------------------------------------------------------------

const pem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string;
const rsa = (bits = 2048) => generateKeyPairSync('rsa', { modulusLength: bits });
const ec = (namedCurve: string) => generateKeyPairSync('ec', { namedCurve });

const signer = rsa(); // the AWS token-signing key pair
const otherSigner = rsa();
const jwtRsa = rsa();
const jwtEc256 = ec('P-256');
const jwtEc384 = ec('P-384');
const jwkRsa1 = rsa();
const jwkRsa2 = rsa();
const HMAC_SECRET = 'a-shared-secret-of-at-least-32-bytes!!';

/** base64 RSA-SHA256 signature of the token bytes, as a custom-auth client computes it. */
const awsSignature = (token: string, key = signer.privateKey): string => sign('sha256', Buffer.from(token), key).toString('base64');

const b64url = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A compact JWS made with node:crypto (the server side uses none of this code). */
function makeJwt(
  alg: string,
  payload: Record<string, unknown>,
  key: KeyObject | string | Buffer | undefined,
  header: Record<string, unknown> = {},
): string {
  const input = `${b64url({ alg, typ: 'JWT', ...header })}.${b64url(payload)}`;
  const hash = `sha${alg.slice(2)}`;
  let sig: Buffer;
  if (alg.toLowerCase() === 'none') sig = Buffer.alloc(0);
  else if (alg.startsWith('HS'))
    sig = createHmac(hash, key as string | Buffer)
      .update(input)
      .digest();
  else if (alg.startsWith('RS')) sig = sign(hash, Buffer.from(input), key as KeyObject);
  else if (alg.startsWith('PS')) {
    sig = sign(hash, Buffer.from(input), {
      key: key as KeyObject,
      padding: constants.RSA_PKCS1_PSS_PADDING,
      saltLength: constants.RSA_PSS_SALTLEN_DIGEST,
    });
  } else if (alg.startsWith('ES')) sig = sign(hash, Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  else sig = randomBytes(64); // an algorithm the verifier must refuse before looking at the signature
  return `${input}.${sig.toString('base64url')}`;
}

const nowSec = (): number => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ sub: 'device42', exp: nowSec() + 600, ...extra });

// ---- local HTTP servers ----------------------------------------------------------------------------------

interface Received {
  body: Record<string, unknown>;
  headers: http.IncomingHttpHeaders;
}

/** The webhook: answers with whatever `respond` decides; keeps every event it received. */
const hook = {
  received: [] as Received[],
  respond: (_event: Record<string, unknown>, res: http.ServerResponse): void => {
    res.end(JSON.stringify(allow()));
  },
  url: '',
};
/** The JWKS endpoint: serves `keys`, counts fetches. */
const jwksServer = { keys: [] as object[], fetches: 0, url: '' };
const servers: http.Server[] = [];

async function listen(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const DEVICE_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [{ Effect: 'Allow', Action: ['iot:Connect', 'iot:Publish'], Resource: '*' }],
});

function allow(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    isAuthenticated: true,
    principalId: 'device42',
    disconnectAfterInSeconds: 3600,
    refreshAfterInSeconds: 600,
    policyDocuments: [DEVICE_POLICY],
    ...extra,
  };
}

before(async () => {
  hook.url = await listen((req, res) => {
    let data = '';
    req.on('data', (c: Buffer) => (data += c.toString()));
    req.on('end', () => {
      const body = JSON.parse(data) as Record<string, unknown>;
      hook.received.push({ body, headers: req.headers });
      hook.respond(body, res);
    });
  });
  const base = await listen((_req, res) => {
    jwksServer.fetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: jwksServer.keys }));
  });
  jwksServer.url = `${base}/.well-known/jwks.json`;
});

after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

// ---- the service under test -------------------------------------------------------------------------------

const POLICIES: Record<string, string> = {
  DevicePolicy: JSON.stringify({
    Version: '2012-10-17',
    Statement: [
      { Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:us-east-1:123456789012:topic/devices/${thicket:Jwt.sub}/*' },
    ],
  }),
  ReadPolicy: JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Subscribe', Resource: '*' }] }),
};

async function service(opts: Partial<CustomAuthorizersOptions> = {}): Promise<{
  svc: CustomAuthorizers;
  calls: Array<{ ns: Namespace; names: string[] }>;
}> {
  const calls: Array<{ ns: Namespace; names: string[] }> = [];
  const engine = sqliteEngine(new Database(':memory:'));
  await migrate(engine, { authorizers: authorizerMigrations });
  const svc = new CustomAuthorizers({
    store: await AuthorizerStore.open(engine),
    policyDocumentsFor: (ns, names) => {
      calls.push({ ns, names });
      return names.filter((n) => POLICIES[n]).map((n) => parsePolicyDocument(POLICIES[n]!));
    },
    log: silent,
    // No webhookTimeoutMs: with the product's 5 s a webhook that answers does not time out on a
    // loaded CI machine (300 ms once did); the timeout test sets its own.
    jwks: { minRefreshIntervalMs: 0 },
    ...opts,
  });
  return { svc, calls };
}

/** Runs `fn` (awaiting what it returns) and returns the AwsError it throws. */
async function awsErrorOf(fn: () => unknown): Promise<AwsError> {
  try {
    await fn();
  } catch (err) {
    assert.ok(err instanceof AwsError, `expected an AwsError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an error');
}

/** A CONNECT through TLS naming `name`, with optional token parameter, signature and password. */
function mqttConnect(
  name: string | undefined,
  opts: {
    token?: string;
    tokenKey?: string;
    signature?: string;
    password?: string;
    username?: string;
    clientId?: string;
    ns?: Namespace;
  } = {},
): CustomAuthRequest {
  const query: Record<string, string> = {};
  if (name !== undefined) query['x-amz-customauthorizer-name'] = name;
  if (opts.token !== undefined) query[opts.tokenKey ?? 'tok'] = opts.token;
  if (opts.signature !== undefined) query['x-amz-customauthorizer-signature'] = opts.signature;
  const req = customAuthRequestFromMqtt(
    opts.username ?? 'dev',
    query,
    opts.password === undefined ? undefined : Buffer.from(opts.password),
    opts.clientId ?? 'client-1',
    { tls: { servername: 'iot.example.com' } },
    'conn-1',
    { useDefault: true },
  )!;
  return opts.ns ? { ...req, ns: opts.ns } : req;
}

function accepted(o: CustomAuthOutcome): Extract<CustomAuthOutcome, { ok: true }> {
  assert.ok(o.ok, `expected acceptance, refused: ${o.ok ? '' : o.reason}`);
  return o;
}

function refused(o: CustomAuthOutcome, why: RegExp): void {
  assert.equal(o.ok, false, 'expected a refusal');
  assert.match((o as { reason: string }).reason, why);
}

const hookAuthorizer = (extra: Record<string, unknown> = {}) => ({ authorizerFunctionArn: hook.url, signingDisabled: true, ...extra });
const signedHookAuthorizer = (extra: Record<string, unknown> = {}) => ({
  authorizerFunctionArn: hook.url,
  tokenKeyName: 'tok',
  tokenSigningPublicKeys: { main: pem(signer.publicKey) },
  ...extra,
});

function resetHook(respond?: typeof hook.respond): void {
  hook.received = [];
  hook.respond = respond ?? ((_e, res) => res.end(JSON.stringify(allow())));
}

// =====================================================================================================
// Control plane, directly
// =====================================================================================================

test('CreateAuthorizer validates names, required fields and keys with AWS errors; describe returns what was stored', async () => {
  const { svc } = await service();
  const r = await svc.create(NS, 'my=auth,1@x-y', signedHookAuthorizer({ enableCachingForHttp: true }));
  assert.deepEqual(r, { authorizerName: 'my=auth,1@x-y', authorizerArn: 'arn:aws:iot:us-east-1:123456789012:authorizer/my=auth,1@x-y' });
  const d = svc.describe(NS, 'my=auth,1@x-y').authorizerDescription;
  assert.equal(d.authorizerFunctionArn, hook.url);
  assert.equal(d.tokenKeyName, 'tok');
  assert.deepEqual(d.tokenSigningPublicKeys, { main: pem(signer.publicKey) });
  assert.equal(d.status, 'ACTIVE');
  assert.equal(d.signingDisabled, false);
  assert.equal(d.enableCachingForHttp, true);
  assert.ok(Math.abs(d.creationDate - Date.now() / 1000) < 5);
  assert.equal(d.lastModifiedDate, d.creationDate);

  const invalid = async (name: unknown, body: Record<string, unknown>, message: RegExp, ns = NS) => {
    const e = await awsErrorOf(() => svc.create(ns, name, body));
    assert.equal(e.code, 'InvalidRequestException');
    assert.equal(e.status, 400);
    assert.match(e.message, message);
  };
  await invalid(
    'bad name',
    hookAuthorizer(),
    /at 'authorizerName' failed to satisfy constraint: Member must satisfy regular expression pattern: \[\\w=,@-\]\+/,
  );
  await invalid('a'.repeat(129), hookAuthorizer(), /length less than or equal to 128/);
  await invalid('', hookAuthorizer(), /length greater than or equal to 1/);
  await invalid('x', { signingDisabled: true }, /authorizerFunctionArn.*must not be null/);
  await invalid('x', hookAuthorizer({ authorizerFunctionArn: 'ftp://example.com' }), /must be an https:\/\/ .*webhook URL/);
  await invalid('x', signedHookAuthorizer({ tokenKeyName: undefined }), /tokenKeyName is required when signing is enabled/);
  await invalid('x', signedHookAuthorizer({ tokenSigningPublicKeys: undefined }), /at least one RSA public key/);
  await invalid('x', signedHookAuthorizer({ tokenKeyName: 'bad key' }), /'tokenKeyName'.*\[a-zA-Z0-9_-\]\+/);
  await invalid(
    'x',
    signedHookAuthorizer({ tokenSigningPublicKeys: { k: 'not a key' } }),
    /entry "k" is invalid: it is not a PEM public key/,
  );
  const privatePem = signer.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  await invalid('x', signedHookAuthorizer({ tokenSigningPublicKeys: { k: privatePem } }), /it is a private key/);
  await invalid(
    'x',
    signedHookAuthorizer({ tokenSigningPublicKeys: { k: pem(rsa(1024).publicKey) } }),
    /at least 2048 bits, this one has 1024/,
  );
  // EC keys serve the JWT verifier, not the AWS token signature.
  await invalid('x', signedHookAuthorizer({ tokenSigningPublicKeys: { k: pem(jwtEc256.publicKey) } }), /at least one RSA public key/);
  await invalid('x', hookAuthorizer({ status: 'ENABLED' }), /enum value set: \[ACTIVE, INACTIVE\]/);
  await invalid('x', hookAuthorizer({ signingDisabled: 'yes' }), /'signingDisabled'.*boolean/);
  await invalid('x', hookAuthorizer({ authorizerFunctionArn: 'thicket:jwt?keys=a' }), /unknown parameter "keys"/);
  await invalid('x', hookAuthorizer({ authorizerFunctionArn: 'thicket:jwt?issuer=me' }), /exactly one of jwksUri, key and hmacSecret/);
  await invalid('x', hookAuthorizer({ authorizerFunctionArn: 'thicket:jwt?key=missing' }), /entry "missing", which does not exist/);
  await invalid(
    'x',
    hookAuthorizer({ authorizerFunctionArn: 'thicket:jwt?hmacSecret=s', tokenSigningPublicKeys: { s: 'short' } }),
    /HMAC secrets must have at least 32 bytes/,
  );
  await invalid('x', hookAuthorizer({ authorizerFunctionArn: 'thicket:jwt?jwksUri=file:///etc/passwd' }), /jwksUri must be an http/);
  await invalid(
    'x',
    hookAuthorizer({ authorizerFunctionArn: 'thicket:jwt?key=k&disconnectAfterInSeconds=10' }),
    /disconnectAfterInSeconds must be a whole number from 300 to 86400/,
  );

  // Signing disabled needs no key; Lambda ARNs are stored (for tools written for AWS) though never invocable.
  await svc.create(NS, 'nosign', hookAuthorizer());
  await svc.create(NS, 'lambda', { authorizerFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:auth', signingDisabled: true });
  assert.equal(svc.describe(NS, 'nosign').authorizerDescription.tokenKeyName, undefined);

  const dup = await awsErrorOf(() => svc.create(NS, 'nosign', hookAuthorizer()));
  assert.equal(dup.code, 'ResourceAlreadyExistsException');
  assert.equal(dup.status, 409);
  assert.equal(dup.extra.resourceArn, 'arn:aws:iot:us-east-1:123456789012:authorizer/nosign');
  const missing = await awsErrorOf(() => svc.describe(NS, 'nope'));
  assert.equal(missing.code, 'ResourceNotFoundException');
  // Namespaces are separate.
  assert.equal((await awsErrorOf(() => svc.describe(NS_EU, 'nosign'))).code, 'ResourceNotFoundException');
});

test('at most 10 authorizers per namespace (LimitExceededException), counted per namespace', async () => {
  const { svc } = await service();
  for (let i = 0; i < 10; i++) await svc.create(NS, `a${i}`, hookAuthorizer());
  const e = await awsErrorOf(() => svc.create(NS, 'a10', hookAuthorizer()));
  assert.equal(e.code, 'LimitExceededException');
  assert.equal(e.status, 410);
  await svc.create(NS_EU, 'a10', hookAuthorizer());
  assert.equal(svc.list(NS, {}).authorizers.length, 10);
});

test('UpdateAuthorizer changes fields, keeps signingDisabled immutable and re-checks the result', async () => {
  const { svc } = await service({ now: () => 1_000_000 });
  await svc.create(NS, 'a', signedHookAuthorizer());
  await svc.update(NS, 'a', { status: 'INACTIVE', tokenKeyName: 'token2', enableCachingForHttp: true });
  let d = svc.describe(NS, 'a').authorizerDescription;
  assert.equal(d.status, 'INACTIVE');
  assert.equal(d.tokenKeyName, 'token2');
  assert.equal(d.enableCachingForHttp, true);
  assert.equal(d.authorizerFunctionArn, hook.url, 'fields not given stay');

  await svc.update(NS, 'a', { tokenSigningPublicKeys: { other: pem(otherSigner.publicKey) } });
  d = svc.describe(NS, 'a').authorizerDescription;
  assert.deepEqual(Object.keys(d.tokenSigningPublicKeys), ['other'], 'the key map is replaced, not merged');

  const flip = await awsErrorOf(() => svc.update(NS, 'a', { signingDisabled: true }));
  assert.equal(flip.code, 'InvalidRequestException');
  assert.match(flip.message, /signingDisabled cannot be changed/);
  await svc.update(NS, 'a', { signingDisabled: false }); // the same value is no change
  assert.match((await awsErrorOf(() => svc.update(NS, 'a', { tokenSigningPublicKeys: {} }))).message, /at least one RSA public key/);
  assert.match(
    (await awsErrorOf(() => svc.update(NS, 'a', { authorizerFunctionArn: 'mailto:x' }))).message,
    /authorizerFunctionArn must be/,
  );
  assert.equal((await awsErrorOf(() => svc.update(NS, 'missing', { status: 'ACTIVE' }))).code, 'ResourceNotFoundException');
  assert.equal(svc.describe(NS, 'a').authorizerDescription.status, 'INACTIVE', 'a refused update changes nothing');
});

test('DeleteAuthorizer refuses ACTIVE and default authorizers (DeleteConflictException); default authorizer set, describe, clear', async () => {
  const changed: string[] = [];
  const { svc } = await service({ changed: (_ns, name) => changed.push(name) });
  await svc.create(NS, 'a', hookAuthorizer());
  await svc.create(NS, 'b', hookAuthorizer());

  assert.equal((await awsErrorOf(() => svc.describeDefault(NS))).code, 'ResourceNotFoundException');
  assert.equal((await awsErrorOf(() => svc.clearDefault(NS))).code, 'ResourceNotFoundException');
  assert.equal((await awsErrorOf(() => svc.setDefault(NS, { authorizerName: 'zz' }))).code, 'ResourceNotFoundException');
  assert.equal((await awsErrorOf(() => svc.setDefault(NS, {}))).code, 'InvalidRequestException');
  assert.deepEqual(await svc.setDefault(NS, { authorizerName: 'a' }), {
    authorizerName: 'a',
    authorizerArn: 'arn:aws:iot:us-east-1:123456789012:authorizer/a',
  });
  assert.equal(svc.describeDefault(NS).authorizerDescription.authorizerName, 'a');
  await svc.setDefault(NS, { authorizerName: 'b' });
  assert.equal(svc.describeDefault(NS).authorizerDescription.authorizerName, 'b', 'setting another default replaces it');
  assert.equal((await awsErrorOf(() => svc.describeDefault(NS_EU))).code, 'ResourceNotFoundException');

  const active = await awsErrorOf(() => svc.delete(NS, 'a'));
  assert.equal(active.code, 'DeleteConflictException');
  assert.equal(active.status, 409);
  assert.match(active.message, /INACTIVE/);
  await svc.update(NS, 'b', { status: 'INACTIVE' });
  assert.match((await awsErrorOf(() => svc.delete(NS, 'b'))).message, /default authorizer/);
  await svc.clearDefault(NS);
  assert.equal((await awsErrorOf(() => svc.describeDefault(NS))).code, 'ResourceNotFoundException');
  await svc.delete(NS, 'b');
  assert.equal((await awsErrorOf(() => svc.describe(NS, 'b'))).code, 'ResourceNotFoundException');
  assert.equal((await awsErrorOf(() => svc.delete(NS, 'b'))).code, 'ResourceNotFoundException');
  assert.deepEqual(changed, ['b', 'b']);
});

test('ListAuthorizers filters by status, pages with marker/pageSize and honours isAscendingOrder', async () => {
  const { svc } = await service();
  for (const n of ['c', 'a', 'e', 'b', 'd'])
    await svc.create(NS, n, hookAuthorizer({ status: n === 'b' || n === 'd' ? 'INACTIVE' : 'ACTIVE' }));
  const names = (r: { authorizers: Array<{ authorizerName: string }> }) => r.authorizers.map((a) => a.authorizerName);
  assert.deepEqual(names(svc.list(NS, {})), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(names(svc.list(NS, { status: 'INACTIVE' })), ['b', 'd']);
  assert.deepEqual(names(svc.list(NS, { isAscendingOrder: 'false' })), ['e', 'd', 'c', 'b', 'a']);
  const p1 = svc.list(NS, { pageSize: '2' });
  assert.deepEqual(names(p1), ['a', 'b']);
  const p2 = svc.list(NS, { pageSize: '2', marker: p1.nextMarker });
  assert.deepEqual(names(p2), ['c', 'd']);
  const p3 = svc.list(NS, { pageSize: '2', marker: p2.nextMarker });
  assert.deepEqual(names(p3), ['e']);
  assert.equal(p3.nextMarker, undefined);
  assert.equal(svc.list(NS, {}).authorizers[0]!.authorizerArn, 'arn:aws:iot:us-east-1:123456789012:authorizer/a');
  assert.equal((await awsErrorOf(() => svc.list(NS, { status: 'ON' }))).code, 'InvalidRequestException');
  assert.equal((await awsErrorOf(() => svc.list(NS, { pageSize: '0' }))).code, 'InvalidRequestException');
});

// =====================================================================================================
// Control plane through the AWS SDK
// =====================================================================================================

test('the HTTP API through @aws-sdk/client-iot: CRUD, default authorizer, TestInvokeAuthorizer and errors', async () => {
  const engine = sqliteEngine(new Database(':memory:'));
  await migrate(engine, { accounts: accountMigrations });
  const accounts = await AccountStore.open(engine);
  const key = newAccessKey();
  await accounts.ensureDefault(key);
  const { svc } = await service();
  const app: FastifyInstance = Fastify();
  registerApi(app, authorizerRoutes(svc), { accounts, log: silent });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const iot = new IoTClient({
    endpoint: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
    region: 'us-east-1',
    credentials: key,
  });
  const awsError = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      const e = err as { name: string; message: string; $metadata: { httpStatusCode?: number } };
      return { name: e.name, message: e.message, status: e.$metadata.httpStatusCode };
    }
    assert.fail('expected an error');
  };
  try {
    const created = await iot.send(
      new CreateAuthorizerCommand({
        authorizerName: 'sdk=auth@1',
        authorizerFunctionArn: hook.url,
        tokenKeyName: 'tok',
        tokenSigningPublicKeys: { main: pem(signer.publicKey) },
        tags: [{ Key: 'team', Value: 'iot' }],
      }),
    );
    assert.equal(created.authorizerName, 'sdk=auth@1');
    assert.equal(created.authorizerArn, 'arn:aws:iot:us-east-1:123456789012:authorizer/sdk=auth@1');

    const d = (await iot.send(new DescribeAuthorizerCommand({ authorizerName: 'sdk=auth@1' }))).authorizerDescription!;
    assert.equal(d.authorizerFunctionArn, hook.url);
    assert.equal(d.status, 'ACTIVE');
    assert.equal(d.signingDisabled, false);
    assert.equal(d.enableCachingForHttp, false);
    assert.ok(d.creationDate instanceof Date && Math.abs(d.creationDate.getTime() - Date.now()) < 10_000);
    assert.deepEqual(d.tokenSigningPublicKeys, { main: pem(signer.publicKey) });

    await iot.send(
      new CreateAuthorizerCommand({ authorizerName: 'plain', authorizerFunctionArn: hook.url, signingDisabled: true, status: 'INACTIVE' }),
    );
    const all = await iot.send(new ListAuthorizersCommand({}));
    assert.deepEqual(
      all.authorizers!.map((a) => a.authorizerName),
      ['plain', 'sdk=auth@1'],
    );
    const inactive = await iot.send(new ListAuthorizersCommand({ status: 'INACTIVE' }));
    assert.deepEqual(
      inactive.authorizers!.map((a) => a.authorizerName),
      ['plain'],
    );
    const page = await iot.send(new ListAuthorizersCommand({ pageSize: 1, ascendingOrder: false }));
    assert.deepEqual(
      page.authorizers!.map((a) => a.authorizerName),
      ['sdk=auth@1'],
    );
    const next = await iot.send(new ListAuthorizersCommand({ pageSize: 1, ascendingOrder: false, marker: page.nextMarker }));
    assert.deepEqual(
      next.authorizers!.map((a) => a.authorizerName),
      ['plain'],
    );

    const updated = await iot.send(new UpdateAuthorizerCommand({ authorizerName: 'plain', status: 'ACTIVE', enableCachingForHttp: true }));
    assert.equal(updated.authorizerArn, 'arn:aws:iot:us-east-1:123456789012:authorizer/plain');
    assert.equal(
      (await iot.send(new DescribeAuthorizerCommand({ authorizerName: 'plain' }))).authorizerDescription!.enableCachingForHttp,
      true,
    );

    assert.deepEqual(await awsError(iot.send(new DescribeDefaultAuthorizerCommand({}))), {
      name: 'ResourceNotFoundException',
      message: 'No default authorizer is set',
      status: 404,
    });
    const set = await iot.send(new SetDefaultAuthorizerCommand({ authorizerName: 'plain' }));
    assert.equal(set.authorizerName, 'plain');
    assert.equal((await iot.send(new DescribeDefaultAuthorizerCommand({}))).authorizerDescription!.authorizerName, 'plain');

    // TestInvokeAuthorizer: token signature checked, then the webhook called with the MQTT context.
    resetHook();
    const token = 'opaque-token';
    const ok = await iot.send(
      new TestInvokeAuthorizerCommand({
        authorizerName: 'sdk=auth@1',
        token,
        tokenSignature: awsSignature(token),
        mqttContext: { username: 'alice', password: Buffer.from('s3cret'), clientId: 'c1' },
        tlsContext: { serverName: 'iot.example.com' },
      }),
    );
    assert.equal(ok.isAuthenticated, true);
    assert.equal(ok.principalId, 'device42');
    assert.deepEqual(ok.policyDocuments, [DEVICE_POLICY]);
    assert.equal(ok.disconnectAfterInSeconds, 3600);
    assert.equal(ok.refreshAfterInSeconds, 600);
    const event = hook.received[0]!.body;
    assert.equal(event.token, token);
    assert.equal(event.signatureVerified, true);
    assert.deepEqual(event.protocols, ['tls', 'mqtt']);
    assert.deepEqual(event.protocolData, {
      tls: { serverName: 'iot.example.com' },
      mqtt: { username: 'alice', password: Buffer.from('s3cret').toString('base64'), clientId: 'c1' },
    });

    const badSig = await awsError(
      iot.send(
        new TestInvokeAuthorizerCommand({
          authorizerName: 'sdk=auth@1',
          token,
          tokenSignature: awsSignature(token, otherSigner.privateKey),
        }),
      ),
    );
    assert.equal(badSig.name, 'InvalidRequestException');
    assert.match(badSig.message, /signature does not verify/);
    assert.equal(hook.received.length, 1, 'a bad signature never reaches the function');

    resetHook((_e, res) => res.end(JSON.stringify(allow({ principalId: 'not valid!' }))));
    const badAnswer = await awsError(iot.send(new TestInvokeAuthorizerCommand({ authorizerName: 'plain', token: 't' })));
    assert.equal(badAnswer.name, 'InvalidResponseException');
    assert.equal(badAnswer.status, 400);
    assert.match(badAnswer.message, /principalId must match/);

    resetHook((_e, res) => res.end(JSON.stringify({ isAuthenticated: false, principalId: 'denied' })));
    const denied = await iot.send(new TestInvokeAuthorizerCommand({ authorizerName: 'plain', token: 't' }));
    assert.equal(denied.isAuthenticated, false);
    assert.deepEqual(denied.policyDocuments, []);

    assert.equal(
      (await awsError(iot.send(new TestInvokeAuthorizerCommand({ authorizerName: 'ghost', token: 't' })))).name,
      'ResourceNotFoundException',
    );
    assert.equal(
      (
        await awsError(
          iot.send(new CreateAuthorizerCommand({ authorizerName: 'plain', authorizerFunctionArn: hook.url, signingDisabled: true })),
        )
      ).name,
      'ResourceAlreadyExistsException',
    );
    const bad = await awsError(iot.send(new CreateAuthorizerCommand({ authorizerName: 'x', authorizerFunctionArn: hook.url })));
    assert.equal(bad.name, 'InvalidRequestException');
    assert.equal(bad.status, 400);

    assert.equal((await awsError(iot.send(new DeleteAuthorizerCommand({ authorizerName: 'sdk=auth@1' })))).name, 'DeleteConflictException');
    await iot.send(new UpdateAuthorizerCommand({ authorizerName: 'sdk=auth@1', status: 'INACTIVE' }));
    await iot.send(new DeleteAuthorizerCommand({ authorizerName: 'sdk=auth@1' }));
    await iot.send(new ClearDefaultAuthorizerCommand({}));
    assert.equal((await awsError(iot.send(new ClearDefaultAuthorizerCommand({})))).name, 'ResourceNotFoundException');
    assert.deepEqual(
      (await iot.send(new ListAuthorizersCommand({}))).authorizers!.map((a) => a.authorizerName),
      ['plain'],
    );
    // Another region is another namespace.
    const eu = new IoTClient({
      endpoint: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      region: 'eu-west-1',
      credentials: key,
    });
    assert.deepEqual((await eu.send(new ListAuthorizersCommand({}))).authorizers, []);
    eu.destroy();
  } finally {
    iot.destroy();
    await app.close();
  }
});

// =====================================================================================================
// Webhook functions
// =====================================================================================================

test('webhook: the AWS event shape goes out, an allowing answer becomes the connection policies', async () => {
  const { svc } = await service();
  await svc.create(NS, 'hook', hookAuthorizer({ tokenKeyName: 'tok' }));
  resetHook();
  const o = accepted(await svc.authenticate(mqttConnect('hook', { token: 'abc', password: 'pw', clientId: 'thing-1' })));
  assert.deepEqual(hook.received[0]!.body, {
    token: 'abc',
    signatureVerified: false,
    protocols: ['tls', 'mqtt'],
    protocolData: {
      tls: { serverName: 'iot.example.com' },
      mqtt: {
        username: 'dev?x-amz-customauthorizer-name=hook&tok=abc',
        password: Buffer.from('pw').toString('base64'),
        clientId: 'thing-1',
      },
    },
    connectionMetadata: { id: 'conn-1' },
  });
  assert.equal(hook.received[0]!.headers['content-type'], 'application/json');
  assert.equal(hook.received[0]!.headers['x-thicket-authorizer-arn'], 'arn:aws:iot:us-east-1:123456789012:authorizer/hook');
  assert.deepEqual(o.ns, NS);
  assert.equal(o.authorizerName, 'hook');
  assert.equal(o.principalId, 'device42');
  assert.deepEqual(o.policyDocuments, [parsePolicyDocument(DEVICE_POLICY)]);
  assert.deepEqual(o.variables, {});
  assert.equal(o.disconnectAfterSeconds, 3600);
  assert.equal(o.refreshAfterSeconds, 600);

  // Documents as objects (what many Lambda handlers return) are accepted too; lifetimes are optional.
  resetHook((_e, res) =>
    res.end(JSON.stringify({ isAuthenticated: true, principalId: 'p1', policyDocuments: [JSON.parse(DEVICE_POLICY)] })),
  );
  const o2 = accepted(await svc.authenticate(mqttConnect('hook')));
  assert.equal(o2.policyDocuments[0]!.Statement[0]!.Effect, 'Allow');
  assert.equal(o2.disconnectAfterSeconds, undefined);
  assert.equal(hook.received[0]!.body.token, undefined, 'no token parameter: no token field');
});

test('webhook: refusal, HTTP 500, bad JSON, timeout, unreachable and invalid answers all refuse the connection', async () => {
  const { svc } = await service({ webhookTimeoutMs: 200 });
  await svc.create(NS, 'hook', hookAuthorizer());
  const cases: Array<[string, typeof hook.respond, RegExp]> = [
    [
      'deny',
      (_e, res) => res.end(JSON.stringify({ isAuthenticated: false, principalId: 'denied', disconnectAfterInSeconds: 0 })),
      /isAuthenticated: false/,
    ],
    [
      '500',
      (_e, res) => {
        res.statusCode = 500;
        res.end(JSON.stringify(allow()));
      },
      /answered HTTP 500/,
    ],
    ['bad JSON', (_e, res) => res.end('{"isAuthenticated": tru'), /answer is not JSON/],
    ['not boolean', (_e, res) => res.end(JSON.stringify(allow({ isAuthenticated: 'yes' }))), /isAuthenticated must be true or false/],
    ['principal', (_e, res) => res.end(JSON.stringify(allow({ principalId: 'dev-42' }))), /principalId must match \[a-zA-Z0-9\]\{1,128\}/],
    ['principal length', (_e, res) => res.end(JSON.stringify(allow({ principalId: 'a'.repeat(129) }))), /principalId must match/],
    [
      'disconnect',
      (_e, res) => res.end(JSON.stringify(allow({ disconnectAfterInSeconds: 299 }))),
      /disconnectAfterInSeconds must be from 300 to 86400, not 299/,
    ],
    [
      'refresh',
      (_e, res) => res.end(JSON.stringify(allow({ refreshAfterInSeconds: 86401 }))),
      /refreshAfterInSeconds must be from 300 to 86400/,
    ],
    [
      '11 documents',
      (_e, res) => res.end(JSON.stringify(allow({ policyDocuments: Array(11).fill(DEVICE_POLICY) }))),
      /at most 10 documents, not 11/,
    ],
    [
      'malformed document',
      (_e, res) => res.end(JSON.stringify(allow({ policyDocuments: ['{"Statement": [{"Effect": "Maybe"}]}'] }))),
      /policyDocuments\[0\]: .*Effect/,
    ],
    [
      'oversized document',
      (_e, res) => {
        const doc = {
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Action: 'iot:Publish',
              Resource: Array.from({ length: 80 }, (_, i) => `arn:aws:iot:us-east-1:123456789012:topic/t${i}`),
            },
          ],
        };
        res.end(JSON.stringify(allow({ policyDocuments: [JSON.stringify(doc, null, 2)] })));
      },
      /too large: \d+ characters excluding whitespace, the limit is 2048/,
    ],
    ['timeout', () => undefined, /did not answer within 200 ms/],
  ];
  for (const [label, respond, why] of cases) {
    resetHook(respond);
    const started = Date.now();
    const o = await svc.authenticate(mqttConnect('hook'));
    assert.ok(Date.now() - started < 3000, `${label}: answered in time`);
    assert.equal(o.ok, false, label);
    assert.match((o as { reason: string }).reason, why, label);
    assert.equal(hook.received.length, 1, `${label}: the webhook was called once`);
  }

  const closed = await listen((_req, res) => res.end());
  await new Promise((r) => servers.at(-1)!.close(r));
  await svc.create(NS, 'gone', hookAuthorizer({ authorizerFunctionArn: closed }));
  refused(await svc.authenticate(mqttConnect('gone')), /could not be called: ECONNREFUSED/);
});

// =====================================================================================================
// AWS token signatures
// =====================================================================================================

test('token signing: a missing or wrong signature is refused without calling the function; a valid one gets through', async () => {
  const { svc } = await service();
  await svc.create(
    NS,
    'signed',
    signedHookAuthorizer({ tokenSigningPublicKeys: { old: pem(otherSigner.publicKey), main: pem(signer.publicKey) } }),
  );
  resetHook();
  const token = 'tok-value-1';

  refused(await svc.authenticate(mqttConnect('signed')), /no token: authorizer signed expects it as "tok"/);
  refused(await svc.authenticate(mqttConnect('signed', { token })), /no token signature \(x-amz-customauthorizer-signature\)/);
  refused(await svc.authenticate(mqttConnect('signed', { token, signature: awsSignature(token, rsa().privateKey) })), /does not verify/);
  refused(await svc.authenticate(mqttConnect('signed', { token, signature: awsSignature('other token') })), /does not verify/);
  refused(await svc.authenticate(mqttConnect('signed', { token, signature: 'not*base64' })), /does not verify/);
  assert.equal(hook.received.length, 0, 'the function was never called');

  accepted(await svc.authenticate(mqttConnect('signed', { token, signature: awsSignature(token) })));
  assert.equal(hook.received.length, 1);
  assert.equal(hook.received[0]!.body.signatureVerified, true);
  assert.equal(hook.received[0]!.body.token, token);
  // Any of the keys may have signed it (key rotation).
  accepted(await svc.authenticate(mqttConnect('signed', { token, signature: awsSignature(token, otherSigner.privateKey) })));

  // A client that did not URL-encode its signature: every '+' arrives as a space.
  let t = '';
  let sig = '';
  for (let i = 0; !sig.includes('+'); i++) {
    t = `token-${i}`;
    sig = awsSignature(t);
  }
  accepted(await svc.authenticate(mqttConnect('signed', { token: t, signature: sig.replace(/\+/g, ' ') })));

  // INACTIVE authorizers refuse before anything else.
  await svc.update(NS, 'signed', { status: 'INACTIVE' });
  resetHook();
  refused(await svc.authenticate(mqttConnect('signed', { token, signature: awsSignature(token) })), /authorizer signed is INACTIVE/);
  assert.equal(hook.received.length, 0);
});

test('MQTT over WebSocket and HTTP: name, token and signature from upgrade headers or URL query', async () => {
  const { svc } = await service();
  await svc.create(NS, 'ws', signedHookAuthorizer({ tokenKeyName: 'X-Device-Token' }));
  const token = 'ws-token';
  resetHook();

  const byHeaders = customAuthRequestFromMqtt(
    undefined,
    {},
    undefined,
    'c-ws',
    {
      tls: { servername: 'iot.example.com' },
      http: {
        url: '/mqtt',
        headers: {
          'x-amz-customauthorizer-name': 'ws',
          'x-amz-customauthorizer-signature': awsSignature(token),
          'x-device-token': token,
          host: 'iot.example.com',
        },
      },
    },
    'conn-ws',
  );
  assert.ok(byHeaders);
  assert.equal(byHeaders.authorizerName, 'ws');
  accepted(await svc.authenticate(byHeaders));
  const event = hook.received[0]!.body as {
    token: string;
    protocols: string[];
    protocolData: { http: { headers: Record<string, string>; queryString: string } };
  };
  assert.equal(event.token, token, 'the token key name matches headers case-insensitively');
  assert.deepEqual(event.protocols, ['tls', 'http', 'mqtt']);
  assert.equal(event.protocolData.http.headers.host, 'iot.example.com');
  assert.equal(event.protocolData.http.queryString, '');

  const query = new URLSearchParams({
    'x-amz-customauthorizer-name': 'ws',
    'x-amz-customauthorizer-signature': awsSignature(token),
    'X-Device-Token': token,
  });
  const byQuery = customAuthRequestFromMqtt('u', {}, undefined, 'c-ws', { http: { url: `/mqtt?${query}`, headers: {} } }, 'conn-ws2');
  assert.ok(byQuery);
  accepted(await svc.authenticate(byQuery));
  assert.equal((hook.received[1]!.body as { protocolData: { http: { queryString: string } } }).protocolData.http.queryString, `?${query}`);
  assert.deepEqual(hook.received[1]!.body.protocols, ['http', 'mqtt']);

  const httpReq = customAuthRequestFromHttp({ url: `/topics/a?qos=1&${query}`, headers: {}, tls: { servername: 'h' } }, 'conn-http');
  assert.ok(httpReq);
  accepted(await svc.authenticate(httpReq));
  assert.deepEqual(hook.received[2]!.body.protocols, ['tls', 'http']);

  // No authorizer named anywhere: not a custom-auth request, unless the caller asks for the default.
  assert.equal(customAuthRequestFromMqtt('u', { SDK: 'js' }, undefined, 'c', { http: { url: '/mqtt', headers: {} } }, 'x'), undefined);
  assert.equal(customAuthRequestFromHttp({ url: '/topics/a', headers: {} }, 'x'), undefined);
  const dflt = customAuthRequestFromMqtt('u', {}, undefined, 'c', {}, 'x', { useDefault: true });
  assert.equal(dflt?.authorizerName, undefined);
  assert.deepEqual(dflt?.protocols, ['mqtt']);
});

// =====================================================================================================
// The built-in JWT verifier
// =====================================================================================================

async function jwtAuthorizer(
  svc: CustomAuthorizers,
  name: string,
  params: string,
  keys: Record<string, string> = {},
  ns = NS,
): Promise<void> {
  await svc.create(ns, name, {
    authorizerFunctionArn: `thicket:jwt?${params}`,
    signingDisabled: true,
    tokenKeyName: 'jwt',
    tokenSigningPublicKeys: keys,
  });
}

test('JWT with a static RSA key: RS256/RS512/PS256, claims become policy variables, policyNames become the documents', async () => {
  const { svc, calls } = await service();
  await jwtAuthorizer(svc, 'jwt', 'key=idp&policyNames=DevicePolicy,ReadPolicy,Missing&issuer=https%3A%2F%2Fidp.example.com&audience=iot', {
    idp: pem(jwtRsa.publicKey),
  });
  const payload = claims({
    iss: 'https://idp.example.com',
    aud: ['web', 'iot'],
    tenant: 'acme',
    admin: false,
    level: 3,
    groups: ['a'],
    address: { city: 'x' },
  });
  for (const alg of ['RS256', 'RS512', 'PS256']) {
    const o = accepted(await svc.authenticate(mqttConnect('jwt', { token: makeJwt(alg, payload, jwtRsa.privateKey), tokenKey: 'jwt' })));
    assert.equal(o.principalId, 'device42', alg);
    assert.deepEqual(o.variables, {
      'thicket:Jwt.sub': 'device42',
      'thicket:Jwt.exp': String(payload.exp),
      'thicket:Jwt.iss': 'https://idp.example.com',
      'thicket:Jwt.tenant': 'acme',
      'thicket:Jwt.admin': 'false',
      'thicket:Jwt.level': '3',
    });
    assert.equal(o.policyDocuments.length, 2);
    const exp = payload.exp as number;
    assert.ok(
      o.disconnectAfterSeconds! <= exp - nowSec() + 1 && o.disconnectAfterSeconds! >= exp - nowSec() - 2,
      'connection lasts until the token expires',
    );
    assert.equal(o.refreshAfterSeconds, undefined);
  }
  assert.deepEqual(calls.at(-1), { ns: NS, names: ['DevicePolicy', 'ReadPolicy', 'Missing'] });

  // The variables work in the policies: the device may publish under its own subject only.
  const o = accepted(await svc.authenticate(mqttConnect('jwt', { token: makeJwt('RS256', payload, jwtRsa.privateKey), tokenKey: 'jwt' })));
  const set = compilePolicies(o.policyDocuments, o.variables);
  assert.equal(set.isAllowed('iot:Publish', iotResourceArn('us-east-1', '123456789012', 'topic', 'devices/device42/temp')), true);
  assert.equal(set.isAllowed('iot:Publish', iotResourceArn('us-east-1', '123456789012', 'topic', 'devices/device43/temp')), false);

  // A tampered payload no longer verifies.
  const good = makeJwt('RS256', payload, jwtRsa.privateKey);
  const [h, , s] = good.split('.');
  refused(
    await svc.authenticate(mqttConnect('jwt', { token: `${h}.${b64url({ ...payload, sub: 'admin' })}.${s}`, tokenKey: 'jwt' })),
    /signature does not verify/,
  );
  refused(
    await svc.authenticate(mqttConnect('jwt', { token: makeJwt('RS256', payload, rsa().privateKey), tokenKey: 'jwt' })),
    /signature does not verify/,
  );
  refused(await svc.authenticate(mqttConnect('jwt', { token: 'not-a-jwt', tokenKey: 'jwt' })), /3 dot-separated parts/);
  refused(await svc.authenticate(mqttConnect('jwt')), /no token was presented/);
});

test('JWT with EC keys (ES256, ES384) and HMAC secrets (HS256); the key must match the algorithm', async () => {
  const { svc } = await service();
  await jwtAuthorizer(svc, 'es256', 'key=k', { k: pem(jwtEc256.publicKey) });
  await jwtAuthorizer(svc, 'es384', 'key=k', { k: pem(jwtEc384.publicKey) });
  await jwtAuthorizer(svc, 'hs', 'hmacSecret=shared', { shared: HMAC_SECRET });
  await jwtAuthorizer(svc, 'hs-b64', 'hmacSecret=shared', { shared: `base64:${randomBytes(48).toString('base64')}` });
  const connect = (name: string, token: string) => svc.authenticate(mqttConnect(name, { token, tokenKey: 'jwt' }));

  accepted(await connect('es256', makeJwt('ES256', claims(), jwtEc256.privateKey)));
  accepted(await connect('es384', makeJwt('ES384', claims(), jwtEc384.privateKey)));
  accepted(await connect('hs', makeJwt('HS256', claims(), HMAC_SECRET)));
  refused(await connect('hs', makeJwt('HS256', claims(), `${HMAC_SECRET}x`)), /signature does not verify/);
  // Curve and family must match the algorithm.
  refused(
    await connect('es384', makeJwt('ES256', claims(), jwtEc256.privateKey)),
    /algorithm mismatch: ES256 needs an EC key on prime256v1/,
  );
  refused(await connect('es256', makeJwt('RS256', claims(), jwtRsa.privateKey)), /algorithm mismatch: RS256 needs an RSA key/);
  refused(await connect('hs', makeJwt('RS256', claims(), jwtRsa.privateKey)), /algorithm mismatch: RS256 needs a public key/);
  // HS512 needs a 64-byte secret: the 38-byte one is refused rather than used.
  refused(await connect('hs', makeJwt('HS512', claims(), HMAC_SECRET)), /HS512 needs a secret of at least 64 bytes/);
});

test('JWT refusals: alg none, algorithm confusion, expiry and not-before with 60 s leeway, issuer, audience, missing exp', async () => {
  const { svc } = await service();
  await jwtAuthorizer(svc, 'rs', 'key=idp&issuer=https%3A%2F%2Fidp&audience=iot,mobile', { idp: pem(jwtRsa.publicKey) });
  const connect = (token: string) => svc.authenticate(mqttConnect('rs', { token, tokenKey: 'jwt' }));
  const base = { iss: 'https://idp', aud: 'iot' };
  accepted(await connect(makeJwt('RS256', claims(base), jwtRsa.privateKey)));
  accepted(await connect(makeJwt('RS256', claims({ ...base, aud: 'mobile' }), jwtRsa.privateKey)));

  refused(await connect(makeJwt('none', claims(base), undefined)), /alg "none"\) are refused/);
  refused(await connect(makeJwt('NONE', claims(base), undefined)), /alg "none"\) are refused/);
  // The classic confusion: HS256 "signed" with the public key PEM as the HMAC secret.
  refused(
    await connect(makeJwt('HS256', claims(base), pem(jwtRsa.publicKey))),
    /algorithm mismatch: HS256 needs a shared secret, but the configured key is a rsa public key/,
  );
  refused(await connect(makeJwt('EdDSA', claims(base), jwtRsa.privateKey)), /algorithm "EdDSA" is not supported/);
  refused(await connect(makeJwt('RS256', claims(base), jwtRsa.privateKey, { crit: ['exp'] })), /critical header/);

  refused(await connect(makeJwt('RS256', claims({ ...base, exp: nowSec() - 120 }), jwtRsa.privateKey)), /the JWT expired at/);
  const withinLeeway = accepted(await connect(makeJwt('RS256', claims({ ...base, exp: nowSec() - 30 }), jwtRsa.privateKey)));
  assert.equal(withinLeeway.disconnectAfterSeconds, 1, 'an already expired (but tolerated) token gets the shortest lifetime');
  refused(await connect(makeJwt('RS256', claims({ ...base, nbf: nowSec() + 300 }), jwtRsa.privateKey)), /not valid before/);
  accepted(await connect(makeJwt('RS256', claims({ ...base, nbf: nowSec() + 30 }), jwtRsa.privateKey)));
  refused(await connect(makeJwt('RS256', { sub: 'x', ...base }, jwtRsa.privateKey)), /no "exp" claim/);
  refused(await connect(makeJwt('RS256', claims({ ...base, exp: 'tomorrow' }), jwtRsa.privateKey)), /"exp" claim must be a number/);
  refused(
    await connect(makeJwt('RS256', claims({ ...base, iss: 'https://evil' }), jwtRsa.privateKey)),
    /issuer "https:\/\/evil" is not the expected "https:\/\/idp"/,
  );
  refused(
    await connect(makeJwt('RS256', claims({ iss: 'https://idp' }), jwtRsa.privateKey)),
    /audience undefined does not include "iot" or "mobile"/,
  );
  refused(await connect(makeJwt('RS256', claims({ ...base, aud: ['web'] }), jwtRsa.privateKey)), /audience \["web"\]/);
  refused(await connect(makeJwt('RS256', claims({ ...base, sub: undefined }), jwtRsa.privateKey)), /no "sub" claim for the principal id/);
});

test('JWT from a JWKS over HTTP: cached, refetched for an unknown kid (rotation), keys matched by kid and type', async () => {
  const jwk = (k: KeyObject, kid: string, extra: Record<string, unknown> = {}) => ({
    ...(k.export({ format: 'jwk' }) as object),
    kid,
    use: 'sig',
    ...extra,
  });
  jwksServer.keys = [jwk(jwkRsa1.publicKey, 'k1', { alg: 'RS256' }), jwk(jwtEc256.publicKey, 'ec1')];
  jwksServer.fetches = 0;
  const { svc } = await service();
  await jwtAuthorizer(svc, 'jwks', `jwksUri=${encodeURIComponent(jwksServer.url)}&principalClaim=deviceId&disconnectAfterInSeconds=900`);
  const connect = (token: string) => svc.authenticate(mqttConnect('jwks', { token, tokenKey: 'jwt' }));
  const tok = (alg: string, key: KeyObject, kid: string | undefined, extra: Record<string, unknown> = {}) =>
    makeJwt(alg, claims({ deviceId: 'auth0|5f7c', ...extra }), key, kid === undefined ? {} : { kid });

  const o = accepted(await connect(tok('RS256', jwkRsa1.privateKey, 'k1')));
  assert.equal(o.principalId, createHash('sha256').update('auth0|5f7c').digest('hex'), 'a subject with "|" becomes its SHA-256');
  assert.equal(o.variables['thicket:Jwt.deviceId'], 'auth0|5f7c');
  assert.equal(o.disconnectAfterSeconds, 900);
  accepted(await connect(tok('ES256', jwtEc256.privateKey, 'ec1')));
  assert.equal(jwksServer.fetches, 1, 'the set is fetched once and cached');

  // The JWK says RS256 only; the EC key is not an RSA key whatever the token claims.
  refused(await connect(tok('PS256', jwkRsa1.privateKey, 'k1')), /no key "k1" for PS256/);
  refused(await connect(tok('RS256', jwkRsa1.privateKey, 'ec1')), /no key "ec1" for RS256/);

  // Rotation: the provider publishes k2 and drops k1.
  jwksServer.keys = [jwk(jwkRsa2.publicKey, 'k2')];
  const before = jwksServer.fetches;
  accepted(await connect(tok('RS256', jwkRsa2.privateKey, 'k2')));
  assert.equal(jwksServer.fetches, before + 1, 'an unknown kid refetches the set');
  refused(await connect(tok('RS256', jwkRsa1.privateKey, 'k1')), /no key "k1"/);
  refused(await connect(tok('RS256', jwkRsa1.privateKey, 'k2')), /signature does not verify/);
  // Without kid, a single suitable key is used.
  accepted(await connect(tok('RS256', jwkRsa2.privateKey, undefined)));
  // A symmetric key in a published set is never used.
  jwksServer.keys = [{ kty: 'oct', k: Buffer.from(HMAC_SECRET).toString('base64url'), kid: 'h1' }];
  refused(await connect(makeJwt('HS256', claims(), HMAC_SECRET, { kid: 'h1' })), /no key "h1" for HS256/);
});

test('JWKS refetches are rate limited and a failing provider keeps the keys already known', async () => {
  const jwk = (k: KeyObject, kid: string) => ({ ...(k.export({ format: 'jwk' }) as object), kid });
  jwksServer.keys = [jwk(jwkRsa1.publicKey, 'k1')];
  jwksServer.fetches = 0;
  let clock = 1_000_000;
  const { svc } = await service({ jwks: { minRefreshIntervalMs: 30_000, ttlMs: 600_000, now: () => clock } });
  await jwtAuthorizer(svc, 'jwks', `jwksUri=${encodeURIComponent(jwksServer.url)}`);
  const connect = (kid: string, key: KeyObject) =>
    svc.authenticate(mqttConnect('jwks', { token: makeJwt('RS256', claims(), key, { kid }), tokenKey: 'jwt' }));

  accepted(await connect('k1', jwkRsa1.privateKey));
  refused(await connect('zz', jwkRsa1.privateKey), /no key "zz"/);
  refused(await connect('zz', jwkRsa1.privateKey), /no key "zz"/);
  assert.equal(jwksServer.fetches, 1, 'unknown kids within the interval cause no refetch');
  clock += 30_000;
  jwksServer.keys = [jwk(jwkRsa1.publicKey, 'k1'), jwk(jwkRsa2.publicKey, 'zz')];
  accepted(await connect('zz', jwkRsa2.privateKey));
  assert.equal(jwksServer.fetches, 2);

  // The provider goes away after the TTL: known keys still work, and the failure is reported when no key fits.
  const { svc: broken } = await service({ jwks: { minRefreshIntervalMs: 0, ttlMs: 0 } });
  await jwtAuthorizer(broken, 'dead', 'jwksUri=http%3A%2F%2F127.0.0.1%3A1%2Fjwks');
  refused(
    await broken.authenticate(
      mqttConnect('dead', { token: makeJwt('RS256', claims(), jwkRsa1.privateKey, { kid: 'k1' }), tokenKey: 'jwt' }),
    ),
    /could not fetch the JWKS/,
  );
});

test('JWT as the MQTT password or an HTTP bearer token, and JWT with AWS token signing on top', async () => {
  const { svc } = await service();
  await svc.create(NS, 'pw', {
    authorizerFunctionArn: 'thicket:jwt?key=k',
    signingDisabled: true,
    tokenSigningPublicKeys: { k: pem(jwtRsa.publicKey) },
  });
  const token = makeJwt('RS256', claims(), jwtRsa.privateKey);
  accepted(await svc.authenticate(mqttConnect('pw', { password: token })));
  const bearer = customAuthRequestFromHttp(
    { url: '/topics/x', headers: { 'x-amz-customauthorizer-name': 'pw', authorization: `Bearer ${token}` } },
    'h1',
  );
  accepted(await svc.authenticate(bearer!));
  refused(await svc.authenticate(mqttConnect('pw', { password: 'wrong' })), /3 dot-separated parts/);

  // Signing enabled: the JWT must also carry an AWS token signature.
  await svc.create(NS, 'both', {
    authorizerFunctionArn: 'thicket:jwt?key=k',
    tokenKeyName: 'jwt',
    tokenSigningPublicKeys: { k: pem(jwtRsa.publicKey), signer: pem(signer.publicKey) },
  });
  refused(await svc.authenticate(mqttConnect('both', { token, tokenKey: 'jwt' })), /no token signature/);
  refused(
    await svc.authenticate(mqttConnect('both', { token, tokenKey: 'jwt', signature: awsSignature(token, otherSigner.privateKey) })),
    /does not verify/,
  );
  accepted(await svc.authenticate(mqttConnect('both', { token, tokenKey: 'jwt', signature: awsSignature(token) })));

  // TestInvokeAuthorizer runs the JWT function too and returns the documents as strings.
  await jwtAuthorizer(svc, 'named', 'key=k&policyNames=ReadPolicy', { k: pem(jwtRsa.publicKey) });
  const r = await svc.testInvoke(NS, 'named', { token });
  assert.equal(r.isAuthenticated, true);
  assert.equal(r.principalId, 'device42');
  assert.deepEqual(
    r.policyDocuments.map((d) => JSON.parse(d) as PolicyDocument),
    [parsePolicyDocument(POLICIES.ReadPolicy!)],
  );
  const bad = await svc.testInvoke(NS, 'named', { token: makeJwt('RS256', claims({ exp: 1 }), jwtRsa.privateKey) });
  assert.equal(bad.isAuthenticated, false);
});

// =====================================================================================================
// Finding the authorizer
// =====================================================================================================

test('authorizer selection: by name across namespaces (ambiguity refused), within a namespace, and the default authorizer', async () => {
  const { svc } = await service();
  resetHook();
  await svc.create(NS, 'shared', hookAuthorizer());
  await svc.create(NS_OTHER, 'shared', hookAuthorizer());
  await svc.create(NS_EU, 'only-eu', hookAuthorizer());

  const ambiguous = await svc.authenticate(mqttConnect('shared'));
  refused(ambiguous, /authorizer shared is ambiguous: it exists in 2 namespaces/);
  assert.doesNotMatch((ambiguous as { reason: string }).reason, /210987654321/, 'another account id is not told to the client');
  assert.deepEqual(accepted(await svc.authenticate(mqttConnect('shared', { ns: NS_OTHER }))).ns, NS_OTHER);
  assert.deepEqual(accepted(await svc.authenticate(mqttConnect('only-eu'))).ns, NS_EU);
  refused(await svc.authenticate(mqttConnect('only-eu', { ns: NS })), /does not exist in 123456789012\/us-east-1/);
  refused(await svc.authenticate(mqttConnect('ghost')), /authorizer ghost does not exist/);
  refused(await svc.authenticate(mqttConnect('bad name')), /not a valid authorizer name/);

  // An INACTIVE namesake does not make a name ambiguous.
  await svc.update(NS_OTHER, 'shared', { status: 'INACTIVE' });
  assert.deepEqual(accepted(await svc.authenticate(mqttConnect('shared'))).ns, NS);

  // Default authorizers.
  refused(await svc.authenticate(mqttConnect(undefined)), /no default authorizer is set/);
  await svc.setDefault(NS_EU, { authorizerName: 'only-eu' });
  const d = accepted(await svc.authenticate(mqttConnect(undefined)));
  assert.deepEqual([d.ns, d.authorizerName], [NS_EU, 'only-eu']);
  await svc.setDefault(NS, { authorizerName: 'shared' });
  refused(await svc.authenticate(mqttConnect(undefined)), /the default authorizer is ambiguous/);
  assert.equal(accepted(await svc.authenticate(mqttConnect(undefined, { ns: NS }))).authorizerName, 'shared');
  refused(await svc.authenticate(mqttConnect(undefined, { ns: NS_OTHER })), /210987654321\/us-east-1 has no default authorizer/);

  // A Lambda ARN is stored but cannot be called.
  await svc.create(NS, 'lambda', { authorizerFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:auth', signingDisabled: true });
  refused(
    await svc.authenticate(mqttConnect('lambda', { ns: NS })),
    /cannot invoke Lambda function arn:aws:lambda:us-east-1:123456789012:function:auth/,
  );
  await assert.rejects(svc.testInvoke(NS, 'lambda', {}), (e: AwsError) => e.code === 'InvalidResponseException');
});

test('decodeJwt refuses malformed tokens', () => {
  const valid = makeJwt('RS256', claims(), jwtRsa.privateKey);
  const [h, p, s] = valid.split('.') as [string, string, string];
  assert.equal(decodeJwt(valid).algorithm, 'RS256');
  const refusedWith = (token: string, why: RegExp) =>
    assert.throws(
      () => decodeJwt(token),
      (e: Error) => e instanceof JwtError && why.test(e.message),
    );
  refusedWith(`${h}.${p}`, /3 dot-separated parts, this token has 2/);
  refusedWith(`${h}.${p}.${s}.x`, /this token has 4/);
  refusedWith(`${h}.${p}!.${s}`, /payload is not base64url/);
  refusedWith(`${Buffer.from('not json').toString('base64url')}.${p}.${s}`, /header is not JSON/);
  refusedWith(`${b64url([1])}.${p}.${s}`, /header is not a JSON object/);
  refusedWith(`${h}.${p}.`, /empty signature/);
  refusedWith(`${b64url({ typ: 'JWT' })}.${p}.${s}`, /algorithm undefined is not supported/);
});
