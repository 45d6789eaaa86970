/**
 * The embedded table store: one SQLite file per account, region and database name under
 * `<data>/telemetry/<account>/<region>/<database>.db` (mode 0600). Nothing else lives in these
 * files, so a query opened on one can reach neither the platform's store (secrets) nor another
 * namespace's rows, and telemetry writes never wait for the platform's group commit.
 *
 * Writes are synchronous (better-sqlite3): a row is inserted as the action runs, inside a
 * transaction that opens with the first row and commits COMMIT_INTERVAL_MS later (or at
 * MAX_ROWS_PER_TRANSACTION rows): the engine works in many short slices, and a commit per slice
 * cost a tenth of a core under load. A crash loses at most that interval's rows.
 */
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from 'pino';
import type { Namespace } from '../accounts/namespace.js';
import { databaseFileName, MAX_COLUMNS, MAX_TABLES, quote, TIME_COLUMN, TOPIC_COLUMN } from './names.js';
import { convert, typeOf, type ColumnType, type TableRow } from './values.js';

/** Embedded databases one namespace may have (each is a file). */
export const MAX_EMBEDDED_DATABASES = 32;
/** Rows in one open transaction before it commits without waiting for the slice to end. */
const MAX_ROWS_PER_TRANSACTION = 10_000;
const COMMIT_INTERVAL_MS = 50;

const DECLARED: Record<ColumnType, string> = { number: 'NUMERIC', text: 'TEXT', boolean: 'BOOLEAN', json: 'JSONTEXT' };
const TYPE_OF_DECLARED: Record<string, ColumnType> = { NUMERIC: 'number', TEXT: 'text', BOOLEAN: 'boolean', JSONTEXT: 'json' };

interface Table {
  columns: Map<string, ColumnType>;
  /** Columns in the order of the prepared INSERT. */
  order: string[];
  insert: Database.Statement;
}

/** One open embedded database file. */
class EmbeddedDatabase {
  readonly db: Database.Database;
  private readonly tables = new Map<string, Table>();
  private open = 0;
  private scheduled = false;

  constructor(
    readonly path: string,
    private readonly log: Logger,
  ) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
  }

  insert(tableName: string, row: TableRow): void {
    this.begin();
    const t = this.table(tableName, row);
    const values: unknown[] = [row.time, row.topic];
    for (const c of t.order) {
      const v = row.values.get(c);
      try {
        values.push(booleanAsInteger(convert(v, t.columns.get(c)!)));
      } catch (err) {
        throw new Error(`column ${c} of table ${tableName} ${(err as Error).message}`, { cause: err });
      }
    }
    t.insert.run(values);
    if (++this.open >= MAX_ROWS_PER_TRANSACTION) this.commit();
  }

  private begin(): void {
    if (this.db.inTransaction) return;
    this.db.exec('BEGIN');
    if (!this.scheduled) {
      this.scheduled = true;
      setTimeout(() => {
        this.scheduled = false;
        this.commit();
      }, COMMIT_INTERVAL_MS).unref();
    }
  }

  commit(): void {
    this.open = 0;
    if (!this.db.open || !this.db.inTransaction) return;
    try {
      this.db.exec('COMMIT');
    } catch (err) {
      this.log.error({ err, path: this.path }, 'rows of a table action could not be committed; they are lost');
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      // A rolled-back ALTER TABLE leaves the cached columns wrong: read them again.
      this.tables.clear();
    }
  }

  /** The table, created or widened so that it has a column for every non-null value of `row`. */
  private table(name: string, row: TableRow): Table {
    let t = this.tables.get(name);
    if (!t) t = this.load(name);
    let added: [string, ColumnType][] | undefined;
    for (const [c, v] of row.values) {
      if (t.columns.has(c)) continue;
      const type = typeOf(v);
      if (type) (added ??= []).push([c, type]);
    }
    if (!added) return t;
    if (t.columns.size + added.length > MAX_COLUMNS) {
      throw new Error(
        `table ${name} would have more than ${MAX_COLUMNS} columns (it has ${t.columns.size}; this row adds ${added.length})`,
      );
    }
    for (const [c, type] of added) this.db.exec(`ALTER TABLE ${quote(name)} ADD COLUMN ${quote(c)} ${DECLARED[type]}`);
    return this.load(name);
  }

  private load(name: string): Table {
    const q = quote(name);
    const tables = this.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[];
    if (!tables.includes(name) && tables.length >= MAX_TABLES)
      throw new Error(`this database already has ${MAX_TABLES} tables; '${name}' would be one more`);
    this.db.exec(`CREATE TABLE IF NOT EXISTS ${q} (${TIME_COLUMN} INTEGER NOT NULL, ${TOPIC_COLUMN} TEXT NOT NULL)`);
    // `:` never appears in a mapped name, so the index cannot take a table's name.
    this.db.exec(`CREATE INDEX IF NOT EXISTS "${name}:time" ON ${q} (${TIME_COLUMN})`);
    const columns = new Map<string, ColumnType>();
    for (const c of this.db.pragma(`table_info(${q})`) as { name: string; type: string }[]) {
      if (c.name === TIME_COLUMN || c.name === TOPIC_COLUMN) continue;
      columns.set(c.name, TYPE_OF_DECLARED[c.type] ?? 'text');
    }
    const order = [...columns.keys()];
    const names = [TIME_COLUMN, TOPIC_COLUMN, ...order].map((c) => `"${c}"`).join(', ');
    const insert = this.db.prepare(
      `INSERT INTO ${q} (${names}) VALUES (${[TIME_COLUMN, TOPIC_COLUMN, ...order].map(() => '?').join(', ')})`,
    );
    const t: Table = { columns, order, insert };
    this.tables.set(name, t);
    return t;
  }

  /** Deletes rows older than `before` (epoch ms) in every table, a chunk at a time; returns how many. */
  async prune(before: number): Promise<number> {
    this.commit();
    const tables = this.db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .pluck()
      .all() as string[];
    let deleted = 0;
    for (const name of tables) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) continue;
      const del = this.db.prepare(
        `DELETE FROM ${quote(name)} WHERE rowid IN (SELECT rowid FROM ${quote(name)} WHERE ${TIME_COLUMN} < ? LIMIT 5000)`,
      );
      for (;;) {
        if (!this.db.open) return deleted;
        const n = del.run(before).changes;
        deleted += n;
        if (n < 5000) break;
        // Rules keep writing between chunks.
        await new Promise((r) => setImmediate(r));
      }
    }
    return deleted;
  }

  /** The tables and their columns (time and topic first). */
  describe(): { name: string; columns: { name: string; type: string }[] }[] {
    this.commit();
    const names = this.db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").pluck().all() as string[];
    return names
      .filter((n) => /^[a-z_][a-z0-9_]*$/.test(n))
      .map((name) => ({
        name,
        columns: (this.db.pragma(`table_info(${quote(name)})`) as { name: string; type: string }[]).map((c) => ({
          name: c.name,
          type: c.name === TIME_COLUMN ? 'time' : c.name === TOPIC_COLUMN ? 'text' : (TYPE_OF_DECLARED[c.type] ?? 'text'),
        })),
      }));
  }

  close(): void {
    this.commit();
    if (this.db.open) this.db.close();
  }
}

function booleanAsInteger(v: number | string | boolean | null): number | string | null {
  return typeof v === 'boolean' ? (v ? 1 : 0) : v;
}

/** Every embedded database of every namespace, opened on first use. */
export class EmbeddedTables {
  private readonly open = new Map<string, EmbeddedDatabase>();
  private readonly byKey = new Map<string, EmbeddedDatabase>();

  constructor(
    private readonly root: string,
    private readonly log: Logger,
  ) {}

  /** The file of a namespace's database (whether or not it exists yet). */
  path(ns: Namespace, database: string): string {
    return join(this.root, ns.accountId, ns.region, `${databaseFileName(database)}.db`);
  }

  insert(ns: Namespace, database: string, table: string, row: TableRow): void {
    this.database(ns, database).insert(table, row);
  }

  private database(ns: Namespace, database: string): EmbeddedDatabase {
    // Looked up by a key cheaper than the path: this runs for every row.
    const key = `${ns.accountId}\u0000${ns.region}\u0000${database}`;
    const hit = this.byKey.get(key);
    if (hit?.db.open) return hit;
    const path = this.path(ns, database);
    let d = this.open.get(path);
    if (d) {
      this.byKey.set(key, d);
      return d;
    }
    const dir = join(this.root, ns.accountId, ns.region);
    if (!existsSync(path)) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const count = readdirSync(dir).filter((f) => f.endsWith('.db')).length;
      if (count >= MAX_EMBEDDED_DATABASES)
        throw new Error(
          `this account and region already have ${MAX_EMBEDDED_DATABASES} embedded databases; '${database}' would be one more`,
        );
    }
    // Mode 0600 (the WAL and shared-memory files take the database file's mode).
    const old = process.umask(0o077);
    try {
      d = new EmbeddedDatabase(path, this.log);
    } finally {
      process.umask(old);
    }
    this.open.set(path, d);
    this.byKey.set(key, d);
    return d;
  }

  /** The tables of a namespace's database; undefined when it has none. */
  describe(ns: Namespace, database: string): { name: string; columns: { name: string; type: string }[] }[] | undefined {
    const path = this.path(ns, database);
    if (!existsSync(path)) return undefined;
    return this.database(ns, database).describe();
  }

  /** Deletes rows older than `before` in every embedded database on disk (also those not opened since start). */
  async prune(before: number): Promise<number> {
    let deleted = 0;
    for (const path of this.files()) {
      const d = this.open.get(path);
      if (d) deleted += await d.prune(before);
      else {
        const temp = new EmbeddedDatabase(path, this.log);
        try {
          deleted += await temp.prune(before);
        } finally {
          temp.close();
        }
      }
    }
    return deleted;
  }

  private files(): string[] {
    const out: string[] = [];
    if (!existsSync(this.root)) return out;
    for (const account of readdirSync(this.root))
      for (const region of readdirSync(join(this.root, account)))
        for (const f of readdirSync(join(this.root, account, region))) if (f.endsWith('.db')) out.push(join(this.root, account, region, f));
    return out;
  }

  /** Commits what is pending everywhere (before a query, so it sees the latest rows). */
  commitAll(): void {
    for (const d of this.open.values()) d.commit();
  }

  close(): void {
    for (const d of this.open.values()) d.close();
    this.open.clear();
    this.byKey.clear();
  }

  /** Test-mode reset: every embedded database removed. */
  clear(): void {
    this.close();
    rmSync(this.root, { recursive: true, force: true });
  }
}
