/**
 * File content on disk, one file per upload under `<data-dir>/files/`, named by a random id rather
 * than by the file's name: a new upload never touches the bytes a device may be downloading, and
 * nothing a client sends ends up in a path. Nodes sharing a database keep content in it instead
 * (ContentTable); both implement FileContent.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AwsError } from '../aws/errors.js';
import { syncDirectory } from '../pki/files.js';

export interface WrittenContent {
  contentId: string;
  size: number;
  /** Hex SHA-256 of the bytes written. */
  sha256: string;
}

/** Content opened for a download: what was opened stays readable when it is replaced or deleted meanwhile. */
export interface OpenedContent {
  /** Bytes `start` to `end` (inclusive); the stream releases what was opened once it ends. */
  stream(start: number, end: number): Readable;
  /** Releases what was opened, when nothing is streamed (HEAD, an empty file, an error). */
  close(): Promise<void>;
}

/** Where the bytes of stored files are. */
export interface FileContent {
  /** Stores `source` under a new content id; more than `maxBytes` fails with RequestEntityTooLargeException. */
  write(source: Readable, maxBytes: number): Promise<WrittenContent>;
  /** Undefined when there is no such content. */
  open(contentId: string): Promise<OpenedContent | undefined>;
  /** The whole content, for small files (job documents). */
  read(contentId: string): Promise<Buffer>;
  remove(contentId: string): Promise<void>;
  removeAll(contentIds: readonly string[]): Promise<void>;
}

const TEMP_PREFIX = '.upload-';

export const tooLarge = (maxBytes: number): AwsError =>
  new AwsError('RequestEntityTooLargeException', 413, `A file may hold at most ${maxBytes} bytes`);

export class ContentDirectory implements FileContent {
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  /**
   * Streams `source` into a new content file and returns its id, size and digest. The bytes go to a
   * temporary file that is fsynced before it is renamed into place, so a content file is complete
   * whenever it exists. More than `maxBytes` fails with RequestEntityTooLargeException.
   */
  async write(source: Readable, maxBytes: number): Promise<WrittenContent> {
    const contentId = randomUUID();
    const temp = join(this.dir, TEMP_PREFIX + contentId);
    const hash = createHash('sha256');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        size += chunk.length;
        if (size > maxBytes) return done(tooLarge(maxBytes));
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(source, measure, createWriteStream(temp, { flags: 'wx', mode: 0o600, flush: true }));
      await rename(temp, join(this.dir, contentId));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDirectory(this.dir);
    return { contentId, size, sha256: hash.digest('hex') };
  }

  /** An unlinked file stays readable until its handle closes. */
  async open(contentId: string): Promise<OpenedContent | undefined> {
    let handle;
    try {
      handle = await open(join(this.dir, contentId), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return { stream: (start, end) => handle.createReadStream({ start, end }), close: () => handle.close() };
  }

  read(contentId: string): Promise<Buffer> {
    return readFile(join(this.dir, contentId));
  }

  async remove(contentId: string): Promise<void> {
    await rm(join(this.dir, contentId), { force: true });
  }

  /** Removes at once, before it returns (a test-mode reset leaves no content behind). */
  removeAll(contentIds: readonly string[]): Promise<void> {
    for (const id of contentIds) rmSync(join(this.dir, id), { force: true });
    return Promise.resolve();
  }

  /**
   * Removes every file but `keep`: uploads a crash interrupted, and content whose record was never
   * inserted or was already deleted. Only at start, before any upload can be in progress.
   */
  sweep(keep: ReadonlySet<string>): number {
    let removed = 0;
    for (const entry of readdirSync(this.dir, { withFileTypes: true })) {
      if (!entry.isFile() || keep.has(entry.name)) continue;
      rmSync(join(this.dir, entry.name), { force: true });
      removed++;
    }
    return removed;
  }
}
