/**
 * SQLite table of topic rule destinations (HTTP URLs), per account and region. The confirmation
 * token is a secret: only its SHA-256 is kept, enough to check the one a caller brings back.
 */
import type { Namespace } from '../../accounts/namespace.js';
import { inTransaction, prepared, type Db } from '../../store/database.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS topic_rule_destinations (
  account_id TEXT NOT NULL, region TEXT NOT NULL, id TEXT NOT NULL, confirmation_url TEXT NOT NULL,
  status TEXT NOT NULL, status_reason TEXT, token_sha256 TEXT, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS topic_rule_destinations_url ON topic_rule_destinations (account_id, region, confirmation_url);
`;

export type DestinationStatus = 'ENABLED' | 'IN_PROGRESS' | 'DISABLED' | 'ERROR' | 'DELETING';

export interface DestinationRow {
  ns: Namespace;
  /** The UUID at the end of the ARN. */
  id: string;
  confirmationUrl: string;
  status: DestinationStatus;
  statusReason: string | null;
  /** SHA-256 (hex) of the confirmation token still awaited; null once confirmed (or never sent). */
  tokenSha256: string | null;
  /** Epoch milliseconds. */
  createdAt: number;
  updatedAt: number;
}

type Row = Record<string, unknown>;

const destination = (r: Row): DestinationRow => ({
  ns: { accountId: r.account_id as string, region: r.region as string },
  id: r.id as string,
  confirmationUrl: r.confirmation_url as string,
  status: r.status as DestinationStatus,
  statusReason: (r.status_reason as string | null) ?? null,
  tokenSha256: (r.token_sha256 as string | null) ?? null,
  createdAt: r.created_at as number,
  updatedAt: r.updated_at as number,
});

export class DestinationStore {
  constructor(readonly db: Db) {
    db.exec(SCHEMA);
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  clear(): void {
    this.db.exec('DELETE FROM topic_rule_destinations;');
  }

  get(ns: Namespace, id: string): DestinationRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM topic_rule_destinations WHERE account_id = ? AND region = ? AND id = ?').get(
      ns.accountId,
      ns.region,
      id,
    ) as Row | undefined;
    return r ? destination(r) : undefined;
  }

  byUrl(ns: Namespace, confirmationUrl: string): DestinationRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM topic_rule_destinations WHERE account_id = ? AND region = ? AND confirmation_url = ?').get(
      ns.accountId,
      ns.region,
      confirmationUrl,
    ) as Row | undefined;
    return r ? destination(r) : undefined;
  }

  byToken(ns: Namespace, tokenSha256: string): DestinationRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM topic_rule_destinations WHERE account_id = ? AND region = ? AND token_sha256 = ?').get(
      ns.accountId,
      ns.region,
      tokenSha256,
    ) as Row | undefined;
    return r ? destination(r) : undefined;
  }

  /** The destinations of one namespace, oldest first (then by id, so paging is stable). */
  list(ns: Namespace): DestinationRow[] {
    return (
      prepared(this.db, 'SELECT * FROM topic_rule_destinations WHERE account_id = ? AND region = ? ORDER BY created_at, id').all(
        ns.accountId,
        ns.region,
      ) as Row[]
    ).map(destination);
  }

  count(ns: Namespace): number {
    return (
      prepared(this.db, 'SELECT COUNT(*) AS n FROM topic_rule_destinations WHERE account_id = ? AND region = ?').get(
        ns.accountId,
        ns.region,
      ) as Row
    ).n as number;
  }

  put(d: DestinationRow): void {
    prepared(
      this.db,
      `INSERT OR REPLACE INTO topic_rule_destinations
        (account_id, region, id, confirmation_url, status, status_reason, token_sha256, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(d.ns.accountId, d.ns.region, d.id, d.confirmationUrl, d.status, d.statusReason, d.tokenSha256, d.createdAt, d.updatedAt);
  }

  delete(ns: Namespace, id: string): boolean {
    return (
      prepared(this.db, 'DELETE FROM topic_rule_destinations WHERE account_id = ? AND region = ? AND id = ?').run(
        ns.accountId,
        ns.region,
        id,
      ).changes > 0
    );
  }
}
