/** The SQL engine on embedded SQLite (better-sqlite3): statements run synchronously from a cache of prepared ones. */
import { Kysely, SqliteDialect } from 'kysely';
import { inTransaction, prepared, type Db } from '../database.js';
import { compiled, type RunResult, type SqlEngine, type Statement } from './engine.js';

function execute(db: Db, q: Statement): RunResult {
  const { sql, parameters } = compiled(q);
  const stmt = prepared(db, sql);
  if (stmt.reader) return { changes: 0, rows: stmt.all(...parameters) as Record<string, unknown>[] };
  return { changes: stmt.run(...parameters).changes, rows: [] };
}

export function sqliteEngine(database: Db): SqlEngine {
  const db = new Kysely({ dialect: new SqliteDialect({ database }) });
  return {
    dialect: 'sqlite',
    db,
    all: async <R>(q: Statement<R>) => execute(database, q).rows as R[],
    first: async <R>(q: Statement<R>) => execute(database, q).rows[0] as R | undefined,
    run: async (q) => execute(database, q),
    batch: async (qs) => inTransaction(database, () => qs.map((q) => execute(database, q))),
    // The database belongs to the server, which closes it after everything that writes to it.
    close: async () => {},
  };
}
