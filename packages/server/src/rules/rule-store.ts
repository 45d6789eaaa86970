/**
 * Topic rules, per account and region, on the stores' SQL engine. A rule is kept as the
 * TopicRulePayload the caller gave, normalized (defaults filled in), so GetTopicRule echoes it
 * field for field.
 *
 * Every rule is also kept in memory (the engine holds each one compiled anyway): read at open,
 * written through on change, read again by `reload` (another node may change the table). The
 * database decides every write: a create inserts (a taken name fails on the key), a replace or
 * delete changes the row only if it is there (and, when asked, only if it holds what the caller
 * read). The store does not order calls made at once: its one writer (TopicRules) runs them one
 * at a time.
 */
import type { Namespace } from '../accounts/namespace.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { keyOf, prefixOf } from '../store/held-rows.js';

export const ruleMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have this table from the store's former schema.
  '0001_topic_rules': {
    async up(db) {
      await db.schema
        .createTable('topic_rules')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('topic_rules_pkey', ['account_id', 'region', 'name'])
        .execute();
    },
  },
};

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

/** What `reload` found changed in the database since the store last read or wrote it. */
export interface RuleChanges {
  /** Rules that are new or whose payload changed. */
  changed: RuleRow[];
  /** Rules that are gone. */
  removed: { ns: Namespace; name: string }[];
}

interface Row {
  account_id: string;
  region: string;
  name: string;
  payload: string;
  created_at: number;
}

/** A rule as held in memory, with the payload text the database holds (what a conditional replace compares). */
interface Held {
  row: RuleRow;
  text: string;
}

const held = (r: Row): Held => ({
  row: {
    ns: { accountId: r.account_id, region: r.region },
    name: r.name,
    payload: JSON.parse(r.payload) as TopicRulePayload,
    createdAt: r.created_at,
  },
  text: r.payload,
});

// Rule names are ASCII letters, digits and `_`: compared by code unit, as SQLite's ORDER BY did (PostgreSQL's collation may not).
const byName = (a: RuleRow, b: RuleRow): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

export class RuleStore {
  private held = new Map<string, Held>();

  private constructor(private readonly sql: SqlEngine) {}

  /** The store with every rule the database holds loaded. */
  static async open(engine: SqlEngine): Promise<RuleStore> {
    const store = new RuleStore(engine);
    await store.reload();
    return store;
  }

  /** Reads every rule again (another node may have changed them); says which changed. */
  async reload(): Promise<RuleChanges> {
    const rows = await this.sql.all<Row>(this.sql.db.selectFrom('topic_rules').selectAll());
    const next = new Map(rows.map((r) => [keyOf({ accountId: r.account_id, region: r.region }, r.name), held(r)]));
    const changed: RuleRow[] = [];
    const removed: RuleChanges['removed'] = [];
    for (const [key, h] of next) {
      const before = this.held.get(key);
      if (!before || before.text !== h.text || before.row.createdAt !== h.row.createdAt) changed.push(h.row);
    }
    for (const [key, h] of this.held) if (!next.has(key)) removed.push({ ns: h.row.ns, name: h.row.name });
    this.held = next;
    return { changed, removed };
  }

  /** Every rule (test-mode reset). */
  clear(): Promise<unknown> {
    this.held.clear();
    return this.sql.run(this.sql.db.deleteFrom('topic_rules'));
  }

  rule(ns: Namespace, name: string): RuleRow | undefined {
    return this.held.get(keyOf(ns, name))?.row;
  }

  /** The rules of one namespace, by name. */
  rules(ns: Namespace): RuleRow[] {
    const prefix = prefixOf(ns);
    const out: RuleRow[] = [];
    for (const [key, h] of this.held) if (key.startsWith(prefix)) out.push(h.row);
    return out.sort(byName);
  }

  /** Every rule of every namespace (the engine loads them at start). */
  all(): RuleRow[] {
    return [...this.held.values()].map((h) => h.row);
  }

  count(ns: Namespace): number {
    const prefix = prefixOf(ns);
    let n = 0;
    for (const key of this.held.keys()) if (key.startsWith(prefix)) n++;
    return n;
  }

  /**
   * Stores a new rule, with `also` (its tags) in the same transaction; false, storing nothing, when
   * the namespace has a rule of that name already.
   */
  async create(r: RuleRow, also: readonly Statement[] = []): Promise<boolean> {
    const text = JSON.stringify(r.payload);
    const insert = this.sql.db.insertInto('topic_rules').values({
      account_id: r.ns.accountId,
      region: r.ns.region,
      name: r.name,
      payload: text,
      created_at: r.createdAt,
    });
    try {
      await this.sql.batch([insert, ...also]);
    } catch (err) {
      if (isUniqueViolation(err)) return false;
      throw err;
    }
    this.held.set(keyOf(r.ns, r.name), { row: r, text });
    return true;
  }

  /**
   * Replaces the payload of a rule (its creation time stays) and returns the rule as stored; undefined,
   * changing nothing, when there is no such rule or, with `expected`, when its payload is no longer that one.
   */
  async replace(ns: Namespace, name: string, payload: TopicRulePayload, expected?: TopicRulePayload): Promise<RuleRow | undefined> {
    const text = JSON.stringify(payload);
    let q = this.sql.db
      .updateTable('topic_rules')
      .set({ payload: text })
      .where('account_id', '=', ns.accountId)
      .where('region', '=', ns.region)
      .where('name', '=', name);
    // What the database holds is the text JSON.stringify made of a payload, and a parsed payload stringifies to it again.
    if (expected !== undefined) q = q.where('payload', '=', JSON.stringify(expected));
    // The creation time comes back with the row: a rule another node made has it in the database only.
    const { rows } = await this.sql.run(q.returning('created_at'));
    const createdAt = (rows[0] as { created_at: number } | undefined)?.created_at;
    if (createdAt === undefined) return undefined;
    const row: RuleRow = { ns, name, payload, createdAt };
    this.held.set(keyOf(ns, name), { row, text });
    return row;
  }

  /** Deletes a rule, with `also` (removing its tags) in the same transaction; false when there was none. */
  async delete(ns: Namespace, name: string, also: readonly Statement[] = []): Promise<boolean> {
    const [deleted] = await this.sql.batch([
      this.sql.db.deleteFrom('topic_rules').where('account_id', '=', ns.accountId).where('region', '=', ns.region).where('name', '=', name),
      ...also,
    ]);
    this.held.delete(keyOf(ns, name));
    return (deleted?.changes ?? 0) > 0;
  }

  /** Forgets a rule the database no longer has (the caller learnt it is gone). */
  forget(ns: Namespace, name: string): void {
    this.held.delete(keyOf(ns, name));
  }

  /** One rule as the database holds it now, whatever this store holds. */
  async fetch(ns: Namespace, name: string): Promise<RuleRow | undefined> {
    const r = await this.sql.first<Row>(
      this.sql.db
        .selectFrom('topic_rules')
        .selectAll()
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('name', '=', name),
    );
    return r ? held(r).row : undefined;
  }
}
