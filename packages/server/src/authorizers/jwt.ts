/**
 * JSON Web Token verification (RFC 7515/7518/7519) with node:crypto only: compact JWS decoding,
 * signature checks for RS/PS/ES/HS algorithms, and the registered time, issuer and audience claims.
 *
 * The algorithm a token claims is never trusted on its own: the key it is checked with must be of
 * the kind that algorithm needs (an RSA key for RS/PS, an EC key on the algorithm's curve for ES, a
 * secret for HS). That refusal is what stops the classic confusions, such as a token signed with
 * HS256 using the server's *public* RSA key as the HMAC secret, or `alg: none`.
 */
import { createHmac, constants, timingSafeEqual, verify, type KeyObject } from 'node:crypto';

export class JwtError extends Error {
  override readonly name = 'JwtError';
}

export const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** Clock skew tolerated on `exp` and `nbf`: device clocks drift. */
export const CLOCK_LEEWAY_SECONDS = 60;

interface AlgorithmSpec {
  family: 'RS' | 'PS' | 'ES' | 'HS';
  hash: 'sha256' | 'sha384' | 'sha512';
  /** ES: the curve (as node names it) and the byte length of r and of s. */
  curve?: string;
  coordinateBytes?: number;
}

const SPECS: Record<JwtAlgorithm, AlgorithmSpec> = {
  RS256: { family: 'RS', hash: 'sha256' },
  RS384: { family: 'RS', hash: 'sha384' },
  RS512: { family: 'RS', hash: 'sha512' },
  PS256: { family: 'PS', hash: 'sha256' },
  PS384: { family: 'PS', hash: 'sha384' },
  PS512: { family: 'PS', hash: 'sha512' },
  ES256: { family: 'ES', hash: 'sha256', curve: 'prime256v1', coordinateBytes: 32 },
  ES384: { family: 'ES', hash: 'sha384', curve: 'secp384r1', coordinateBytes: 48 },
  ES512: { family: 'ES', hash: 'sha512', curve: 'secp521r1', coordinateBytes: 66 },
  HS256: { family: 'HS', hash: 'sha256' },
  HS384: { family: 'HS', hash: 'sha384' },
  HS512: { family: 'HS', hash: 'sha512' },
};

const HASH_BYTES = { sha256: 32, sha384: 48, sha512: 64 } as const;
const MIN_RSA_BITS = 2048;

export interface DecodedJwt {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
  algorithm: JwtAlgorithm;
  /** `kid` from the header, when it is a string. */
  keyId: string | undefined;
  /** The bytes the signature covers: `base64url(header).base64url(payload)`. */
  signingInput: Buffer;
  signature: Buffer;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function segment(text: string, what: string): Buffer {
  // Buffer's base64url decoder skips characters it does not know; a token must not smuggle any.
  if (!BASE64URL.test(text)) throw new JwtError(`the JWT ${what} is not base64url`);
  return Buffer.from(text, 'base64url');
}

function jsonObject(bytes: Buffer, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new JwtError(`the JWT ${what} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new JwtError(`the JWT ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

export function isJwtAlgorithm(alg: unknown): alg is JwtAlgorithm {
  return typeof alg === 'string' && (JWT_ALGORITHMS as readonly string[]).includes(alg);
}

/** Splits and decodes a compact JWS; checks the shape and the algorithm name, not the signature. */
export function decodeJwt(token: string): DecodedJwt {
  const parts = token.split('.');
  if (parts.length !== 3) throw new JwtError(`a JWT has 3 dot-separated parts, this token has ${parts.length}`);
  const [h, p, s] = parts as [string, string, string];
  const header = jsonObject(segment(h, 'header'), 'header');
  const alg = header.alg;
  if (typeof alg === 'string' && alg.toLowerCase() === 'none') throw new JwtError('unsigned JWTs (alg "none") are refused');
  if (!isJwtAlgorithm(alg))
    throw new JwtError(`JWT algorithm ${JSON.stringify(alg)} is not supported (supported: ${JWT_ALGORITHMS.join(', ')})`);
  // RFC 7515 §4.1.11: extensions the recipient does not understand make the token invalid.
  if (header.crit !== undefined) throw new JwtError('JWTs with critical header extensions ("crit") are refused');
  const payload = jsonObject(segment(p, 'payload'), 'payload');
  const signature = segment(s, 'signature');
  if (signature.length === 0) throw new JwtError('the JWT has an empty signature');
  return {
    header,
    payload,
    algorithm: alg,
    keyId: typeof header.kid === 'string' ? header.kid : undefined,
    signingInput: Buffer.from(`${h}.${p}`, 'ascii'),
    signature,
  };
}

/** Why `key` cannot check a signature made with `alg`, or undefined when it can. */
export function keyMismatch(alg: JwtAlgorithm, key: KeyObject): string | undefined {
  const spec = SPECS[alg];
  if (spec.family === 'HS') {
    if (key.type !== 'secret')
      return `${alg} needs a shared secret, but the configured key is a ${key.asymmetricKeyType ?? key.type} public key`;
    const size = key.symmetricKeySize ?? 0;
    if (size < HASH_BYTES[spec.hash])
      return `${alg} needs a secret of at least ${HASH_BYTES[spec.hash]} bytes, the configured one has ${size}`;
    return undefined;
  }
  if (key.type !== 'public') return `${alg} needs a public key, but the configured key is a secret`;
  const type = key.asymmetricKeyType;
  if (spec.family === 'RS' || spec.family === 'PS') {
    if (type !== 'rsa' && !(spec.family === 'PS' && type === 'rsa-pss'))
      return `${alg} needs an RSA key, but the configured key is ${type}`;
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) return `RSA keys must have at least ${MIN_RSA_BITS} bits, the configured one has ${bits}`;
    return undefined;
  }
  if (type !== 'ec') return `${alg} needs an EC key, but the configured key is ${type}`;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve !== spec.curve) return `${alg} needs an EC key on ${spec.curve}, the configured one is on ${curve}`;
  return undefined;
}

/** Checks the signature with `key`; throws when the key does not suit the algorithm or the signature is wrong. */
export function verifyJwtSignature(jwt: DecodedJwt, key: KeyObject): void {
  const mismatch = keyMismatch(jwt.algorithm, key);
  if (mismatch) throw new JwtError(`algorithm mismatch: ${mismatch}`);
  const spec = SPECS[jwt.algorithm];
  let ok: boolean;
  switch (spec.family) {
    case 'HS': {
      const expected = createHmac(spec.hash, key).update(jwt.signingInput).digest();
      ok = expected.length === jwt.signature.length && timingSafeEqual(expected, jwt.signature);
      break;
    }
    case 'RS':
      ok = verify(spec.hash, jwt.signingInput, key, jwt.signature);
      break;
    case 'PS':
      ok = verify(
        spec.hash,
        jwt.signingInput,
        { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
        jwt.signature,
      );
      break;
    case 'ES':
      // JWS carries r‖s of fixed width (IEEE P1363), not the DER node uses by default.
      ok =
        jwt.signature.length === 2 * spec.coordinateBytes! &&
        verify(spec.hash, jwt.signingInput, { key, dsaEncoding: 'ieee-p1363' }, jwt.signature);
      break;
  }
  if (!ok) throw new JwtError('the JWT signature does not verify');
}

export interface ClaimRules {
  /** Required `iss`, when configured. */
  issuer?: string;
  /** Accepted audiences: the token's `aud` must contain one of them, when configured. */
  audiences?: string[];
  /** Seconds since the epoch. */
  now: number;
  leewaySeconds?: number;
}

const numericDate = (payload: Record<string, unknown>, claim: string): number | undefined => {
  const v = payload[claim];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new JwtError(`the JWT "${claim}" claim must be a number of seconds since the epoch`);
  return v;
};

/**
 * Checks `exp` (required: a token that never expires cannot be revoked by waiting), `nbf`, `iss`
 * and `aud`. Returns the expiry (seconds since the epoch).
 */
export function checkClaims(payload: Record<string, unknown>, rules: ClaimRules): { exp: number } {
  const leeway = rules.leewaySeconds ?? CLOCK_LEEWAY_SECONDS;
  const exp = numericDate(payload, 'exp');
  if (exp === undefined) throw new JwtError('the JWT has no "exp" claim; tokens without an expiry are refused');
  if (rules.now - leeway >= exp) throw new JwtError(`the JWT expired at ${new Date(exp * 1000).toISOString()}`);
  const nbf = numericDate(payload, 'nbf');
  if (nbf !== undefined && nbf > rules.now + leeway)
    throw new JwtError(`the JWT is not valid before ${new Date(nbf * 1000).toISOString()}`);
  if (rules.issuer !== undefined && payload.iss !== rules.issuer) {
    throw new JwtError(`the JWT issuer ${JSON.stringify(payload.iss)} is not the expected ${JSON.stringify(rules.issuer)}`);
  }
  if (rules.audiences?.length) {
    const aud = payload.aud;
    const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
    if (!list.some((a) => rules.audiences!.includes(a))) {
      throw new JwtError(
        `the JWT audience ${JSON.stringify(aud)} does not include ${rules.audiences.map((a) => JSON.stringify(a)).join(' or ')}`,
      );
    }
  }
  return { exp };
}
