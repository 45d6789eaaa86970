/**
 * Files for OTA jobs over real HTTP: streamed signed uploads checked against their digest, the file
 * API (list, describe, delete, presigned URL), presigned downloads over HTTP and HTTPS with Range,
 * and the refusals (expired, altered, unsigned, unknown file, read-only key, other namespace).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { adminRequest, type AccessKey, type FileInfo } from '@thicket/server';
import { signedHeaders } from '../src/accounts/admin-client.js';
import { startTestServer, type TestServer } from './helpers.js';
import { filesApi, get, presignedUrl, refusal, sha256, upload, uploaded } from './files-helpers.js';

let server: TestServer;
let readOnly: AccessKey;
const ns = { accountId: '123456789012', region: 'us-east-1' };
const firmware = randomBytes(6 * 1024 * 1024 + 123);

before(async () => {
  server = await startTestServer();
  readOnly = (
    await adminRequest<{ accessKey: AccessKey }>({
      endpoint: `http://127.0.0.1:${server.ports.http}`,
      region: 'us-east-1',
      credentials: server.adminKey,
      method: 'POST',
      path: '/_thicket/access-keys',
      body: { readOnly: true },
    })
  ).accessKey;
  await uploaded(server, 'fw-1.2.0.bin', firmware);
});
after(() => server.close());

const apiError = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'no error',
    (e: Error) => e.message,
  );
const contentFiles = (): string[] => readdirSync(join(server.dataDir, 'files'));

test('a multi-megabyte upload streams to disk and its SHA-256, size and content type are what the server reports', async () => {
  const body = randomBytes(3 * 1024 * 1024 + 5);
  const before = contentFiles().length;
  const f = await uploaded(server, 'app.tar.gz', body, { contentType: 'application/gzip' });
  assert.equal(f.fileName, 'app.tar.gz');
  assert.equal(f.size, body.length);
  assert.equal(f.sha256, sha256(body));
  assert.equal(f.contentType, 'application/gzip');
  assert.ok(Math.abs(f.createdAt - Date.now() / 1000) < 60, `createdAt ${f.createdAt} is in epoch seconds`);
  assert.equal(contentFiles().length, before + 1);

  // UNSIGNED-PAYLOAD: nothing to check against, the server still computes the digest.
  const unsigned = await uploaded(server, 'unsigned.bin', body, { sha256: 'UNSIGNED-PAYLOAD' });
  assert.equal(unsigned.sha256, sha256(body));
  assert.deepEqual(await filesApi<FileInfo>(server, 'GET', '/unsigned.bin'), unsigned);
  await filesApi(server, 'DELETE', '/unsigned.bin');
  await filesApi(server, 'DELETE', '/app.tar.gz');
  assert.equal(contentFiles().length, before);
});

test('an upload whose content does not match its declared SHA-256 is refused and leaves nothing behind', async () => {
  const before = contentFiles();
  const body = randomBytes(2 * 1024 * 1024);
  const res = await upload(server, 'corrupt.bin', body, { sha256: sha256(Buffer.from('something else')) });
  assert.equal(res.status, 400);
  assert.equal(res.headers.get('x-amzn-errortype'), 'XAmzContentSHA256Mismatch');
  const err = (await res.json()) as { message: string };
  assert.match(
    err.message,
    new RegExp(`does not match the SHA-256 of the ${body.length} bytes received \\(${sha256(body)}\\); the file was not stored`),
  );
  assert.match(await apiError(filesApi(server, 'GET', '/corrupt.bin')), /ResourceNotFoundException: file 'corrupt.bin' does not exist/);
  assert.deepEqual(contentFiles(), before);
});

test('uploads are refused for a taken name, a bad name, a bad digest header, a read-only key; a file too large before a byte is read', async () => {
  const taken = await upload(server, 'fw-1.2.0.bin', Buffer.from('x'));
  assert.equal(taken.status, 409);
  assert.equal(((await taken.json()) as { __type: string }).__type, 'ResourceAlreadyExistsException');

  const badName = await upload(server, 'bad%20name', Buffer.from('x'));
  assert.equal(badName.status, 400);
  assert.match(((await badName.json()) as { message: string }).message, /fileName must be 1 to 128 characters/);

  const chunked = await upload(server, 'chunked.bin', Buffer.from('x'), { sha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' });
  assert.equal(chunked.status, 400);
  assert.match(((await chunked.json()) as { message: string }).message, /UNSIGNED-PAYLOAD or the hex SHA-256 of the body/);

  const ro = await upload(server, 'ro.bin', Buffer.from('x'), { credentials: readOnly });
  assert.equal(ro.status, 403);
  assert.match(((await ro.json()) as { message: string }).message, /is read-only; UploadFile changes state/);

  const unsigned = await fetch(`http://127.0.0.1:${server.ports.http}/_thicket/files/anon.bin`, { method: 'PUT', body: 'x' });
  assert.equal(unsigned.status, 403);
  assert.equal(unsigned.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');

  // Checked on the declared length, before the body is read.
  const huge = server.platform.use('files').files.upload(ns, 'huge.bin', Readable.from([]), { length: 1024 ** 3 + 1 });
  await assert.rejects(huge, { name: 'RequestEntityTooLargeException', message: 'A file may hold at most 1073741824 bytes' });
});

test('list pages with maxResults and nextToken; describe and delete; each namespace has its own files', async () => {
  for (const n of ['b.bin', 'a.bin', 'c.bin']) await uploaded(server, n, Buffer.from(n));
  const names: string[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const page = await filesApi<{ files: FileInfo[]; nextToken?: string }>(server, 'GET', '', {
      maxResults: '2',
      ...(nextToken ? { nextToken } : {}),
    });
    names.push(...page.files.map((f) => f.fileName));
    nextToken = page.nextToken;
    pages++;
  } while (nextToken);
  assert.deepEqual(names, ['a.bin', 'b.bin', 'c.bin', 'fw-1.2.0.bin']);
  assert.equal(pages, 2);

  const a = await filesApi<FileInfo>(server, 'GET', '/a.bin', undefined, { credentials: readOnly });
  assert.deepEqual([a.size, a.sha256, a.contentType], [5, sha256(Buffer.from('a.bin')), 'application/octet-stream']);
  assert.match(await apiError(filesApi(server, 'DELETE', '/a.bin', undefined, { credentials: readOnly })), /AccessDeniedException/);
  for (const n of ['a.bin', 'b.bin', 'c.bin']) await filesApi(server, 'DELETE', `/${n}`);
  assert.match(await apiError(filesApi(server, 'DELETE', '/a.bin')), /ResourceNotFoundException: file 'a.bin' does not exist/);
  assert.match(await apiError(filesApi(server, 'GET', '', { maxResults: '0' })), /maxResults must be a whole number from 1 to 250/);

  // Same name in another region: another file.
  const eu = Buffer.from('eu firmware');
  await uploaded(server, 'fw-1.2.0.bin', eu, { region: 'eu-west-1' });
  assert.equal((await filesApi<FileInfo>(server, 'GET', '/fw-1.2.0.bin', undefined, { region: 'eu-west-1' })).size, eu.length);
  assert.equal((await filesApi<FileInfo>(server, 'GET', '/fw-1.2.0.bin')).size, firmware.length);
  const euDownload = await get(await presignedUrl(server, 'fw-1.2.0.bin', 600, 'eu-west-1'), server.pki.caCertPem);
  assert.deepEqual(euDownload.body, eu);
  assert.match(await apiError(filesApi(server, 'GET', '/us-only.bin', undefined, { region: 'eu-west-1' })), /ResourceNotFoundException/);
});

test('a presigned URL downloads over HTTPS (preferred) and HTTP with length, type, digest headers', async () => {
  const url = await presignedUrl(server, 'fw-1.2.0.bin', 300);
  assert.ok(url.startsWith(`https://127.0.0.1:${server.ports.https}/_thicket/files/fw-1.2.0.bin/content?`), url);
  const q = new URL(url).searchParams;
  assert.deepEqual([q.get('account'), q.get('region')], ['123456789012', 'us-east-1']);
  assert.ok(Math.abs(Number(q.get('expires')) - (Date.now() / 1000 + 300)) < 5, 'expires is 300 s from now');

  for (const u of [url, url.replace(`https://127.0.0.1:${server.ports.https}`, `http://127.0.0.1:${server.ports.http}`)]) {
    const got = await get(u, server.pki.caCertPem);
    assert.equal(got.status, 200, u);
    assert.ok(got.body.equals(firmware), 'the content is what was uploaded');
    assert.equal(got.headers['content-length'], String(firmware.length));
    assert.equal(got.headers['content-type'], 'application/octet-stream');
    assert.equal(got.headers.etag, `"${sha256(firmware)}"`);
    assert.equal(got.headers['x-amz-checksum-sha256'], Buffer.from(sha256(firmware), 'hex').toString('base64'));
    assert.equal(got.headers['accept-ranges'], 'bytes');
  }

  const head = await get(url, server.pki.caCertPem, { method: 'HEAD' });
  assert.deepEqual([head.status, head.headers['content-length'], head.body.length], [200, String(firmware.length), 0]);

  const empty = await uploaded(server, 'empty.json', Buffer.alloc(0), { contentType: 'application/json' });
  assert.equal(empty.sha256, sha256(Buffer.alloc(0)));
  const got = await get(await presignedUrl(server, 'empty.json'), server.pki.caCertPem);
  assert.deepEqual(
    [got.status, got.headers['content-length'], got.headers['content-type'], got.body.length],
    [200, '0', 'application/json', 0],
  );
  await filesApi(server, 'DELETE', '/empty.json');
});

test('Range requests resume a download (206), past the end is 416, and a changed If-Range gets the whole file', async () => {
  const url = await presignedUrl(server, 'fw-1.2.0.bin');
  const size = firmware.length;
  const ranged = async (range: string, extra: Record<string, string> = {}) =>
    get(url, server.pki.caCertPem, { headers: { range, ...extra } });

  const middle = await ranged('bytes=1000-1999');
  assert.equal(middle.status, 206);
  assert.equal(middle.headers['content-range'], `bytes 1000-1999/${size}`);
  assert.equal(middle.headers['content-length'], '1000');
  assert.ok(middle.body.equals(firmware.subarray(1000, 2000)));
  assert.equal(middle.headers['x-amz-checksum-sha256'], undefined, 'no whole-file checksum on a part');

  // Resuming: first part, then the rest from where it stopped.
  const first = await ranged(`bytes=0-${Math.floor(size / 2) - 1}`);
  assert.equal(first.status, 206);
  const rest = await ranged(`bytes=${first.body.length}-`);
  assert.equal(rest.headers['content-range'], `bytes ${first.body.length}-${size - 1}/${size}`);
  assert.ok(Buffer.concat([first.body, rest.body]).equals(firmware));

  const tail = await ranged('bytes=-16');
  assert.deepEqual([tail.status, tail.headers['content-range']], [206, `bytes ${size - 16}-${size - 1}/${size}`]);
  assert.ok(tail.body.equals(firmware.subarray(size - 16)));

  const beyond = await ranged(`bytes=${size}-`);
  assert.deepEqual([beyond.status, beyond.headers['content-range']], [416, `bytes */${size}`]);
  assert.equal(refusal(beyond).type, 'InvalidRange');

  const stale = await ranged('bytes=0-9', { 'if-range': '"an-older-version"' });
  assert.deepEqual([stale.status, stale.body.length], [200, size]);
  const current = await ranged('bytes=0-9', { 'if-range': `"${sha256(firmware)}"` });
  assert.deepEqual([current.status, current.body.length], [206, 10]);
});

test('an expired URL, an altered URL and an unsigned one get 403 saying which; a deleted or replaced file 404', async () => {
  const expired = await server.platform
    .use('files')
    .files.presignedUrl(ns, 'fw-1.2.0.bin', { expiresInSec: 60, issuedAt: Date.now() - 61_000 });
  const e = refusal(await get(expired.url, server.pki.caCertPem));
  assert.equal(e.status, 403);
  assert.equal(e.type, 'AccessDeniedException');
  assert.match(e.message, /^The URL expired at \d{4}-\d\d-\d\dT[\d:.]+Z \(\d+ s ago\); ask for a new one$/);

  const url = await presignedUrl(server, 'fw-1.2.0.bin');
  const u = new URL(url);
  const sig = u.searchParams.get('signature')!;
  const altered = (param: string, value: string): string => {
    const copy = new URL(url);
    copy.searchParams.set(param, value);
    return copy.toString();
  };
  const tampered = [
    altered('signature', (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1)),
    altered('expires', String(Number(u.searchParams.get('expires')) + 3600)),
    altered('account', '210987654321'),
    altered('region', 'eu-west-1'),
    altered('version', '00000000-0000-4000-8000-000000000000'),
    url.replace('/fw-1.2.0.bin/', '/app.tar.gz/'),
  ];
  for (const t of tampered) {
    const r = refusal(await get(t, server.pki.caCertPem));
    assert.deepEqual([r.status, r.type], [403, 'AccessDeniedException'], t);
    assert.equal(r.message, 'The URL signature does not match: the URL was altered, or was not issued by this server');
  }
  const unsigned = refusal(await get(`${u.origin}${u.pathname}`, server.pki.caCertPem));
  assert.equal(unsigned.status, 403);
  assert.match(unsigned.message, /^The URL is not signed/);

  await uploaded(server, 'short-lived.bin', Buffer.from('soon gone'));
  const doomed = await presignedUrl(server, 'short-lived.bin');
  assert.equal((await get(doomed, server.pki.caCertPem)).status, 200);
  await filesApi(server, 'DELETE', '/short-lived.bin');
  const gone = refusal(await get(doomed, server.pki.caCertPem));
  assert.deepEqual(gone, { status: 404, type: 'ResourceNotFoundException', message: "file 'short-lived.bin' does not exist" });

  // Uploaded again under the same name: a URL issued for the old content does not serve the new.
  await uploaded(server, 'short-lived.bin', Buffer.from('something else'));
  const replaced = refusal(await get(doomed, server.pki.caCertPem));
  assert.equal(replaced.status, 404);
  assert.match(replaced.message, /was deleted and uploaded again after this URL was issued/);
  assert.equal((await get(await presignedUrl(server, 'short-lived.bin'), server.pki.caCertPem)).body.toString(), 'something else');
});

test('the URL API checks its file and its expiry; read-only keys may ask for one', async () => {
  assert.match(await apiError(presignedUrl(server, 'nope.bin')), /ResourceNotFoundException: file 'nope.bin' does not exist/);
  for (const bad of [59, 3601]) {
    assert.match(
      await apiError(presignedUrl(server, 'fw-1.2.0.bin', bad)),
      /InvalidRequestException: expiresInSec must be .* from 60 to 3600/,
    );
  }
  const r = await filesApi<{ url: string; expiresAt: number }>(server, 'GET', '/fw-1.2.0.bin/url', undefined, { credentials: readOnly });
  assert.ok(Math.abs(r.expiresAt - (Date.now() / 1000 + 3600)) < 5, 'the default is an hour');
  assert.equal((await get(r.url, server.pki.caCertPem)).status, 200);
});

test('an upload cut off mid-body stores nothing and leaves no temporary file', async () => {
  const url = new URL(`http://127.0.0.1:${server.ports.http}/_thicket/files/cut.bin`);
  const headers = await signedHeaders({ region: 'us-east-1', credentials: server.adminKey }, 'PUT', url, {
    'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
    'content-type': 'application/octet-stream',
    'content-length': String(10_000_000),
  });
  const req = http.request(url, { method: 'PUT', headers });
  req.on('error', () => {});
  req.write(randomBytes(3_000_000));
  const temporary = (): string[] => contentFiles().filter((f) => f.startsWith('.upload-'));
  await until(() => temporary().length === 1, 'the upload has started');
  req.destroy();
  await until(() => temporary().length === 0, 'the temporary file is removed');
  assert.match(await apiError(filesApi(server, 'GET', '/cut.bin')), /ResourceNotFoundException/);
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
