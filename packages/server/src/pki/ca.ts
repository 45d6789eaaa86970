/** The root CA: creating it, and signing leaf certificates with it. */
import { randomBytes } from 'node:crypto';
import { generateKeyPair, importSigningKey, privateKeyToPem } from './keys.js';
import { x509 } from './x509.js';

/** The CA and the server's own certificate, as PEM text, and where they are kept. */
export interface Pki {
  caCertPem: string;
  caKeyPem: string;
  serverCertPem: string;
  serverKeyPem: string;
  dataDir: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const CA_VALIDITY_DAYS = 3652;
/** Backdating absorbs clock skew: a device a few minutes behind would otherwise reject a fresh certificate. */
export const BACKDATE_MS = 5 * 60 * 1000;

/**
 * 16 random bytes with the top bit clear, so the DER INTEGER is positive and exactly 16 bytes
 * (a leading 0x00 would be added for a set top bit, and stripped for a zero first byte).
 */
export function randomSerialNumber(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}

/** Validity of `days` from a moment ago, never past `notAfterLimit` (a certificate outliving its CA only fails later, more confusingly). */
export function validity(days: number, notAfterLimit?: Date): { notBefore: Date; notAfter: Date } {
  if (!Number.isFinite(days) || days <= 0) throw new Error(`validity must be a positive number of days, got ${days}`);
  // X.509 times have whole seconds; rounding here keeps notAfter - notBefore exactly `days`.
  const notBefore = new Date(Math.floor((Date.now() - BACKDATE_MS) / 1000) * 1000);
  let notAfter = new Date(notBefore.getTime() + Math.round(days * DAY_MS));
  if (notAfterLimit && notAfter > notAfterLimit) notAfter = notAfterLimit;
  return { notBefore, notAfter };
}

export async function createRootCa(): Promise<{ caCertPem: string; caKeyPem: string }> {
  const keys = await generateKeyPair();
  const id = randomBytes(4).toString('hex');
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerialNumber(),
    // Broadest first, as DNs are conventionally encoded; it reads back as "CN=..., O=Thicket".
    name: new x509.Name([{ O: [{ printableString: 'Thicket' }] }, { CN: [{ printableString: `Thicket Root CA ${id}` }] }]),
    ...validity(CA_VALIDITY_DAYS),
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { caCertPem: `${cert.toString('pem')}\n`, caKeyPem: await privateKeyToPem(keys.privateKey) };
}

export interface LeafRequest {
  subject: x509.Name;
  /** SubjectPublicKeyInfo DER or a CryptoKey. */
  publicKey: x509.PublicKeyType;
  days: number;
  extendedKeyUsage: x509.ExtendedKeyUsage;
  subjectAltNames?: x509.JsonGeneralNames;
}

/** Signs an end-entity certificate with the CA of `pki`; returns it as PEM. */
export async function signLeafCertificate(pki: Pick<Pki, 'caCertPem' | 'caKeyPem'>, request: LeafRequest): Promise<string> {
  const caCert = new x509.X509Certificate(pki.caCertPem);
  const signer = await importSigningKey(pki.caKeyPem, 'ca.key');
  // The AKI has to equal the CA's own SKI for chain builders that match on it, whatever method made that SKI.
  const caKeyId =
    caCert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ??
    Buffer.from(await caCert.publicKey.getKeyIdentifier()).toString('hex');
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([request.extendedKeyUsage]),
    await x509.SubjectKeyIdentifierExtension.create(request.publicKey),
    new x509.AuthorityKeyIdentifierExtension(caKeyId),
  ];
  if (request.subjectAltNames?.length) extensions.push(new x509.SubjectAlternativeNameExtension(request.subjectAltNames));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerialNumber(),
    subject: request.subject,
    issuer: caCert.subjectName,
    ...validity(request.days, caCert.notAfter),
    publicKey: request.publicKey,
    signingKey: signer.key,
    signingAlgorithm: signer.algorithm,
    extensions,
  });
  return `${cert.toString('pem')}\n`;
}

/** A subject of one common name, encoded as a value rather than parsed from DN text, so `,`, `=`, `+`, `"`, `\` or a leading `#` stay literal. */
export function commonNameSubject(commonName: string): x509.Name {
  const value = x509.Name.isPrintableString(commonName) ? { printableString: commonName } : { utf8String: commonName };
  return new x509.Name([{ CN: [value] }]);
}
