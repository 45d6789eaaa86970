/**
 * Device certificates (reference controlplane §3.1–3.2): created with keys, from a CSR, registered
 * with or without a CA; described, listed, updated and deleted with AWS's rules. The server's CA is
 * the default signer; certificateId is the SHA-256 of the DER.
 */
import { generateKeyPair as generateKeyPairCb, randomBytes, X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';
import { iotArn, parseArn, type Namespace } from '../accounts/namespace.js';
import { alreadyExists, AwsError, deleteConflict, invalidRequest, notFound } from '../aws/errors.js';
import { pageOf, pageSize, parseBool } from '../api/pagination.js';
import { certificateId, issueCertificateFromCsr, issueClientCertificate, type Pki } from '../pki/index.js';
import type { CertificateRow, CertificateStatus, CertificateStore } from './cert-store.js';
import { canonicalPem, certificateInvalid, issuedBy, parseCertificate, validity } from './x509-check.js';

const generateKeyPair = promisify(generateKeyPairCb);

export const STATUSES: readonly CertificateStatus[] = [
  'ACTIVE',
  'INACTIVE',
  'REVOKED',
  'PENDING_TRANSFER',
  'REGISTER_INACTIVE',
  'PENDING_ACTIVATION',
];

export const certArn = (ns: Namespace, id: string): string => iotArn(ns, `cert/${id}`);
export const caCertArn = (ns: Namespace, id: string): string => iotArn(ns, `cacert/${id}`);

export const certificateState = (message: string): AwsError => new AwsError('CertificateStateException', 406, message);

/** What certificates need from the rest of the platform. */
export interface CertificateHooks {
  /** Things the certificate is attached to. */
  thingsOf(ns: Namespace, certArn: string): string[];
  /** Policies attached to the certificate. */
  policiesOf(ns: Namespace, certArn: string): string[];
  detachAllPolicies(ns: Namespace, certArn: string): void;
  /** The certificate stopped being ACTIVE or was deleted: close its connections. */
  deactivated(ns: Namespace, certificateId: string): void;
}

export function checkStatus(value: unknown, member: string): CertificateStatus {
  if (typeof value !== 'string' || !STATUSES.includes(value as CertificateStatus)) {
    throw invalidRequest(`${member} must be one of ${STATUSES.join(', ')}, not '${String(value)}'`);
  }
  return value as CertificateStatus;
}

export class Certificates {
  private readonly builtInCa: X509Certificate;

  constructor(
    readonly store: CertificateStore,
    private readonly pki: Pki,
    private readonly hooks: CertificateHooks,
  ) {
    this.builtInCa = new X509Certificate(pki.caCertPem);
  }

  get(ns: Namespace, id: string): CertificateRow {
    const c = this.store.certificate(ns, id);
    if (!c) throw notFound(`The certificate ${id} does not exist`);
    return c;
  }

  /** The certificate an ARN names, in the caller's namespace. */
  fromArn(ns: Namespace, arn: string): CertificateRow {
    const p = parseArn(arn);
    if (!p || p.accountId !== ns.accountId || p.region !== ns.region || !p.resource.startsWith('cert/')) {
      throw notFound(`The principal ${arn} does not exist`);
    }
    const c = this.store.certificate(ns, p.resource.slice(5));
    if (!c) throw notFound(`The certificate given in the principal does not exist: ${arn}`);
    return c;
  }

  private add(ns: Namespace, pem: string, status: CertificateStatus, caCertificateId: string | null): CertificateRow {
    const id = certificateId(pem);
    if (this.store.certificate(ns, id)) throw alreadyExists('The certificate is already provisioned or registered', id, certArn(ns, id));
    const now = Date.now();
    const row: CertificateRow = {
      certificateId: id,
      pem,
      status,
      caCertificateId,
      mode: 'DEFAULT',
      createdAt: now,
      lastModified: now,
      customerVersion: 1,
      generationId: randomBytes(16).toString('hex'),
    };
    this.store.putCertificate(ns, row);
    return row;
  }

  /** CreateKeysAndCertificate: an RSA 2048 key pair, as AWS makes, and a certificate from the server CA. */
  async createKeysAndCertificate(ns: Namespace, setAsActive: string | undefined) {
    const active = parseBool(setAsActive, 'setAsActive') ?? false;
    const { publicKey, privateKey } = await generateKeyPair('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    const issued = await issueClientCertificate(this.pki, {
      commonName: 'Thicket IoT Certificate',
      publicKeyPem: publicKey,
      days: 365 * 25,
    });
    const row = this.store.tx(() => this.add(ns, issued.certificatePem, active ? 'ACTIVE' : 'INACTIVE', null));
    return {
      certificateArn: certArn(ns, row.certificateId),
      certificateId: row.certificateId,
      certificatePem: row.pem,
      keyPair: { PublicKey: publicKey, PrivateKey: privateKey },
    };
  }

  async createFromCsr(ns: Namespace, csr: unknown, setAsActive: string | undefined) {
    const active = parseBool(setAsActive, 'setAsActive') ?? false;
    if (typeof csr !== 'string' || csr.length === 0) throw invalidRequest('certificateSigningRequest is required');
    let issued;
    try {
      issued = await issueCertificateFromCsr(this.pki, csr, { days: 365 * 25 });
    } catch (err) {
      throw invalidRequest(`Invalid certificate signing request: ${(err as Error).message}`);
    }
    const row = this.store.tx(() => this.add(ns, issued.certificatePem, active ? 'ACTIVE' : 'INACTIVE', null));
    return { certificateArn: certArn(ns, row.certificateId), certificateId: row.certificateId, certificatePem: row.pem };
  }

  /** RegisterCertificate: a device certificate signed by a registered, active CA (or by the server CA). */
  register(
    ns: Namespace,
    body: { certificatePem?: unknown; caCertificatePem?: unknown; status?: unknown },
    setAsActive: string | undefined,
  ) {
    const cert = parseCertificate(body.certificatePem, 'certificatePem');
    const status =
      body.status !== undefined ? checkStatus(body.status, 'status') : parseBool(setAsActive, 'setAsActive') ? 'ACTIVE' : 'INACTIVE';
    return this.store.tx(() => {
      let caId: string | null = null;
      if (body.caCertificatePem !== undefined) {
        const ca = parseCertificate(body.caCertificatePem, 'caCertificatePem');
        const id = certificateId(canonicalPem(ca));
        const registered = this.store.caCertificate(ns, id);
        if (!registered) throw certificateInvalid(`The CA certificate ${id} is not registered`);
        if (!issuedBy(cert, ca)) throw certificateInvalid('The certificate was not signed by the given CA certificate');
        caId = id;
      } else if (!issuedBy(cert, this.builtInCa)) {
        const ca = this.store.caCertificates(ns).find((c) => issuedBy(cert, new X509Certificate(c.pem)));
        if (!ca) throw certificateInvalid('The certificate was not signed by a registered CA certificate');
        caId = ca.certificateId;
      }
      if (caId !== null && this.store.caCertificate(ns, caId)!.status !== 'ACTIVE') {
        throw certificateState(`The CA certificate ${caId} is not ACTIVE`);
      }
      const row = this.add(ns, canonicalPem(cert), status, caId);
      return { certificateArn: certArn(ns, row.certificateId), certificateId: row.certificateId };
    });
  }

  /** RegisterCertificateWithoutCA: any certificate; it authenticates by its exact bytes. */
  registerWithoutCa(ns: Namespace, body: { certificatePem?: unknown; status?: unknown }) {
    const cert = parseCertificate(body.certificatePem, 'certificatePem');
    const status = body.status !== undefined ? checkStatus(body.status, 'status') : 'INACTIVE';
    const row = this.store.tx(() => this.add(ns, canonicalPem(cert), status, null));
    return { certificateArn: certArn(ns, row.certificateId), certificateId: row.certificateId };
  }

  describe(ns: Namespace, id: string) {
    const c = this.get(ns, id);
    return {
      certificateDescription: {
        certificateArn: certArn(ns, c.certificateId),
        certificateId: c.certificateId,
        caCertificateId: c.caCertificateId ?? undefined,
        status: c.status,
        certificatePem: c.pem,
        ownedBy: ns.accountId,
        creationDate: c.createdAt / 1000,
        lastModifiedDate: c.lastModified / 1000,
        customerVersion: c.customerVersion,
        generationId: c.generationId,
        validity: validity(new X509Certificate(c.pem)),
        certificateMode: c.mode,
      },
    };
  }

  update(ns: Namespace, id: string, newStatus: string | undefined): Record<string, never> {
    if (newStatus === undefined) throw invalidRequest('newStatus is required');
    const status = checkStatus(newStatus, 'newStatus');
    if (status === 'PENDING_TRANSFER' || status === 'PENDING_ACTIVATION') {
      throw invalidRequest(`A certificate's status cannot be set to ${status}`);
    }
    const before = this.store.tx(() => {
      const c = this.get(ns, id);
      if (c.status === 'REVOKED' && status !== 'REVOKED')
        throw certificateState(`Certificate ${id} is revoked; a revoked certificate cannot change status`);
      if (c.status === 'PENDING_TRANSFER') throw certificateState(`Certificate ${id} is being transferred`);
      this.store.putCertificate(ns, {
        ...c,
        status,
        lastModified: Date.now(),
        customerVersion: c.customerVersion + 1,
        generationId: randomBytes(16).toString('hex'),
      });
      return c.status;
    });
    if (before === 'ACTIVE' && status !== 'ACTIVE') this.hooks.deactivated(ns, id);
    return {};
  }

  delete(ns: Namespace, id: string, forceDelete: string | undefined): Record<string, never> {
    const force = parseBool(forceDelete, 'forceDelete') ?? false;
    this.store.tx(() => {
      const c = this.get(ns, id);
      // The messages are AWS's words.
      if (c.status === 'ACTIVE') throw certificateState(`Certificate must be deactivated (not ACTIVE) before deletion. Id: ${id}`);
      const arn = certArn(ns, id);
      if (this.hooks.thingsOf(ns, arn).length) throw deleteConflict(`Things must be detached before deletion (arn: ${arn})`);
      if (this.hooks.policiesOf(ns, arn).length) {
        if (!force) throw deleteConflict(`Certificate policies must be detached before deletion (arn: ${arn})`);
        this.hooks.detachAllPolicies(ns, arn);
      }
      this.store.deleteCertificate(ns, id);
    });
    return {};
  }

  list(ns: Namespace, q: Record<string, string | undefined>, caCertificateId?: string) {
    if (caCertificateId !== undefined && !this.store.caCertificate(ns, caCertificateId)) {
      throw notFound(`The CA certificate ${caCertificateId} does not exist`);
    }
    const all = this.store.certificates(ns, caCertificateId);
    if (!(parseBool(q.isAscendingOrder, 'isAscendingOrder') ?? false)) all.reverse();
    const page = pageOf(all, pageSize(q.pageSize, 'pageSize', 250), q.marker, 'marker');
    return {
      certificates: page.items.map((c) => ({
        certificateArn: certArn(ns, c.certificateId),
        certificateId: c.certificateId,
        status: c.status,
        certificateMode: c.mode,
        creationDate: c.createdAt / 1000,
      })),
      nextMarker: page.next,
    };
  }
}
