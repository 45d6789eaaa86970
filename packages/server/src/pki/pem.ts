/** PEM/DER conversion and AWS IoT's certificate id. */
import { X509Certificate, createHash } from 'node:crypto';
import { x509 } from './x509.js';

/** DER bytes of the first PEM block, optionally insisting on its label (`CERTIFICATE`, `PRIVATE KEY`, ...). */
export function pemToDer(pem: string, label?: string): Buffer {
  let blocks: x509.PemStruct[];
  try {
    blocks = x509.PemConverter.decodeWithHeaders(pem);
  } catch {
    blocks = [];
  }
  const first = blocks[0];
  if (!first) throw new Error(`not a PEM document${label ? ` (expected ${label})` : ''}`);
  if (label && first.type.toUpperCase() !== label.toUpperCase()) throw new Error(`expected a PEM ${label}, got ${first.type}`);
  return Buffer.from(first.rawData);
}

/** PEM text with a trailing newline, as tools expect to find it in a file. */
export function derToPem(der: ArrayBuffer | Uint8Array, label = 'CERTIFICATE'): string {
  return `${x509.PemConverter.encode(der, label)}\n`;
}

/**
 * AWS IoT's certificateId: the SHA-256 of the certificate's DER, in lowercase hex. Parsing with
 * node:crypto first means a PEM that is not a certificate is refused instead of hashed.
 */
export function certificateId(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}
