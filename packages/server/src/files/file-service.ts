/**
 * Files for OTA jobs: firmware and other payloads stored per namespace, downloaded by devices
 * through presigned URLs, and referenced from job documents by placeholders that the Jobs service
 * replaces when it hands a document to a device.
 *
 * The records are on the SQL engine, and everything reads them there: the API, and the Jobs
 * service (checking a new job's references, signing a document for a device, a document kept as a
 * file), so every node sharing the database sees each upload and deletion at once. On PostgreSQL
 * the content is in the database too (ContentTable), so a file uploaded through one node downloads
 * through any; on SQLite it is under the data directory (ContentDirectory).
 */
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Namespace } from '../accounts/namespace.js';
import { publicUrls, type PublicEndpoints } from '../api/endpoint-routes.js';
import { alreadyExists, AwsError, internalFailure, invalidRequest, notFound } from '../aws/errors.js';
import type { SqlEngine } from '../store/sql/engine.js';
import { ContentDirectory, tooLarge, type FileContent, type OpenedContent } from './content-directory.js';
import { ContentTable } from './content-table.js';
import { checkFileName, isFileName } from './file-names.js';
import { FileStore, type FileRecord } from './file-store.js';
import { fileReferences, replacePlaceholders } from './placeholders.js';
import { ensureUrlSecret, UrlSigner } from './url-signing.js';

/** What the API says about a file. */
export interface FileInfo {
  fileName: string;
  size: number;
  /** Hex SHA-256 of the content. */
  sha256: string;
  contentType: string;
  /** Epoch seconds, as AWS APIs give timestamps. */
  createdAt: number;
}

export interface UploadOptions {
  contentType?: string;
  /** The hex SHA-256 the client declared; when the content differs, nothing is stored. */
  sha256?: string;
  /** The declared length, when there is one: a file too large is refused before a byte is read. */
  length?: number;
  /** Replace a file of that name, as an S3 put does (the rules' s3 action), instead of refusing. */
  replace?: boolean;
}

export interface PresignOptions {
  /** 60 to 3600 (AWS presignedUrlConfig.expiresInSec); default 3600. */
  expiresInSec?: number;
  /** Scheme, host and port devices download from; default publicBaseUrl(). */
  baseUrl?: string;
  /** When the URL counts as issued, epoch ms (default now); an earlier time yields a URL that has already expired. */
  issuedAt?: number;
}

export interface FileServiceOptions {
  /** Where the records are (the migrations of `fileMigrations` applied). */
  sql: SqlEngine;
  /**
   * The URL-signing secret is in `<dataDir>/file-urls.key`; content goes to `<dataDir>/files/` on
   * SQLite, into the database on PostgreSQL (content put on disk by an earlier version is still read there).
   */
  dataDir: string;
  /** Cluster: whether this node is the one to sweep removed content now (absent: always). */
  leader?: (name: string) => boolean;
  endpoints: () => PublicEndpoints;
  log: Logger;
  maxFileBytes?: number;
  /** What still needs the file (e.g. "job fw-2 (IN_PROGRESS)"), or undefined when it may be deleted. */
  inUse?: (ns: Namespace, fileName: string) => Promise<string | undefined>;
}

export const MAX_FILE_BYTES = 1024 ** 3;
export const DEFAULT_URL_EXPIRY_SEC = 3600;
/** How often removed content in the database is looked for (it goes an hour after its removal). */
const TABLE_SWEEP_MS = 10 * 60 * 1000;
const CONTENT_TYPE = /^[\x20-\x7e]{1,256}$/;

const info = (f: FileRecord): FileInfo => ({
  fileName: f.fileName,
  size: f.size,
  sha256: f.sha256,
  contentType: f.contentType,
  createdAt: f.createdAt / 1000,
});

export function checkExpiresInSec(value: number): number {
  if (!Number.isInteger(value) || value < 60 || value > 3600) {
    throw invalidRequest(`expiresInSec must be a whole number of seconds from 60 to 3600, not '${value}'`);
  }
  return value;
}

export class FileService {
  private readonly store: FileStore;
  private readonly content: FileContent;
  private readonly directory: ContentDirectory;
  private readonly table: ContentTable | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  private readonly signer: UrlSigner;
  private readonly maxBytes: number;
  /** Content of the records a test-mode reset deleted, removed once the reset committed. */
  private clearedContent: string[] = [];

  private constructor(private readonly opts: FileServiceOptions) {
    this.store = new FileStore(opts.sql);
    this.directory = new ContentDirectory(join(opts.dataDir, 'files'));
    this.table = opts.sql.dialect === 'postgres' ? new ContentTable(opts.sql) : undefined;
    this.content = this.table ?? this.directory;
    this.signer = new UrlSigner(ensureUrlSecret(opts.dataDir));
    this.maxBytes = opts.maxFileBytes ?? MAX_FILE_BYTES;
  }

  /** The service; content no record names (a crash's leftovers) is removed. */
  static async open(opts: FileServiceOptions): Promise<FileService> {
    const service = new FileService(opts);
    const records = await service.store.all();
    const swept = service.directory.sweep(new Set(records.map(({ file }) => file.contentId)));
    if (swept > 0) opts.log.info({ swept }, 'removed the content of unfinished uploads and deleted files');
    if (service.table) {
      await service.sweepTable();
      service.sweeper = setInterval(() => void service.sweepTable(), TABLE_SWEEP_MS);
      service.sweeper.unref();
    }
    return service;
  }

  /** Content in the database that was removed, or that no record names, goes once its grace time is over. */
  private async sweepTable(): Promise<void> {
    if (!this.table || (this.opts.leader && !this.opts.leader('files.sweep'))) return;
    try {
      const swept = await this.table.sweep();
      if (swept > 0) this.opts.log.info({ swept }, 'removed the content of unfinished uploads and deleted files');
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'sweeping removed file content failed; will retry');
    }
  }

  stop(): void {
    clearInterval(this.sweeper);
  }

  /**
   * Streams `body` to disk and stores it as `fileName`; a name that exists is refused (delete it
   * first) unless `o.replace`. A file a job still references is never replaced.
   */
  async upload(ns: Namespace, fileName: string, body: Readable, o: UploadOptions = {}): Promise<FileInfo> {
    checkFileName(fileName);
    const contentType = o.contentType ?? 'application/octet-stream';
    if (!CONTENT_TYPE.test(contentType)) throw invalidRequest('content-type must be 1 to 256 printable ASCII characters');
    if (o.length !== undefined && o.length > this.maxBytes) throw tooLarge(this.maxBytes);
    // Checked before and after the upload: before, so that nobody streams a gigabyte to be refused.
    if (o.replace) await this.replaceable(ns, fileName);
    else if (await this.store.get(ns, fileName)) throw exists(fileName);
    const written = await this.content.write(body, this.maxBytes);
    if (o.sha256 !== undefined && o.sha256 !== written.sha256) {
      await this.content.remove(written.contentId);
      throw new AwsError(
        'XAmzContentSHA256Mismatch',
        400,
        `The x-amz-content-sha256 header (${o.sha256}) does not match the SHA-256 of the ${written.size} bytes received (${written.sha256}); the file was not stored`,
      );
    }
    const record: FileRecord = { fileName, ...written, contentType, createdAt: Date.now() };
    if (o.replace) {
      let old: string[];
      try {
        // Checked again just before the replacing statement: a job may have started using it meanwhile.
        await this.replaceable(ns, fileName);
        old = await this.store.replace(ns, record);
      } catch (err) {
        await this.content.remove(written.contentId);
        throw err;
      }
      // Downloads in progress keep the content they opened; URLs issued for the old content no longer match.
      for (const id of old) await this.content.remove(id);
    } else {
      let inserted: boolean;
      try {
        inserted = await this.store.insert(ns, record);
      } catch (err) {
        await this.content.remove(written.contentId);
        throw err;
      }
      if (!inserted) {
        await this.content.remove(written.contentId);
        throw exists(fileName);
      }
    }
    this.opts.log.info({ accountId: ns.accountId, region: ns.region, fileName, size: record.size }, 'file stored');
    return info(record);
  }

  async describe(ns: Namespace, fileName: string): Promise<FileInfo> {
    return info(await this.existing(ns, fileName));
  }

  /** A page of the namespace's files by name, starting after `after`. */
  async list(ns: Namespace, maxResults: number, after = ''): Promise<{ files: FileInfo[]; last: string | undefined }> {
    const rows = await this.store.list(ns, after, maxResults + 1);
    const files = rows.slice(0, maxResults).map(info);
    return { files, last: rows.length > maxResults ? files.at(-1)!.fileName : undefined };
  }

  /** Deletes the file; downloads in progress finish with the content they started with. */
  async delete(ns: Namespace, fileName: string): Promise<void> {
    checkFileName(fileName);
    const user = await this.opts.inUse?.(ns, fileName);
    if (user !== undefined) {
      throw new AwsError(
        'ConflictException',
        409,
        `file '${fileName}' is referenced by ${user}; cancel or delete it before deleting the file`,
      );
    }
    const contentId = await this.store.remove(ns, fileName);
    if (contentId === undefined) throw missing(fileName);
    await this.content.remove(contentId);
    this.opts.log.info({ accountId: ns.accountId, region: ns.region, fileName }, 'file deleted');
  }

  /** A presigned download URL of an existing file and its expiry (epoch seconds). */
  async presignedUrl(ns: Namespace, fileName: string, o: PresignOptions = {}): Promise<{ url: string; expiresAt: number }> {
    return this.sign(ns, fileName, await this.existing(ns, fileName), o);
  }

  private sign(ns: Namespace, fileName: string, file: FileRecord, o: PresignOptions): { url: string; expiresAt: number } {
    const expires = Math.floor((o.issuedAt ?? Date.now()) / 1000) + checkExpiresInSec(o.expiresInSec ?? DEFAULT_URL_EXPIRY_SEC);
    return {
      url: this.signer.url(o.baseUrl ?? this.publicBaseUrl(), { ns, fileName, expires, version: file.contentId }),
      expiresAt: expires,
    };
  }

  /** Where devices download from: the public HTTPS listener, else the HTTP one. */
  publicBaseUrl(): string {
    const urls = publicUrls(this.opts.endpoints());
    const base = urls.https ?? urls.http;
    if (base === undefined) throw internalFailure('neither the HTTP nor the HTTPS listener is on: there is no URL to download files from');
    return base;
  }

  /**
   * Checks a download request's presigned query (403 when unsigned, altered or expired) and opens
   * the file's content (404 when the file does not exist). The caller streams or closes it.
   */
  async openDownload(fileName: string, query: Record<string, string | undefined>): Promise<{ file: FileRecord; content: OpenedContent }> {
    const grant = this.signer.verify(fileName, query, Date.now());
    const file = await this.store.get(grant.ns, fileName);
    if (!file) throw missing(fileName);
    if (file.contentId !== grant.version) {
      throw notFound(`File '${fileName}' was deleted and uploaded again after this URL was issued; ask for a new URL`);
    }
    // Undefined: deleted between the lookup and the open.
    const content = (await this.content.open(file.contentId)) ?? (this.table && (await this.directory.open(file.contentId)));
    if (!content) throw missing(fileName);
    return { file, content };
  }

  /**
   * For CreateJob: rejects with InvalidRequestException when a placeholder of the document names a
   * file that is not a valid name or does not exist in `ns`.
   */
  async checkFileReferences(documentText: string, ns: Namespace): Promise<void> {
    await this.referencedFiles(ns, documentText);
  }

  /**
   * The document as a device gets it: `${thicket:PresignedUrl:f}` becomes a fresh presigned URL of
   * file f, `${thicket:FileSha256:f}` its hex SHA-256 and `${thicket:FileSize:f}` its byte count.
   * None of these contains a character that needs escaping in a JSON string. Rejects with
   * InvalidRequestException when a referenced file no longer exists. A document without
   * placeholders reads nothing.
   */
  async substituteFilePlaceholders(documentText: string, ns: Namespace, o: { expiresInSec: number; baseUrl?: string }): Promise<string> {
    const files = await this.referencedFiles(ns, documentText);
    if (files.size === 0) return documentText;
    const urls = new Map<string, string>();
    const baseUrl = o.baseUrl ?? this.publicBaseUrl();
    return replacePlaceholders(documentText, (kind, name) => {
      const file = files.get(name)!;
      if (kind === 'FileSha256') return file.sha256;
      if (kind === 'FileSize') return String(file.size);
      let url = urls.get(name);
      if (url === undefined) urls.set(name, (url = this.sign(ns, name, file, { expiresInSec: o.expiresInSec, baseUrl }).url));
      return url;
    });
  }

  /**
   * The text of a small stored file: a job document kept as a file (CreateJob's documentSource).
   * Larger than `maxBytes` or not UTF-8 is an InvalidRequestException that names the file.
   */
  async readText(ns: Namespace, fileName: string, maxBytes: number): Promise<string> {
    const file = await this.store.get(ns, checkFileName(fileName));
    if (!file) throw missing(fileName);
    if (file.size > maxBytes)
      throw invalidRequest(`file '${fileName}' holds ${file.size} bytes; a job document may have at most ${maxBytes}`);
    const bytes = await this.readContent(file);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw invalidRequest(`file '${fileName}' is not UTF-8 text`);
    }
  }

  /**
   * Test mode: deletes every file's record of every namespace (the statement is issued at the call:
   * on SQLite inside the platform's reset transaction); `cleared()` then removes their content.
   */
  async clear(): Promise<void> {
    this.clearedContent.push(...(await this.store.clear()));
  }

  /** Test mode, once the reset committed: removes the content of the records `clear()` deleted. */
  cleared(): void {
    this.content
      .removeAll(this.clearedContent.splice(0))
      .catch((err: Error) => this.opts.log.warn({ err: err.message }, 'removing the content of the reset files failed'));
  }

  /** The whole content; on PostgreSQL, content an earlier version put on this node's disk too (not in the table: short). */
  private async readContent(file: FileRecord): Promise<Buffer> {
    const bytes = await this.content.read(file.contentId);
    if (!this.table || bytes.length >= file.size) return bytes;
    try {
      return await this.directory.read(file.contentId);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // Uploaded through another node by a version that kept content on each node's disk.
      throw notFound(
        `the content of file '${file.fileName}' is not in the database: an earlier version of Thicket kept it on the disk of the node it was uploaded through; upload the file again`,
      );
    }
  }

  private async replaceable(ns: Namespace, fileName: string): Promise<void> {
    // A file that does not exist is no job's: the jobs are not scanned for every new file.
    const user = (await this.store.get(ns, fileName)) && (await this.opts.inUse?.(ns, fileName));
    if (user) {
      throw new AwsError('ConflictException', 409, `file '${fileName}' is referenced by ${user}; it is not replaced while it is`);
    }
  }

  private async existing(ns: Namespace, fileName: string): Promise<FileRecord> {
    const file = await this.store.get(ns, checkFileName(fileName));
    if (!file) throw missing(fileName);
    return file;
  }

  /** The files a document's placeholders name, by name; InvalidRequestException for one that is not a valid name or does not exist. */
  private async referencedFiles(ns: Namespace, documentText: string): Promise<Map<string, FileRecord>> {
    const files = new Map<string, FileRecord>();
    for (const name of fileReferences(documentText)) {
      if (!isFileName(name)) throw invalidRequest(`job document references file '${name}', which is not a valid file name`);
      const file = await this.store.get(ns, name);
      if (!file) throw invalidRequest(`job document references file '${name}', which does not exist`);
      files.set(name, file);
    }
    return files;
  }
}

const exists = (fileName: string): AwsError =>
  alreadyExists(`file '${fileName}' already exists; delete it first or upload under another name`, fileName);
const missing = (fileName: string): AwsError => notFound(`file '${fileName}' does not exist`);
