/** Reading and checking X.509 certificates given to the API (PEM in, AWS errors out). */
import { X509Certificate } from 'node:crypto';
import { AwsError } from '../aws/errors.js';

export const certificateInvalid = (message: string): AwsError => new AwsError('CertificateValidationException', 400, message);

export function parseCertificate(pem: unknown, member: string): X509Certificate {
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw certificateInvalid(`${member} is not a PEM-encoded X.509 certificate`);
  }
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw certificateInvalid(`${member} is not a valid X.509 certificate: ${(err as Error).message}`);
  }
}

/** Whether `issuer` issued `cert`: names chain and the signature verifies with the issuer's key. */
export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

export function validNow(cert: X509Certificate, now = Date.now()): boolean {
  return Date.parse(cert.validFrom) <= now && now <= Date.parse(cert.validTo);
}

/** The certificate in canonical PEM (what DescribeCertificate returns). */
export function canonicalPem(cert: X509Certificate): string {
  return cert.toString();
}

export function validity(cert: X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: Date.parse(cert.validFrom) / 1000, notAfter: Date.parse(cert.validTo) / 1000 };
}
