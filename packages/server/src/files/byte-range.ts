/**
 * The single byte range of an HTTP `Range` header (RFC 9110 §14), which is what devices use to
 * resume an interrupted download. Several ranges in one request are served as the whole file,
 * which the RFC allows and which no resuming client asks for anyway.
 */

export interface ByteRange {
  start: number;
  /** Inclusive. */
  end: number;
}

/**
 * The range to serve of a file of `size` bytes: undefined for the whole file (no header, a header
 * this server ignores, or an `If-Range` validator that no longer matches), 'unsatisfiable' for a
 * range that starts beyond the end (416).
 */
export function byteRange(
  header: string | undefined,
  size: number,
  ifRange: string | undefined,
  etag: string,
): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined || (ifRange !== undefined && ifRange !== etag)) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    // `bytes=-n`: the last n bytes.
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  if (last < start) return undefined; // invalid: the header is ignored
  if (start >= size) return 'unsatisfiable';
  return { start, end: Math.min(last, size - 1) };
}
