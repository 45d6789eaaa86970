/**
 * The SQLite table of registered functions, per account and region. A function is an HTTP(S)
 * endpoint or a JavaScript module on the server's disk; its limits (timeout, memory) are kept with it.
 */
import type { Namespace } from '../accounts/namespace.js';
import { inTransaction, prepared, type Db } from '../store/database.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS functions (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
  kind TEXT NOT NULL, target TEXT NOT NULL, description TEXT NOT NULL,
  timeout_seconds INTEGER NOT NULL, memory_mb INTEGER NOT NULL,
  revision TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
`;

export type FunctionKind = 'url' | 'module';

export interface FunctionRow {
  ns: Namespace;
  name: string;
  kind: FunctionKind;
  /** The URL, or the module's absolute path. */
  target: string;
  description: string;
  timeoutSeconds: number;
  memoryMb: number;
  /** Changes with every registration: warm module instances of an older revision are retired. */
  revision: string;
  createdAt: number;
  updatedAt: number;
}

type Row = Record<string, unknown>;

const fromRow = (r: Row): FunctionRow => ({
  ns: { accountId: r.account_id as string, region: r.region as string },
  name: r.name as string,
  kind: r.kind as FunctionKind,
  target: r.target as string,
  description: r.description as string,
  timeoutSeconds: r.timeout_seconds as number,
  memoryMb: r.memory_mb as number,
  revision: r.revision as string,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

export class FunctionStore {
  constructor(readonly db: Db) {
    db.exec(SCHEMA);
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  get(ns: Namespace, name: string): FunctionRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM functions WHERE account_id = ? AND region = ? AND name = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? fromRow(r) : undefined;
  }

  list(ns: Namespace, after: string | undefined, limit: number): FunctionRow[] {
    return (
      prepared(this.db, 'SELECT * FROM functions WHERE account_id = ? AND region = ? AND name > ? ORDER BY name LIMIT ?').all(
        ns.accountId,
        ns.region,
        after ?? '',
        limit,
      ) as Row[]
    ).map(fromRow);
  }

  count(ns: Namespace): number {
    return (
      prepared(this.db, 'SELECT COUNT(*) AS n FROM functions WHERE account_id = ? AND region = ?').get(ns.accountId, ns.region) as Row
    ).n as number;
  }

  put(f: FunctionRow): void {
    prepared(
      this.db,
      `INSERT INTO functions (account_id, region, name, kind, target, description, timeout_seconds, memory_mb, revision, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (account_id, region, name) DO UPDATE SET kind = excluded.kind, target = excluded.target,
         description = excluded.description, timeout_seconds = excluded.timeout_seconds, memory_mb = excluded.memory_mb,
         revision = excluded.revision, updated_at = excluded.updated_at`,
    ).run(
      f.ns.accountId,
      f.ns.region,
      f.name,
      f.kind,
      f.target,
      f.description,
      f.timeoutSeconds,
      f.memoryMb,
      f.revision,
      f.createdAt,
      f.updatedAt,
    );
  }

  delete(ns: Namespace, name: string): boolean {
    return (
      prepared(this.db, 'DELETE FROM functions WHERE account_id = ? AND region = ? AND name = ?').run(ns.accountId, ns.region, name)
        .changes > 0
    );
  }

  /** Every function of every namespace (test-mode reset). */
  clear(): void {
    this.db.exec('DELETE FROM functions');
  }
}
