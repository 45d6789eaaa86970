/**
 * Custom authorizers (reference controlplane §8.2) and the default authorizer of each namespace, on
 * the stores' SQL engine. Rows are keyed by account and region like every other store; the name
 * index serves MQTT connections, which name an authorizer before anything tells us their namespace.
 *
 * Authorizers are configuration (a few per namespace) read on every CONNECT that uses one: every
 * row is kept in memory, read at open, written through on change, and read again by `reload`
 * (another node sharing the database changed them). The database decides every write: a create
 * inserts (a taken name fails it), an update or delete changes the row only while it holds what
 * this store read (a write that finds it changed re-reads the row and says so, so the caller can
 * decide again). Token-signing keys are kept as before: in the database (0600 on SQLite), never
 * logged.
 */
import { sql, type ExpressionBuilder } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import { unchanged } from '../store/sql/conditional-writes.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { byCodeUnit, keyOf, nsKey, prefixOf } from '../store/held-rows.js';
import { countInNamespace } from '../store/sql/count-in-namespace.js';

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

interface DbRow {
  account_id: string;
  region: string;
  name: string;
  function_arn: string;
  token_key_name: string | null;
  token_signing_public_keys: string;
  status: string;
  signing_disabled: number;
  enable_caching_for_http: number;
  created_at: number;
  last_modified: number;
}

interface DefaultDbRow {
  account_id: string;
  region: string;
  name: string;
}

export const authorizerMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have these tables from the store's former schema.
  '0001_authorizers': {
    async up(db, dialect) {
      let authorizers = db.schema
        .createTable('authorizers')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('function_arn', 'text', (c) => c.notNull())
        .addColumn('token_key_name', 'text')
        .addColumn('token_signing_public_keys', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('signing_disabled', 'integer', (c) => c.notNull())
        .addColumn('enable_caching_for_http', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_modified', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('authorizers_pkey', ['account_id', 'region', 'name']);
      let defaults = db.schema
        .createTable('default_authorizers')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('default_authorizers_pkey', ['account_id', 'region']);
      if (dialect === 'sqlite') {
        authorizers = authorizers.modifyEnd(sql`without rowid`);
        defaults = defaults.modifyEnd(sql`without rowid`);
      }
      await authorizers.execute();
      await defaults.execute();
      await db.schema.createIndex('authorizers_by_name').ifNotExists().on('authorizers').column('name').execute();
    },
  },
};

const rowOf = (r: DbRow): AuthorizerRow => ({
  name: r.name,
  functionArn: r.function_arn,
  tokenKeyName: r.token_key_name ?? null,
  tokenSigningPublicKeys: JSON.parse(r.token_signing_public_keys) as Record<string, string>,
  status: r.status as AuthorizerStatus,
  signingDisabled: r.signing_disabled === 1,
  enableCachingForHttp: r.enable_caching_for_http === 1,
  createdAt: r.created_at,
  lastModified: r.last_modified,
});

const dbRowOf = (ns: Namespace, a: AuthorizerRow): DbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  name: a.name,
  function_arn: a.functionArn,
  token_key_name: a.tokenKeyName,
  token_signing_public_keys: JSON.stringify(a.tokenSigningPublicKeys),
  status: a.status,
  signing_disabled: a.signingDisabled ? 1 : 0,
  enable_caching_for_http: a.enableCachingForHttp ? 1 : 0,
  created_at: a.createdAt,
  last_modified: a.lastModified,
});

/** An authorizer as held in memory, with the row the database holds (what a conditional write compares). */
interface Held {
  ns: Namespace;
  row: AuthorizerRow;
  db: DbRow;
}

const held = (r: DbRow): Held => ({ ns: { accountId: r.account_id, region: r.region }, row: rowOf(r), db: r });

const byNamespace = (a: { ns: Namespace }, b: { ns: Namespace }): number =>
  byCodeUnit(a.ns.accountId, b.ns.accountId) || byCodeUnit(a.ns.region, b.ns.region);

/** The row of `name` in the namespace, in a table aliased `alias`. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const sameKey = (alias: string, ns: Namespace, name: string) => (eb: ExpressionBuilder<any, any>) =>
  eb.and([eb(`${alias}.account_id`, '=', ns.accountId), eb(`${alias}.region`, '=', ns.region), eb(`${alias}.name`, '=', name)]);

export { untilApplied } from '../store/sql/conditional-writes.js';

export class AuthorizerStore {
  private rows = new Map<string, Held>();
  /** Name → the authorizers of that name, by namespace key. */
  private named = new Map<string, Map<string, Held>>();
  private defaultNames = new Map<string, { ns: Namespace; name: string }>();

  private constructor(readonly sql: SqlEngine) {}

  /** The store with every authorizer and default the database holds loaded. */
  static async open(engine: SqlEngine): Promise<AuthorizerStore> {
    const store = new AuthorizerStore(engine);
    await store.reload();
    return store;
  }

  /** Reads every authorizer and default again (another node may have changed them). */
  async reload(): Promise<void> {
    const { db } = this.sql;
    const [rows, defaults] = await Promise.all([
      this.sql.all<DbRow>(db.selectFrom('authorizers').selectAll()),
      this.sql.all<DefaultDbRow>(db.selectFrom('default_authorizers').selectAll()),
    ]);
    this.rows = new Map();
    this.named = new Map();
    for (const r of rows) this.hold(held(r));
    this.defaultNames = new Map(
      defaults.map((d) => {
        const ns = { accountId: d.account_id, region: d.region };
        return [nsKey(ns), { ns, name: d.name }];
      }),
    );
  }

  private hold(h: Held): void {
    this.rows.set(keyOf(h.ns, h.row.name), h);
    let byNs = this.named.get(h.row.name);
    if (!byNs) this.named.set(h.row.name, (byNs = new Map()));
    byNs.set(nsKey(h.ns), h);
  }

  private forget(ns: Namespace, name: string): void {
    this.rows.delete(keyOf(ns, name));
    const byNs = this.named.get(name);
    byNs?.delete(nsKey(ns));
    if (byNs?.size === 0) this.named.delete(name);
  }

  authorizer(ns: Namespace, name: string): AuthorizerRow | undefined {
    return this.rows.get(keyOf(ns, name))?.row;
  }

  /** The namespace's authorizers by name, optionally only those with one status. */
  authorizers(ns: Namespace, status?: AuthorizerStatus): AuthorizerRow[] {
    const prefix = prefixOf(ns);
    const out: AuthorizerRow[] = [];
    for (const [key, h] of this.rows) if (key.startsWith(prefix) && (status === undefined || h.row.status === status)) out.push(h.row);
    return out.sort((a, b) => byCodeUnit(a.name, b.name));
  }

  /** How many authorizers the namespace has, as the database says. */
  async count(ns: Namespace): Promise<number> {
    return countInNamespace(this.sql, 'authorizers', ns);
  }

  /** Every authorizer with this name, in any namespace (an MQTT client names one without saying where). */
  byName(name: string): Array<{ ns: Namespace; row: AuthorizerRow }> {
    return [...(this.named.get(name)?.values() ?? [])].sort(byNamespace).map((h) => ({ ns: h.ns, row: h.row }));
  }

  /**
   * Stores a new authorizer with `also` (its tags) in the same transaction; false, storing neither,
   * when the namespace has an authorizer of that name already.
   */
  async insert(ns: Namespace, a: AuthorizerRow, also: readonly Statement[] = []): Promise<boolean> {
    const row = dbRowOf(ns, a);
    try {
      await this.sql.batch([this.sql.db.insertInto('authorizers').values(row), ...also]);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refresh(ns, a.name);
      return false;
    }
    this.hold({ ns, row: a, db: row });
    return true;
  }

  /** Replaces `current` by `next` (same name); false when the row no longer holds `current` (then read again). */
  async update(ns: Namespace, current: AuthorizerRow, next: AuthorizerRow): Promise<boolean> {
    const seen = this.rows.get(keyOf(ns, current.name));
    const row = dbRowOf(ns, next);
    const { changes } = await this.sql.run(
      this.sql.db
        .updateTable('authorizers')
        .set(row)
        .where(unchanged(seen?.row === current ? seen.db : dbRowOf(ns, current))),
    );
    if (changes === 0) {
      await this.refresh(ns, current.name);
      return false;
    }
    this.hold({ ns, row: next, db: row });
    return true;
  }

  /**
   * Deletes `current` with `also` (removing its tags) in the same transaction. False, deleting
   * nothing, when the row no longer holds `current` or the authorizer became the namespace's default
   * meanwhile (the store has then read both again), or when it is gone: the caller decides anew.
   */
  async delete(ns: Namespace, current: AuthorizerRow, also: readonly Statement[] = []): Promise<boolean> {
    const { db } = this.sql;
    const seen = this.rows.get(keyOf(ns, current.name));
    let deleted: number;
    try {
      const [r] = await this.sql.batch([
        db
          .deleteFrom('authorizers')
          .where(unchanged(seen?.row === current ? seen.db : dbRowOf(ns, current)))
          .where((eb) =>
            eb.not(
              eb.exists(
                db
                  .selectFrom('default_authorizers as d')
                  .select('d.name')
                  .where(sameKey('d', ns, current.name)),
              ),
            ),
          ),
        // The tags go only with the authorizer: should it still be there (changed, or made the default
        // meanwhile), this copy of it fails on its key and the transaction rolls back.
        db.insertInto('authorizers').expression(
          db
            .selectFrom('authorizers as a')
            .selectAll()
            .where(sameKey('a', ns, current.name)),
        ),
        ...also,
      ]);
      deleted = r?.changes ?? 0;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await Promise.all([this.refresh(ns, current.name), this.refreshDefault(ns)]);
      return false;
    }
    this.forget(ns, current.name);
    // Deleted by another writer first: the caller finds it gone.
    return deleted > 0;
  }

  private async refresh(ns: Namespace, name: string): Promise<void> {
    const r = await this.sql.first<DbRow>(
      this.sql.db
        .selectFrom('authorizers')
        .selectAll()
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('name', '=', name),
    );
    if (r) this.hold(held(r));
    else this.forget(ns, name);
  }

  // ---- default authorizers

  defaultName(ns: Namespace): string | undefined {
    return this.defaultNames.get(nsKey(ns))?.name;
  }

  /** Whether any namespace has a default authorizer. */
  hasDefaults(): boolean {
    return this.defaultNames.size > 0;
  }

  /** The default authorizer of every namespace that has one. */
  defaults(): Array<{ ns: Namespace; name: string }> {
    return [...this.defaultNames.values()].sort(byNamespace).map((d) => ({ ns: d.ns, name: d.name }));
  }

  /** Makes an authorizer the namespace's default; false, changing nothing, when the database has no such authorizer. */
  async setDefault(ns: Namespace, name: string): Promise<boolean> {
    const { db } = this.sql;
    // Copied from the authorizer's own row: the default cannot name one that is gone.
    const { changes } = await this.sql.run(
      db
        .insertInto('default_authorizers')
        .columns(['account_id', 'region', 'name'])
        .expression(
          db
            .selectFrom('authorizers')
            .select(['account_id', 'region', 'name'])
            .where('account_id', '=', ns.accountId)
            .where('region', '=', ns.region)
            .where('name', '=', name),
        )
        .onConflict((oc) => oc.columns(['account_id', 'region']).doUpdateSet((eb) => ({ name: eb.ref('excluded.name') }))),
    );
    if (changes === 0) {
      await this.refresh(ns, name);
      return false;
    }
    this.defaultNames.set(nsKey(ns), { ns, name });
    return true;
  }

  /** Clears the namespace's default authorizer; false when it had none. */
  async clearDefault(ns: Namespace): Promise<boolean> {
    const { changes } = await this.sql.run(
      this.sql.db.deleteFrom('default_authorizers').where('account_id', '=', ns.accountId).where('region', '=', ns.region),
    );
    this.defaultNames.delete(nsKey(ns));
    return changes > 0;
  }

  private async refreshDefault(ns: Namespace): Promise<void> {
    const r = await this.sql.first<DefaultDbRow>(
      this.sql.db.selectFrom('default_authorizers').selectAll().where('account_id', '=', ns.accountId).where('region', '=', ns.region),
    );
    if (r) this.defaultNames.set(nsKey(ns), { ns, name: r.name });
    else this.defaultNames.delete(nsKey(ns));
  }

  /** Removes every authorizer and default of every namespace (test-mode reset). */
  clear(): Promise<unknown> {
    this.rows.clear();
    this.named.clear();
    this.defaultNames.clear();
    return this.sql.batch([this.sql.db.deleteFrom('authorizers'), this.sql.db.deleteFrom('default_authorizers')]);
  }
}
