/**
 * The server's SQLite database: one file under the data directory shared by every store module,
 * or an in-memory database for `--ephemeral`. Each store creates its own tables.
 */
import { closeSync, existsSync, openSync } from 'node:fs';
import Database from 'better-sqlite3';

export type Db = Database.Database;

/** Opens (creating with mode 0600: it holds secret keys) the database at `path`, or in memory for null. */
export function openDatabase(path: string | null, opts: { fsync?: boolean } = {}): Db {
  if (path !== null && !existsSync(path)) closeSync(openSync(path, 'wx', 0o600));
  const db = new Database(path ?? ':memory:');
  if (path !== null) db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${opts.fsync ? 'FULL' : 'NORMAL'}`);
  db.pragma('foreign_keys = ON');
  // Readers never block the writer in WAL; a short busy timeout covers checkpoints.
  db.pragma('busy_timeout = 5000');
  return db;
}

const runners = new WeakMap<Db, (fn: () => unknown) => unknown>();

/**
 * Runs `fn` in a transaction (a savepoint when one is already open). better-sqlite3 wraps each
 * function given to `db.transaction` anew, which cost a sixth of a shadow update, so each database
 * gets one wrapper that calls whatever it is handed.
 */
export function inTransaction<T>(db: Db, fn: () => T): T {
  let run = runners.get(db);
  if (!run) {
    run = db.transaction((f: () => unknown) => f());
    runners.set(db, run);
  }
  if (db.inTransaction) return run(fn) as T;
  let result: T;
  try {
    result = run(fn) as T;
  } catch (err) {
    committed.delete(db);
    throw err;
  }
  const after = committed.get(db);
  committed.delete(db);
  if (after) for (const f of after) f();
  return result;
}

const committed = new WeakMap<Db, Array<() => void>>();

/** Runs (or, after a rollback, drops) the afterCommit work of a transaction opened with BEGIN rather than `inTransaction`. */
export function afterManualCommit(db: Db, didCommit: boolean): void {
  const after = committed.get(db);
  committed.delete(db);
  if (didCommit && after) for (const f of after) f();
}

const settlers = new WeakMap<Db, () => void>();

/**
 * Registers how to end the transaction a store holds open across turns of the event loop (the SQL
 * engine's group commit), so that `settle` can end it before something that must not join it.
 */
export function holdOpen(db: Db, settle: (() => void) | undefined): void {
  if (settle) settlers.set(db, settle);
  else settlers.delete(db);
}

/** Commits the transaction held open on `db`, if any: before the database closes, and before writers that commit on their own. */
export function settle(db: Db): void {
  settlers.get(db)?.();
}

/**
 * Runs `fn` once the transaction now open on `db` has committed (at once when none is open), and
 * never if it rolls back: what a change publishes must not be seen before the change is durable.
 * Work of a nested savepoint that rolls back while its outer transaction commits still runs.
 */
export function afterCommit(db: Db, fn: () => void): void {
  if (!db.inTransaction) return fn();
  let list = committed.get(db);
  if (!list) committed.set(db, (list = []));
  list.push(fn);
}

const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/**
 * The prepared statement for `sql`, compiled once per database. Preparing costs more than running
 * a point query, and the stores' lookups run on every request (a jobs benchmark spent more time in
 * prepare than in the queries).
 */
export function prepared(db: Db, sql: string): Database.Statement {
  let cache = statements.get(db);
  if (!cache) statements.set(db, (cache = new Map()));
  let stmt = cache.get(sql);
  if (!stmt) cache.set(sql, (stmt = db.prepare(sql)));
  return stmt;
}
