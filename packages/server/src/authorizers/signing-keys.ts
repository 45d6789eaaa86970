/**
 * An authorizer's `tokenSigningPublicKeys`: PEM public keys that check the AWS token signature
 * (reference dataplane §5.2: base64 of an RSA-SHA256 signature over the token bytes) and that the
 * built-in JWT verifier may use; plus, as a Thicket extension, HMAC secrets for HS256 tokens.
 */
import { createPublicKey, createSecretKey, verify, type KeyObject } from 'node:crypto';

const MIN_RSA_BITS = 2048;
/** RFC 7518 §3.2: an HMAC key at least as long as the hash output; HS256 is the least of them. */
export const MIN_HMAC_SECRET_BYTES = 32;

const PUBLIC_KEY_PEM = /-----BEGIN (RSA )?PUBLIC KEY-----[\s\S]+-----END (RSA )?PUBLIC KEY-----/;
const SIGNATURE = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses a PEM public key; throws an Error whose message says what is wrong. */
export function parsePublicKeyPem(pem: string): KeyObject {
  // createPublicKey also accepts private keys and certificates (deriving the public half); a private
  // key pasted by mistake must be refused, not stored and echoed back by DescribeAuthorizer.
  if (/PRIVATE KEY-----/.test(pem)) throw new Error('it is a private key; give the public key');
  if (!PUBLIC_KEY_PEM.test(pem)) throw new Error('it is not a PEM public key (-----BEGIN PUBLIC KEY-----)');
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new Error(`it is not a valid public key: ${(err as Error).message}`, { cause: err });
  }
  const type = key.asymmetricKeyType;
  if (type === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) throw new Error(`RSA keys must have at least ${MIN_RSA_BITS} bits, this one has ${bits}`);
  } else if (type !== 'ec') {
    throw new Error(`${type} keys are not supported; use an RSA key (or an EC key for thicket:jwt)`);
  }
  return key;
}

/**
 * The bytes of an HMAC secret entry: `base64:<data>` for binary secrets, otherwise the UTF-8 text
 * itself. Throws when the secret is too short to be safe.
 */
export function parseHmacSecret(value: string): KeyObject {
  const bytes = value.startsWith('base64:') ? Buffer.from(value.slice(7), 'base64') : Buffer.from(value, 'utf8');
  if (bytes.length < MIN_HMAC_SECRET_BYTES)
    throw new Error(`HMAC secrets must have at least ${MIN_HMAC_SECRET_BYTES} bytes, this one has ${bytes.length}`);
  return createSecretKey(bytes);
}

/**
 * The signature as a client sent it, made decodable: SDKs URL-encode it in the MQTT user name but
 * not every client does, and an unencoded `+` arrives as a space after query-string decoding.
 */
export function normaliseSignature(raw: string): string {
  return raw.trim().replace(/ /g, '+');
}

/**
 * Whether `signature` (base64) is an RSA-SHA256 signature of the token's UTF-8 bytes by any RSA key
 * among `keys`. `skip` names entries that are not public keys (HMAC secrets).
 */
export function verifyTokenSignature(
  token: string,
  signature: string,
  keys: Record<string, string>,
  skip: ReadonlySet<string> = new Set(),
): boolean {
  const sig = normaliseSignature(signature);
  if (!SIGNATURE.test(sig)) return false;
  const bytes = Buffer.from(sig, 'base64');
  const data = Buffer.from(token, 'utf8');
  for (const [name, pem] of Object.entries(keys)) {
    if (skip.has(name)) continue;
    let key: KeyObject;
    try {
      key = parsePublicKeyPem(pem);
    } catch {
      continue;
    }
    if (key.asymmetricKeyType === 'rsa' && verify('sha256', data, key, bytes)) return true;
  }
  return false;
}
