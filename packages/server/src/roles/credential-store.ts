/**
 * The temporary credentials the credentials provider issued, on the stores' SQL engine. A
 * credential keeps what it was issued for (certificate, alias, role) so that each use can check
 * they still stand; its session token is kept only as a SHA-256 digest. The secret access key must
 * stay readable, since SigV4 verification recomputes the signature with it (the database file is
 * 0600 on SQLite).
 *
 * Credentials are data, not configuration (one per device per hour or so): they are not all held
 * in memory as roles and aliases are. The store keeps the most recently issued or used ones (a
 * device signs many requests with one) and reads the database on a miss: another node may have
 * issued them. A credential never changes once written, so what is kept needs no invalidation; a
 * deleted one (long expired, see `deleteExpired`) may be answered from memory a while longer, and
 * then only as expired.
 */
import { sql } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import type { SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';

export interface CredentialRow {
  accessKeyId: string;
  secretAccessKey: string;
  tokenSha256: string;
  ns: Namespace;
  alias: string;
  /** The alias's creation time when issued: an alias deleted and created again does not revive it. */
  aliasCreatedAt: number;
  roleArn: string;
  roleId: string;
  certificateId: string;
  thingName: string | null;
  thingTypeName: string | null;
  expiresAt: number;
  createdAt: number;
}

interface DbRow {
  access_key_id: string;
  secret_access_key: string;
  token_sha256: string;
  account_id: string;
  region: string;
  alias: string;
  alias_created_at: number;
  role_arn: string;
  role_id: string;
  certificate_id: string;
  thing_name: string | null;
  thing_type_name: string | null;
  expires_at: number;
  created_at: number;
}

export const credentialMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have this table from the store's former schema.
  '0002_role_credentials': {
    async up(db, dialect) {
      let table = db.schema
        .createTable('role_credentials')
        .ifNotExists()
        .addColumn('access_key_id', 'text', (c) => c.primaryKey())
        .addColumn('secret_access_key', 'text', (c) => c.notNull())
        .addColumn('token_sha256', 'text', (c) => c.notNull())
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('alias', 'text', (c) => c.notNull())
        .addColumn('alias_created_at', 'bigint', (c) => c.notNull())
        .addColumn('role_arn', 'text', (c) => c.notNull())
        .addColumn('role_id', 'text', (c) => c.notNull())
        .addColumn('certificate_id', 'text', (c) => c.notNull())
        .addColumn('thing_name', 'text')
        .addColumn('thing_type_name', 'text')
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull());
      if (dialect === 'sqlite') table = table.modifyEnd(sql`without rowid`);
      await table.execute();
      await db.schema.createIndex('role_credentials_by_expiry').ifNotExists().on('role_credentials').column('expires_at').execute();
    },
  },
};

const rowOf = (r: DbRow): CredentialRow => ({
  accessKeyId: r.access_key_id,
  secretAccessKey: r.secret_access_key,
  tokenSha256: r.token_sha256,
  ns: { accountId: r.account_id, region: r.region },
  alias: r.alias,
  aliasCreatedAt: r.alias_created_at,
  roleArn: r.role_arn,
  roleId: r.role_id,
  certificateId: r.certificate_id,
  thingName: r.thing_name ?? null,
  thingTypeName: r.thing_type_name ?? null,
  expiresAt: r.expires_at,
  createdAt: r.created_at,
});

const dbRowOf = (c: CredentialRow): DbRow => ({
  access_key_id: c.accessKeyId,
  secret_access_key: c.secretAccessKey,
  token_sha256: c.tokenSha256,
  account_id: c.ns.accountId,
  region: c.ns.region,
  alias: c.alias,
  alias_created_at: c.aliasCreatedAt,
  role_arn: c.roleArn,
  role_id: c.roleId,
  certificate_id: c.certificateId,
  thing_name: c.thingName,
  thing_type_name: c.thingTypeName,
  expires_at: c.expiresAt,
  created_at: c.createdAt,
});

/** Credentials kept in memory at most (the least recently used go first). */
export const CREDENTIAL_CACHE_ENTRIES = 10_000;

export class CredentialStore {
  /** Recently issued or used credentials, least recently used first. */
  private readonly recent = new Map<string, CredentialRow>();
  /** Database reads under way, so that requests signed at once with one key read it once. */
  private readonly reading = new Map<string, Promise<CredentialRow | undefined>>();

  constructor(
    private readonly sql: SqlEngine,
    private readonly capacity = CREDENTIAL_CACHE_ENTRIES,
  ) {}

  /** Removes every credential of every account (test-mode reset). */
  clear(): Promise<unknown> {
    this.recent.clear();
    this.reading.clear();
    return this.sql.run(this.sql.db.deleteFrom('role_credentials'));
  }

  /** A credential from memory, else from the database (another node may have issued it); undefined when none. */
  credential(accessKeyId: string): Promise<CredentialRow | undefined> {
    const kept = this.recent.get(accessKeyId);
    if (kept) {
      this.keep(kept);
      return Promise.resolve(kept);
    }
    let read = this.reading.get(accessKeyId);
    if (!read) {
      read = this.sql
        .first<DbRow>(this.sql.db.selectFrom('role_credentials').selectAll().where('access_key_id', '=', accessKeyId))
        .then((r) => {
          const c = r ? rowOf(r) : undefined;
          // Not kept when a reset (clear) came while reading.
          if (c && this.reading.get(accessKeyId) === read) this.keep(c);
          return c;
        })
        .finally(() => {
          if (this.reading.get(accessKeyId) === read) this.reading.delete(accessKeyId);
        });
      this.reading.set(accessKeyId, read);
    }
    return read;
  }

  /** Stores new credentials; they are kept in memory once the database has them. */
  async insert(c: CredentialRow): Promise<void> {
    await this.sql.run(this.sql.db.insertInto('role_credentials').values(dbRowOf(c)));
    this.keep(c);
  }

  /**
   * Keeps credentials in memory before the database has them, for a caller that cannot wait for
   * the write (`insert` writes them): until then only this node knows them.
   */
  hold(c: CredentialRow): void {
    this.keep(c);
  }

  private keep(c: CredentialRow): void {
    this.recent.delete(c.accessKeyId);
    this.recent.set(c.accessKeyId, c);
    if (this.recent.size > this.capacity) this.recent.delete(this.recent.keys().next().value!);
  }

  /** Forgets credentials that expired before `before` (ms); a request with one is then simply unknown. */
  async deleteExpired(before: number): Promise<number> {
    for (const [key, c] of this.recent) if (c.expiresAt < before) this.recent.delete(key);
    const { changes } = await this.sql.run(this.sql.db.deleteFrom('role_credentials').where('expires_at', '<', before));
    return changes;
  }
}
