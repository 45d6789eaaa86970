/**
 * SQLite tables of roles (per account, as IAM roles are), role aliases (per account and region, as
 * IoT resources are) and the temporary credentials the credentials provider issued. A credential
 * keeps what it was issued for (certificate, alias, role) so that each use can check they still
 * stand; its session token is kept only as a SHA-256 digest. The secret access key must stay
 * readable, since SigV4 verification recomputes the signature with it (the database file is 0600).
 */
import type { Namespace } from '../accounts/namespace.js';
import { inTransaction, type Db, prepared } from '../store/database.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS roles (
  account_id TEXT NOT NULL, name TEXT NOT NULL COLLATE NOCASE, role_id TEXT NOT NULL, description TEXT NOT NULL,
  policy TEXT NOT NULL, max_session_duration INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS role_aliases (
  account_id TEXT NOT NULL, region TEXT NOT NULL, alias TEXT NOT NULL, role_arn TEXT NOT NULL,
  credential_duration INTEGER NOT NULL, created_at INTEGER NOT NULL, last_modified INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, alias)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS role_credentials (
  access_key_id TEXT PRIMARY KEY, secret_access_key TEXT NOT NULL, token_sha256 TEXT NOT NULL,
  account_id TEXT NOT NULL, region TEXT NOT NULL, alias TEXT NOT NULL, alias_created_at INTEGER NOT NULL,
  role_arn TEXT NOT NULL, role_id TEXT NOT NULL, certificate_id TEXT NOT NULL,
  thing_name TEXT, thing_type_name TEXT, expires_at INTEGER NOT NULL, created_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS role_credentials_by_expiry ON role_credentials (expires_at);
`;

export interface RoleRow {
  accountId: string;
  name: string;
  /** `AROA...`: a role deleted and created again under the same name is another role. */
  roleId: string;
  description: string;
  /** The policy document as the caller wrote it. */
  policy: string;
  maxSessionDuration: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

export interface RoleAliasRow {
  alias: string;
  roleArn: string;
  credentialDurationSeconds: number;
  createdAt: number;
  lastModified: number;
}

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

const role = (r: Row): RoleRow => ({
  accountId: r.account_id as string,
  name: r.name as string,
  roleId: r.role_id as string,
  description: r.description as string,
  policy: r.policy as string,
  maxSessionDuration: r.max_session_duration as number,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

const alias = (r: Row): RoleAliasRow => ({
  alias: r.alias as string,
  roleArn: r.role_arn as string,
  credentialDurationSeconds: r.credential_duration as number,
  createdAt: r.created_at as number,
  lastModified: r.last_modified as number,
});

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

export class RoleStore {
  constructor(readonly db: Db) {
    db.exec(SCHEMA);
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  /** Removes every role, alias and credential of every account (test-mode reset). */
  clear(): void {
    this.db.exec('DELETE FROM roles; DELETE FROM role_aliases; DELETE FROM role_credentials;');
  }

  // ---- roles

  role(accountId: string, name: string): RoleRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM roles WHERE account_id = ? AND name = ?').get(accountId, name) as Row | undefined;
    return r ? role(r) : undefined;
  }

  roles(accountId: string): RoleRow[] {
    return (prepared(this.db, 'SELECT * FROM roles WHERE account_id = ? ORDER BY name').all(accountId) as Row[]).map(role);
  }

  countRoles(accountId: string): number {
    return (prepared(this.db, 'SELECT COUNT(*) AS n FROM roles WHERE account_id = ?').get(accountId) as Row).n as number;
  }

  putRole(r: RoleRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO roles (account_id, name, role_id, description, policy, max_session_duration, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(r.accountId, r.name, r.roleId, r.description, r.policy, r.maxSessionDuration, r.createdAt, r.updatedAt);
  }

  deleteRole(accountId: string, name: string): void {
    prepared(this.db, 'DELETE FROM roles WHERE account_id = ? AND name = ?').run(accountId, name);
  }

  // ---- role aliases

  alias(ns: Namespace, name: string): RoleAliasRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM role_aliases WHERE account_id = ? AND region = ? AND alias = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? alias(r) : undefined;
  }

  /** Aliases after `after` (exclusive), in name order or its reverse. */
  aliases(ns: Namespace, opts: { after?: string; ascending: boolean; limit: number }): RoleAliasRow[] {
    const { accountId, region } = ns;
    const rows =
      opts.after === undefined
        ? prepared(
            this.db,
            `SELECT * FROM role_aliases WHERE account_id = ? AND region = ? ORDER BY alias ${opts.ascending ? 'ASC' : 'DESC'} LIMIT ?`,
          ).all(accountId, region, opts.limit)
        : prepared(
            this.db,
            `SELECT * FROM role_aliases WHERE account_id = ? AND region = ? AND alias ${opts.ascending ? '>' : '<'} ? ORDER BY alias ${opts.ascending ? 'ASC' : 'DESC'} LIMIT ?`,
          ).all(accountId, region, opts.after, opts.limit);
    return (rows as Row[]).map(alias);
  }

  countAliases(ns: Namespace): number {
    return (
      prepared(this.db, 'SELECT COUNT(*) AS n FROM role_aliases WHERE account_id = ? AND region = ?').get(ns.accountId, ns.region) as Row
    ).n as number;
  }

  putAlias(ns: Namespace, a: RoleAliasRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO role_aliases (account_id, region, alias, role_arn, credential_duration, created_at, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, a.alias, a.roleArn, a.credentialDurationSeconds, a.createdAt, a.lastModified);
  }

  deleteAlias(ns: Namespace, name: string): void {
    prepared(this.db, 'DELETE FROM role_aliases WHERE account_id = ? AND region = ? AND alias = ?').run(ns.accountId, ns.region, name);
  }

  // ---- issued credentials

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
