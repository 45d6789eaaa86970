/**
 * Downloads one OTA file over HTTP(S) into `{dir}/{fileName}.part`, resuming a partial file left by
 * an earlier attempt (or process) with an HTTP Range request, and verifies size and SHA-256 before
 * renaming it to `{dir}/{fileName}`. A corrupt download is deleted so that the next try starts clean.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import { OtaError } from '../errors.js';
import type { OtaFile } from '../protocol/index.js';

export interface DownloadOptions {
  /** Where files go; created when missing. */
  dir: string;
  /** CA certificate(s) to trust for HTTPS URLs; the system's when absent. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Stops the download, leaving the partial file to resume from. */
  signal?: AbortSignal;
  /** Called as bytes arrive (`received` counts the whole file, resumed part included). */
  onProgress?: (p: { fileName: string; received: number; total: number | undefined }) => void;
  /** No response or data for this long fails the attempt; default 30000. */
  idleTimeoutMs?: number;
}

export interface DownloadedFile {
  fileName: string;
  path: string;
  bytes: number;
  sha256: string;
  /** Bytes already on disk that this download resumed from (0 for a fresh one). */
  resumedFrom: number;
  /** Bytes fetched over the network by this call. */
  fetched: number;
}

async function sizeOf(path: string): Promise<number | undefined> {
  return stat(path).then(
    (s) => s.size,
    () => undefined,
  );
}

async function hashOf(path: string, hash: Hash = createHash('sha256')): Promise<Hash> {
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('download aborted', 'AbortError');
}

function get(url: string, headers: Record<string, string>, o: DownloadOptions): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const options: https.RequestOptions = { method: 'GET', headers, signal: o.signal, timeout: o.idleTimeoutMs ?? 30_000 };
    if (u.protocol === 'https:' && o.ca !== undefined) options.ca = o.ca;
    const req = (u.protocol === 'https:' ? https : http).request(u, options, resolve);
    req.on('timeout', () => req.destroy(new OtaError('download-failed', `no data from ${u.host} for ${options.timeout} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** `bytes {start}-{end}/{total}` → start and total (total undefined for `*`). */
function contentRange(header: string | undefined): { start: number; total: number | undefined } | undefined {
  const m = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(header ?? '');
  return m ? { start: Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) } : undefined;
}

export async function downloadFile(file: OtaFile, o: DownloadOptions): Promise<DownloadedFile> {
  await mkdir(o.dir, { recursive: true });
  const path = join(o.dir, file.fileName);
  const part = `${path}.part`;
  const done = (bytes: number, resumedFrom: number, fetched: number): DownloadedFile => ({
    fileName: file.fileName,
    path,
    bytes,
    sha256: file.sha256,
    resumedFrom,
    fetched,
  });

  // Finished by an earlier attempt that stopped before reporting.
  const existing = await sizeOf(path);
  if (existing !== undefined && (file.size === undefined || existing === file.size)) {
    if ((await hashOf(path)).digest('hex') === file.sha256) return done(existing, existing, 0);
  }

  let offset = (await sizeOf(part)) ?? 0;
  if (file.size !== undefined && offset > file.size) offset = 0;
  let hash = offset > 0 ? await hashOf(part) : createHash('sha256');
  const resumedFrom = offset;
  let res = await get(file.url, offset > 0 ? { range: `bytes=${offset}-` } : {}, o);
  let total = file.size;
  if (res.statusCode === 416 && offset > 0) {
    // The part already holds every byte (the range starts at the end), or it is longer than the file.
    res.resume();
    const whole = /^bytes \*\/(\d+)$/.exec(res.headers['content-range'] ?? '');
    if (!(whole && Number(whole[1]) === offset)) {
      offset = 0;
      hash = createHash('sha256');
      res = await get(file.url, {}, o);
    }
  }
  let fetched = 0;
  if (res.statusCode === 206) {
    const range = contentRange(res.headers['content-range']);
    if (!range || range.start !== offset) {
      res.resume();
      throw new OtaError('download-failed', `the server answered a range request from ${offset} with ${res.headers['content-range']}`);
    }
    total ??= range.total;
  } else if (res.statusCode === 200) {
    // The server sends the whole file (it ignored the range, or none was asked for): start over.
    if (offset > 0) {
      offset = 0;
      hash = createHash('sha256');
    }
    const length = Number(res.headers['content-length']);
    if (total === undefined && Number.isSafeInteger(length)) total = length;
  } else if (res.statusCode !== 416) {
    res.resume();
    throw new OtaError('download-failed', `GET ${new URL(file.url).pathname} answered HTTP ${res.statusCode}`);
  }

  if (res.statusCode !== 416) {
    const out = await open(part, offset === 0 ? 'w' : 'a');
    // Where this attempt starts: 0, or the resumed part.
    o.onProgress?.({ fileName: file.fileName, received: offset, total });
    try {
      for await (const chunk of res) {
        if (o.signal?.aborted) throw abortError(o.signal);
        const buf = chunk as Buffer;
        await out.write(buf);
        hash.update(buf);
        offset += buf.length;
        fetched += buf.length;
        if (total !== undefined && offset > total)
          throw new OtaError('size-mismatch', `${file.fileName}: more than the announced ${total} bytes`);
        o.onProgress?.({ fileName: file.fileName, received: offset, total });
      }
      await out.sync();
    } catch (err) {
      if (o.signal?.aborted) throw abortError(o.signal);
      throw err;
    } finally {
      await out.close();
    }
  }

  const actual = hash.digest('hex');
  if ((file.size !== undefined && offset !== file.size) || actual !== file.sha256) {
    await rm(part, { force: true });
    if (file.size !== undefined && offset !== file.size)
      throw new OtaError('size-mismatch', `${file.fileName}: expected ${file.size} bytes, got ${offset}`);
    throw new OtaError('sha256-mismatch', `${file.fileName}: sha256 mismatch: expected ${file.sha256}, got ${actual}`);
  }
  await rename(part, path);
  return done(offset, resumedFrom, fetched);
}
