/**
 * The OTA job document: files named by (presigned) HTTP(S) URL with their SHA-256, as
 * `{"operation":"ota","files":[{"url","sha256","size","fileName"}]}` or, for one file, with `url`
 * and `sha256` at the top level (the shape Thicket's `${thicket:PresignedUrl:...}` examples use).
 */

export interface OtaFile {
  url: string;
  /** Lowercase hex SHA-256 of the whole file. */
  sha256: string;
  /** Bytes; absent when the document does not say. */
  size?: number;
  /** A plain file name (no directories); derived from the URL path when absent. */
  fileName: string;
}

export interface OtaFileEntry {
  url: string;
  sha256: string;
  size?: number | string;
  fileName?: string;
}

export interface OtaJobDocument {
  operation?: string;
  files?: OtaFileEntry[];
  url?: string;
  sha256?: string;
  size?: number | string;
  fileName?: string;
}

export class OtaDocumentError extends Error {
  override name = 'OtaDocumentError';
}

const SHA256 = /^[0-9a-fA-F]{64}$/;
// A name from the document or a URL must not leave the download directory.
const SAFE_NAME = /^[A-Za-z0-9._-]{1,255}$/;

/** The URL's last path segment; Thicket's file URLs end in `/{fileName}/content`, so that one is skipped. */
function nameFromUrl(url: URL): string {
  const segments = url.pathname.split('/').filter((s) => s !== '');
  const last =
    segments.length >= 2 && segments[segments.length - 1] === 'content' ? segments[segments.length - 2] : segments[segments.length - 1];
  try {
    return decodeURIComponent(last ?? '');
  } catch {
    return '';
  }
}

function fileOf(entry: unknown, where: string): OtaFile {
  if (typeof entry !== 'object' || entry === null) throw new OtaDocumentError(`${where} must be an object`);
  const e = entry as Record<string, unknown>;
  if (typeof e.url !== 'string') throw new OtaDocumentError(`${where}.url must be a string`);
  let url: URL;
  try {
    url = new URL(e.url);
  } catch {
    throw new OtaDocumentError(`${where}.url is not a URL: ${e.url}`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new OtaDocumentError(`${where}.url must be http(s): ${e.url}`);
  if (typeof e.sha256 !== 'string' || !SHA256.test(e.sha256)) throw new OtaDocumentError(`${where}.sha256 must be 64 hex digits`);
  let size: number | undefined;
  if (e.size !== undefined) {
    size = typeof e.size === 'string' ? Number(e.size) : (e.size as number);
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0)
      throw new OtaDocumentError(`${where}.size must be a whole number of bytes`);
  }
  const fileName = e.fileName ?? nameFromUrl(url);
  if (typeof fileName !== 'string' || !SAFE_NAME.test(fileName) || fileName === '.' || fileName === '..')
    throw new OtaDocumentError(`${where}.fileName must be a plain file name (letters, digits, '.', '_', '-'), got ${String(fileName)}`);
  return size === undefined
    ? { url: e.url, sha256: e.sha256.toLowerCase(), fileName }
    : { url: e.url, sha256: e.sha256.toLowerCase(), size, fileName };
}

/** The files an OTA job document names; throws OtaDocumentError when it names none or one is malformed. */
export function parseOtaDocument(doc: unknown): OtaFile[] {
  if (typeof doc !== 'object' || doc === null) throw new OtaDocumentError('the job document must be an object');
  const d = doc as OtaJobDocument;
  if (Array.isArray(d.files)) {
    if (d.files.length === 0) throw new OtaDocumentError('files is empty');
    const files = d.files.map((f, i) => fileOf(f, `files[${i}]`));
    const names = new Set(files.map((f) => f.fileName));
    if (names.size !== files.length) throw new OtaDocumentError('two files have the same fileName');
    return files;
  }
  if (d.url !== undefined) return [fileOf(d, 'document')];
  throw new OtaDocumentError('the job document names no file (files[] or url)');
}

/** Whether a job document looks like an OTA document (without validating it). */
export function isOtaDocument(doc: unknown): boolean {
  return (
    typeof doc === 'object' &&
    doc !== null &&
    (Array.isArray((doc as OtaJobDocument).files) || typeof (doc as OtaJobDocument).url === 'string')
  );
}
