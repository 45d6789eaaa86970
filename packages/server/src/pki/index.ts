export type { Pki } from './ca.js';
export { BACKDATE_MS } from './ca.js';
export { ensurePki, type EnsurePkiOptions } from './ensure-pki.js';
export {
  issueClientCertificate,
  issueCertificateFromCsr,
  type IssueClientCertificateOptions,
  type IssuedCertificate,
} from './client-certificate.js';
export { certificateId, pemToDer, derToPem } from './pem.js';
