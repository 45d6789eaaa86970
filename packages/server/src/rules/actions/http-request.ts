/**
 * Outgoing HTTP(S) POSTs of the rules engine (http action, destination confirmations): keep-alive
 * agents shared by every rule, so a busy action reuses its connections instead of opening one per
 * message; a timeout per request; the response read and discarded (its size counted).
 *
 * HTTPS trusts Node's bundled roots, the system store (`/etc/ssl/certs/ca-certificates.crt`) and
 * `NODE_EXTRA_CA_CERTS`: giving `ca` explicitly replaces Node's defaults, so all three are listed.
 */
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';

const SYSTEM_CA_FILE = '/etc/ssl/certs/ca-certificates.crt';
/** Sockets per endpoint (host:port): enough for thousands of requests a second at LAN latencies. */
const MAX_SOCKETS = 256;
/** Bigger responses are not retried (AWS), and are not read into memory either way. */
export const MAX_RESPONSE_BYTES = 16_384;

let agents: { http: http.Agent; https: https.Agent } | undefined;

/** Root certificates outgoing HTTPS trusts; read when the first request is made. */
export function trustedCertificates(env: NodeJS.ProcessEnv = process.env): string[] {
  const cas = [...rootCertificates];
  for (const file of [SYSTEM_CA_FILE, env.NODE_EXTRA_CA_CERTS]) {
    if (!file || !existsSync(file)) continue;
    try {
      cas.push(readFileSync(file, 'utf8'));
    } catch {
      /* an unreadable bundle adds nothing */
    }
  }
  return cas;
}

function agentFor(protocol: string): http.Agent {
  if (!agents) {
    const options = { keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: 64, scheduling: 'lifo' as const };
    agents = { http: new http.Agent(options), https: new https.Agent({ ...options, ca: trustedCertificates() }) };
  }
  return protocol === 'https:' ? agents.https : agents.http;
}

/** Forgets the agents (their idle connections close); the next request builds them again with the current trust. */
export function resetAgents(): void {
  agents?.http.destroy();
  agents?.https.destroy();
  agents = undefined;
}

export interface PostResult {
  status: number;
  /** Bytes of the response body (counted, not kept beyond the first few hundred). */
  bytes: number;
  /** The start of the body, for error messages. */
  excerpt: string;
}

/**
 * Why a request got no response; `connect` errors happened before anything was sent; `stale` means
 * a kept-alive connection was closed by the server as the request went out on it (the server drops
 * idle connections on its own schedule), so the request was not processed.
 */
export class RequestFailure extends Error {
  constructor(
    message: string,
    readonly kind: 'connect' | 'timeout' | 'closed' | 'stale',
  ) {
    super(message);
  }
}

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'EADDRNOTAVAIL']);
/** How a reused connection the server had closed fails the request written on it. */
const STALE_CODES = new Set(['ECONNRESET', 'EPIPE']);

/** POSTs `body` to `url`; resolves with the response status, rejects with a RequestFailure. */
export function post(url: URL, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (err: RequestFailure | undefined, result?: PostResult): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(result!);
    };
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, {
      method: 'POST',
      agent: agentFor(url.protocol),
      headers: { ...headers, 'content-length': String(body.length) },
    });
    const timer = setTimeout(() => {
      finish(new RequestFailure(`Request timeout to ${url.host} after ${timeoutMs} ms`, 'timeout'));
      req.destroy();
    }, timeoutMs);
    let responded = false;
    req.on('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? '';
      const kind = CONNECT_CODES.has(code) ? 'connect' : req.reusedSocket && !responded && STALE_CODES.has(code) ? 'stale' : 'closed';
      finish(new RequestFailure(err.message || code, kind));
    });
    req.on('response', (res) => {
      responded = true;
      let bytes = 0;
      let excerpt = '';
      res.on('data', (chunk: Buffer) => {
        if (excerpt.length < 256) excerpt += chunk.subarray(0, 256 - excerpt.length).toString('utf8');
        bytes += chunk.length;
      });
      res.on('end', () => finish(undefined, { status: res.statusCode ?? 0, bytes, excerpt }));
      res.on('error', (err) => finish(new RequestFailure(err.message, 'closed')));
      res.on('aborted', () => finish(new RequestFailure('the server closed the connection mid-response', 'closed')));
    });
    req.end(body);
  });
}

/** At most this many tries in all (AWS: the first and two retries). */
export const MAX_TRIES = 3;
const BACKOFF_MS = [100, 400];

export interface Delivery {
  result: PostResult;
  tries: number;
}

/** A request that failed for good: no response (`failure`), or a response that is not 2xx. */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly tries: number,
    readonly result?: PostResult,
  ) {
    super(message);
  }
}

/**
 * POSTs with AWS's retry rules: up to three tries, again only after a 429 or 5xx response (not one
 * over 16 KiB), a failure to connect or a timeout, never after the peer closed the connection; a
 * short backoff with jitter between tries. Resolves on a 2xx response. A request lost on a kept-alive
 * connection the server had just closed goes again at once on a new one, once, and is not counted
 * as a try: without keep-alive it would have gone on a new connection in the first place.
 */
export async function postWithRetries(url: URL, headers: Record<string, string>, body: Buffer, timeoutMs: number): Promise<Delivery> {
  let staleRetried = false;
  for (let tries = 1; ; tries++) {
    let retry: boolean;
    let error: DeliveryError;
    try {
      let result: PostResult;
      try {
        result = await post(url, headers, body, timeoutMs);
      } catch (err) {
        if (!(err instanceof RequestFailure) || err.kind !== 'stale' || staleRetried) throw err;
        staleRetried = true;
        result = await post(url, headers, body, timeoutMs);
      }
      if (result.status >= 200 && result.status < 300) return { result, tries };
      retry = (result.status === 429 || result.status >= 500) && result.bytes <= MAX_RESPONSE_BYTES;
      const excerpt = result.excerpt.replace(/\s+/g, ' ').trim().slice(0, 200);
      error = new DeliveryError(`the endpoint answered ${result.status}${excerpt ? `: ${excerpt}` : ''}`, tries, result);
    } catch (err) {
      if (!(err instanceof RequestFailure)) throw err;
      retry = err.kind !== 'closed';
      error = new DeliveryError(err.message, tries);
    }
    if (!retry || tries >= MAX_TRIES) throw error;
    const base = BACKOFF_MS[tries - 1] ?? BACKOFF_MS[BACKOFF_MS.length - 1]!;
    await new Promise((r) => setTimeout(r, base + Math.floor(Math.random() * base)));
  }
}
