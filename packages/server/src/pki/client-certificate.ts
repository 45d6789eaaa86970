/** Device (client) certificates: issued with a key we generate, for a key the caller holds, or from a CSR. */
import { commonNameSubject, signLeafCertificate, type Pki } from './ca.js';
import { certifiablePublicKeyDer, generateKeyPair, privateKeyToPem } from './keys.js';
import { certificateId } from './pem.js';
import { x509 } from './x509.js';

const CLIENT_VALIDITY_DAYS = 365;

export interface IssueClientCertificateOptions {
  commonName: string;
  days?: number;
  /** Certify this public key instead of generating a key pair; no private key is returned then. */
  publicKeyPem?: string;
}

export interface IssuedCertificate {
  certificatePem: string;
  certificateId: string;
}

export async function issueClientCertificate(
  pki: Pki,
  opts: IssueClientCertificateOptions,
): Promise<IssuedCertificate & { privateKeyPem?: string }> {
  const generated = opts.publicKeyPem === undefined ? await generateKeyPair() : undefined;
  const publicKey = generated ? generated.publicKey : certifiablePublicKeyDer(opts.publicKeyPem!, 'publicKeyPem');
  const certificatePem = await signLeafCertificate(pki, {
    subject: commonNameSubject(opts.commonName),
    publicKey,
    days: opts.days ?? CLIENT_VALIDITY_DAYS,
    extendedKeyUsage: x509.ExtendedKeyUsage.clientAuth,
  });
  const issued = { certificatePem, certificateId: certificateId(certificatePem) };
  return generated ? { ...issued, privateKeyPem: await privateKeyToPem(generated.privateKey) } : issued;
}

/**
 * Issues a client certificate for a PKCS#10 request, as AWS CreateCertificateFromCsr does: the
 * request's subject and public key, our own extensions. Extensions the request asks for are not
 * copied — what a device may do is decided by policies, not by what it put in its CSR.
 */
export async function issueCertificateFromCsr(pki: Pki, csrPem: string, opts: { days?: number } = {}): Promise<IssuedCertificate> {
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw new Error(`the CSR is not a valid PKCS#10 certificate request: ${(err as Error).message}`, { cause: err });
  }
  let valid: boolean;
  try {
    valid = await csr.verify();
  } catch (err) {
    throw new Error(`the CSR signature cannot be verified: ${(err as Error).message}`, { cause: err });
  }
  if (!valid) throw new Error('the CSR signature is invalid: it was not signed by the key it contains');
  const certificatePem = await signLeafCertificate(pki, {
    subject: csr.subjectName,
    publicKey: certifiablePublicKeyDer(new Uint8Array(csr.publicKey.rawData), 'the CSR'),
    days: opts.days ?? CLIENT_VALIDITY_DAYS,
    extendedKeyUsage: x509.ExtendedKeyUsage.clientAuth,
  });
  return { certificatePem, certificateId: certificateId(certificatePem) };
}
