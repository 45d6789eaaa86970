/**
 * Topic rule destinations (HTTP URLs), per account and region, on the stores' SQL engine. The
 * confirmation token is a secret: only its SHA-256 is kept, enough to check the one a caller
 * brings back.
 *
 * The http action and URL functions ask for a destination's status on every call, synchronously:
 * every destination (an account has at most a thousand a region) is also kept in memory, read at
 * open, written through on change, and read again by `reload` (another node may change the table).
 * The store does not order calls made at once: its one writer (TopicRuleDestinations) runs them one
 * at a time.
 */
import type { Namespace } from '../../accounts/namespace.js';
import { isUniqueViolation, type SqlEngine } from '../../store/sql/engine.js';
import type { StoreMigration } from '../../store/sql/migrations.js';
import { normalizedUrl } from './urls.js';
import { nsKey } from '../../store/held-rows.js';
import { countInNamespace } from '../../store/sql/count-in-namespace.js';

export const destinationMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have this table from the store's former schema.
  '0002_topic_rule_destinations': {
    async up(db) {
      await db.schema
        .createTable('topic_rule_destinations')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('confirmation_url', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('status_reason', 'text')
        .addColumn('token_sha256', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('topic_rule_destinations_pkey', ['account_id', 'region', 'id'])
        .execute();
      await db.schema
        .createIndex('topic_rule_destinations_url')
        .ifNotExists()
        .unique()
        .on('topic_rule_destinations')
        .columns(['account_id', 'region', 'confirmation_url'])
        .execute();
    },
  },
};

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

interface Row {
  account_id: string;
  region: string;
  id: string;
  confirmation_url: string;
  status: string;
  status_reason: string | null;
  token_sha256: string | null;
  created_at: number;
  updated_at: number;
}

const destination = (r: Row): DestinationRow => ({
  ns: { accountId: r.account_id, region: r.region },
  id: r.id,
  confirmationUrl: r.confirmation_url,
  status: r.status as DestinationStatus,
  statusReason: r.status_reason ?? null,
  tokenSha256: r.token_sha256 ?? null,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const row = (d: DestinationRow): Row => ({
  account_id: d.ns.accountId,
  region: d.ns.region,
  id: d.id,
  confirmation_url: d.confirmationUrl,
  status: d.status,
  status_reason: d.statusReason,
  token_sha256: d.tokenSha256,
  created_at: d.createdAt,
  updated_at: d.updatedAt,
});

/** Oldest first, then by id, so paging is stable (ids are lower-case UUIDs: code-unit order is SQLite's). */
const oldestFirst = (a: DestinationRow, b: DestinationRow): number => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

interface Held {
  /** By id. */
  byId: Map<string, DestinationRow>;
  /** Status by normalised confirmation URL; built when first asked after a change. */
  statuses?: Map<string, DestinationStatus>;
}

export class DestinationStore {
  /** By namespace. */
  private held = new Map<string, Held>();

  private constructor(readonly sql: SqlEngine) {}

  /** The store with every destination the database holds loaded. */
  static async open(engine: SqlEngine): Promise<DestinationStore> {
    const store = new DestinationStore(engine);
    await store.reload();
    return store;
  }

  /** Reads every destination again (another node may have changed them). */
  async reload(): Promise<void> {
    const rows = await this.sql.all<Row>(this.sql.db.selectFrom('topic_rule_destinations').selectAll());
    const next = new Map<string, Held>();
    for (const r of rows) {
      const d = destination(r);
      let h = next.get(nsKey(d.ns));
      if (!h) next.set(nsKey(d.ns), (h = { byId: new Map() }));
      h.byId.set(d.id, d);
    }
    this.held = next;
  }

  /** Every destination (test-mode reset). */
  clear(): Promise<unknown> {
    this.held.clear();
    return this.sql.run(this.sql.db.deleteFrom('topic_rule_destinations'));
  }

  get(ns: Namespace, id: string): DestinationRow | undefined {
    return this.held.get(nsKey(ns))?.byId.get(id);
  }

  byUrl(ns: Namespace, confirmationUrl: string): DestinationRow | undefined {
    for (const d of this.held.get(nsKey(ns))?.byId.values() ?? []) if (d.confirmationUrl === confirmationUrl) return d;
    return undefined;
  }

  /** The destinations of one namespace, oldest first (then by id, so paging is stable). */
  list(ns: Namespace): DestinationRow[] {
    return [...(this.held.get(nsKey(ns))?.byId.values() ?? [])].sort(oldestFirst);
  }

  count(ns: Namespace): number {
    return this.held.get(nsKey(ns))?.byId.size ?? 0;
  }

  /** The status of each destination of a namespace by normalised confirmation URL (what the http action checks per message). */
  statuses(ns: Namespace): ReadonlyMap<string, DestinationStatus> {
    const h = this.held.get(nsKey(ns));
    if (!h) return new Map();
    if (!h.statuses) {
      h.statuses = new Map();
      for (const d of h.byId.values()) h.statuses.set(normalizedUrl(d.confirmationUrl) ?? d.confirmationUrl, d.status);
    }
    return h.statuses;
  }

  /**
   * The destination awaiting the confirmation token of this SHA-256, as the database holds it now:
   * the token may come back through any node, whichever sent it.
   */
  async byToken(ns: Namespace, tokenSha256: string): Promise<DestinationRow | undefined> {
    const r = await this.sql.first<Row>(this.select(ns).where('token_sha256', '=', tokenSha256));
    return r ? destination(r) : undefined;
  }

  /** One destination as the database holds it now (held, or forgotten when gone). */
  async fetch(ns: Namespace, id: string): Promise<DestinationRow | undefined> {
    const r = await this.sql.first<Row>(this.select(ns).where('id', '=', id));
    if (!r) {
      this.forget(ns, id);
      return undefined;
    }
    const d = destination(r);
    this.hold(d);
    return d;
  }

  /**
   * Stores a new destination; false, storing nothing, when the namespace has one of that
   * confirmation URL already (held then: `byUrl` finds it, also when another node made it).
   */
  async insert(d: DestinationRow): Promise<boolean> {
    try {
      await this.sql.run(this.sql.db.insertInto('topic_rule_destinations').values(row(d)));
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const existing = await this.sql.first<Row>(this.select(d.ns).where('confirmation_url', '=', d.confirmationUrl));
      if (existing) this.hold(destination(existing));
      return false;
    }
    this.hold(d);
    return true;
  }

  /**
   * Writes a destination's status, reason and awaited token (and update time); false, changing
   * nothing, when it is gone or, with `onlyIf`, when the database no longer holds that token and status.
   */
  async update(d: DestinationRow, onlyIf?: { tokenSha256: string | null; status: DestinationStatus }): Promise<boolean> {
    let q = this.sql.db
      .updateTable('topic_rule_destinations')
      .set({ status: d.status, status_reason: d.statusReason, token_sha256: d.tokenSha256, updated_at: d.updatedAt })
      .where('account_id', '=', d.ns.accountId)
      .where('region', '=', d.ns.region)
      .where('id', '=', d.id);
    if (onlyIf) {
      q = q.where('status', '=', onlyIf.status);
      q = onlyIf.tokenSha256 === null ? q.where('token_sha256', 'is', null) : q.where('token_sha256', '=', onlyIf.tokenSha256);
    }
    // The row comes back with it: one another node made is learnt whole.
    const { rows } = await this.sql.run(q.returningAll());
    const r = rows[0] as Row | undefined;
    if (r) this.hold(destination(r));
    return r !== undefined;
  }

  async delete(ns: Namespace, id: string): Promise<boolean> {
    const { changes } = await this.sql.run(
      this.sql.db
        .deleteFrom('topic_rule_destinations')
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('id', '=', id),
    );
    this.forget(ns, id);
    return changes > 0;
  }

  /** How many destinations the namespace has in the database (other nodes' creates included). */
  async countStored(ns: Namespace): Promise<number> {
    return countInNamespace(this.sql, 'topic_rule_destinations', ns);
  }

  /** Forgets a destination the database no longer has (the caller learnt it is gone). */
  forget(ns: Namespace, id: string): void {
    const h = this.held.get(nsKey(ns));
    if (h?.byId.delete(id)) h.statuses = undefined;
  }

  private select(ns: Namespace) {
    return this.sql.db
      .selectFrom('topic_rule_destinations')
      .selectAll()
      .where('account_id', '=', ns.accountId)
      .where('region', '=', ns.region);
  }

  private hold(d: DestinationRow): void {
    let h = this.held.get(nsKey(d.ns));
    if (!h) this.held.set(nsKey(d.ns), (h = { byId: new Map() }));
    h.byId.set(d.id, d);
    h.statuses = undefined;
  }
}
