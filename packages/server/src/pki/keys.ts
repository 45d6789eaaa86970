/** Key generation, import and export, and the rule for which public keys the CA will certify. */
import { createPrivateKey, createPublicKey, type KeyObject, type webcrypto } from 'node:crypto';
import { derToPem } from './pem.js';
import { subtle } from './x509.js';

const NEW_KEY_ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const;

/** OpenSSL curve names as node:crypto reports them, mapped to WebCrypto's and the hash each is paired with. */
const EC_CURVES: Record<string, { namedCurve: string; hash: string }> = {
  prime256v1: { namedCurve: 'P-256', hash: 'SHA-256' },
  secp384r1: { namedCurve: 'P-384', hash: 'SHA-384' },
  secp521r1: { namedCurve: 'P-521', hash: 'SHA-512' },
};

export interface SigningKey {
  key: webcrypto.CryptoKey;
  algorithm: webcrypto.EcdsaParams;
}

export async function generateKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  // Extractable because the private key has to be written out (or handed to the caller) once.
  return subtle.generateKey(NEW_KEY_ALGORITHM, true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
}

export async function privateKeyToPem(key: webcrypto.CryptoKey): Promise<string> {
  return derToPem(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

/**
 * Imports a CA private key for signing. Goes through node:crypto first so that SEC1 (`EC PRIVATE
 * KEY`) files an operator may have put in place work as well as the PKCS#8 ones we write, and so
 * that the curve is known before WebCrypto is asked to import it.
 */
export async function importSigningKey(pem: string, fileName: string): Promise<SigningKey> {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${fileName} is not a readable private key: ${(err as Error).message}`, { cause: err });
  }
  const curve = keyObject.asymmetricKeyType === 'ec' ? EC_CURVES[keyObject.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (!curve) throw new Error(`${fileName} must be an ECDSA key on P-256, P-384 or P-521`);
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const key = await subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve.namedCurve }, false, ['sign']);
  return { key, algorithm: { name: 'ECDSA', hash: curve.hash } };
}

/** SubjectPublicKeyInfo DER of the public half of a private key, to check that a key file belongs to a certificate. */
export function publicKeyDerOfPrivateKey(pem: string): Buffer {
  return createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' });
}

/**
 * SubjectPublicKeyInfo DER of a public key we are asked to certify, refused unless it is a key
 * AWS IoT itself accepts for device certificates (EC P-256/P-384/P-521, RSA of 2048 bits or more),
 * so that a weak key never gets a certificate that the broker would then trust.
 */
export function certifiablePublicKeyDer(key: string | Uint8Array, what: string): Buffer {
  let keyObject: KeyObject;
  try {
    keyObject = typeof key === 'string' ? createPublicKey(key) : createPublicKey({ key: Buffer.from(key), format: 'der', type: 'spki' });
  } catch (err) {
    throw new Error(`${what} is not a readable public key: ${(err as Error).message}`, { cause: err });
  }
  const type = keyObject.asymmetricKeyType;
  const details = keyObject.asymmetricKeyDetails ?? {};
  const ok =
    (type === 'ec' && details.namedCurve !== undefined && details.namedCurve in EC_CURVES) ||
    (type === 'rsa' && (details.modulusLength ?? 0) >= 2048);
  if (!ok) {
    const shape = type === 'rsa' ? `RSA ${details.modulusLength} bits` : type === 'ec' ? `EC ${details.namedCurve}` : String(type);
    throw new Error(`${what} has an unsupported key (${shape}); use EC P-256, P-384, P-521 or RSA of at least 2048 bits`);
  }
  return keyObject.export({ type: 'spki', format: 'der' });
}
