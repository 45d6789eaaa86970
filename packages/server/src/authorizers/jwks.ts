/**
 * JSON Web Key Sets fetched over HTTP(S) and cached per URI. A token whose `kid` the cached set does
 * not know triggers one refetch (identity providers publish a new key before signing with it), but
 * no more often than `minRefreshIntervalMs`, so a flood of tokens with made-up key ids cannot turn
 * the server into a request amplifier against the identity provider.
 */
import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { JwtError, keyMismatch, type JwtAlgorithm } from './jwt.js';

export interface JwksOptions {
  /** How long a fetched set is used before it is fetched again. */
  ttlMs?: number;
  /** Least time between two fetches of one URI when a key id is unknown. */
  minRefreshIntervalMs?: number;
  timeoutMs?: number;
  /** Largest JWKS document accepted. */
  maxBytes?: number;
  now?: () => number;
}

interface Entry {
  keys: JsonWebKey[];
  fetchedAt: number;
  /** When the last fetch (successful or not) started. */
  attemptedAt: number;
  /** Why the last fetch failed; cleared by a successful one. */
  lastError: string | undefined;
  inFlight: Promise<void> | undefined;
}

const DEFAULTS = { ttlMs: 10 * 60_000, minRefreshIntervalMs: 30_000, timeoutMs: 5_000, maxBytes: 1024 * 1024 };

/** Reads a response body, refusing more than `max` bytes (a misconfigured URI must not exhaust memory). */
export async function readLimited(res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) throw new Error(`the response is larger than ${max} bytes`);
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body) {
    total += (chunk as Uint8Array).byteLength;
    if (total > max) throw new Error(`the response is larger than ${max} bytes`);
    chunks.push(Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks).toString('utf8');
}

export class JwksCache {
  private readonly entries = new Map<string, Entry>();
  private readonly opts: Required<Omit<JwksOptions, 'now'>> & { now: () => number };

  constructor(opts: JwksOptions = {}) {
    this.opts = { ...DEFAULTS, ...opts, now: opts.now ?? Date.now };
  }

  /** The key that checks a token with this `kid` and algorithm; throws JwtError when there is none. */
  async key(uri: string, kid: string | undefined, alg: JwtAlgorithm): Promise<KeyObject> {
    let entry = this.entries.get(uri);
    if (!entry || (this.age(entry) >= this.opts.ttlMs && this.mayFetch(entry))) entry = await this.refresh(uri);
    let found = this.pick(entry, kid, alg);
    if (!found && this.mayFetch(entry)) {
      entry = await this.refresh(uri);
      found = this.pick(entry, kid, alg);
    }
    if (found) return found;
    if (entry.keys.length === 0 && entry.lastError) throw new JwtError(`could not fetch the JWKS at ${uri}: ${entry.lastError}`);
    throw new JwtError(
      kid === undefined
        ? `the JWKS at ${uri} has no single ${alg} key for a token without "kid"`
        : `the JWKS at ${uri} has no key "${kid}" for ${alg}`,
    );
  }

  private age(entry: Entry): number {
    return this.opts.now() - entry.fetchedAt;
  }

  private mayFetch(entry: Entry): boolean {
    return this.opts.now() - entry.attemptedAt >= this.opts.minRefreshIntervalMs;
  }

  /**
   * Fetches the set, one request at a time per URI. A failed fetch keeps the previous keys: a passing
   * outage of the identity provider should not lock out tokens signed with keys already known.
   */
  private async refresh(uri: string): Promise<Entry> {
    let entry = this.entries.get(uri);
    if (!entry) {
      entry = { keys: [], fetchedAt: -Infinity, attemptedAt: -Infinity, lastError: undefined, inFlight: undefined };
      this.entries.set(uri, entry);
    }
    const e = entry;
    e.inFlight ??= (async () => {
      e.attemptedAt = this.opts.now();
      try {
        e.keys = await this.fetchKeys(uri);
        e.fetchedAt = this.opts.now();
        e.lastError = undefined;
      } catch (err) {
        e.lastError = (err as Error).message;
      } finally {
        e.inFlight = undefined;
      }
    })();
    await e.inFlight;
    return e;
  }

  private async fetchKeys(uri: string): Promise<JsonWebKey[]> {
    const res = await fetch(uri, {
      headers: { accept: 'application/json' },
      redirect: 'error',
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    });
    const text = await readLimited(res, this.opts.maxBytes);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      throw new Error('the response is not JSON');
    }
    const keys = (doc as { keys?: unknown } | null)?.keys;
    if (!Array.isArray(keys)) throw new Error('the response has no "keys" array');
    return keys.filter((k): k is JsonWebKey => k !== null && typeof k === 'object' && !Array.isArray(k));
  }

  private pick(entry: Entry, kid: string | undefined, alg: JwtAlgorithm): KeyObject | undefined {
    const usable: KeyObject[] = [];
    for (const jwk of entry.keys) {
      if (kid !== undefined && jwk.kid !== kid) continue;
      const key = usableKey(jwk, alg);
      if (key) usable.push(key);
    }
    // Without a kid the choice must be unambiguous: trying every key would let any of them vouch.
    return usable.length === 1 || (kid !== undefined && usable.length > 0) ? usable[0] : undefined;
  }
}

/** The public key of a JWK when it may verify `alg` signatures (type, curve, `use`, `alg` and `key_ops` agree). */
function usableKey(jwk: JsonWebKey, alg: JwtAlgorithm): KeyObject | undefined {
  // Symmetric keys never come from a published key set.
  if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') return undefined;
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
  if (jwk.alg !== undefined && jwk.alg !== alg) return undefined;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return undefined;
  let key: KeyObject;
  try {
    // Only the public members: a set that carelessly includes private parts must not yield a private key.
    const pub = Object.fromEntries(['kty', 'n', 'e', 'crv', 'x', 'y'].filter((k) => jwk[k] !== undefined).map((k) => [k, jwk[k]]));
    key = createPublicKey({ key: pub as JsonWebKey, format: 'jwk' });
  } catch {
    return undefined;
  }
  return keyMismatch(alg, key) === undefined ? key : undefined;
}
