/**
 * Device certificates, CA certificates and registration codes, on the stores' SQL engine. Rows are
 * keyed by account, region and certificate id (the SHA-256 of the DER); the id index serves TLS
 * clients, which present a certificate before anything tells us their namespace.
 *
 * The device authorizer reads a certificate and its CA on every CONNECT with a certificate, the
 * HTTPS device caller on every request: every row is kept in memory, read at open, written through
 * on change, read again by `reload` (another node sharing the database changed them), one row by
 * `refreshCertificate` / `refreshCa`. The database decides every write: a create inserts (a taken id
 * fails it; a certificate signed by a registered CA goes in only while that CA is ACTIVE), an update
 * or delete changes the row only while it holds what this store read (a write that finds it changed
 * re-reads the row and says so, so the caller can decide again).
 */
import { sql, type ExpressionBuilder } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import { changedKey, refreshedBy } from '../store/sql/changed-keys.js';
import { unchanged } from '../store/sql/conditional-writes.js';
import { isUniqueViolation, type SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { byCodeUnit, nsKey } from '../store/held-rows.js';
import { countInNamespace } from '../store/sql/count-in-namespace.js';

export type CertificateStatus = 'ACTIVE' | 'INACTIVE' | 'REVOKED' | 'PENDING_TRANSFER' | 'REGISTER_INACTIVE' | 'PENDING_ACTIVATION';
export type CertificateMode = 'DEFAULT' | 'SNI_ONLY';

export interface CertificateRow {
  certificateId: string;
  pem: string;
  status: CertificateStatus;
  /** The registered CA that signed it; null for certificates of the built-in CA or registered without a CA. */
  caCertificateId: string | null;
  mode: CertificateMode;
  /** Milliseconds since the epoch. */
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

interface CertDbRow {
  account_id: string;
  region: string;
  certificate_id: string;
  pem: string;
  status: string;
  ca_certificate_id: string | null;
  mode: string;
  created_at: number;
  last_modified: number;
  customer_version: number;
  generation_id: string;
}

interface CaDbRow {
  account_id: string;
  region: string;
  certificate_id: string;
  pem: string;
  status: string;
  auto_registration: string;
  mode: string;
  registration_config: string | null;
  created_at: number;
  last_modified: number;
  customer_version: number;
  generation_id: string;
}

interface CodeDbRow {
  account_id: string;
  region: string;
  code: string;
}

/** The kind of row the store's certificate writes are marked with: other nodes re-read that certificate. */
export const CERTIFICATE = 'certificate';

export const certificateMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have these tables from the store's former schema.
  '0001_certificates': {
    async up(db, dialect) {
      let certificates = db.schema
        .createTable('certificates')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('certificate_id', 'text', (c) => c.notNull())
        .addColumn('pem', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('ca_certificate_id', 'text')
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_modified', 'bigint', (c) => c.notNull())
        .addColumn('customer_version', 'integer', (c) => c.notNull())
        .addColumn('generation_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('certificates_pkey', ['account_id', 'region', 'certificate_id']);
      let cas = db.schema
        .createTable('ca_certificates')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('certificate_id', 'text', (c) => c.notNull())
        .addColumn('pem', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('auto_registration', 'text', (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('registration_config', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_modified', 'bigint', (c) => c.notNull())
        .addColumn('customer_version', 'integer', (c) => c.notNull())
        .addColumn('generation_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('ca_certificates_pkey', ['account_id', 'region', 'certificate_id']);
      let codes = db.schema
        .createTable('registration_codes')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('code', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('registration_codes_pkey', ['account_id', 'region']);
      if (dialect === 'sqlite') {
        certificates = certificates.modifyEnd(sql`without rowid`);
        cas = cas.modifyEnd(sql`without rowid`);
        codes = codes.modifyEnd(sql`without rowid`);
      }
      await certificates.execute();
      await cas.execute();
      await codes.execute();
      await db.schema.createIndex('certificates_by_id').ifNotExists().on('certificates').column('certificate_id').execute();
    },
  },
};

const certOf = (r: CertDbRow): CertificateRow => ({
  certificateId: r.certificate_id,
  pem: r.pem,
  status: r.status as CertificateStatus,
  caCertificateId: r.ca_certificate_id ?? null,
  mode: r.mode as CertificateMode,
  createdAt: r.created_at,
  lastModified: r.last_modified,
  customerVersion: r.customer_version,
  generationId: r.generation_id,
});

const certDbRow = (ns: Namespace, c: CertificateRow): CertDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  certificate_id: c.certificateId,
  pem: c.pem,
  status: c.status,
  ca_certificate_id: c.caCertificateId,
  mode: c.mode,
  created_at: c.createdAt,
  last_modified: c.lastModified,
  customer_version: c.customerVersion,
  generation_id: c.generationId,
});

const caOf = (r: CaDbRow): CaCertificateRow => ({
  certificateId: r.certificate_id,
  pem: r.pem,
  status: r.status as 'ACTIVE' | 'INACTIVE',
  autoRegistration: r.auto_registration as 'ENABLE' | 'DISABLE',
  mode: r.mode as CertificateMode,
  registrationConfig: r.registration_config ? (JSON.parse(r.registration_config) as Record<string, unknown>) : null,
  createdAt: r.created_at,
  lastModified: r.last_modified,
  customerVersion: r.customer_version,
  generationId: r.generation_id,
});

const caDbRow = (ns: Namespace, c: CaCertificateRow): CaDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  certificate_id: c.certificateId,
  pem: c.pem,
  status: c.status,
  auto_registration: c.autoRegistration,
  mode: c.mode,
  registration_config: c.registrationConfig === null ? null : JSON.stringify(c.registrationConfig),
  created_at: c.createdAt,
  last_modified: c.lastModified,
  customer_version: c.customerVersion,
  generation_id: c.generationId,
});

/** A row as held in memory, with the row the database holds (what a conditional write compares). */
interface Held<R, D> {
  ns: Namespace;
  row: R;
  db: D;
}
type HeldCert = Held<CertificateRow, CertDbRow>;
type HeldCa = Held<CaCertificateRow, CaDbRow>;

const nsOf = (r: { account_id: string; region: string }): Namespace => ({ accountId: r.account_id, region: r.region });

const byNamespace = (a: { ns: Namespace }, b: { ns: Namespace }): number =>
  byCodeUnit(a.ns.accountId, b.ns.accountId) || byCodeUnit(a.ns.region, b.ns.region);

/** Oldest first, then by id: the order listings page through. */
const byCreation = (a: { createdAt: number; certificateId: string }, b: { createdAt: number; certificateId: string }): number =>
  a.createdAt - b.createdAt || byCodeUnit(a.certificateId, b.certificateId);

/** The row of `id` in the namespace, in a table aliased `alias`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const sameKey = (alias: string, ns: Namespace, id: string) => (eb: ExpressionBuilder<any, any>) =>
  eb.and([eb(`${alias}.account_id`, '=', ns.accountId), eb(`${alias}.region`, '=', ns.region), eb(`${alias}.certificate_id`, '=', id)]);

/** Rows by namespace key, then by certificate id. */
class ByNamespace<H extends { ns: Namespace; row: { certificateId: string } }> {
  readonly rows = new Map<string, Map<string, H>>();

  get(ns: Namespace, id: string): H | undefined {
    return this.rows.get(nsKey(ns))?.get(id);
  }

  in(ns: Namespace): Iterable<H> {
    return this.rows.get(nsKey(ns))?.values() ?? [];
  }

  set(h: H): void {
    const key = nsKey(h.ns);
    let byId = this.rows.get(key);
    if (!byId) this.rows.set(key, (byId = new Map()));
    byId.set(h.row.certificateId, h);
  }

  delete(ns: Namespace, id: string): void {
    const key = nsKey(ns);
    const byId = this.rows.get(key);
    byId?.delete(id);
    if (byId?.size === 0) this.rows.delete(key);
  }
}

export { untilApplied } from '../store/sql/conditional-writes.js';

/** What a reload found no longer ACTIVE (changed or deleted by another node): their connections must close. */
export interface Deactivated {
  certificates: Array<{ ns: Namespace; certificateId: string }>;
  caCertificates: Array<{ ns: Namespace; caCertificateId: string }>;
}

/** The ACTIVE rows held, by namespace key and id. */
function activeIn<H extends { ns: Namespace; row: { certificateId: string; status: string } }>(
  held: ByNamespace<H>,
): Array<{ ns: Namespace; id: string }> {
  const out: Array<{ ns: Namespace; id: string }> = [];
  for (const byId of held.rows.values())
    for (const h of byId.values()) if (h.row.status === 'ACTIVE') out.push({ ns: h.ns, id: h.row.certificateId });
  return out;
}

export class CertificateStore {
  private certs = new ByNamespace<HeldCert>();
  /** Certificate id → its registrations, by namespace key. */
  private byId = new Map<string, Map<string, HeldCert>>();
  private cas = new ByNamespace<HeldCa>();
  private codes = new Map<string, string>();

  private constructor(readonly sql: SqlEngine) {}

  /** The store with every certificate, CA certificate and registration code the database holds loaded. */
  static async open(engine: SqlEngine): Promise<CertificateStore> {
    const store = new CertificateStore(engine);
    await store.reload();
    return store;
  }

  /**
   * Reads every certificate, CA certificate and registration code again (another node may have
   * changed them); says which of those held ACTIVE are no longer.
   */
  async reload(): Promise<Deactivated> {
    const { db } = this.sql;
    const [certs, cas, codes] = await Promise.all([
      this.sql.all<CertDbRow>(db.selectFrom('certificates').selectAll()),
      this.sql.all<CaDbRow>(db.selectFrom('ca_certificates').selectAll()),
      this.sql.all<CodeDbRow>(db.selectFrom('registration_codes').selectAll()),
    ]);
    const wereActive = activeIn(this.certs);
    const casWereActive = activeIn(this.cas);
    this.certs = new ByNamespace();
    this.byId = new Map();
    for (const r of certs) this.holdCert({ ns: nsOf(r), row: certOf(r), db: r });
    this.cas = new ByNamespace();
    for (const r of cas) this.cas.set({ ns: nsOf(r), row: caOf(r), db: r });
    this.codes = new Map(codes.map((r) => [nsKey(nsOf(r)), r.code]));
    return {
      certificates: wereActive
        .filter(({ ns, id }) => this.certificate(ns, id)?.status !== 'ACTIVE')
        .map(({ ns, id }) => ({ ns, certificateId: id })),
      caCertificates: casWereActive
        .filter(({ ns, id }) => this.caCertificate(ns, id)?.status !== 'ACTIVE')
        .map(({ ns, id }) => ({ ns, caCertificateId: id })),
    };
  }

  /** Removes every certificate, CA certificate and registration code (test-mode reset). */
  clear(): Promise<unknown> {
    this.certs = new ByNamespace();
    this.byId = new Map();
    this.cas = new ByNamespace();
    this.codes = new Map();
    const { db } = this.sql;
    return this.sql.batch([db.deleteFrom('certificates'), db.deleteFrom('ca_certificates'), db.deleteFrom('registration_codes')]);
  }

  private holdCert(h: HeldCert): void {
    this.certs.set(h);
    let byNs = this.byId.get(h.row.certificateId);
    if (!byNs) this.byId.set(h.row.certificateId, (byNs = new Map()));
    byNs.set(nsKey(h.ns), h);
  }

  private forgetCert(ns: Namespace, id: string): void {
    this.certs.delete(ns, id);
    const byNs = this.byId.get(id);
    byNs?.delete(nsKey(ns));
    if (byNs?.size === 0) this.byId.delete(id);
  }

  // ---- device certificates

  certificate(ns: Namespace, id: string): CertificateRow | undefined {
    return this.certs.get(ns, id)?.row;
  }

  /** Every registration of a certificate, in any namespace (a TLS client presents only the certificate). */
  registrations(id: string): Array<CertificateRow & Namespace> {
    return [...(this.byId.get(id)?.values() ?? [])].sort(byNamespace).map((h) => ({ ...h.row, ...h.ns }));
  }

  /** The namespace's certificates (only those a CA signed, with `caCertificateId`), oldest first. */
  certificates(ns: Namespace, caCertificateId?: string): CertificateRow[] {
    const out: CertificateRow[] = [];
    for (const h of this.certs.in(ns)) if (caCertificateId === undefined || h.row.caCertificateId === caCertificateId) out.push(h.row);
    return out.sort(byCreation);
  }

  /**
   * Stores a new certificate. With `signer` (the registered CA that signed it, as read) it goes in
   * only while that CA is ACTIVE in the database. False, storing nothing, when the namespace has the
   * certificate already or the CA is no longer ACTIVE (the store has then read both again).
   */
  async insertCertificate(ns: Namespace, c: CertificateRow, signer?: CaCertificateRow): Promise<boolean> {
    const { db } = this.sql;
    const row = certDbRow(ns, c);
    let changes: number;
    try {
      if (!signer)
        ({ changes } = await this.sql.run(
          refreshedBy(db.insertInto('certificates').values(row), changedKey(CERTIFICATE, ns, c.certificateId)),
        ));
      else {
        const columns = Object.keys(row) as Array<keyof CertDbRow>;
        ({ changes } = await this.sql.run(
          refreshedBy(
            db
              .insertInto('certificates')
              .columns(columns)
              .expression(
                db
                  .selectFrom('ca_certificates as ca')
                  .select((eb) => columns.map((col) => eb.val(row[col]).as(col)))
                  .where(sameKey('ca', ns, signer.certificateId))
                  .where('ca.status', '=', 'ACTIVE'),
              ),
            changedKey(CERTIFICATE, ns, c.certificateId),
          ),
        ));
      }
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshCertificate(ns, c.certificateId);
      return false;
    }
    if (changes === 0) {
      await Promise.all([this.refreshCertificate(ns, c.certificateId), this.refreshCa(ns, signer!.certificateId)]);
      return false;
    }
    this.holdCert({ ns, row: c, db: row });
    return true;
  }

  /** Replaces `current` by `next` (same id); false when the row no longer holds `current` (then read again). */
  async updateCertificate(ns: Namespace, current: CertificateRow, next: CertificateRow): Promise<boolean> {
    const seen = this.certs.get(ns, current.certificateId);
    const row = certDbRow(ns, next);
    const { changes } = await this.sql.run(
      refreshedBy(
        this.sql.db
          .updateTable('certificates')
          .set(row)
          .where(unchanged(seen?.row === current ? seen.db : certDbRow(ns, current))),
        changedKey(CERTIFICATE, ns, current.certificateId),
      ),
    );
    if (changes === 0) {
      await this.refreshCertificate(ns, current.certificateId);
      return false;
    }
    this.holdCert({ ns, row: next, db: row });
    return true;
  }

  /** Deletes `current`; false, deleting nothing, when the row no longer holds it or is gone (then read again). */
  async deleteCertificate(ns: Namespace, current: CertificateRow): Promise<boolean> {
    const seen = this.certs.get(ns, current.certificateId);
    const { changes } = await this.sql.run(
      refreshedBy(
        this.sql.db.deleteFrom('certificates').where(unchanged(seen?.row === current ? seen.db : certDbRow(ns, current))),
        changedKey(CERTIFICATE, ns, current.certificateId),
      ),
    );
    if (changes === 0) {
      await this.refreshCertificate(ns, current.certificateId);
      return false;
    }
    this.forgetCert(ns, current.certificateId);
    return true;
  }

  /** Reads one certificate again (another node changed it); what the store holds now. */
  async refreshCertificate(ns: Namespace, certificateId: string): Promise<CertificateRow | undefined> {
    const r = await this.sql.first<CertDbRow>(
      this.sql.db
        .selectFrom('certificates as c')
        .selectAll()
        .where(sameKey('c', ns, certificateId)),
    );
    if (!r) {
      this.forgetCert(ns, certificateId);
      return undefined;
    }
    const row = certOf(r);
    this.holdCert({ ns, row, db: r });
    return row;
  }

  // ---- CA certificates

  caCertificate(ns: Namespace, id: string): CaCertificateRow | undefined {
    return this.cas.get(ns, id)?.row;
  }

  /** Every CA certificate of every namespace (a TLS client that is not registered names no account). */
  allCaCertificates(): Array<CaCertificateRow & Namespace> {
    const out: Array<CaCertificateRow & Namespace> = [];
    for (const byId of this.cas.rows.values()) for (const h of byId.values()) out.push({ ...h.row, ...h.ns });
    return out.sort((a, b) => byCodeUnit(a.accountId, b.accountId) || byCodeUnit(a.region, b.region) || byCreation(a, b));
  }

  /** The namespace's CA certificates, oldest first. */
  caCertificates(ns: Namespace): CaCertificateRow[] {
    return [...this.cas.in(ns)].map((h) => h.row).sort(byCreation);
  }

  /** How many CA certificates the namespace has, as the database says. */
  async countCaCertificates(ns: Namespace): Promise<number> {
    return countInNamespace(this.sql, 'ca_certificates', ns);
  }

  /** Stores a new CA certificate; false, storing nothing, when the namespace has it already (then read again). */
  async insertCaCertificate(ns: Namespace, c: CaCertificateRow): Promise<boolean> {
    const row = caDbRow(ns, c);
    try {
      await this.sql.run(this.sql.db.insertInto('ca_certificates').values(row));
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshCa(ns, c.certificateId);
      return false;
    }
    this.cas.set({ ns, row: c, db: row });
    return true;
  }

  /** Replaces `current` by `next` (same id); false when the row no longer holds `current` (then read again). */
  async updateCaCertificate(ns: Namespace, current: CaCertificateRow, next: CaCertificateRow): Promise<boolean> {
    const seen = this.cas.get(ns, current.certificateId);
    const row = caDbRow(ns, next);
    const { changes } = await this.sql.run(
      this.sql.db
        .updateTable('ca_certificates')
        .set(row)
        .where(unchanged(seen?.row === current ? seen.db : caDbRow(ns, current))),
    );
    if (changes === 0) {
      await this.refreshCa(ns, current.certificateId);
      return false;
    }
    this.cas.set({ ns, row: next, db: row });
    return true;
  }

  /** Deletes `current`; false, deleting nothing, when the row no longer holds it or is gone (then read again). */
  async deleteCaCertificate(ns: Namespace, current: CaCertificateRow): Promise<boolean> {
    const seen = this.cas.get(ns, current.certificateId);
    const { changes } = await this.sql.run(
      this.sql.db.deleteFrom('ca_certificates').where(unchanged(seen?.row === current ? seen.db : caDbRow(ns, current))),
    );
    if (changes === 0) {
      await this.refreshCa(ns, current.certificateId);
      return false;
    }
    this.cas.delete(ns, current.certificateId);
    return true;
  }

  /** Reads one CA certificate again (another node changed it); what the store holds now. */
  async refreshCa(ns: Namespace, caCertificateId: string): Promise<CaCertificateRow | undefined> {
    const r = await this.sql.first<CaDbRow>(
      this.sql.db
        .selectFrom('ca_certificates as ca')
        .selectAll()
        .where(sameKey('ca', ns, caCertificateId)),
    );
    if (!r) {
      this.cas.delete(ns, caCertificateId);
      return undefined;
    }
    const row = caOf(r);
    this.cas.set({ ns, row, db: r });
    return row;
  }

  // ---- registration codes

  /** The namespace's registration code; the first call makes it with `create` (the first writer's code wins). */
  async registrationCode(ns: Namespace, create: () => string): Promise<string> {
    const held = this.codes.get(nsKey(ns));
    if (held !== undefined) return held;
    const { db } = this.sql;
    await this.sql.run(
      db
        .insertInto('registration_codes')
        .values({ account_id: ns.accountId, region: ns.region, code: create() })
        .onConflict((oc) => oc.columns(['account_id', 'region']).doNothing()),
    );
    const r = await this.sql.first<CodeDbRow>(
      db.selectFrom('registration_codes').selectAll().where('account_id', '=', ns.accountId).where('region', '=', ns.region),
    );
    if (!r) throw new Error(`the registration code of ${ns.accountId}/${ns.region} vanished as it was made`);
    this.codes.set(nsKey(ns), r.code);
    return r.code;
  }
}
