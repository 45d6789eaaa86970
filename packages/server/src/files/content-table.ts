/**
 * File content in the database, for nodes that share one (PostgreSQL): an upload through any node
 * downloads through every other. Content is cut into chunks of 1 MiB, one row each, so neither an
 * upload nor a download holds more than a chunk in memory, and a range request reads only the
 * chunks it covers.
 *
 * A content's header row is written first and touched with every chunk; the file record that names
 * the content is inserted after the last chunk (FileService.upload). Content that is replaced or
 * deleted is only marked: a device may be halfway through downloading it, and another node cannot
 * hold it open as a file handle would. A sweep deletes marked content, and content no record names
 * (an upload that failed or whose node died), once it has not been touched for the grace time.
 */
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import type { SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { tooLarge, type FileContent, type OpenedContent, type WrittenContent } from './content-directory.js';

export const CHUNK_BYTES = 1024 * 1024;
/** How long replaced, deleted and unfinished content stays (a download that began before may still be reading it). */
export const CONTENT_GRACE_MS = 60 * 60 * 1000;

const CONTENTS = 'file_contents';
const CHUNKS = 'file_content_chunks';

export const contentMigrations: Record<string, StoreMigration> = {
  '0002_file_content': {
    async up(db, dialect) {
      await db.schema
        .createTable(CONTENTS)
        .ifNotExists()
        .addColumn('content_id', 'text', (c) => c.primaryKey())
        // Epoch milliseconds: the last chunk written, or the upload's start.
        .addColumn('touched_at', 'bigint', (c) => c.notNull())
        // Epoch milliseconds; null while a record may name it.
        .addColumn('removed_at', 'bigint')
        .execute();
      await db.schema
        .createTable(CHUNKS)
        .ifNotExists()
        .addColumn('content_id', 'text', (c) => c.notNull())
        // 0, 1, ...: bytes n * CHUNK_BYTES up to the next chunk's.
        .addColumn('n', 'integer', (c) => c.notNull())
        .addColumn('data', dialect === 'postgres' ? 'bytea' : 'blob', (c) => c.notNull())
        .addPrimaryKeyConstraint(`${CHUNKS}_pkey`, ['content_id', 'n'])
        .execute();
    },
  },
};

export class ContentTable implements FileContent {
  constructor(
    private readonly engine: SqlEngine,
    private readonly graceMs = CONTENT_GRACE_MS,
  ) {}

  async write(source: Readable, maxBytes: number): Promise<WrittenContent> {
    const contentId = randomUUID();
    const db = this.engine.db;
    const hash = createHash('sha256');
    let size = 0;
    let n = 0;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const flush = async (): Promise<void> => {
      if (pendingBytes === 0) return;
      const data = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      await this.engine.batch([
        db.insertInto(CHUNKS).values({ content_id: contentId, n: n++, data }),
        db.updateTable(CONTENTS).set({ touched_at: Date.now() }).where('content_id', '=', contentId),
      ]);
    };
    await this.engine.run(db.insertInto(CONTENTS).values({ content_id: contentId, touched_at: Date.now(), removed_at: null }));
    try {
      for await (const piece of source as AsyncIterable<Buffer | string>) {
        let chunk = typeof piece === 'string' ? Buffer.from(piece) : piece;
        size += chunk.length;
        if (size > maxBytes) throw tooLarge(maxBytes);
        hash.update(chunk);
        while (chunk.length > 0) {
          const take = Math.min(chunk.length, CHUNK_BYTES - pendingBytes);
          pending.push(chunk.subarray(0, take));
          pendingBytes += take;
          chunk = chunk.subarray(take);
          if (pendingBytes === CHUNK_BYTES) await flush();
        }
      }
      await flush();
    } catch (err) {
      await this.remove(contentId).catch(() => undefined);
      throw err;
    }
    return { contentId, size, sha256: hash.digest('hex') };
  }

  async open(contentId: string): Promise<OpenedContent | undefined> {
    const row = await this.engine.first(this.engine.db.selectFrom(CONTENTS).select('content_id').where('content_id', '=', contentId));
    if (!row) return undefined;
    return {
      stream: (start, end) => Readable.from(this.chunks(contentId, start, end)),
      close: () => Promise.resolve(),
    };
  }

  /** Bytes `start` to `end` (inclusive), a chunk at a time. */
  private async *chunks(contentId: string, start: number, end: number): AsyncGenerator<Buffer> {
    for (let n = Math.floor(start / CHUNK_BYTES); n <= Math.floor(end / CHUNK_BYTES); n++) {
      const row = await this.engine.first<{ data: Buffer | Uint8Array }>(
        this.engine.db.selectFrom(CHUNKS).select('data').where('content_id', '=', contentId).where('n', '=', n),
      );
      // Swept while being read (a download that outlasted the grace time): the response ends short.
      if (!row) throw new Error(`file content ${contentId} is gone (chunk ${n})`);
      const data = Buffer.from(row.data.buffer, row.data.byteOffset, row.data.byteLength);
      const from = n * CHUNK_BYTES;
      yield data.subarray(Math.max(0, start - from), Math.min(data.length, end - from + 1));
    }
  }

  async read(contentId: string): Promise<Buffer> {
    const rows = await this.engine.all<{ data: Buffer | Uint8Array }>(
      this.engine.db.selectFrom(CHUNKS).select('data').where('content_id', '=', contentId).orderBy('n'),
    );
    return Buffer.concat(rows.map((r) => r.data));
  }

  async remove(contentId: string): Promise<void> {
    await this.removeAll([contentId]);
  }

  async removeAll(contentIds: readonly string[]): Promise<void> {
    if (contentIds.length === 0) return;
    await this.engine.run(
      this.engine.db
        .updateTable(CONTENTS)
        .set({ removed_at: Date.now() })
        .where('content_id', 'in', contentIds)
        .where('removed_at', 'is', null),
    );
  }

  /**
   * Deletes what was marked removed, and what no file record names, once untouched for the grace
   * time. Returns how many contents went. Any node may run it at any time.
   */
  async sweep(now = Date.now()): Promise<number> {
    const db = this.engine.db;
    const before = now - this.graceMs;
    const gone = await this.engine.all<{ content_id: string }>(
      db
        .selectFrom(CONTENTS)
        .select('content_id')
        .where((w) =>
          w.or([
            w('removed_at', '<', before),
            w.and([
              w('touched_at', '<', before),
              w.not(
                w.exists(db.selectFrom('files').select(sql.lit(1).as('one')).whereRef('files.content_id', '=', `${CONTENTS}.content_id`)),
              ),
            ]),
          ]),
        ),
    );
    for (const { content_id } of gone)
      await this.engine.batch([
        db.deleteFrom(CHUNKS).where('content_id', '=', content_id),
        db.deleteFrom(CONTENTS).where('content_id', '=', content_id),
      ]);
    return gone.length;
  }
}
