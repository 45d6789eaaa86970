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
import { untilApplied, type CaCertificateRow, type CertificateRow, type CertificateStatus, type CertificateStore } from './cert-store.js';
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
  thingsOf(ns: Namespace, certArn: string): string[] | Promise<string[]>;
  /** Policies attached to the certificate. */
  policiesOf(ns: Namespace, certArn: string): string[] | Promise<string[]>;
  detachAllPolicies(ns: Namespace, certArn: string): void | Promise<void>;
  /** The certificate stopped being ACTIVE (the change is stored): close its connections. */
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

  /**
   * Stores a new certificate, refused when the namespace has it already. With `signer` it goes in only
   * while that CA is ACTIVE in the database; `false` when another writer changed either first (the
   * store has read them again: the caller decides anew).
   */
  private async add(
    ns: Namespace,
    pem: string,
    status: CertificateStatus,
    signer: CaCertificateRow | null,
  ): Promise<CertificateRow | false> {
    const id = certificateId(pem);
    if (this.store.certificate(ns, id)) throw alreadyExists('The certificate is already provisioned or registered', id, certArn(ns, id));
    const now = Date.now();
    const row: CertificateRow = {
      certificateId: id,
      pem,
      status,
      caCertificateId: signer?.certificateId ?? null,
      mode: 'DEFAULT',
      createdAt: now,
      lastModified: now,
      customerVersion: 1,
      generationId: randomBytes(16).toString('hex'),
    };
    return (await this.store.insertCertificate(ns, row, signer ?? undefined)) && row;
  }

  /** A certificate of the built-in CA (or registered without a CA). */
  private issued(ns: Namespace, pem: string, status: CertificateStatus): Promise<CertificateRow> {
    return untilApplied(`Certificate ${certificateId(pem)}`, () => this.add(ns, pem, status, null));
  }

  /**
   * A certificate of the built-in CA, stored with `status`: for a key pair made here (RSA 2048, as
   * AWS makes) or, with `csr`, for the key of a certificate signing request. Fleet provisioning
   * issues PENDING_ACTIVATION certificates and short-lived claim certificates (`days`) through it.
   */
  async issue(
    ns: Namespace,
    opts: { status: CertificateStatus; csr?: unknown; days?: number },
  ): Promise<{ row: CertificateRow; publicKey?: string; privateKey?: string }> {
    const days = opts.days ?? 365 * 25;
    if (opts.csr !== undefined) {
      if (typeof opts.csr !== 'string' || opts.csr.length === 0) throw invalidRequest('certificateSigningRequest is required');
      let issued;
      try {
        issued = await issueCertificateFromCsr(this.pki, opts.csr, { days });
      } catch (err) {
        throw invalidRequest(`Invalid certificate signing request: ${(err as Error).message}`);
      }
      return { row: await this.issued(ns, issued.certificatePem, opts.status) };
    }
    const { publicKey, privateKey } = await generateKeyPair('rsa', {
      modulusLength: 2048,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    });
    const issued = await issueClientCertificate(this.pki, { commonName: 'Thicket IoT Certificate', publicKeyPem: publicKey, days });
    return { row: await this.issued(ns, issued.certificatePem, opts.status), publicKey, privateKey };
  }

  /** CreateKeysAndCertificate. */
  async createKeysAndCertificate(ns: Namespace, setAsActive: string | undefined) {
    const active = parseBool(setAsActive, 'setAsActive') ?? false;
    const { row, publicKey, privateKey } = await this.issue(ns, { status: active ? 'ACTIVE' : 'INACTIVE' });
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
    const { row } = await this.issue(ns, { status: active ? 'ACTIVE' : 'INACTIVE', csr });
    return { certificateArn: certArn(ns, row.certificateId), certificateId: row.certificateId, certificatePem: row.pem };
  }

  /** RegisterCertificate: a device certificate signed by a registered, active CA (or by the server CA). */
  async register(
    ns: Namespace,
    body: { certificatePem?: unknown; caCertificatePem?: unknown; status?: unknown },
    setAsActive: string | undefined,
  ) {
    const cert = parseCertificate(body.certificatePem, 'certificatePem');
    const status =
      body.status !== undefined ? checkStatus(body.status, 'status') : parseBool(setAsActive, 'setAsActive') ? 'ACTIVE' : 'INACTIVE';
    const pem = canonicalPem(cert);
    // Decided on the CAs as held; the insert applies only while the signing CA is ACTIVE in the database.
    const row = await untilApplied(`Certificate ${certificateId(pem)}`, async () => {
      let signer: CaCertificateRow | null = null;
      if (body.caCertificatePem !== undefined) {
        const ca = parseCertificate(body.caCertificatePem, 'caCertificatePem');
        const id = certificateId(canonicalPem(ca));
        const registered = this.store.caCertificate(ns, id);
        if (!registered) throw certificateInvalid(`The CA certificate ${id} is not registered`);
        if (!issuedBy(cert, ca)) throw certificateInvalid('The certificate was not signed by the given CA certificate');
        signer = registered;
      } else if (!issuedBy(cert, this.builtInCa)) {
        const ca = this.store.caCertificates(ns).find((c) => issuedBy(cert, new X509Certificate(c.pem)));
        if (!ca) throw certificateInvalid('The certificate was not signed by a registered CA certificate');
        signer = ca;
      }
      if (signer !== null && signer.status !== 'ACTIVE') {
        throw certificateState(`The CA certificate ${signer.certificateId} is not ACTIVE`);
      }
      return this.add(ns, pem, status, signer);
    });
    return { certificateArn: certArn(ns, row.certificateId), certificateId: row.certificateId };
  }

  /** RegisterCertificateWithoutCA: any certificate; it authenticates by its exact bytes. */
  async registerWithoutCa(ns: Namespace, body: { certificatePem?: unknown; status?: unknown }) {
    const cert = parseCertificate(body.certificatePem, 'certificatePem');
    const status = body.status !== undefined ? checkStatus(body.status, 'status') : 'INACTIVE';
    const row = await this.issued(ns, canonicalPem(cert), status);
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

  async update(ns: Namespace, id: string, newStatus: string | undefined): Promise<Record<string, never>> {
    if (newStatus === undefined) throw invalidRequest('newStatus is required');
    const status = checkStatus(newStatus, 'newStatus');
    if (status === 'PENDING_TRANSFER' || status === 'PENDING_ACTIVATION') {
      throw invalidRequest(`A certificate's status cannot be set to ${status}`);
    }
    // The transition is decided on the row as read and applies only while the database still holds it.
    const before = await untilApplied(`Certificate ${id}`, async () => {
      const c = this.get(ns, id);
      if (c.status === 'REVOKED' && status !== 'REVOKED')
        throw certificateState(`Certificate ${id} is revoked; a revoked certificate cannot change status`);
      if (c.status === 'PENDING_TRANSFER') throw certificateState(`Certificate ${id} is being transferred`);
      const next: CertificateRow = {
        ...c,
        status,
        lastModified: Date.now(),
        customerVersion: c.customerVersion + 1,
        generationId: randomBytes(16).toString('hex'),
      };
      return (await this.store.updateCertificate(ns, c, next)) && c.status;
    });
    if (before === 'ACTIVE' && status !== 'ACTIVE') this.hooks.deactivated(ns, id);
    return {};
  }

  async delete(ns: Namespace, id: string, forceDelete: string | undefined): Promise<Record<string, never>> {
    const force = parseBool(forceDelete, 'forceDelete') ?? false;
    // Deleted only while the row is what was checked (so not made ACTIVE meanwhile).
    await untilApplied(`Certificate ${id}`, async () => {
      const c = this.get(ns, id);
      // The messages are AWS's words.
      if (c.status === 'ACTIVE') throw certificateState(`Certificate must be deactivated (not ACTIVE) before deletion. Id: ${id}`);
      const arn = certArn(ns, id);
      if ((await this.hooks.thingsOf(ns, arn)).length) throw deleteConflict(`Things must be detached before deletion (arn: ${arn})`);
      if ((await this.hooks.policiesOf(ns, arn)).length) {
        if (!force) throw deleteConflict(`Certificate policies must be detached before deletion (arn: ${arn})`);
        await this.hooks.detachAllPolicies(ns, arn);
      }
      return this.store.deleteCertificate(ns, c);
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
