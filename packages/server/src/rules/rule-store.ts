/**
 * SQLite table of topic rules, per account and region. A rule is kept as the TopicRulePayload the
 * caller gave, normalized (defaults filled in), so GetTopicRule echoes it field for field.
 */
import type { Namespace } from '../accounts/namespace.js';
import { inTransaction, prepared, type Db } from '../store/database.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS topic_rules (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, payload TEXT NOT NULL,
  created_at INTEGER NOT NULL, PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
`;

/** An action as the API carries it: exactly one key (`republish`, `http`, ...) with that action's fields. */
export type ActionSpec = Record<string, Record<string, unknown>>;

export interface TopicRulePayload {
  sql: string;
  description?: string;
  actions: ActionSpec[];
  ruleDisabled: boolean;
  awsIotSqlVersion: string;
  errorAction?: ActionSpec;
}

export interface RuleRow {
  ns: Namespace;
  name: string;
  payload: TopicRulePayload;
  /** Epoch milliseconds. */
  createdAt: number;
}

type Row = Record<string, unknown>;

const rule = (r: Row): RuleRow => ({
  ns: { accountId: r.account_id as string, region: r.region as string },
  name: r.name as string,
  payload: JSON.parse(r.payload as string) as TopicRulePayload,
  createdAt: r.created_at as number,
});

export class RuleStore {
  constructor(readonly db: Db) {
    db.exec(SCHEMA);
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  clear(): void {
    this.db.exec('DELETE FROM topic_rules;');
  }

  rule(ns: Namespace, name: string): RuleRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM topic_rules WHERE account_id = ? AND region = ? AND name = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? rule(r) : undefined;
  }

  /** The rules of one namespace, by name. */
  rules(ns: Namespace): RuleRow[] {
    return (
      prepared(this.db, 'SELECT * FROM topic_rules WHERE account_id = ? AND region = ? ORDER BY name').all(ns.accountId, ns.region) as Row[]
    ).map(rule);
  }

  /** Every rule of every namespace (the engine loads them at start). */
  all(): RuleRow[] {
    return (prepared(this.db, 'SELECT * FROM topic_rules').all() as Row[]).map(rule);
  }

  count(ns: Namespace): number {
    return (
      prepared(this.db, 'SELECT COUNT(*) AS n FROM topic_rules WHERE account_id = ? AND region = ?').get(ns.accountId, ns.region) as Row
    ).n as number;
  }

  put(r: RuleRow): void {
    prepared(this.db, 'INSERT OR REPLACE INTO topic_rules (account_id, region, name, payload, created_at) VALUES (?, ?, ?, ?, ?)').run(
      r.ns.accountId,
      r.ns.region,
      r.name,
      JSON.stringify(r.payload),
      r.createdAt,
    );
  }

  delete(ns: Namespace, name: string): boolean {
    return (
      prepared(this.db, 'DELETE FROM topic_rules WHERE account_id = ? AND region = ? AND name = ?').run(ns.accountId, ns.region, name)
        .changes > 0
    );
  }
}
