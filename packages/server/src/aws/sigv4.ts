/**
 * Verification of AWS Signature Version 4 on incoming requests. The expected signature is computed
 * with the same signer the AWS SDKs use (@smithy/signature-v4) over exactly the headers the client
 * listed as signed, then compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import { AwsError } from './errors.js';

/** How far a request's date may be from the server clock (AWS: 15 minutes). */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export interface SignedRequest {
  method: string;
  /** Path and query exactly as received (still percent-encoded). */
  rawUrl: string;
  headers: Record<string, string | string[] | undefined>;
  /**
   * Undefined for a body that is streamed rather than buffered (file uploads): the request must then
   * sign x-amz-content-sha256, and the caller checks the bytes against it as they arrive.
   */
  body: Buffer | undefined;
}

export interface SigV4Identity {
  accessKeyId: string;
  region: string;
  service: string;
  date: Date;
}

/** The secret of an access key (temporary credentials may have to be read from the database). */
export interface SecretLookup {
  (accessKeyId: string): string | undefined | Promise<string | undefined>;
}

const AUTH = /^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-f]{64})\s*$/;

export const missingToken = (): AwsError => new AwsError('MissingAuthenticationTokenException', 403, 'Missing Authentication Token');
const badSignature = (): AwsError =>
  new AwsError(
    'InvalidSignatureException',
    403,
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  );
const incomplete = (what: string): AwsError => new AwsError('IncompleteSignatureException', 403, what);

function header(h: SignedRequest['headers'], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** `20261126T064500Z` → Date. */
function parseAmzDate(s: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return undefined;
  const d = new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
  return Number.isNaN(d.getTime()) ? undefined : d;
}

const amz = (d: Date): string =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

/** Malformed escapes (`%zz`, a lone `%`, overlong UTF-8 such as `%c0%ae`) are the client's error. */
function decodeQueryPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new AwsError('InvalidRequestException', 400, `The query string has a malformed percent-escape: '${part.slice(0, 64)}'`);
  }
}

function parseQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (!raw) return out;
  for (const part of raw.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const k = decodeQueryPart(eq < 0 ? part : part.slice(0, eq));
    const v = eq < 0 ? '' : decodeQueryPart(part.slice(eq + 1));
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/**
 * Checks the Authorization header of `req`. Returns who signed and for which region and service;
 * throws the AWS error a real endpoint would answer with.
 */
export async function verifySigV4(req: SignedRequest, secretOf: SecretLookup, now = Date.now()): Promise<SigV4Identity> {
  const auth = header(req.headers, 'authorization');
  if (!auth) throw missingToken();
  const m = AUTH.exec(auth.trim());
  if (!m)
    throw incomplete(`Authorization header requires Credential, SignedHeaders and Signature parameters; got '${auth.split(' ')[0]}...'`);
  const [, credential, signedHeaderList, signature] = m as unknown as [string, string, string, string];
  const scope = credential.split('/');
  if (scope.length !== 5 || scope[4] !== 'aws4_request')
    throw incomplete(`Credential should be scoped to a valid region, not '${credential}'`);
  const [accessKeyId, scopeDate, region, service] = scope as [string, string, string, string];

  const dateHeader = header(req.headers, 'x-amz-date');
  if (!dateHeader) throw incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
  const date = parseAmzDate(dateHeader);
  if (!date) throw incomplete(`Invalid X-Amz-Date '${dateHeader}'`);
  if (!dateHeader.startsWith(scopeDate)) throw badSignature();
  if (Math.abs(now - date.getTime()) > MAX_CLOCK_SKEW_MS) {
    const earlier = date.getTime() < now;
    const bound = new Date(earlier ? now - MAX_CLOCK_SKEW_MS : now + MAX_CLOCK_SKEW_MS);
    throw new AwsError(
      'InvalidSignatureException',
      403,
      `Signature ${earlier ? 'expired' : 'not yet current'}: ${dateHeader} is now ${earlier ? 'earlier' : 'later'} than ${amz(bound)} (${amz(new Date(now))} ${earlier ? '-' : '+'} 15 min.)`,
    );
  }

  const secret = await secretOf(accessKeyId);
  if (secret === undefined)
    throw new AwsError('UnrecognizedClientException', 403, 'The security token included in the request is invalid.');

  const signed = signedHeaderList.split(';');
  if (!signed.includes('host')) throw incomplete('SignedHeaders must include host');
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const v = header(req.headers, name);
    if (v === undefined) throw badSignature();
    headers[name] = v;
  }
  const payloadHeader = headers['x-amz-content-sha256'];
  if (req.body === undefined && payloadHeader === undefined) {
    throw incomplete(
      'This request streams its body: sign the x-amz-content-sha256 header (UNSIGNED-PAYLOAD or the hex SHA-256 of the body)',
    );
  }
  if (payloadHeader !== undefined && req.body !== undefined && payloadHeader !== createHash('sha256').update(req.body).digest('hex')) {
    throw new AwsError('InvalidSignatureException', 403, 'The provided x-amz-content-sha256 header does not match what was computed.');
  }

  const q = req.rawUrl.indexOf('?');
  const path = q < 0 ? req.rawUrl : req.rawUrl.slice(0, q);
  const signer = new SignatureV4({
    credentials: { accessKeyId, secretAccessKey: secret },
    region,
    service,
    sha256: Sha256,
    applyChecksum: false,
  });
  const result = await signer.sign(
    {
      method: req.method.toUpperCase(),
      protocol: 'https:',
      hostname: headers.host!,
      path,
      query: parseQuery(q < 0 ? '' : req.rawUrl.slice(q + 1)),
      headers,
      body: payloadHeader === undefined ? req.body : undefined,
    },
    { signingDate: date, signingRegion: region, signingService: service, signableHeaders: new Set(signed) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(result.headers.authorization))?.[1] ?? '';
  const expectedHeaders = /SignedHeaders=([^,\s]+)/.exec(String(result.headers.authorization))?.[1];
  if (expectedHeaders !== signedHeaderList || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) throw badSignature();
  return { accessKeyId, region, service, date };
}
