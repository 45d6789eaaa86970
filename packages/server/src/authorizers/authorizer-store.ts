/**
 * SQLite tables of custom authorizers (reference controlplane §8.2) and of the default authorizer
 * of each namespace. Rows are keyed by account and region like every other store; the name index
 * serves MQTT connections, which name an authorizer before anything tells us their namespace.
 */
import type { Namespace } from '../accounts/namespace.js';
import { inTransaction, type Db, prepared } from '../store/database.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS authorizers (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, function_arn TEXT NOT NULL,
  token_key_name TEXT, token_signing_public_keys TEXT NOT NULL, status TEXT NOT NULL,
  signing_disabled INTEGER NOT NULL, enable_caching_for_http INTEGER NOT NULL,
  created_at INTEGER NOT NULL, last_modified INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS authorizers_by_name ON authorizers (name);
CREATE TABLE IF NOT EXISTS default_authorizers (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
  PRIMARY KEY (account_id, region)) WITHOUT ROWID;
`;

export type AuthorizerStatus = 'ACTIVE' | 'INACTIVE';

export interface AuthorizerRow {
  name: string;
  /** What Thicket calls: a webhook URL, `thicket:jwt?...`, or a (never invocable) Lambda ARN. */
  functionArn: string;
  tokenKeyName: string | null;
  /** Key name → PEM public key (or, for `thicket:jwt?hmacSecret=`, the named HMAC secret). */
  tokenSigningPublicKeys: Record<string, string>;
  status: AuthorizerStatus;
  signingDisabled: boolean;
  enableCachingForHttp: boolean;
  /** Milliseconds since the epoch. */
  createdAt: number;
  lastModified: number;
}

type Row = Record<string, unknown>;

const authorizer = (r: Row): AuthorizerRow => ({
  name: r.name as string,
  functionArn: r.function_arn as string,
  tokenKeyName: (r.token_key_name as string | null) ?? null,
  tokenSigningPublicKeys: JSON.parse(r.token_signing_public_keys as string) as Record<string, string>,
  status: r.status as AuthorizerStatus,
  signingDisabled: r.signing_disabled === 1,
  enableCachingForHttp: r.enable_caching_for_http === 1,
  createdAt: r.created_at as number,
  lastModified: r.last_modified as number,
});

const namespaceOf = (r: Row): Namespace => ({ accountId: r.account_id as string, region: r.region as string });

export class AuthorizerStore {
  constructor(readonly db: Db) {
    db.exec(SCHEMA);
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  authorizer(ns: Namespace, name: string): AuthorizerRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM authorizers WHERE account_id = ? AND region = ? AND name = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? authorizer(r) : undefined;
  }

  /** The namespace's authorizers by name, optionally only those with one status. */
  authorizers(ns: Namespace, status?: AuthorizerStatus): AuthorizerRow[] {
    const rows =
      status === undefined
        ? prepared(this.db, 'SELECT * FROM authorizers WHERE account_id = ? AND region = ? ORDER BY name').all(ns.accountId, ns.region)
        : prepared(this.db, 'SELECT * FROM authorizers WHERE account_id = ? AND region = ? AND status = ? ORDER BY name').all(
            ns.accountId,
            ns.region,
            status,
          );
    return (rows as Row[]).map(authorizer);
  }

  count(ns: Namespace): number {
    const r = prepared(this.db, 'SELECT COUNT(*) AS n FROM authorizers WHERE account_id = ? AND region = ?').get(
      ns.accountId,
      ns.region,
    ) as Row;
    return r.n as number;
  }

  /** Every authorizer with this name, in any namespace (an MQTT client names one without saying where). */
  byName(name: string): Array<{ ns: Namespace; row: AuthorizerRow }> {
    return (prepared(this.db, 'SELECT * FROM authorizers WHERE name = ? ORDER BY account_id, region').all(name) as Row[]).map((r) => ({
      ns: namespaceOf(r),
      row: authorizer(r),
    }));
  }

  put(ns: Namespace, a: AuthorizerRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO authorizers (account_id, region, name, function_arn, token_key_name, token_signing_public_keys, status, signing_disabled, enable_caching_for_http, created_at, last_modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      ns.accountId,
      ns.region,
      a.name,
      a.functionArn,
      a.tokenKeyName,
      JSON.stringify(a.tokenSigningPublicKeys),
      a.status,
      a.signingDisabled ? 1 : 0,
      a.enableCachingForHttp ? 1 : 0,
      a.createdAt,
      a.lastModified,
    );
  }

  delete(ns: Namespace, name: string): void {
    prepared(this.db, 'DELETE FROM authorizers WHERE account_id = ? AND region = ? AND name = ?').run(ns.accountId, ns.region, name);
  }

  defaultName(ns: Namespace): string | undefined {
    const r = prepared(this.db, 'SELECT name FROM default_authorizers WHERE account_id = ? AND region = ?').get(ns.accountId, ns.region) as
      Row | undefined;
    return r ? (r.name as string) : undefined;
  }

  setDefault(ns: Namespace, name: string): void {
    prepared(this.db, 'INSERT OR REPLACE INTO default_authorizers (account_id, region, name) VALUES (?, ?, ?)').run(
      ns.accountId,
      ns.region,
      name,
    );
  }

  /** Removes every authorizer and default of every namespace (test-mode reset). */
  clear(): void {
    this.db.exec('DELETE FROM authorizers; DELETE FROM default_authorizers;');
  }

  clearDefault(ns: Namespace): void {
    prepared(this.db, 'DELETE FROM default_authorizers WHERE account_id = ? AND region = ?').run(ns.accountId, ns.region);
  }

  /** The default authorizer of every namespace that has one. */
  defaults(): Array<{ ns: Namespace; name: string }> {
    return (prepared(this.db, 'SELECT * FROM default_authorizers ORDER BY account_id, region').all() as Row[]).map((r) => ({
      ns: namespaceOf(r),
      name: r.name as string,
    }));
  }
}
