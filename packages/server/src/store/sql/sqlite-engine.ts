/**
 * The SQL engine on embedded SQLite (better-sqlite3): statements run synchronously from a cache of
 * prepared ones.
 *
 * Writes are group-committed: the first write opens a transaction that every statement run before
 * the next turn of the event loop joins, and one COMMIT ends it there. A statement's promise
 * resolves only after that COMMIT, so whoever answers after awaiting a write answers after it is
 * durable, as before; what changes is that a hundred requests in flight pay for one commit instead
 * of a hundred (a commit costs ten times the update it ends). A batch inside the group is a
 * savepoint: still all or nothing. Reads while no group is open resolve at once.
 */
import type Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { afterManualCommit, holdOpen, inTransaction, prepared, type Db } from '../database.js';
import { compiled, oneAtATime, type RunResult, type SqlEngine, type Statement } from './engine.js';

/** A statement prepared (once per text) with its arguments. */
function statement(db: Db, q: Statement): { stmt: Database.Statement; parameters: readonly unknown[] } {
  const { sql, parameters } = compiled(q);
  return { stmt: prepared(db, sql), parameters };
}

function execute({ stmt, parameters }: { stmt: Database.Statement; parameters: readonly unknown[] }): RunResult {
  if (stmt.reader) return { changes: 0, rows: stmt.all(...parameters) as Record<string, unknown>[] };
  return { changes: stmt.run(...parameters).changes, rows: [] };
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/** One line of exclusive sections per database file, whichever engine on it asks. */
const lines = new WeakMap<Db, ReturnType<typeof oneAtATime>>();

function lineOf(database: Db): ReturnType<typeof oneAtATime> {
  let line = lines.get(database);
  if (!line) lines.set(database, (line = oneAtATime()));
  return line;
}

export function sqliteEngine(database: Db): SqlEngine {
  const line = lineOf(database);
  const db = new Kysely({ dialect: new SqliteDialect({ database }) });
  /** Statements that ran in the open group, waiting for its COMMIT. */
  let group: Waiter[] | undefined;

  const fail = (waiters: Waiter[], err: unknown): void => {
    afterManualCommit(database, false);
    for (const w of waiters) w.reject(err);
  };

  const settle = (): void => {
    const waiters = group;
    if (!waiters) return;
    group = undefined;
    holdOpen(database, undefined);
    // An I/O error or a full disk rolls back the whole transaction by itself.
    if (!database.inTransaction) return fail(waiters, new Error('SQLite rolled back the transaction'));
    try {
      database.exec('COMMIT');
    } catch (err) {
      if (database.inTransaction) database.exec('ROLLBACK');
      return fail(waiters, err);
    }
    afterManualCommit(database, true);
    for (const w of waiters) w.resolve();
  };

  const run = <T>(write: boolean, fn: () => T): Promise<T> => {
    if (!group) {
      // A read outside a group, or a statement inside a transaction some synchronous code holds open.
      if (!write || database.inTransaction) {
        try {
          return Promise.resolve(fn());
        } catch (err) {
          return Promise.reject(err);
        }
      }
      try {
        database.exec('BEGIN');
      } catch (err) {
        return Promise.reject(err);
      }
      group = [];
      holdOpen(database, settle);
      setImmediate(settle);
    }
    const waiters = group;
    let value: T;
    try {
      value = fn();
    } catch (err) {
      // Most failures undo only their statement; those that end the transaction fail the whole group.
      if (!database.inTransaction && group === waiters) {
        group = undefined;
        holdOpen(database, undefined);
        fail(waiters, err);
      }
      return Promise.reject(err);
    }
    return new Promise<T>((resolve, reject) => waiters.push({ resolve: () => resolve(value), reject }));
  };

  return {
    dialect: 'sqlite',
    db,
    all: <R>(q: Statement<R>) => run(false, () => execute(statement(database, q)).rows as R[]),
    first: <R>(q: Statement<R>) => run(false, () => execute(statement(database, q)).rows[0] as R | undefined),
    run: (q) => {
      let s;
      try {
        s = statement(database, q);
      } catch (err) {
        return Promise.reject(err);
      }
      return run(!s.stmt.reader, () => execute(s));
    },
    batch: (qs) => run(true, () => inTransaction(database, () => qs.map((q) => execute(statement(database, q))))),
    // One process owns the file: the line alone keeps other callers out.
    exclusive: (_key, fn) => line(fn),
    // The database belongs to the server, which closes it after everything that writes to it; what
    // is still open commits now.
    close: async () => settle(),
  };
}
