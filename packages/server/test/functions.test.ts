/**
 * The function registry end to end: the /_thicket/functions API (register, get, list, delete,
 * invoke) with HTTP and module functions, who may register what, hostile names and paths, and
 * modules that throw, hang, exit or allocate without end while the server keeps serving.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { adminRequest, type AccessKey } from '@thicket/server';
import { createAccount, sleep, startTestServer, type TestServer } from './helpers.js';
import { failure, FunctionHost, functionsApi, moduleFile, type FunctionsApi } from './functions-helpers.js';

const NS = { accountId: '123456789012', region: 'us-east-1' };

let server: TestServer;
let host: FunctionHost;
let api: FunctionsApi;
let endpoint: string;
let accountKey: AccessKey;
let readOnlyKey: AccessKey;
let otherAccount: { accountId: string; key: AccessKey };

const ECHO = `
let calls = 0;
export async function handler(event, context) {
  calls++;
  return { event, calls, name: context.functionName, arn: context.invokedFunctionArn, left: context.getRemainingTimeInMillis(),
    memory: context.memoryLimitInMB, env: Object.keys(process.env).sort(), region: process.env.AWS_REGION };
}`;

before(async () => {
  process.env.THICKET_FUNCTIONS_TEST_SECRET = 'not for functions';
  host = await FunctionHost.start();
  // URL functions need a trusted prefix (functions-url-trust.test.ts tests that); port 9 stands for a dead endpoint.
  server = await startTestServer({ dev: true, rules: { trustedUrlPrefixes: [host.prefix, 'http://127.0.0.1:9/'] } });
  endpoint = `http://127.0.0.1:${server.ports.http}`;
  api = functionsApi(endpoint, server.adminKey);
  const key = (body: object) =>
    adminRequest<{ accessKey: AccessKey }>({
      endpoint,
      region: 'us-east-1',
      credentials: server.adminKey,
      method: 'POST',
      path: '/_thicket/access-keys',
      body,
    });
  accountKey = (await key({ description: 'not root' })).accessKey;
  readOnlyKey = (await key({ readOnly: true })).accessKey;
  otherAccount = { accountId: '210987654321', key: await createAccount(server, '210987654321') };
});
after(async () => {
  delete process.env.THICKET_FUNCTIONS_TEST_SECRET;
  await server.close();
  await host.close();
});

test('an HTTP function: register with a non-root key, get, list, invoke (the endpoint gets the event), delete', async () => {
  const fn = host.add((event) => ({ body: JSON.stringify({ doubled: (event as { n: number }).n * 2 }) }));
  try {
    const r = await api.register('doubler', { url: fn.url, timeout: 5, description: 'doubles n' }, accountKey);
    assert.deepEqual(
      { ...r.function, createdAt: 0, lastModified: 0 },
      {
        functionName: 'doubler',
        functionArn: 'arn:aws:lambda:us-east-1:123456789012:function:doubler',
        kind: 'url',
        url: fn.url,
        description: 'doubles n',
        timeout: 5,
        createdAt: 0,
        lastModified: 0,
      },
    );
    assert.equal((await api.get('doubler', readOnlyKey)).function.url, fn.url, 'a read-only key reads');
    assert.deepEqual(
      (await api.list()).functions.map((f) => f.functionName),
      ['doubler'],
    );
    const answer = await api.invoke('doubler', { n: 21 });
    assert.deepEqual(answer.result, { doubled: 42 });
    const got = await fn.next();
    assert.deepEqual(got.event, { n: 21 });
    assert.equal(got.headers['x-thicket-function-arn'], 'arn:aws:lambda:us-east-1:123456789012:function:doubler');
    assert.equal(got.headers['content-type'], 'application/json');
    await api.remove('doubler', accountKey);
    assert.match(
      await failure(api.get('doubler')),
      /ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:123456789012:function:doubler/,
    );
    assert.match(await failure(api.invoke('doubler', {})), /ResourceNotFoundException/);
  } finally {
    await fn.close();
  }
});

test('an HTTP function that fails, answers slowly or redirects is a function error, not an API error', async () => {
  const fn = host.add((event) => {
    const e = event as { mode: string };
    if (e.mode === 'fail') return { status: 500, body: 'database down' };
    if (e.mode === 'slow') return { delayMs: 2500, body: '{}' };
    return { body: '{}' };
  });
  try {
    await api.register('flaky', { url: fn.url, timeout: 1 });
    const failed = await api.invoke('flaky', { mode: 'fail' });
    assert.equal(failed.functionError, 'Unhandled');
    assert.equal(failed.error?.errorType, 'Function.HttpError');
    assert.match(failed.error!.errorMessage, /answered HTTP 500 after \d+ ms: database down/);
    const slow = await api.invoke('flaky', { mode: 'slow' });
    assert.deepEqual(slow.error, { errorType: 'Sandbox.Timedout', errorMessage: 'Task timed out after 1.00 seconds' });
    await api.register('nowhere', { url: 'http://127.0.0.1:9/fn' });
    assert.equal((await api.invoke('nowhere', {})).error?.errorType, 'Function.Unreachable');
  } finally {
    await fn.close();
  }
});

test('a module function runs in its own process with Lambda’s context, keeps warm state and gets none of the server’s environment', async () => {
  const path = moduleFile(ECHO);
  const r = await api.register('echo', { module: path, timeout: 10, memorySize: 256 });
  assert.equal(r.function.module, path);
  assert.equal(r.function.memorySize, 256);
  const first = (await api.invoke('echo', { hello: 'world' })).result as Record<string, unknown>;
  assert.deepEqual(first.event, { hello: 'world' });
  assert.equal(first.calls, 1);
  assert.equal(first.name, 'echo');
  assert.equal(first.arn, 'arn:aws:lambda:us-east-1:123456789012:function:echo');
  assert.equal(first.memory, '256');
  assert.equal(first.region, 'us-east-1');
  assert.ok((first.left as number) > 8000 && (first.left as number) <= 10000);
  assert.ok(!(first.env as string[]).some((k) => k.startsWith('THICKET')), 'the server’s environment stays with the server');
  const second = (await api.invoke('echo', 'plain string event')).result as Record<string, unknown>;
  assert.equal(second.calls, 2, 'the warm instance kept its module state');
  assert.equal(second.event, 'plain string event');
  assert.equal(server.platform.use('functions').functions.instances(NS, 'echo'), 1);

  // Registering again (new code) retires the warm instance: the next event sees the new module.
  writeFileSync(path, 'export const handler = async () => "v2";');
  await api.register('echo', { module: path });
  assert.equal((await api.invoke('echo', {})).result, 'v2');
  await api.remove('echo');
});

test('only a root key registers a module; a read-only key registers nothing', async () => {
  const path = moduleFile('export const handler = async () => 1;');
  assert.match(
    await failure(api.register('mine', { module: path }, accountKey)),
    /AccessDeniedException: access key \w+ is not a root key; a module function runs code on the server, so only a root key may register one/,
  );
  assert.match(await failure(api.register('mine', { module: path }, readOnlyKey)), /AccessDeniedException: access key \w+ is read-only/);
  assert.match(
    await failure(api.register('mine', { url: 'http://127.0.0.1:9/' }, readOnlyKey)),
    /AccessDeniedException: access key \w+ is read-only/,
  );
  assert.match(await failure(api.invoke('mine', {}, readOnlyKey)), /read-only/);
  // The other account's own admin key is no root key either.
  assert.match(
    await failure(api.register('mine', { module: path }, otherAccount.key)),
    /AccessDeniedException: access key \w+ is not a root key/,
  );
  assert.match(await failure(api.get('mine')), /ResourceNotFoundException/, 'nothing was registered');
});

test('hostile names, URLs and module paths are refused', async () => {
  const good = moduleFile('export const handler = async () => 1;');
  const dir = dirname(good);
  const bad = async (name: string, body: Record<string, unknown>): Promise<string> => failure(api.register(name, body));
  assert.match(
    await bad('a'.repeat(65), { url: 'http://127.0.0.1:9/' }),
    /InvalidRequestException: 1 validation error detected: Value 'a{65}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64/,
  );
  assert.match(
    await bad('semi;colon', { url: 'http://127.0.0.1:9/' }),
    /Member must satisfy regular expression pattern: \[a-zA-Z0-9-_\]\+/,
  );
  assert.match(await bad('a.b', { url: 'http://127.0.0.1:9/' }), /Member must satisfy regular expression pattern/);
  assert.match(await bad('..', { url: 'http://127.0.0.1:9/' }), /UnknownOperationException: No operation at PUT \/_thicket\//);
  assert.match(await bad('%2e%2e', { url: 'http://127.0.0.1:9/' }), /Member must satisfy regular expression pattern/);
  assert.match(await bad('x', { url: 'file:///etc/passwd' }), /url must be an http:\/\/ or https:\/\/ URL, not file:/);
  assert.match(await bad('x', { url: 'http://user:pw@127.0.0.1/' }), /must not carry credentials/);
  assert.match(await bad('x', { url: 'http://127.0.0.1/', module: good }), /Give exactly one of url .* and module/);
  assert.match(await bad('x', {}), /Give exactly one of url/);
  assert.match(
    await bad('x', { module: 'relative/index.mjs' }),
    /module must be an absolute path on the server, not 'relative\/index.mjs'/,
  );
  assert.match(await bad('x', { module: `${dir}/../${dir.split('/').pop()}/index.mjs` }), /module must be a normalized path/);
  assert.match(await bad('x', { module: `${dir}//index.mjs` }), /module must be a normalized path/);
  assert.match(await bad('x', { module: `${dir}/index.mjs\u0000.txt` }), /control characters/);
  assert.match(await bad('x', { module: '/etc/passwd' }), /module must be a JavaScript file/);
  assert.match(await bad('x', { module: '/dev/zero' }), /module must be a JavaScript file/);
  assert.match(await bad('x', { module: join(dir, 'missing.mjs') }), /does not exist on the server/);
  mkdirSync(join(dir, 'folder.mjs'));
  assert.match(await bad('x', { module: join(dir, 'folder.mjs') }), /is not a regular file/);
  symlinkSync('/etc/passwd', join(dir, 'sneaky.mjs'));
  assert.match(await bad('x', { module: join(dir, 'sneaky.mjs') }), /leads to \/etc\/passwd, which is not a JavaScript file/);
  assert.match(
    await bad('x', { url: 'http://127.0.0.1:9/', timeout: 0 }),
    /Value '0' at 'timeout' failed to satisfy constraint: Member must have value greater than or equal to 1/,
  );
  assert.match(await bad('x', { url: 'http://127.0.0.1:9/', timeout: 901 }), /less than or equal to 900/);
  assert.match(
    await bad('x', { module: good, memorySize: 64 }),
    /at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128/,
  );
  assert.match(await bad('x', { url: 'http://127.0.0.1:9/', description: 'd'.repeat(257) }), /at 'description'/);
  const names = (await api.list()).functions.map((f) => f.functionName);
  assert.ok(!names.includes('x') && !names.includes('a.b'), 'nothing was registered');
});

test('a module that throws, hangs, exits, allocates without end or does not load fails cleanly; the server keeps serving', async () => {
  const source = `
export async function handler(event) {
  switch (event.mode) {
    case 'throw': { const e = new TypeError('bad input ' + event.n); throw e; }
    case 'hang': for (;;) {}
    case 'exit': process.exit(3);
    case 'heap': { const keep = []; for (;;) keep.push(new Array(1e6).fill(Math.random())); }
    case 'buffers': { const keep = []; for (;;) { keep.push(Buffer.alloc(16 * 1024 * 1024, 1)); await new Promise((r) => setTimeout(r, 5)); } }
    case 'circular': { const o = {}; o.o = o; return o; }
    case 'reject': return Promise.reject('plain reason');
    default: return 'ok';
  }
}`;
  await api.register('wild', { module: moduleFile(source), timeout: 20, memorySize: 128 });
  await api.register('hangs', { module: moduleFile('export const handler = () => { for (;;) {} };'), timeout: 3 });
  await api.register('fine', { module: moduleFile('export const handler = async (e) => ({ fine: e });') });
  const healthy = async () => assert.deepEqual((await api.invoke('fine', 1)).result, { fine: 1 });

  assert.deepEqual((await api.invoke('wild', { mode: 'throw', n: 7 })).error, { errorType: 'TypeError', errorMessage: 'bad input 7' });
  assert.deepEqual((await api.invoke('wild', { mode: 'reject' })).error, { errorType: 'Error', errorMessage: 'plain reason' });
  assert.equal((await api.invoke('wild', { mode: 'circular' })).error?.errorType, 'Runtime.MarshalError');
  assert.equal((await api.invoke('wild', { mode: 'ok' })).result, 'ok', 'an error in the handler does not end the instance');

  await healthy();
  const started = Date.now();
  let hangDone = false;
  const hanging = api.invoke('hangs', {}).finally(() => (hangDone = true));
  await sleep(300);
  await healthy();
  assert.equal(hangDone, false, 'other functions and the API answer while a module spins');
  assert.deepEqual((await hanging).error, {
    errorType: 'Sandbox.Timedout',
    errorMessage: 'Task timed out after 3.00 seconds',
  });
  assert.ok(Date.now() - started < 8000);
  assert.equal(server.platform.use('functions').functions.instances(NS, 'hangs'), 0, 'the spinning process was killed');
  assert.deepEqual((await api.invoke('wild', { mode: 'exit' })).error, {
    errorType: 'Runtime.ExitError',
    errorMessage: 'Runtime exited with error: exit status 3',
  });
  const heap = await api.invoke('wild', { mode: 'heap' });
  assert.equal(heap.error?.errorType, 'Runtime.OutOfMemory', JSON.stringify(heap));
  assert.match(heap.error!.errorMessage, /ran out of memory \(memory size 128 MB\)/);
  await healthy();
  const buffers = await api.invoke('wild', { mode: 'buffers' });
  assert.equal(buffers.error?.errorType, 'Runtime.OutOfMemory', 'memory outside the heap counts too');
  assert.equal((await api.invoke('wild', { mode: 'ok' })).result, 'ok', 'a fresh instance serves the next event');
  await healthy();

  await api.register('broken', { module: moduleFile('export const handler = async () => { ;') });
  const broken = await api.invoke('broken', {});
  assert.equal(broken.error?.errorType, 'Runtime.ImportModuleError');
  assert.match(broken.error!.errorMessage, /SyntaxError/);
  await api.register('nohandler', { module: moduleFile('export const other = 1;') });
  assert.equal((await api.invoke('nohandler', {})).error?.errorType, 'Runtime.HandlerNotFound');
  await healthy();
});

test('functions belong to an account and region: another account sees none of them and cannot reach them by ARN', async () => {
  await api.register('private', { url: 'http://127.0.0.1:9/' });
  const other = functionsApi(endpoint, otherAccount.key);
  assert.match(
    await failure(other.get('private')),
    /ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:210987654321:function:private/,
  );
  assert.equal((await other.list()).functions.length, 0);
  const elsewhere = functionsApi(endpoint, server.adminKey, 'eu-west-1');
  assert.equal((await elsewhere.list()).functions.length, 0, 'another region has its own functions');
  const ns = { accountId: otherAccount.accountId, region: 'us-east-1' };
  await assert.rejects(
    server.platform.use('functions').functions.invoke(ns, 'arn:aws:lambda:us-east-1:123456789012:function:private', {}),
    (err: Error & { errorType?: string }) =>
      err.errorType === 'AccessDeniedException' &&
      /belongs to account 123456789012 in us-east-1; only functions of account 210987654321/.test(err.message),
  );
  await api.remove('private');
});
