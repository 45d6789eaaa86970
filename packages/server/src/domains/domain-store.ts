/**
 * Domain configurations (reference controlplane §8.3) and the server certificates they present
 * (Thicket's stand-in for ACM), on the stores' SQL engine. A domain name is unique across every
 * namespace: one host name can lead to one place only, whichever account asks for it.
 * Private keys live in the database (created 0600 on SQLite, see store/database.ts) and in this
 * store's memory, and never leave either through the API.
 *
 * Both are configuration (a few per namespace) read in the TLS SNI callback, which cannot wait:
 * every row is kept in memory, read at open, written through on change, and read again by `reload`
 * (another node sharing the database changed them). The database decides every write: a create
 * inserts (a taken name or host name fails it), an update or delete changes the row only while it
 * holds what this store read (a write that finds it changed re-reads the rows and says so, so the
 * caller can decide again). `changed` hears of every change the store did not make itself.
 */
import { sql, type ExpressionBuilder } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import { unchanged } from '../store/sql/conditional-writes.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { byCodeUnit, keyOf, prefixOf } from '../store/held-rows.js';
import { countInNamespace } from '../store/sql/count-in-namespace.js';

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

interface DomainDbRow {
  account_id: string;
  region: string;
  name: string;
  id: string;
  domain_name: string;
  domain_type: string;
  service_type: string;
  status: string;
  authorizer_name: string | null;
  allow_authorizer_override: number | null;
  security_policy: string;
  server_certificate_arn: string | null;
  server_certificate_config: string | null;
  authentication_type: string;
  application_protocol: string;
  client_certificate_config: string | null;
  created_at: number;
  last_status_change: number;
}

interface CertificateDbRow {
  account_id: string;
  region: string;
  id: string;
  certificate_pem: string;
  chain_pem: string;
  private_key_pem: string;
  origin: string;
  created_at: number;
}

export const domainMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have these tables from the store's former schema.
  '0001_domains_and_server_certificates': {
    async up(db, dialect) {
      let domains = db.schema
        .createTable('domain_configurations')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('domain_name', 'text', (c) => c.notNull().unique())
        .addColumn('domain_type', 'text', (c) => c.notNull())
        .addColumn('service_type', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('authorizer_name', 'text')
        .addColumn('allow_authorizer_override', 'integer')
        .addColumn('security_policy', 'text', (c) => c.notNull())
        .addColumn('server_certificate_arn', 'text')
        .addColumn('server_certificate_config', 'text')
        .addColumn('authentication_type', 'text', (c) => c.notNull())
        .addColumn('application_protocol', 'text', (c) => c.notNull())
        .addColumn('client_certificate_config', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_status_change', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('domain_configurations_pkey', ['account_id', 'region', 'name']);
      let certificates = db.schema
        .createTable('server_certificates')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('certificate_pem', 'text', (c) => c.notNull())
        .addColumn('chain_pem', 'text', (c) => c.notNull())
        .addColumn('private_key_pem', 'text', (c) => c.notNull())
        .addColumn('origin', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('server_certificates_pkey', ['account_id', 'region', 'id']);
      if (dialect === 'sqlite') {
        domains = domains.modifyEnd(sql`without rowid`);
        certificates = certificates.modifyEnd(sql`without rowid`);
      }
      await domains.execute();
      await certificates.execute();
    },
  },
};

const json = (v: string | null): Record<string, unknown> | null => (v === null ? null : (JSON.parse(v) as Record<string, unknown>));
const text = (v: Record<string, unknown> | null): string | null => (v === null ? null : JSON.stringify(v));

const domainOf = (r: DomainDbRow): DomainRow => ({
  name: r.name,
  id: r.id,
  domainName: r.domain_name,
  domainType: r.domain_type as DomainType,
  serviceType: r.service_type,
  status: r.status as DomainStatus,
  authorizerName: r.authorizer_name ?? null,
  allowAuthorizerOverride: r.allow_authorizer_override === null ? null : r.allow_authorizer_override === 1,
  securityPolicy: r.security_policy,
  serverCertificateArn: r.server_certificate_arn ?? null,
  serverCertificateConfig: json(r.server_certificate_config),
  authenticationType: r.authentication_type,
  applicationProtocol: r.application_protocol,
  clientCertificateConfig: json(r.client_certificate_config),
  createdAt: r.created_at,
  lastStatusChange: r.last_status_change,
});

const domainDbRow = (ns: Namespace, d: DomainRow): DomainDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  name: d.name,
  id: d.id,
  domain_name: d.domainName,
  domain_type: d.domainType,
  service_type: d.serviceType,
  status: d.status,
  authorizer_name: d.authorizerName,
  allow_authorizer_override: d.allowAuthorizerOverride === null ? null : d.allowAuthorizerOverride ? 1 : 0,
  security_policy: d.securityPolicy,
  server_certificate_arn: d.serverCertificateArn,
  server_certificate_config: text(d.serverCertificateConfig),
  authentication_type: d.authenticationType,
  application_protocol: d.applicationProtocol,
  client_certificate_config: text(d.clientCertificateConfig),
  created_at: d.createdAt,
  last_status_change: d.lastStatusChange,
});

const certificateOf = (r: CertificateDbRow): ServerCertificateRow => ({
  id: r.id,
  certificatePem: r.certificate_pem,
  chainPem: r.chain_pem,
  privateKeyPem: r.private_key_pem,
  origin: r.origin as CertificateOrigin,
  createdAt: r.created_at,
});

const certificateDbRow = (ns: Namespace, c: ServerCertificateRow): CertificateDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  id: c.id,
  certificate_pem: c.certificatePem,
  chain_pem: c.chainPem,
  private_key_pem: c.privateKeyPem,
  origin: c.origin,
  created_at: c.createdAt,
});

/** A configuration as held in memory, with the row the database holds (what a conditional write compares). */
interface HeldDomain {
  ns: Namespace;
  row: DomainRow;
  db: DomainDbRow;
}

const nsOf = (r: { account_id: string; region: string }): Namespace => ({ accountId: r.account_id, region: r.region });

export { untilApplied } from '../store/sql/conditional-writes.js';

export class DomainStore {
  private domainRows = new Map<string, HeldDomain>();
  /** Host name → its configuration. */
  private hosts = new Map<string, HeldDomain>();
  private certificateRows = new Map<string, ServerCertificateRow>();
  private changed: () => void = () => {};

  private constructor(readonly sql: SqlEngine) {}

  /** The store with every configuration and certificate the database holds loaded. */
  static async open(engine: SqlEngine): Promise<DomainStore> {
    const store = new DomainStore(engine);
    await store.reload();
    return store;
  }

  /** Tells `fn` whenever the store finds the database changed by another writer (caches built on it must go). */
  onChange(fn: () => void): void {
    this.changed = fn;
  }

  /** Reads every configuration and certificate again (another node may have changed them). */
  async reload(): Promise<void> {
    const { db } = this.sql;
    const [domains, certificates] = await Promise.all([
      this.sql.all<DomainDbRow>(db.selectFrom('domain_configurations').selectAll()),
      this.sql.all<CertificateDbRow>(db.selectFrom('server_certificates').selectAll()),
    ]);
    this.domainRows = new Map();
    this.hosts = new Map();
    for (const r of domains) this.hold({ ns: nsOf(r), row: domainOf(r), db: r });
    this.certificateRows = new Map(certificates.map((r) => [keyOf(nsOf(r), r.id), certificateOf(r)]));
    this.changed();
  }

  /** The host names of the ENABLED configurations. */
  enabledHosts(): Set<string> {
    const out = new Set<string>();
    for (const [host, h] of this.hosts) if (h.row.status === 'ENABLED') out.add(host);
    return out;
  }

  private hold(h: HeldDomain): void {
    const key = keyOf(h.ns, h.row.name);
    const before = this.domainRows.get(key);
    if (before && this.hosts.get(before.row.domainName) === before) this.hosts.delete(before.row.domainName);
    this.domainRows.set(key, h);
    this.hosts.set(h.row.domainName, h);
  }

  private forget(ns: Namespace, name: string): void {
    const key = keyOf(ns, name);
    const before = this.domainRows.get(key);
    if (!before) return;
    this.domainRows.delete(key);
    if (this.hosts.get(before.row.domainName) === before) this.hosts.delete(before.row.domainName);
  }

  /** Removes every domain configuration and server certificate of every namespace (test-mode reset). */
  clear(): Promise<unknown> {
    this.domainRows.clear();
    this.hosts.clear();
    this.certificateRows.clear();
    return this.sql.batch([this.sql.db.deleteFrom('domain_configurations'), this.sql.db.deleteFrom('server_certificates')]);
  }

  // ---- domain configurations

  domain(ns: Namespace, name: string): DomainRow | undefined {
    return this.domainRows.get(keyOf(ns, name))?.row;
  }

  /** The configuration serving a host name, in whichever namespace it is. */
  byDomainName(domainName: string): { ns: Namespace; row: DomainRow } | undefined {
    const h = this.hosts.get(domainName);
    return h ? { ns: h.ns, row: h.row } : undefined;
  }

  private inNamespace(ns: Namespace): DomainRow[] {
    const prefix = prefixOf(ns);
    const out: DomainRow[] = [];
    for (const [key, h] of this.domainRows) if (key.startsWith(prefix)) out.push(h.row);
    return out.sort((a, b) => byCodeUnit(a.name, b.name));
  }

  /** The namespace's configurations by name, optionally only those of one service type. */
  domains(ns: Namespace, serviceType?: string): DomainRow[] {
    const all = this.inNamespace(ns);
    return serviceType === undefined ? all : all.filter((d) => d.serviceType === serviceType);
  }

  /** How many configurations the namespace has, as the database says. */
  async count(ns: Namespace): Promise<number> {
    return countInNamespace(this.sql, 'domain_configurations', ns);
  }

  /** Names of the namespace's domain configurations whose default authorizer is `authorizerName`. */
  usingAuthorizer(ns: Namespace, authorizerName: string): string[] {
    return this.inNamespace(ns)
      .filter((d) => d.authorizerName === authorizerName)
      .map((d) => d.name);
  }

  /** Names of the namespace's domain configurations presenting the certificate. */
  usingCertificate(ns: Namespace, arn: string): string[] {
    return this.inNamespace(ns)
      .filter((d) => d.serverCertificateArn === arn)
      .map((d) => d.name);
  }

  /**
   * Stores a new configuration, with the certificate issued for it and `also` (its tags), all in one
   * transaction; false, storing nothing, when its name or host name is taken (the store has then
   * read the configurations again).
   */
  async insert(ns: Namespace, d: DomainRow, issued: ServerCertificateRow | undefined, also: readonly Statement[] = []): Promise<boolean> {
    const { db } = this.sql;
    const row = domainDbRow(ns, d);
    try {
      await this.sql.batch([
        ...(issued ? [db.insertInto('server_certificates').values(certificateDbRow(ns, issued))] : []),
        db.insertInto('domain_configurations').values(row),
        ...also,
      ]);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.reload();
      return false;
    }
    if (issued) this.certificateRows.set(keyOf(ns, issued.id), issued);
    this.hold({ ns, row: d, db: row });
    return true;
  }

  /** Replaces `current` by `next` (same name); false when the row no longer holds `current` (then read again). */
  async update(ns: Namespace, current: DomainRow, next: DomainRow): Promise<boolean> {
    const row = domainDbRow(ns, next);
    const { changes } = await this.sql.run(
      this.sql.db
        .updateTable('domain_configurations')
        .set(row)
        .where(unchanged(this.seen(ns, current))),
    );
    if (changes === 0) {
      await this.reload();
      return false;
    }
    this.hold({ ns, row: next, db: row });
    return true;
  }

  /**
   * Deletes `current` with the certificate Thicket issued for it and `also` (removing its tags), all
   * in one transaction; false, deleting nothing, when the row no longer holds `current` (the store
   * has then read the configurations again) or is gone.
   */
  async delete(
    ns: Namespace,
    current: DomainRow,
    issuedCertificateId: string | undefined,
    also: readonly Statement[] = [],
  ): Promise<boolean> {
    const { db } = this.sql;
    const key =
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      (eb: ExpressionBuilder<any, any>) =>
        eb.and([eb('c.account_id', '=', ns.accountId), eb('c.region', '=', ns.region), eb('c.name', '=', current.name)]);
    let deleted: number;
    try {
      const [r] = await this.sql.batch([
        db.deleteFrom('domain_configurations').where(unchanged(this.seen(ns, current))),
        // What goes with the configuration goes only with it: should it still be there (changed
        // meanwhile), this copy of it fails on its key and the transaction rolls back.
        db.insertInto('domain_configurations').expression(db.selectFrom('domain_configurations as c').selectAll().where(key)),
        ...(issuedCertificateId === undefined
          ? []
          : [
              db
                .deleteFrom('server_certificates')
                .where('account_id', '=', ns.accountId)
                .where('region', '=', ns.region)
                .where('id', '=', issuedCertificateId)
                .where('origin', '=', 'ISSUED'),
            ]),
        ...also,
      ]);
      deleted = r?.changes ?? 0;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.reload();
      return false;
    }
    if (deleted === 0) {
      // Deleted by another writer first: the caller finds it gone.
      await this.reload();
      return false;
    }
    this.forget(ns, current.name);
    if (issuedCertificateId !== undefined && this.certificate(ns, issuedCertificateId)?.origin === 'ISSUED') {
      this.certificateRows.delete(keyOf(ns, issuedCertificateId));
    }
    return true;
  }

  private seen(ns: Namespace, current: DomainRow): DomainDbRow {
    const h = this.domainRows.get(keyOf(ns, current.name));
    return h?.row === current ? h.db : domainDbRow(ns, current);
  }

  // ---- server certificates

  certificate(ns: Namespace, id: string): ServerCertificateRow | undefined {
    return this.certificateRows.get(keyOf(ns, id));
  }

  /** The namespace's certificates, oldest first. */
  certificates(ns: Namespace): ServerCertificateRow[] {
    const prefix = prefixOf(ns);
    const out: ServerCertificateRow[] = [];
    for (const [key, c] of this.certificateRows) if (key.startsWith(prefix)) out.push(c);
    return out.sort((a, b) => a.createdAt - b.createdAt || byCodeUnit(a.id, b.id));
  }

  async insertCertificate(ns: Namespace, c: ServerCertificateRow): Promise<void> {
    await this.sql.run(this.sql.db.insertInto('server_certificates').values(certificateDbRow(ns, c)));
    this.certificateRows.set(keyOf(ns, c.id), c);
  }

  /**
   * Deletes a certificate no configuration of its namespace presents; false, deleting nothing, when
   * it is gone or one does (the store has then read everything again).
   */
  async deleteCertificate(ns: Namespace, id: string, arn: string): Promise<boolean> {
    const { db } = this.sql;
    const { changes } = await this.sql.run(
      db
        .deleteFrom('server_certificates')
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('id', '=', id)
        .where((eb) =>
          eb.not(
            eb.exists(
              db
                .selectFrom('domain_configurations as c')
                .select('c.name')
                .where('c.account_id', '=', ns.accountId)
                .where('c.region', '=', ns.region)
                .where('c.server_certificate_arn', '=', arn),
            ),
          ),
        ),
    );
    if (changes === 0) {
      await this.reload();
      return false;
    }
    this.certificateRows.delete(keyOf(ns, id));
    return true;
  }
}
