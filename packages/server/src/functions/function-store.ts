/**
 * The registered functions, per account and region, on the SQL engine. A function is an HTTP(S)
 * endpoint or a JavaScript module on the server's disk; its limits (timeout, memory) are kept with it.
 *
 * The rules engine looks a function up by name for every `lambda` action and `aws_lambda()` call,
 * and functions are few (configuration, not data): every function of every namespace is kept in
 * memory, read from the database at open and written through on change. `reload()` reads them again
 * (another node sharing the database changed them).
 */
import { sql } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import type { SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { nsKey } from '../store/held-rows.js';

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

interface Row {
  account_id: string;
  region: string;
  name: string;
  kind: string;
  target: string;
  description: string;
  timeout_seconds: number;
  memory_mb: number;
  revision: string;
  created_at: number;
  updated_at: number;
}

export const functionMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations already have this table (the same columns and key).
  '0001_functions': {
    async up(db, dialect) {
      let table = db.schema
        .createTable('functions')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('timeout_seconds', 'integer', (c) => c.notNull())
        .addColumn('memory_mb', 'integer', (c) => c.notNull())
        .addColumn('revision', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('functions_pkey', ['account_id', 'region', 'name']);
      if (dialect === 'sqlite') table = table.modifyEnd(sql`without rowid`);
      await table.execute();
    },
  },
};

const fromRow = (r: Row): FunctionRow => ({
  ns: { accountId: r.account_id, region: r.region },
  name: r.name,
  kind: r.kind as FunctionKind,
  target: r.target,
  description: r.description,
  timeoutSeconds: r.timeout_seconds,
  memoryMb: r.memory_mb,
  revision: r.revision,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

export class FunctionStore {
  /** Functions by namespace, then by name. */
  private byNs = new Map<string, Map<string, FunctionRow>>();

  private constructor(private readonly sql: SqlEngine) {}

  /** The store with every function the database holds loaded. */
  static async open(engine: SqlEngine): Promise<FunctionStore> {
    const store = new FunctionStore(engine);
    await store.reload();
    return store;
  }

  /** Reads every function again (another node changed them). */
  async reload(): Promise<void> {
    const rows = await this.sql.all<Row>(this.sql.db.selectFrom('functions').selectAll());
    const byNs = new Map<string, Map<string, FunctionRow>>();
    for (const r of rows) {
      const f = fromRow(r);
      let names = byNs.get(nsKey(f.ns));
      if (!names) byNs.set(nsKey(f.ns), (names = new Map()));
      names.set(f.name, f);
    }
    this.byNs = byNs;
  }

  get(ns: Namespace, name: string): FunctionRow | undefined {
    return this.byNs.get(nsKey(ns))?.get(name);
  }

  /** Functions of the namespace named after `after`, by name (names are ASCII: code unit order is byte order). */
  list(ns: Namespace, after: string | undefined, limit: number): FunctionRow[] {
    const names = this.byNs.get(nsKey(ns));
    if (!names) return [];
    const from = after ?? '';
    return [...names.values()]
      .filter((f) => f.name > from)
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .slice(0, Math.max(0, limit));
  }

  count(ns: Namespace): number {
    return this.byNs.get(nsKey(ns))?.size ?? 0;
  }

  /** Every function of every namespace. */
  all(): FunctionRow[] {
    return [...this.byNs.values()].flatMap((names) => [...names.values()]);
  }

  /**
   * Creates the function or replaces the one of that name; a replaced function keeps its creation
   * time. One statement, so nodes registering at once cannot both create it. Returns what is stored.
   */
  async put(f: FunctionRow): Promise<FunctionRow> {
    const { rows } = await this.sql.run(
      this.sql.db
        .insertInto('functions')
        .values({
          account_id: f.ns.accountId,
          region: f.ns.region,
          name: f.name,
          kind: f.kind,
          target: f.target,
          description: f.description,
          timeout_seconds: f.timeoutSeconds,
          memory_mb: f.memoryMb,
          revision: f.revision,
          created_at: f.createdAt,
          updated_at: f.updatedAt,
        })
        .onConflict((oc) =>
          oc.columns(['account_id', 'region', 'name']).doUpdateSet((eb) => ({
            kind: eb.ref('excluded.kind'),
            target: eb.ref('excluded.target'),
            description: eb.ref('excluded.description'),
            timeout_seconds: eb.ref('excluded.timeout_seconds'),
            memory_mb: eb.ref('excluded.memory_mb'),
            revision: eb.ref('excluded.revision'),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .returningAll(),
    );
    const stored = fromRow(rows[0] as unknown as Row);
    let names = this.byNs.get(nsKey(stored.ns));
    if (!names) this.byNs.set(nsKey(stored.ns), (names = new Map()));
    names.set(stored.name, stored);
    return stored;
  }

  /** Deletes the function; false when the database had none of that name. */
  async delete(ns: Namespace, name: string): Promise<boolean> {
    const { changes } = await this.sql.run(
      this.sql.db.deleteFrom('functions').where('account_id', '=', ns.accountId).where('region', '=', ns.region).where('name', '=', name),
    );
    const names = this.byNs.get(nsKey(ns));
    names?.delete(name);
    if (names?.size === 0) this.byNs.delete(nsKey(ns));
    return changes > 0;
  }

  /**
   * Every function of every namespace (test-mode reset). The statement is issued at the call (on
   * SQLite it runs then, inside the platform's reset transaction).
   */
  async clear(): Promise<void> {
    await this.sql.run(this.sql.db.deleteFrom('functions'));
    this.byNs.clear();
  }
}
