/** `thicket functions ...` against a running server: register (URL and module), list, describe, invoke, delete. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliWithHttpServer } from './helpers.js';
import { httpFunction } from '../../server/test/functions-helpers.js';

// A URL function must be under a trusted prefix: the endpoint starts first, and the server trusts its URL.
const endpoint = await httpFunction((event) => ({ body: JSON.stringify({ got: event }) }));
const { thicket, fails, dataDir } = cliWithHttpServer({ serveArgs: ['--rules-trusted-url-prefix', endpoint.url] });
after(() => endpoint.close());

test('functions: register a URL function, list, describe, invoke with a payload, delete', async () => {
  assert.match(
    await fails('functions', 'register', 'stray', '--url', 'http://127.0.0.1:9/'),
    /InvalidRequestException: url 'http:\/\/127\.0\.0\.1:9\/' is not one this server may call .*rules\.trustedUrlPrefixes/,
  );
  assert.equal(
    await thicket('functions', 'register', 'hook', '--url', endpoint.url, '--timeout', '5', '--description', 'a web hook'),
    'registered function arn:aws:lambda:us-east-1:123456789012:function:hook\n',
  );
  const list = await thicket('functions', 'list');
  assert.match(list, /^FUNCTIONNAME\s+KIND\s+TARGET\s+TIMEOUT\n/);
  assert.match(list, /\nhook\s+url\s+http:\/\/127\.0\.0\.1:\d+\/fn\s+5\n/);
  const described = await thicket('functions', 'describe', 'hook');
  assert.match(described, /functionArn\s+arn:aws:lambda:us-east-1:123456789012:function:hook\n/);
  assert.match(described, /description\s+a web hook\n/);
  assert.equal(await thicket('functions', 'invoke', 'hook', '--payload', '{"n":2}'), '{"got":{"n":2}}\n');
  assert.deepEqual((await endpoint.next()).event, { n: 2 });
  assert.equal(await thicket('functions', 'delete', 'hook'), 'deleted function hook\n');
  assert.match(
    await fails('functions', 'describe', 'hook'),
    /ResourceNotFoundException: Function not found: arn:aws:lambda:us-east-1:123456789012:function:hook/,
  );
});

test('functions: a module function (root key), a failing invocation exits 1 with the error, bad arguments refused', async () => {
  const file = join(dataDir(), 'handler.mjs');
  writeFileSync(file, "export const handler = async (e) => { if (e.fail) throw new Error('told to fail'); return { sum: e.a + e.b }; };");
  assert.match(
    await thicket('functions', 'register', 'adder', '--module', file, '--memory', '256'),
    /registered function .*:function:adder\n/,
  );
  assert.match(await thicket('functions', 'describe', 'adder'), /memorySize\s+256\n/);
  const payload = join(dataDir(), 'event.json');
  writeFileSync(payload, '{"a":2,"b":3}');
  assert.equal(await thicket('functions', 'invoke', 'adder', '--payload', `@${payload}`), '{"sum":5}\n');
  assert.equal(await fails('functions', 'invoke', 'adder', '--payload', '{"fail":true}'), 'Error: told to fail\n');
  assert.match(
    await fails('functions', 'register', 'both', '--url', 'http://127.0.0.1:9/', '--module', file),
    /give exactly one of --url and --module/,
  );
  assert.match(
    await fails('functions', 'register', 'bad', '--module', '/etc/passwd'),
    /InvalidRequestException: module must be a JavaScript file/,
  );
  assert.match(await fails('functions', 'invoke', 'adder', '--payload', '{'), /--payload is not valid JSON/);
});
