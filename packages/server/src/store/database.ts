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
