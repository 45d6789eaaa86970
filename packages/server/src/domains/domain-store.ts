/**
 * SQLite tables of domain configurations (reference controlplane §8.3) and of the server
 * certificates they present (Thicket's stand-in for ACM). A domain name is unique across every
 * namespace: one host name can lead to one place only, whichever account asks for it.
 * Private keys live in the database, which is created 0600 (store/database.ts) and never leave it
 * through the API.
 */
import type { Namespace } from '../accounts/namespace.js';
import { inTransaction, prepared, type Db } from '../store/database.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS domain_configurations (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL,
  domain_name TEXT NOT NULL UNIQUE, domain_type TEXT NOT NULL, service_type TEXT NOT NULL, status TEXT NOT NULL,
  authorizer_name TEXT, allow_authorizer_override INTEGER,
  security_policy TEXT NOT NULL, server_certificate_arn TEXT,
  server_certificate_config TEXT, authentication_type TEXT NOT NULL, application_protocol TEXT NOT NULL,
  client_certificate_config TEXT, created_at INTEGER NOT NULL, last_status_change INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS server_certificates (
  account_id TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL,
  certificate_pem TEXT NOT NULL, chain_pem TEXT NOT NULL, private_key_pem TEXT NOT NULL,
  origin TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, id)) WITHOUT ROWID;
`;

export type DomainType = 'ENDPOINT' | 'AWS_MANAGED' | 'CUSTOMER_MANAGED';
export type DomainStatus = 'ENABLED' | 'DISABLED';

export interface DomainRow {
  name: string;
  /** The random suffix of the ARN (`domainconfiguration/<name>/<id>`). */
  id: string;
  /** Lower case, no trailing dot. */
  domainName: string;
  domainType: DomainType;
  serviceType: string;
  status: DomainStatus;
  authorizerName: string | null;
  allowAuthorizerOverride: boolean | null;
  securityPolicy: string;
  /** The certificate presented for the domain (also for AWS_MANAGED ones, which do not show it). */
  serverCertificateArn: string | null;
  serverCertificateConfig: Record<string, unknown> | null;
  authenticationType: string;
  applicationProtocol: string;
  clientCertificateConfig: Record<string, unknown> | null;
  /** Milliseconds since the epoch. */
  createdAt: number;
  lastStatusChange: number;
}

export type CertificateOrigin = 'IMPORTED' | 'ISSUED';

export interface ServerCertificateRow {
  id: string;
  certificatePem: string;
  /** Intermediate certificates sent after the leaf, PEM, possibly empty. */
  chainPem: string;
  privateKeyPem: string;
  /** IMPORTED by the operator, or ISSUED by the server's CA for a domain configuration (and deleted with it). */
  origin: CertificateOrigin;
  createdAt: number;
}

type Row = Record<string, unknown>;

const json = (v: unknown): Record<string, unknown> | null => (typeof v === 'string' ? (JSON.parse(v) as Record<string, unknown>) : null);

const domain = (r: Row): DomainRow => ({
  name: r.name as string,
  id: r.id as string,
  domainName: r.domain_name as string,
  domainType: r.domain_type as DomainType,
  serviceType: r.service_type as string,
  status: r.status as DomainStatus,
  authorizerName: (r.authorizer_name as string | null) ?? null,
  allowAuthorizerOverride: r.allow_authorizer_override === null ? null : r.allow_authorizer_override === 1,
  securityPolicy: r.security_policy as string,
  serverCertificateArn: (r.server_certificate_arn as string | null) ?? null,
  serverCertificateConfig: json(r.server_certificate_config),
  authenticationType: r.authentication_type as string,
  applicationProtocol: r.application_protocol as string,
  clientCertificateConfig: json(r.client_certificate_config),
  createdAt: r.created_at as number,
  lastStatusChange: r.last_status_change as number,
});

const certificate = (r: Row): ServerCertificateRow => ({
  id: r.id as string,
  certificatePem: r.certificate_pem as string,
  chainPem: r.chain_pem as string,
  privateKeyPem: r.private_key_pem as string,
  origin: r.origin as CertificateOrigin,
  createdAt: r.created_at as number,
});

const namespaceOf = (r: Row): Namespace => ({ accountId: r.account_id as string, region: r.region as string });

export class DomainStore {
  constructor(readonly db: Db) {
    db.exec(SCHEMA);
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  domain(ns: Namespace, name: string): DomainRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM domain_configurations WHERE account_id = ? AND region = ? AND name = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? domain(r) : undefined;
  }

  /** The configuration serving a host name, in whichever namespace it is. */
  byDomainName(domainName: string): { ns: Namespace; row: DomainRow } | undefined {
    const r = prepared(this.db, 'SELECT * FROM domain_configurations WHERE domain_name = ?').get(domainName) as Row | undefined;
    return r ? { ns: namespaceOf(r), row: domain(r) } : undefined;
  }

  domains(ns: Namespace, serviceType?: string): DomainRow[] {
    const rows =
      serviceType === undefined
        ? prepared(this.db, 'SELECT * FROM domain_configurations WHERE account_id = ? AND region = ? ORDER BY name').all(
            ns.accountId,
            ns.region,
          )
        : prepared(
            this.db,
            'SELECT * FROM domain_configurations WHERE account_id = ? AND region = ? AND service_type = ? ORDER BY name',
          ).all(ns.accountId, ns.region, serviceType);
    return (rows as Row[]).map(domain);
  }

  count(ns: Namespace): number {
    const r = prepared(this.db, 'SELECT COUNT(*) AS n FROM domain_configurations WHERE account_id = ? AND region = ?').get(
      ns.accountId,
      ns.region,
    ) as Row;
    return r.n as number;
  }

  /** Names of the namespace's domain configurations whose default authorizer is `authorizerName`. */
  usingAuthorizer(ns: Namespace, authorizerName: string): string[] {
    return (
      prepared(
        this.db,
        'SELECT name FROM domain_configurations WHERE account_id = ? AND region = ? AND authorizer_name = ? ORDER BY name',
      ).all(ns.accountId, ns.region, authorizerName) as Row[]
    ).map((r) => r.name as string);
  }

  /** Names of the namespace's domain configurations presenting the certificate. */
  usingCertificate(ns: Namespace, arn: string): string[] {
    return (
      prepared(
        this.db,
        'SELECT name FROM domain_configurations WHERE account_id = ? AND region = ? AND server_certificate_arn = ? ORDER BY name',
      ).all(ns.accountId, ns.region, arn) as Row[]
    ).map((r) => r.name as string);
  }

  put(ns: Namespace, d: DomainRow): void {
    prepared(
      this.db,
      `INSERT OR REPLACE INTO domain_configurations (account_id, region, name, id, domain_name, domain_type, service_type, status,
        authorizer_name, allow_authorizer_override, security_policy, server_certificate_arn, server_certificate_config,
        authentication_type, application_protocol, client_certificate_config, created_at, last_status_change)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      ns.accountId,
      ns.region,
      d.name,
      d.id,
      d.domainName,
      d.domainType,
      d.serviceType,
      d.status,
      d.authorizerName,
      d.allowAuthorizerOverride === null ? null : d.allowAuthorizerOverride ? 1 : 0,
      d.securityPolicy,
      d.serverCertificateArn,
      d.serverCertificateConfig === null ? null : JSON.stringify(d.serverCertificateConfig),
      d.authenticationType,
      d.applicationProtocol,
      d.clientCertificateConfig === null ? null : JSON.stringify(d.clientCertificateConfig),
      d.createdAt,
      d.lastStatusChange,
    );
  }

  deleteDomain(ns: Namespace, name: string): void {
    prepared(this.db, 'DELETE FROM domain_configurations WHERE account_id = ? AND region = ? AND name = ?').run(
      ns.accountId,
      ns.region,
      name,
    );
  }

  certificate(ns: Namespace, id: string): ServerCertificateRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM server_certificates WHERE account_id = ? AND region = ? AND id = ?').get(
      ns.accountId,
      ns.region,
      id,
    ) as Row | undefined;
    return r ? certificate(r) : undefined;
  }

  certificates(ns: Namespace): ServerCertificateRow[] {
    return (
      prepared(this.db, 'SELECT * FROM server_certificates WHERE account_id = ? AND region = ? ORDER BY created_at, id').all(
        ns.accountId,
        ns.region,
      ) as Row[]
    ).map(certificate);
  }

  putCertificate(ns: Namespace, c: ServerCertificateRow): void {
    prepared(
      this.db,
      'INSERT INTO server_certificates (account_id, region, id, certificate_pem, chain_pem, private_key_pem, origin, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, c.id, c.certificatePem, c.chainPem, c.privateKeyPem, c.origin, c.createdAt);
  }

  deleteCertificate(ns: Namespace, id: string): void {
    prepared(this.db, 'DELETE FROM server_certificates WHERE account_id = ? AND region = ? AND id = ?').run(ns.accountId, ns.region, id);
  }

  /** Removes every domain configuration and server certificate of every namespace (test-mode reset). */
  clear(): void {
    this.db.exec('DELETE FROM domain_configurations; DELETE FROM server_certificates;');
  }
}
