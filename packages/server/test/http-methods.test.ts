/**
 * A wrong method on a path some operation has gets 405 in the AWS shape with an Allow header and
 * the allowed methods in the message (iot-data: MethodNotAllowedException, as its model lists; the
 * control plane keeps AWS's UnknownOperationException code); a path no operation has stays 404.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { signedFetch } from '@thicket/server';
import { startTestServer, type TestServer } from './helpers.js';

let server: TestServer;

before(async () => {
  server = await startTestServer();
});
after(async () => {
  await server.close();
});

interface Answer {
  status: number;
  errorType: string | undefined;
  allow: string | undefined;
  body: { __type?: string; message?: string };
}

/** An unsigned request, path sent as given. */
function raw(method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.ports.http, method, path }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () =>
        resolve({
          status: res.statusCode!,
          errorType: res.headers['x-amzn-errortype'] as string | undefined,
          allow: res.headers.allow,
          body: text ? (JSON.parse(text) as Answer['body']) : {},
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** A request signed for the control plane (`iot`) with the admin key. */
async function signedAsIot(method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string): Promise<Answer> {
  const res = await signedFetch({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: server.adminKey,
    method,
    path,
    body: method === 'GET' || method === 'DELETE' ? undefined : {},
  });
  return {
    status: res.status,
    errorType: res.headers.get('x-amzn-errortype') ?? undefined,
    allow: res.headers.get('allow') ?? undefined,
    body: (await res.json()) as Answer['body'],
  };
}

function assertNotAllowed(a: Answer, code: string, method: string, path: string, allow: string): void {
  assert.equal(a.status, 405, `${method} ${path}: ${JSON.stringify(a.body)}`);
  assert.equal(a.errorType, code);
  assert.equal(a.body.__type, code);
  assert.equal(a.allow, allow);
  assert.equal(a.body.message, `The specified combination of HTTP verb and URI is not supported: ${method} ${path} (Allow: ${allow})`);
}

test('iot-data: a wrong method on /topics, /retainedMessage or a shadow is 405 MethodNotAllowedException naming the allowed methods', async () => {
  for (const method of ['PUT', 'GET', 'DELETE', 'PATCH', 'OPTIONS']) {
    assertNotAllowed(await raw(method, '/topics/a'), 'MethodNotAllowedException', method, '/topics/a', 'POST');
  }
  assertNotAllowed(await raw('GET', '/topics/a/b/c?qos=1'), 'MethodNotAllowedException', 'GET', '/topics/a/b/c', 'POST');
  assertNotAllowed(await raw('POST', '/retainedMessage'), 'MethodNotAllowedException', 'POST', '/retainedMessage', 'GET');
  assertNotAllowed(await raw('DELETE', '/retainedMessage/a/b'), 'MethodNotAllowedException', 'DELETE', '/retainedMessage/a/b', 'GET');
  assertNotAllowed(await raw('PUT', '/things/t/shadow'), 'MethodNotAllowedException', 'PUT', '/things/t/shadow', 'GET, POST, DELETE');
});

test('control plane: a wrong method on /things or /rules is 405 with the allowed methods, under AWS code UnknownOperationException', async () => {
  assertNotAllowed(await raw('DELETE', '/things'), 'UnknownOperationException', 'DELETE', '/things', 'GET, POST');
  assertNotAllowed(await raw('PUT', '/things/lamp'), 'UnknownOperationException', 'PUT', '/things/lamp', 'GET, POST, PATCH, DELETE');
  assertNotAllowed(await raw('POST', '/rules'), 'UnknownOperationException', 'POST', '/rules', 'GET');
  assertNotAllowed(await raw('PUT', '/rules/r1'), 'UnknownOperationException', 'PUT', '/rules/r1', 'GET, POST, PATCH, DELETE');
  assertNotAllowed(await raw('GET', '/rules/r1/enable'), 'UnknownOperationException', 'GET', '/rules/r1/enable', 'POST');
});

test('a path no operation has is still 404 UnknownOperationException, without an Allow header', async () => {
  for (const [method, path] of [
    ['GET', '/no/such/operation'],
    ['PUT', '/topic/a'],
    ['DELETE', '/things/a/b/c/d'],
    ['GET', '/rules/r1/enable/now'],
  ] as const) {
    const a = await raw(method, path);
    assert.equal(a.status, 404, `${method} ${path}`);
    assert.equal(a.errorType, 'UnknownOperationException');
    assert.equal(a.allow, undefined);
    assert.equal(a.body.message, `No operation at ${method} ${path}`);
  }
});

test("a route of another API on the path: 405 with the caller's own methods there, 404 when its API has none", async () => {
  // PUT and POST on /things/<thing>/jobs/<job> are the jobs data plane's; the control plane has only GET there.
  for (const method of ['PUT', 'POST'] as const) {
    const a = await signedAsIot(method, '/things/t/jobs/j1');
    assertNotAllowed(a, 'UnknownOperationException', method, '/things/t/jobs/j1', 'GET');
  }
  // POST /topics/<topic> is iot-data's Publish; the control plane has nothing under /topics.
  const publish = await signedAsIot('POST', '/topics/a');
  assert.equal(publish.status, 404);
  assert.equal(publish.allow, undefined);
  assert.equal(publish.body.message, 'No iot operation at POST /topics/a');
  // The right method still reaches the operation.
  assert.equal((await signedAsIot('GET', '/things')).status, 200);
});
