/** SQLite tables of device certificates, CA certificates and registration codes. */
import { inTransaction, type Db, prepared } from '../store/database.js';
import type { Namespace } from '../accounts/namespace.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS certificates (
  account_id TEXT NOT NULL, region TEXT NOT NULL, certificate_id TEXT NOT NULL, pem TEXT NOT NULL,
  status TEXT NOT NULL, ca_certificate_id TEXT, mode TEXT NOT NULL, created_at INTEGER NOT NULL,
  last_modified INTEGER NOT NULL, customer_version INTEGER NOT NULL, generation_id TEXT NOT NULL,
  PRIMARY KEY (account_id, region, certificate_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS certificates_by_id ON certificates (certificate_id);
CREATE TABLE IF NOT EXISTS ca_certificates (
  account_id TEXT NOT NULL, region TEXT NOT NULL, certificate_id TEXT NOT NULL, pem TEXT NOT NULL,
  status TEXT NOT NULL, auto_registration TEXT NOT NULL, mode TEXT NOT NULL, registration_config TEXT,
  created_at INTEGER NOT NULL, last_modified INTEGER NOT NULL, customer_version INTEGER NOT NULL,
  generation_id TEXT NOT NULL,
  PRIMARY KEY (account_id, region, certificate_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS registration_codes (
  account_id TEXT NOT NULL, region TEXT NOT NULL, code TEXT NOT NULL,
  PRIMARY KEY (account_id, region)) WITHOUT ROWID;
`;

export type CertificateStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED' | 'PENDING_TRANSFER' | 'REGISTER_INACTIVE' | 'PENDING_ACTIVATION';
export type CertificateMode = 'DEFAULT' | 'SNI_ONLY';

export interface CertificateRow {
  certificateId: string;
  pem: string;
  status: CertificateStatus;
  /** The registered CA that signed it; null for certificates of the built-in CA or registered without a CA. */
  caCertificateId: string | null;
  mode: CertificateMode;
  createdAt: number;
  lastModified: number;
  customerVersion: number;
  generationId: string;
}

export interface CaCertificateRow extends Omit<CertificateRow, 'status' | 'caCertificateId'> {
  status: 'ACTIVE' | 'INACTIVE';
  autoRegistration: 'ENABLE' | 'DISABLE';
  registrationConfig: Record<string, unknown> | null;
}

type Row = Record<string, unknown>;

const cert = (r: Row): CertificateRow => ({
  certificateId: r.certificate_id as string,
  pem: r.pem as string,
  status: r.status as CertificateStatus,
  caCertificateId: (r.ca_certificate_id as string | null) ?? null,
  mode: r.mode as CertificateMode,
  createdAt: r.created_at as number,
  lastModified: r.last_modified as number,
  customerVersion: r.customer_version as number,
  generationId: r.generation_id as string,
});

const caCert = (r: Row): CaCertificateRow => ({
  certificateId: r.certificate_id as string,
  pem: r.pem as string,
  status: r.status as 'ACTIVE' | 'INACTIVE',
  autoRegistration: r.auto_registration as 'ENABLE' | 'DISABLE',
  mode: r.mode as CertificateMode,
  registrationConfig: r.registration_config ? (JSON.parse(r.registration_config as string) as Record<string, unknown>) : null,
  createdAt: r.created_at as number,
  lastModified: r.last_modified as number,
  customerVersion: r.customer_version as number,
  generationId: r.generation_id as string,
});

export class CertificateStore {
  constructor(readonly db: Db) {
    db.exec(SCHEMA);
  }

  /** Removes every certificate, CA certificate and registration code (test-mode reset). */
  clear(): void {
    this.db.exec('DELETE FROM certificates; DELETE FROM ca_certificates; DELETE FROM registration_codes;');
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  certificate(ns: Namespace, id: string): CertificateRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM certificates WHERE account_id = ? AND region = ? AND certificate_id = ?').get(
      ns.accountId,
      ns.region,
      id,
    ) as Row | undefined;
    return r ? cert(r) : undefined;
  }

  /** Every registration of a certificate, in any namespace (a TLS client presents only the certificate). */
  registrations(id: string): Array<CertificateRow & Namespace> {
    return (prepared(this.db, 'SELECT * FROM certificates WHERE certificate_id = ?').all(id) as Row[]).map((r) => ({
      ...cert(r),
      accountId: r.account_id as string,
      region: r.region as string,
    }));
  }

  putCertificate(ns: Namespace, c: CertificateRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO certificates (account_id, region, certificate_id, pem, status, ca_certificate_id, mode, created_at, last_modified, customer_version, generation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      ns.accountId,
      ns.region,
      c.certificateId,
      c.pem,
      c.status,
      c.caCertificateId,
      c.mode,
      c.createdAt,
      c.lastModified,
      c.customerVersion,
      c.generationId,
    );
  }

  deleteCertificate(ns: Namespace, id: string): void {
    prepared(this.db, 'DELETE FROM certificates WHERE account_id = ? AND region = ? AND certificate_id = ?').run(
      ns.accountId,
      ns.region,
      id,
    );
  }

  certificates(ns: Namespace, caCertificateId?: string): CertificateRow[] {
    const rows =
      caCertificateId === undefined
        ? prepared(this.db, 'SELECT * FROM certificates WHERE account_id = ? AND region = ? ORDER BY created_at, certificate_id').all(
            ns.accountId,
            ns.region,
          )
        : prepared(
            this.db,
            'SELECT * FROM certificates WHERE account_id = ? AND region = ? AND ca_certificate_id = ? ORDER BY created_at, certificate_id',
          ).all(ns.accountId, ns.region, caCertificateId);
    return (rows as Row[]).map(cert);
  }

  caCertificate(ns: Namespace, id: string): CaCertificateRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM ca_certificates WHERE account_id = ? AND region = ? AND certificate_id = ?').get(
      ns.accountId,
      ns.region,
      id,
    ) as Row | undefined;
    return r ? caCert(r) : undefined;
  }

  putCaCertificate(ns: Namespace, c: CaCertificateRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO ca_certificates (account_id, region, certificate_id, pem, status, auto_registration, mode, registration_config, created_at, last_modified, customer_version, generation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      ns.accountId,
      ns.region,
      c.certificateId,
      c.pem,
      c.status,
      c.autoRegistration,
      c.mode,
      c.registrationConfig === null ? null : JSON.stringify(c.registrationConfig),
      c.createdAt,
      c.lastModified,
      c.customerVersion,
      c.generationId,
    );
  }

  deleteCaCertificate(ns: Namespace, id: string): void {
    prepared(this.db, 'DELETE FROM ca_certificates WHERE account_id = ? AND region = ? AND certificate_id = ?').run(
      ns.accountId,
      ns.region,
      id,
    );
  }

  caCertificates(ns: Namespace): CaCertificateRow[] {
    return (
      prepared(this.db, 'SELECT * FROM ca_certificates WHERE account_id = ? AND region = ? ORDER BY created_at, certificate_id').all(
        ns.accountId,
        ns.region,
      ) as Row[]
    ).map(caCert);
  }

  registrationCode(ns: Namespace, create: () => string): string {
    const r = prepared(this.db, 'SELECT code FROM registration_codes WHERE account_id = ? AND region = ?').get(ns.accountId, ns.region) as
      Row | undefined;
    if (r) return r.code as string;
    const code = create();
    prepared(this.db, 'INSERT INTO registration_codes (account_id, region, code) VALUES (?, ?, ?)').run(ns.accountId, ns.region, code);
    return code;
  }
}
