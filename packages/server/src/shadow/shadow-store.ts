/**
 * SQLite table of device shadows. A deleted shadow keeps its row (document NULL, deleted_at set) so
 * that a shadow re-created within the retention window continues its version sequence, as AWS does
 * for 48 hours (reference dataplane §2.5).
 */
import type { StoredShadow } from '@thicket/shadow';
import type { Namespace } from '../accounts/namespace.js';
import { inTransaction, type Db } from '../store/database.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS shadows (
  account_id TEXT NOT NULL, region TEXT NOT NULL, thing_name TEXT NOT NULL,
  shadow_name TEXT NOT NULL,           -- '' is the classic shadow
  version INTEGER NOT NULL,
  document TEXT,                       -- {state, metadata} as JSON; NULL once deleted
  updated_at INTEGER NOT NULL,         -- epoch seconds of the last update or of the deletion
  PRIMARY KEY (account_id, region, thing_name, shadow_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS shadows_deleted ON shadows (updated_at) WHERE document IS NULL;
`;

/** What the table holds for one shadow name. */
export type ShadowRecord =
  | { exists: true; shadow: StoredShadow }
  /** Deleted at `deletedAt` (epoch s) with this last version. */
  | { exists: false; version: number; deletedAt: number }
  | undefined;

interface Row {
  version: number;
  document: string | null;
  updated_at: number;
}

export class ShadowStore {
  private readonly stmt;

  constructor(private readonly db: Db) {
    db.exec(SCHEMA);
    this.stmt = {
      get: db.prepare<[string, string, string, string], Row>(
        'SELECT version, document, updated_at FROM shadows WHERE account_id = ? AND region = ? AND thing_name = ? AND shadow_name = ?',
      ),
      put: db.prepare(
        `INSERT INTO shadows (account_id, region, thing_name, shadow_name, version, document, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (account_id, region, thing_name, shadow_name) DO UPDATE SET version = excluded.version, document = excluded.document, updated_at = excluded.updated_at`,
      ),
      names: db.prepare<[string, string, string, string, number], { shadow_name: string }>(
        `SELECT shadow_name FROM shadows WHERE account_id = ? AND region = ? AND thing_name = ? AND shadow_name > ?
         AND document IS NOT NULL ORDER BY shadow_name LIMIT ?`,
      ),
      countNamed: db.prepare<[string, string, string], { n: number }>(
        `SELECT count(*) AS n FROM shadows WHERE account_id = ? AND region = ? AND thing_name = ? AND shadow_name <> '' AND document IS NOT NULL`,
      ),
      purge: db.prepare('DELETE FROM shadows WHERE document IS NULL AND updated_at < ?'),
      clear: db.prepare('DELETE FROM shadows'),
    };
  }

  read(ns: Namespace, thingName: string, shadowName: string): ShadowRecord {
    const row = this.stmt.get.get(ns.accountId, ns.region, thingName, shadowName);
    if (!row) return undefined;
    if (row.document === null) return { exists: false, version: row.version, deletedAt: row.updated_at };
    const { state, metadata } = JSON.parse(row.document) as Pick<StoredShadow, 'state' | 'metadata'>;
    return { exists: true, shadow: { state, metadata, version: row.version } };
  }

  write(ns: Namespace, thingName: string, shadowName: string, shadow: StoredShadow, now: number): void {
    const document = JSON.stringify({ state: shadow.state, metadata: shadow.metadata });
    this.stmt.put.run(ns.accountId, ns.region, thingName, shadowName, shadow.version, document, now);
  }

  /** Marks the shadow deleted, keeping its version for continuity. */
  markDeleted(ns: Namespace, thingName: string, shadowName: string, version: number, now: number): void {
    this.stmt.put.run(ns.accountId, ns.region, thingName, shadowName, version, null, now);
  }

  /** Names of the thing's existing named shadows after `after`, in order. */
  namedShadows(ns: Namespace, thingName: string, after: string, limit: number): string[] {
    // '' sorts first, so a start of '' skips exactly the classic shadow.
    return this.stmt.names.all(ns.accountId, ns.region, thingName, after, limit).map((r) => r.shadow_name);
  }

  countNamed(ns: Namespace, thingName: string): number {
    return this.stmt.countNamed.get(ns.accountId, ns.region, thingName)!.n;
  }

  /** Forgets deletions older than `before` (epoch s): their versions no longer continue. */
  purgeDeleted(before: number): number {
    return this.stmt.purge.run(before).changes;
  }

  clear(): void {
    this.stmt.clear.run();
  }

  transaction<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }
}
