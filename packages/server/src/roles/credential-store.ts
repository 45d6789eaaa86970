/**
 * The temporary credentials the credentials provider issued, in the server's SQLite database. A
 * credential keeps what it was issued for (certificate, alias, role) so that each use can check
 * they still stand; its session token is kept only as a SHA-256 digest. The secret access key must
 * stay readable, since SigV4 verification recomputes the signature with it (the database file is 0600).
 *
 * Not on the SQL engine yet: SigV4 verification and the session check read a credential
 * synchronously (accounts' SessionCredentials), and credentials are data, not configuration (one
 * per device per hour), so they cannot all be kept in memory as roles and aliases are.
 */
import type { Namespace } from '../accounts/namespace.js';
import { inTransaction, prepared, type Db } from '../store/database.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS role_credentials (
  access_key_id TEXT PRIMARY KEY, secret_access_key TEXT NOT NULL, token_sha256 TEXT NOT NULL,
  account_id TEXT NOT NULL, region TEXT NOT NULL, alias TEXT NOT NULL, alias_created_at INTEGER NOT NULL,
  role_arn TEXT NOT NULL, role_id TEXT NOT NULL, certificate_id TEXT NOT NULL,
  thing_name TEXT, thing_type_name TEXT, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS role_credentials_by_expiry ON role_credentials (expires_at);
`;

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

type Row = Record<string, unknown>;

const credential = (r: Row): CredentialRow => ({
  accessKeyId: r.access_key_id as string,
  secretAccessKey: r.secret_access_key as string,
  tokenSha256: r.token_sha256 as string,
  ns: { accountId: r.account_id as string, region: r.region as string },
  alias: r.alias as string,
  aliasCreatedAt: r.alias_created_at as number,
  roleArn: r.role_arn as string,
  roleId: r.role_id as string,
  certificateId: r.certificate_id as string,
  thingName: (r.thing_name as string | null) ?? null,
  thingTypeName: (r.thing_type_name as string | null) ?? null,
  expiresAt: r.expires_at as number,
  createdAt: r.created_at as number,
});

export class CredentialStore {
  constructor(readonly db: Db) {
    db.exec(SCHEMA);
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  /** Removes every credential of every account (test-mode reset). */
  clear(): void {
    this.db.exec('DELETE FROM role_credentials');
  }

  credential(accessKeyId: string): CredentialRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM role_credentials WHERE access_key_id = ?').get(accessKeyId) as Row | undefined;
    return r ? credential(r) : undefined;
  }

  putCredential(c: CredentialRow): void {
    prepared(
      this.db,
      `INSERT INTO role_credentials (access_key_id, secret_access_key, token_sha256, account_id, region, alias, alias_created_at,
        role_arn, role_id, certificate_id, thing_name, thing_type_name, expires_at, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      c.accessKeyId,
      c.secretAccessKey,
      c.tokenSha256,
      c.ns.accountId,
      c.ns.region,
      c.alias,
      c.aliasCreatedAt,
      c.roleArn,
      c.roleId,
      c.certificateId,
      c.thingName,
      c.thingTypeName,
      c.expiresAt,
      c.createdAt,
    );
  }

  /** Forgets credentials that expired before `before` (ms); a request with one is then simply unknown. */
  deleteExpired(before: number): number {
    return prepared(this.db, 'DELETE FROM role_credentials WHERE expires_at < ?').run(before).changes;
  }
}
