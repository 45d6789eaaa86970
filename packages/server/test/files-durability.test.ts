/**
 * Where files live: they and the URL-signing secret (0600) survive a restart, so URLs handed out
 * before it still work; content a crash left behind is removed at start; --ephemeral keeps files
 * in its temporary directory; the test-mode reset removes them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { resolveConfig, startServer, type FileInfo, type ThicketServer } from '@thicket/server';
import { startTestServer, tempDir } from './helpers.js';
import { filesApi, get, presignedUrl, uploaded } from './files-helpers.js';

const URL_SECRET = 'file-urls.key';

function start(dataDir: string): Promise<ThicketServer> {
  return startServer(
    resolveConfig({ host: '127.0.0.1', mqttPort: null, mqttsPort: null, httpPort: 0, httpsPort: 0, dataDir, logLevel: 'silent' }),
  );
}

/** The same URL path and query on another server's HTTP port (ports change across restarts). */
const onHttpOf = (url: string, server: ThicketServer): string => {
  const u = new URL(url);
  return `http://127.0.0.1:${server.ports.http}${u.pathname}${u.search}`;
};

test('files and the URL secret (mode 0600) survive a restart; a URL issued before it still downloads; crash leftovers are removed', async () => {
  const dataDir = tempDir();
  try {
    const body = randomBytes(1024 * 1024 + 1);
    let server = await start(dataDir);
    const secretPath = join(dataDir, URL_SECRET);
    assert.equal(statSync(secretPath).mode & 0o777, 0o600);
    const secret = readFileSync(secretPath, 'utf8');
    assert.match(secret, /^[0-9a-f]{64}\n$/);
    const stored = await uploaded(server, 'fw.bin', body);
    const url = await presignedUrl(server, 'fw.bin');
    await server.stop();

    // What a crash can leave: an unfinished upload, and content whose record was never committed.
    const files = join(dataDir, 'files');
    const kept = readdirSync(files);
    assert.equal(kept.length, 1);
    writeFileSync(join(files, '.upload-interrupted'), 'half a file');
    writeFileSync(join(files, '3f9a1c2e-0000-4000-8000-000000000000'), 'never committed');

    server = await start(dataDir);
    try {
      assert.equal(readFileSync(secretPath, 'utf8'), secret, 'the secret is not replaced');
      assert.deepEqual(readdirSync(files), kept);
      assert.deepEqual(await filesApi<FileInfo>(server, 'GET', '/fw.bin'), stored);
      const got = await get(onHttpOf(url, server), server.pki.caCertPem);
      assert.equal(got.status, 200);
      assert.ok(got.body.equals(body));
    } finally {
      await server.stop();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('a changed URL secret invalidates the URLs issued under the old one; a malformed one stops the start with a clear error', async () => {
  const dataDir = tempDir();
  try {
    let server = await start(dataDir);
    await uploaded(server, 'fw.bin', Buffer.from('firmware'));
    const url = await presignedUrl(server, 'fw.bin');
    await server.stop();

    rmSync(join(dataDir, URL_SECRET));
    server = await start(dataDir);
    const got = await get(onHttpOf(url, server), server.pki.caCertPem);
    assert.equal(got.status, 403);
    assert.match(got.body.toString(), /signature does not match/);
    await server.stop();

    writeFileSync(join(dataDir, URL_SECRET), 'not a secret\n', { mode: 0o600 });
    await assert.rejects(start(dataDir), /file-urls\.key does not hold a URL-signing secret \(64 hex digits\); remove it/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test('--ephemeral keeps files in its temporary directory while it runs and removes them when it stops', async () => {
  const server = await startTestServer({ ephemeral: true });
  const body = randomBytes(300_000);
  await uploaded(server, 'fw.bin', body);
  const got = await get(await presignedUrl(server, 'fw.bin'), server.pki.caCertPem);
  assert.ok(got.body.equals(body));
  const files = join(server.dataDir, 'files');
  assert.equal(readdirSync(files).length, 1);
  await server.close();
  assert.equal(existsSync(files), false);
});

test('the test-mode reset removes every file and its content; URLs issued before it find nothing', async () => {
  const server = await startTestServer({ testMode: true });
  try {
    await uploaded(server, 'a.bin', Buffer.from('a'));
    await uploaded(server, 'b.bin', Buffer.from('b'), { region: 'eu-west-1' });
    const url = await presignedUrl(server, 'a.bin');
    const res = await fetch(`http://127.0.0.1:${server.ports.http}/_thicket/reset`, { method: 'POST' });
    assert.equal(res.status, 200);
    assert.deepEqual((await filesApi<{ files: FileInfo[] }>(server, 'GET', '')).files, []);
    assert.deepEqual((await filesApi<{ files: FileInfo[] }>(server, 'GET', '', undefined, { region: 'eu-west-1' })).files, []);
    assert.deepEqual(readdirSync(join(server.dataDir, 'files')), []);
    assert.equal((await get(url, server.pki.caCertPem)).status, 404);
    await uploaded(server, 'a.bin', Buffer.from('again'));
  } finally {
    await server.close();
  }
});
