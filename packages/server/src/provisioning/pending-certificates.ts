/**
 * Certificates fleet provisioning hands out before a device owns anything: those made over MQTT
 * (`$aws/certificates/create...`), PENDING_ACTIVATION until a template run activates them, each with
 * its ownership token (valid an hour, as on AWS; only its SHA-256 is stored), and the temporary
 * claim certificates of CreateProvisioningClaim (five minutes). They live in the database, so a
 * device may ask one node for its certificate and another to provision it; whichever node holds
 * the sweep lease deletes what expired unused.
 */
import { createHash, randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import type { SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';

export const TOKEN_VALIDITY_MS = 60 * 60 * 1000;
export const CLAIM_VALIDITY_MS = 5 * 60 * 1000;

export type PendingKind = 'owned' | 'claim';

export interface PendingRow extends Namespace {
  certificateId: string;
  kind: PendingKind;
  expiresAt: number;
}

interface DbRow {
  account_id: string;
  region: string;
  certificate_id: string;
  kind: string;
  token_hash: string | null;
  expires_at: number | string;
}

export const pendingMigrations: Record<string, StoreMigration> = {
  '0001_provisioning_pending_certificates': {
    async up(db, dialect) {
      let t = db.schema
        .createTable('provisioning_pending_certificates')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('certificate_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('token_hash', 'text', (c) => c.unique())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('provisioning_pending_certificates_pkey', ['account_id', 'region', 'certificate_id']);
      if (dialect === 'sqlite') t = t.modifyEnd(sql`without rowid`);
      await t.execute();
      await db.schema.createIndex('provisioning_pending_expiry').on('provisioning_pending_certificates').column('expires_at').execute();
    },
  },
};

const hashOf = (token: string): string => createHash('sha256').update(token).digest('hex');

export class PendingCertificates {
  constructor(private readonly sql: SqlEngine) {}

  /** Records a certificate made for a device and returns its ownership token. */
  async owned(ns: Namespace, certificateId: string, now = Date.now()): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    await this.insert(ns, certificateId, 'owned', hashOf(token), now + TOKEN_VALIDITY_MS);
    return token;
  }

  /** Records a temporary claim certificate, deleted once it expired. */
  claim(ns: Namespace, certificateId: string, expiresAt: number): Promise<void> {
    return this.insert(ns, certificateId, 'claim', null, expiresAt);
  }

  private async insert(
    ns: Namespace,
    certificateId: string,
    kind: PendingKind,
    tokenHash: string | null,
    expiresAt: number,
  ): Promise<void> {
    await this.sql.run(
      this.sql.db.insertInto('provisioning_pending_certificates').values({
        account_id: ns.accountId,
        region: ns.region,
        certificate_id: certificateId,
        kind,
        token_hash: tokenHash,
        expires_at: expiresAt,
      }),
    );
  }

  /** The certificate an unexpired ownership token of this namespace is for. */
  async certificateOf(ns: Namespace, token: string, now = Date.now()): Promise<string | undefined> {
    const r = await this.sql.first<DbRow>(
      this.sql.db
        .selectFrom('provisioning_pending_certificates')
        .selectAll()
        .where('token_hash', '=', hashOf(token))
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('expires_at', '>', now),
    );
    return r?.certificate_id;
  }

  /** How many certificates made for devices in the namespace are not provisioned yet, as the database says. */
  async outstanding(ns: Namespace): Promise<number> {
    const r = await this.sql.first<{ n: number | string }>(
      this.sql.db
        .selectFrom('provisioning_pending_certificates')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('kind', '=', 'owned'),
    );
    return Number(r?.n ?? 0);
  }

  /** The record of a certificate is done with (provisioned, or deleted by the sweep). */
  async forget(ns: Namespace, certificateId: string): Promise<void> {
    await this.sql.run(
      this.sql.db
        .deleteFrom('provisioning_pending_certificates')
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('certificate_id', '=', certificateId),
    );
  }

  /** Up to `limit` records expired at `now`. */
  async expired(now: number, limit = 100): Promise<PendingRow[]> {
    const rows = await this.sql.all<DbRow>(
      this.sql.db
        .selectFrom('provisioning_pending_certificates')
        .selectAll()
        .where('expires_at', '<=', now)
        .orderBy('expires_at')
        .limit(limit),
    );
    return rows.map((r) => ({
      accountId: r.account_id,
      region: r.region,
      certificateId: r.certificate_id,
      kind: r.kind as PendingKind,
      expiresAt: Number(r.expires_at),
    }));
  }

  clear(): Promise<unknown> {
    return this.sql.run(this.sql.db.deleteFrom('provisioning_pending_certificates'));
  }
}
