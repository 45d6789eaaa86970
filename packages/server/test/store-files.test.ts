/**
 * The file store on SQLite and PostgreSQL: insert/get/list/replace/remove/clear, a database of an
 * earlier version, two nodes on one database; file content in the database (chunks, ranges, sweep).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { CHUNK_BYTES, ContentTable, contentMigrations } from '../src/files/content-table.js';
import { FileService } from '../src/files/file-service.js';
import type { Namespace } from '../src/accounts/namespace.js';
import { FileStore, fileMigrations, type FileRecord } from '../src/files/file-store.js';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { tempDir } from './helpers.js';
import { onBothEngines } from './store-engines.js';

const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
const OTHER: Namespace = { accountId: '210987654321', region: 'us-east-1' };
const T0 = Date.UTC(2026, 4, 1, 8, 30, 0, 250);

async function openStore(engine: SqlEngine): Promise<FileStore> {
  await migrate(engine, { files: fileMigrations });
  return new FileStore(engine);
}

let contents = 0;
function file(fileName: string, over: Partial<FileRecord> = {}): FileRecord {
  return {
    fileName,
    contentId: `content-${++contents}`,
    // Past 2^32: sizes need 64-bit columns too.
    size: 5_000_000_000 + contents,
    sha256: 'ab'.repeat(32),
    contentType: 'application/octet-stream',
    createdAt: T0 + contents,
    ...over,
  };
}

const names = (rows: FileRecord[]): string[] => rows.map((f) => f.fileName);

onBothEngines('file store', (engines) => {
  test('insert refuses a taken name; get reads the record back; namespaces are apart', async () => {
    const s = await openStore(await engines.open());
    const fw = file('fw.bin', { contentType: 'application/x-firmware' });
    assert.equal(await s.insert(NS, fw), true);
    assert.equal(await s.insert(NS, file('fw.bin')), false);
    assert.deepEqual(await s.get(NS, 'fw.bin'), fw);
    assert.equal(await s.get(OTHER, 'fw.bin'), undefined);
    assert.equal(await s.get(NS, 'FW.bin'), undefined, 'names are case-sensitive');
    const theirs = file('fw.bin');
    assert.equal(await s.insert(OTHER, theirs), true);
    assert.deepEqual(await s.get(OTHER, 'fw.bin'), theirs);
    assert.deepEqual(await s.get(NS, 'fw.bin'), fw);
  });

  test('list pages by name in byte order after a cursor', async () => {
    const engine = await engines.open();
    const s = await openStore(engine);
    if (engine.dialect === 'postgres') {
      // The test cluster's own locale may already sort by byte; an operator's (en_US.UTF-8) would not.
      const col = await engine.first<{ collation_name: string | null }>(
        engine.db
          .selectFrom('information_schema.columns')
          .select('collation_name')
          .where('table_name', '=', 'files')
          .where('column_name', '=', 'file_name'),
      );
      assert.equal(col?.collation_name, 'C');
    }
    for (const n of ['b.bin', 'B.bin', 'a-1', 'a.1', 'a_1', '_x', 'Z']) assert.equal(await s.insert(NS, file(n)), true);
    await s.insert(OTHER, file('elsewhere'));
    // Byte order ('-' < '.' < upper case < '_' < lower case), on PostgreSQL as on SQLite.
    const order = ['B.bin', 'Z', '_x', 'a-1', 'a.1', 'a_1', 'b.bin'];
    assert.deepEqual(names(await s.list(NS, '', 100)), order);
    const paged: string[] = [];
    let after = '';
    for (;;) {
      const page = await s.list(NS, after, 3);
      assert.ok(page.length <= 3);
      if (page.length === 0) break;
      paged.push(...names(page));
      after = page.at(-1)!.fileName;
    }
    assert.deepEqual(paged, order);
    assert.deepEqual(names(await s.list(OTHER, '', 100)), ['elsewhere']);
    assert.deepEqual(await s.list({ accountId: '999999999999', region: 'us-east-1' }, '', 100), []);
  });

  test('replace swaps the record and returns the replaced content; remove returns its content; clear removes every namespace', async () => {
    const s = await openStore(await engines.open());
    const first = file('fw.bin');
    assert.deepEqual(await s.replace(NS, first), [], 'nothing replaced: the name was free');
    const second = file('fw.bin', { contentType: 'text/plain' });
    assert.deepEqual(await s.replace(NS, second), [first.contentId]);
    assert.deepEqual(await s.get(NS, 'fw.bin'), second);
    assert.equal(await s.insert(NS, file('other.bin')), true);
    const theirs = file('fw.bin');
    await s.insert(OTHER, theirs);

    assert.equal(await s.remove(NS, 'fw.bin'), second.contentId);
    assert.equal(await s.remove(NS, 'fw.bin'), undefined);
    assert.equal(await s.get(NS, 'fw.bin'), undefined);
    assert.deepEqual(await s.get(OTHER, 'fw.bin'), theirs);

    const all = await s.all();
    assert.deepEqual(all.map((x) => [x.ns.accountId, x.file.fileName]).sort(), [
      [NS.accountId, 'other.bin'],
      [OTHER.accountId, 'fw.bin'],
    ]);
    const cleared = await s.clear();
    assert.deepEqual(cleared.sort(), all.map((x) => x.file.contentId).sort());
    assert.deepEqual(await s.all(), []);
    assert.deepEqual(await s.clear(), []);
  });

  test('two nodes on one database: a write by one is seen by the other at once; racing writers never both win', async () => {
    const a = await openStore(await engines.open());
    const b = await openStore(await engines.open({ share: true }));
    const fw = file('fw.bin');
    assert.equal(await a.insert(NS, fw), true);
    assert.deepEqual(await b.get(NS, 'fw.bin'), fw);
    assert.deepEqual(names(await b.list(NS, '', 10)), ['fw.bin']);
    assert.equal(await b.insert(NS, file('fw.bin')), false);

    // Both insert a new name at once: exactly one does.
    const inserted = await Promise.all([a.insert(NS, file('new.bin')), b.insert(NS, file('new.bin'))]);
    assert.deepEqual(inserted.sort(), [false, true]);

    // Both replace at once: one record stays, and every content it replaced is handed back exactly once.
    const mine = file('fw.bin');
    const theirs = file('fw.bin');
    const replaced = await Promise.all([a.replace(NS, mine), b.replace(NS, theirs)]);
    const kept = (await a.get(NS, 'fw.bin'))!.contentId;
    assert.ok([mine.contentId, theirs.contentId].includes(kept));
    const loser = kept === mine.contentId ? theirs.contentId : mine.contentId;
    assert.deepEqual(replaced.flat().sort(), [fw.contentId, loser].sort());

    assert.equal(await b.remove(NS, 'fw.bin'), kept);
    assert.equal(await a.get(NS, 'fw.bin'), undefined);
  });
});

test('a database whose files table was made by an earlier version (raw SQL) keeps its rows', async () => {
  const db = openDatabase(null);
  try {
    // The schema as the store created it before it moved to the SQL engine.
    db.exec(`
CREATE TABLE IF NOT EXISTS files (
  account_id TEXT NOT NULL, region TEXT NOT NULL, file_name TEXT NOT NULL,
  content_id TEXT NOT NULL UNIQUE,     -- the content's file name under <data-dir>/files/
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,                -- hex
  content_type TEXT NOT NULL,
  created_at INTEGER NOT NULL,         -- epoch milliseconds
  PRIMARY KEY (account_id, region, file_name)) WITHOUT ROWID;
`);
    db.prepare(
      `INSERT INTO files (account_id, region, file_name, content_id, size, sha256, content_type, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(NS.accountId, NS.region, 'legacy.bin', 'c-legacy', 1234, 'cd'.repeat(32), 'application/zip', T0);
    const engine = sqliteEngine(db);
    assert.deepEqual(await migrate(engine, { files: fileMigrations }), ['files/0001_files']);
    const s = new FileStore(engine);
    const legacy: FileRecord = {
      fileName: 'legacy.bin',
      contentId: 'c-legacy',
      size: 1234,
      sha256: 'cd'.repeat(32),
      contentType: 'application/zip',
      createdAt: T0,
    };
    assert.deepEqual(await s.get(NS, 'legacy.bin'), legacy);
    assert.deepEqual(await s.all(), [{ ns: NS, file: legacy }]);
    // The old table's key still refuses the name, and its content id stays unique.
    assert.equal(await s.insert(NS, file('legacy.bin')), false);
    await assert.rejects(s.insert(NS, file('copy.bin', { contentId: 'c-legacy' })), { code: 'SQLITE_CONSTRAINT_UNIQUE' });
    assert.deepEqual(await s.replace(NS, file('legacy.bin')), ['c-legacy']);
  } finally {
    db.close();
  }
});

test('FileService on two nodes of one database: the API and the Jobs service both read the database', async () => {
  const db = openDatabase(null);
  try {
    const endpoints = () => ({ host: 'localhost', mqtt: null, mqtts: null, http: 8080, https: null });
    const open = async (dataDir: string): Promise<FileService> => {
      const sql = sqliteEngine(db);
      await migrate(sql, { files: fileMigrations });
      return FileService.open({ sql, dataDir, endpoints, log: pino({ level: 'silent' }) });
    };
    const dirA = tempDir();
    const a = await open(dirA);
    const b = await open(tempDir());
    const doc = '{"url":"${thicket:PresignedUrl:doc.json}","size":${thicket:FileSize:doc.json}}';
    const stored = await a.upload(NS, 'doc.json', Readable.from([Buffer.from('{"step":1}')]), { contentType: 'application/json' });
    await a.checkFileReferences(doc, NS);
    assert.equal(await a.readText(NS, 'doc.json', 100), '{"step":1}');

    assert.deepEqual(await b.describe(NS, 'doc.json'), stored, 'the API of the other node reads the database');
    assert.deepEqual((await b.list(NS, 10)).files, [stored]);
    await b.checkFileReferences(doc, NS);
    assert.match(await b.substituteFilePlaceholders(doc, NS, { expiresInSec: 60 }), /"size":10\}$/, 'so does its Jobs side');

    // Deleted on a: b says so at once.
    await a.delete(NS, 'doc.json');
    await assert.rejects(a.readText(NS, 'doc.json', 100), { name: 'ResourceNotFoundException' });
    await assert.rejects(b.describe(NS, 'doc.json'), { name: 'ResourceNotFoundException' });
    await assert.rejects(b.checkFileReferences(doc, NS), { name: 'InvalidRequestException' });
    await assert.rejects(b.substituteFilePlaceholders(doc, NS, { expiresInSec: 60 }), { name: 'InvalidRequestException' });

    // The test-mode reset: the records go at clear(), the content once cleared() runs.
    await a.upload(NS, 'fw.bin', Readable.from([Buffer.from('firmware')]));
    assert.equal(readdirSync(join(dirA, 'files')).length, 1);
    await a.clear();
    assert.deepEqual((await a.list(NS, 10)).files, []);
    assert.equal(readdirSync(join(dirA, 'files')).length, 1, 'content stays until the reset committed');
    a.cleared();
    assert.deepEqual(readdirSync(join(dirA, 'files')), []);
    await assert.rejects(a.checkFileReferences('"${thicket:FileSize:fw.bin}"', NS), { name: 'InvalidRequestException' });
  } finally {
    db.close();
  }
});

onBothEngines('file content in the database', (engines) => {
  const GRACE = 60_000;
  async function open(): Promise<{ engine: SqlEngine; content: ContentTable; files: FileStore }> {
    const engine = await engines.open();
    await migrate(engine, { files: { ...fileMigrations, ...contentMigrations } });
    return { engine, content: new ContentTable(engine, GRACE), files: new FileStore(engine) };
  }
  const bytes = (n: number): Buffer => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 13)) & 0xff;
    return b;
  };
  const readAll = async (s: NodeJS.ReadableStream): Promise<Buffer> => {
    const parts: Buffer[] = [];
    for await (const p of s) parts.push(p as Buffer);
    return Buffer.concat(parts);
  };
  // Pieces of odd sizes, so chunks fill from several pieces and pieces straddle chunk borders.
  const pieces = (b: Buffer): Readable =>
    Readable.from(
      (function* () {
        for (let i = 0; i < b.length; i += 300_001) yield b.subarray(i, i + 300_001);
      })(),
    );

  test('content is stored in chunks and read back whole and by any range; its digest and size are those of the bytes', async () => {
    const { content } = await open();
    const body = bytes(2 * CHUNK_BYTES + 5);
    const written = await content.write(pieces(body), 10 * CHUNK_BYTES);
    assert.equal(written.size, body.length);
    assert.equal(written.sha256, createHash('sha256').update(body).digest('hex'));
    assert.deepEqual(await content.read(written.contentId), body);
    const opened = (await content.open(written.contentId))!;
    for (const [start, end] of [
      [0, body.length - 1],
      [CHUNK_BYTES - 1, CHUNK_BYTES],
      [CHUNK_BYTES, 2 * CHUNK_BYTES - 1],
      [2 * CHUNK_BYTES, 2 * CHUNK_BYTES + 4],
      [17, 17],
    ] as const)
      assert.deepEqual(await readAll(opened.stream(start, end)), body.subarray(start, end + 1), `bytes ${start}-${end}`);
    const empty = await content.write(Readable.from([]), 10);
    assert.equal(empty.size, 0);
    assert.deepEqual(await content.read(empty.contentId), Buffer.alloc(0));
    assert.equal(await content.open('no-such-content'), undefined);
  });

  test("a file whose content an earlier version kept on another node's disk: reading it says so", async (t) => {
    const { engine, files } = await open();
    if (engine.dialect !== 'postgres') return t.skip('only PostgreSQL keeps content in the database');
    const endpoints = () => ({ host: 'localhost', mqtt: null, mqtts: null, http: 8080, https: null });
    const service = await FileService.open({ sql: engine, dataDir: tempDir(), endpoints, log: pino({ level: 'silent' }) });
    await files.insert(NS, {
      fileName: 'old.json',
      contentId: 'c-elsewhere',
      size: 12,
      sha256: '0'.repeat(64),
      contentType: 'application/json',
      createdAt: T0,
    });
    await assert.rejects(service.readText(NS, 'old.json', 1000), {
      name: 'ResourceNotFoundException',
      message: /content of file 'old\.json' is not in the database.*upload the file again/,
    });
    service.stop();
  });

  test('too large: the upload fails and what it wrote is removed; removed and unnamed content goes after the grace time, named content stays', async () => {
    const { engine, content, files } = await open();
    await assert.rejects(content.write(pieces(bytes(CHUNK_BYTES + 10)), CHUNK_BYTES), { name: 'RequestEntityTooLargeException' });
    const named = await content.write(pieces(bytes(1000)), CHUNK_BYTES);
    await files.insert(NS, { fileName: 'named.bin', ...named, contentType: 'application/octet-stream', createdAt: T0 });
    const unnamed = await content.write(pieces(bytes(1000)), CHUNK_BYTES);
    const removed = await content.write(pieces(bytes(1000)), CHUNK_BYTES);
    await content.remove(removed.contentId);
    const count = async (table: string): Promise<number> => (await engine.all(engine.db.selectFrom(table).select('content_id'))).length;
    // Within the grace time nothing goes: a download may be reading the removed content, an upload still writing the unnamed one.
    assert.equal(await content.sweep(Date.now()), 0);
    assert.deepEqual(await content.read(removed.contentId), bytes(1000));
    assert.equal(await content.sweep(Date.now() + GRACE + 1000), 3, 'the too large upload, the unnamed and the removed content');
    assert.deepEqual([await count('file_contents'), await count('file_content_chunks')], [1, 1]);
    assert.deepEqual(await content.read(named.contentId), bytes(1000));
    assert.equal(await content.open(unnamed.contentId), undefined);
  });
});
