/**
 * The file service as the Jobs service uses it (placeholders in job documents), its size limit
 * while streaming, Range parsing at the edges, and a secret that never reaches the log.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import pino from 'pino';
import { fileReferences, FileService, resolveConfig, startServer, type ThicketServer } from '@thicket/server';
import { openDatabase } from '../src/store/database.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { fileMigrations } from '../src/files/file-store.js';
import { byteRange } from '../src/files/byte-range.js';
import { tempDir } from './helpers.js';
import { get, sha256, upload, uploaded } from './files-helpers.js';

let server: ThicketServer;
let dataDir: string;
const logLines: string[] = [];
const ns = { accountId: '123456789012', region: 'us-east-1' };
const firmware = randomBytes(200_000);

before(async () => {
  dataDir = tempDir();
  const config = resolveConfig({
    host: '127.0.0.1',
    mqttPort: null,
    mqttsPort: null,
    httpPort: 0,
    httpsPort: 0,
    dataDir,
    logLevel: 'trace',
  });
  server = await startServer(config, pino({ level: 'trace' }, { write: (line: string) => logLines.push(line) }));
  await uploaded(server, 'fw.bin', firmware);
});
after(async () => {
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const TEMPLATE = {
  operation: 'ota',
  files: [
    {
      url: '${thicket:PresignedUrl:fw.bin}',
      sha256: '${thicket:FileSha256:fw.bin}',
      size: '${thicket:FileSize:fw.bin}',
      mirror: '${thicket:PresignedUrl:fw.bin}',
    },
  ],
  untouched: '${thicket:SomethingElse:fw.bin} ${aws:iot:parameter:x}',
};

test('placeholders become a working presigned URL, the digest and the size, and the document stays valid JSON', async () => {
  const text = JSON.stringify(TEMPLATE, null, 2);
  assert.deepEqual(fileReferences(text), ['fw.bin']);
  await server.platform.use('files').files.checkFileReferences(text, ns);

  const doc = JSON.parse(
    await server.platform.use('files').files.substituteFilePlaceholders(text, ns, { expiresInSec: 900 }),
  ) as typeof TEMPLATE;
  const f = doc.files[0]!;
  assert.equal(f.sha256, sha256(firmware));
  assert.equal(f.size, String(firmware.length));
  assert.equal(f.mirror, f.url, 'one URL per file and document');
  assert.equal(doc.untouched, TEMPLATE.untouched);
  const url = new URL(f.url);
  assert.equal(url.origin, `https://127.0.0.1:${server.ports.https}`, 'HTTPS is preferred');
  assert.ok(Math.abs(Number(url.searchParams.get('expires')) - (Date.now() / 1000 + 900)) < 5);
  const got = await get(f.url, server.pki.caCertPem);
  assert.equal(got.status, 200);
  assert.equal(sha256(got.body), f.sha256);

  // Outside a string the size is a JSON number; a given base URL is used as it is.
  const sized = await server.platform
    .use('files')
    .files.substituteFilePlaceholders('{"size": ${thicket:FileSize:fw.bin}, "url": "${thicket:PresignedUrl:fw.bin}"}', ns, {
      expiresInSec: 60,
      baseUrl: 'http://updates.example.com:8080/',
    });
  const parsed = JSON.parse(sized) as { size: number; url: string };
  assert.equal(parsed.size, firmware.length);
  assert.match(
    parsed.url,
    /^http:\/\/updates\.example\.com:8080\/_thicket\/files\/fw\.bin\/content\?account=123456789012&region=us-east-1&expires=\d+&version=[0-9a-f-]{36}&signature=[0-9a-f]{64}$/,
  );
});

test('a document naming a missing or invalid file is refused up front with InvalidRequestException', async () => {
  const missing = '{"url":"${thicket:PresignedUrl:fw.bin}","other":"${thicket:FileSha256:missing-1.0.bin}"}';
  assert.deepEqual(fileReferences(missing), ['fw.bin', 'missing-1.0.bin']);
  const expected = { name: 'InvalidRequestException', message: "job document references file 'missing-1.0.bin', which does not exist" };
  await assert.rejects(server.platform.use('files').files.checkFileReferences(missing, ns), expected);
  await assert.rejects(server.platform.use('files').files.substituteFilePlaceholders(missing, ns, { expiresInSec: 60 }), expected);
  // Another namespace does not have it either.
  await assert.rejects(
    server.platform.use('files').files.checkFileReferences('"${thicket:FileSize:fw.bin}"', { ...ns, region: 'eu-west-1' }),
    {
      message: "job document references file 'fw.bin', which does not exist",
    },
  );
  await assert.rejects(server.platform.use('files').files.checkFileReferences('"${thicket:FileSize:no/slash}"', ns), {
    name: 'InvalidRequestException',
    message: "job document references file 'no/slash', which is not a valid file name",
  });
  assert.deepEqual(fileReferences('{"plain":"document"}'), []);
  await assert.rejects(
    server.platform.use('files').files.substituteFilePlaceholders('"${thicket:PresignedUrl:fw.bin}"', ns, { expiresInSec: 30 }),
    {
      name: 'InvalidRequestException',
    },
  );
});

test('the URL secret never reaches the log, even at trace level', async () => {
  const url = (await server.platform.use('files').files.presignedUrl(ns, 'fw.bin')).url;
  assert.equal((await get(url, server.pki.caCertPem)).status, 200);
  assert.equal((await upload(server, 'fw.bin', Buffer.from('taken'))).status, 409);
  const secret = readFileSync(join(dataDir, 'file-urls.key'), 'utf8').trim();
  assert.ok(
    logLines.some((l) => l.includes('"msg":"file stored"')),
    'the log was captured',
  );
  assert.equal(logLines.filter((l) => l.includes(secret)).length, 0);
});

test('an upload that grows past the size limit while streaming fails and leaves no partial file', async () => {
  const dir = tempDir();
  const db = openDatabase(null);
  try {
    const sql = sqliteEngine(db);
    await migrate(sql, { files: fileMigrations });
    const endpoints = () => ({ host: 'localhost', mqtt: null, mqtts: null, http: 8080, https: null });
    const files = await FileService.open({ sql, dataDir: dir, endpoints, log: pino({ level: 'silent' }), maxFileBytes: 100_000 });
    const chunks = Readable.from([randomBytes(65536), randomBytes(65536)]);
    await assert.rejects(files.upload(ns, 'big.bin', chunks), { name: 'RequestEntityTooLargeException' });
    assert.deepEqual(readdirSync(join(dir, 'files')), []);
    await assert.rejects(files.describe(ns, 'big.bin'), { name: 'ResourceNotFoundException' });
    const small = await files.upload(ns, 'small.bin', Readable.from([Buffer.alloc(100_000)]));
    assert.equal(small.size, 100_000);
    assert.equal(files.publicBaseUrl(), 'http://localhost:8080', 'HTTP when there is no HTTPS listener');
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Range headers at the edges: empty files, suffixes longer than the file, invalid and multiple ranges', () => {
  const etag = '"e"';
  assert.deepEqual(byteRange('bytes=0-', 0, undefined, etag), 'unsatisfiable');
  assert.deepEqual(byteRange('bytes=-5', 0, undefined, etag), 'unsatisfiable');
  assert.deepEqual(byteRange('bytes=-500', 100, undefined, etag), { start: 0, end: 99 });
  assert.deepEqual(byteRange('bytes=90-500', 100, undefined, etag), { start: 90, end: 99 });
  assert.equal(byteRange('bytes=9-3', 100, undefined, etag), undefined);
  assert.equal(byteRange('bytes=0-1,5-6', 100, undefined, etag), undefined);
  assert.equal(byteRange('items=0-1', 100, undefined, etag), undefined);
  assert.equal(byteRange('bytes=-', 100, undefined, etag), undefined);
  assert.deepEqual(byteRange('bytes=0-1', 100, etag, etag), { start: 0, end: 1 });
});
