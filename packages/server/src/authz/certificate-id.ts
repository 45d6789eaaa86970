import { createHash } from 'node:crypto';

/** AWS IoT's certificateId: the lowercase hex SHA-256 of the certificate's DER. */
export function certificateIdOf(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}
