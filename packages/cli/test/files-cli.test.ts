/** `thicket files upload|list|describe|delete|url` against a running server. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../../server/test/helpers.js';
import { cliWithHttpServer } from './helpers.js';

const { thicket, fails } = cliWithHttpServer();
let work: string;

before(() => {
  work = tempDir();
});
after(() => rmSync(work, { recursive: true, force: true }));

test('upload, list, describe, url and delete files from the command line; the URL downloads the file', async () => {
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  const digest = createHash('sha256').update(bytes).digest('hex');
  const path = join(work, 'firmware-2.0.bin');
  writeFileSync(path, bytes);

  const out = await thicket('files', 'upload', path);
  assert.match(out, new RegExp(`^fileName +firmware-2\\.0\\.bin\\nsize +${bytes.length}\\nsha256 +${digest}\\n$`));
  const named = JSON.parse(
    await thicket('files', 'upload', path, '--name', 'fw.bin', '--content-type', 'application/x-firmware', '--json'),
  ) as {
    fileName: string;
    size: number;
    sha256: string;
    contentType: string;
  };
  assert.deepEqual(
    [named.fileName, named.size, named.sha256, named.contentType],
    ['fw.bin', bytes.length, digest, 'application/x-firmware'],
  );

  const list = (await thicket('files', 'list')).split('\n');
  assert.match(list[0]!, /^FILENAME +SIZE +SHA256 +CONTENTTYPE +CREATEDAT$/);
  assert.match(list[1]!, new RegExp(`^firmware-2\\.0\\.bin +${bytes.length} +${digest} +application/octet-stream +\\d{4}-\\d\\d-\\d\\dT`));
  assert.match(list[2]!, /^fw\.bin +\d+ +[0-9a-f]{64} +application\/x-firmware/);
  assert.match(await thicket('files', 'describe', 'fw.bin'), /contentType +application\/x-firmware\ncreatedAt +\d{4}-/);

  const url = (await thicket('files', 'url', 'fw.bin', '--expires-in', '120')).trim();
  const expires = Number(new URL(url).searchParams.get('expires'));
  assert.ok(Math.abs(expires - (Date.now() / 1000 + 120)) < 10, url);
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.ok(Buffer.from(await res.arrayBuffer()).equals(bytes));

  assert.equal(await thicket('files', 'delete', 'fw.bin'), 'deleted file fw.bin\n');
  assert.equal(await thicket('files', 'delete', 'firmware-2.0.bin'), 'deleted file firmware-2.0.bin\n');
  assert.equal(await thicket('files', 'list'), '(none)\n');
});

test('file commands fail with one readable line', async () => {
  const path = join(work, 'taken.bin');
  writeFileSync(path, 'taken');
  await thicket('files', 'upload', path);
  assert.match(await fails('files', 'upload', path), /ResourceAlreadyExistsException: file 'taken.bin' already exists; delete it first/);
  assert.match(await fails('files', 'upload', join(work, 'missing.bin')), /cannot read .*missing\.bin: no such file/);
  assert.match(
    await fails('files', 'upload', path, '--name', 'no spaces'),
    /InvalidRequestException: fileName must be 1 to 128 characters/,
  );
  assert.match(await fails('files', 'describe', 'nope.bin'), /ResourceNotFoundException: file 'nope.bin' does not exist/);
  assert.match(
    await fails('files', 'url', 'taken.bin', '--expires-in', '10'),
    /InvalidRequestException: expiresInSec must be .* from 60 to 3600/,
  );
});
