/**
 * The stores' SQL engine: one query layer (Kysely builds and compiles the queries) over either
 * embedded SQLite or PostgreSQL. Stores build a query with `engine.db`, then hand it to `all`,
 * `first`, `run` or `batch`.
 *
 * A transaction is an atomic batch of statements known up front rather than a callback holding
 * one open across awaits: on SQLite the whole batch runs synchronously (no other work can slip a
 * write into it, and none waits on a lock), on PostgreSQL in BEGIN ... COMMIT on one connection.
 * A read-modify-write uses a conditional write (`WHERE version = ?`) and reads the change count.
 */
import { sql, type Compilable, type CompiledQuery, type Kysely } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/** The result of a write: how many rows it changed, and the rows a RETURNING clause gave. */
export interface RunResult<R = Record<string, unknown>> {
  changes: number;
  rows: R[];
}

export type Statement<R = unknown> = Compilable<R> | CompiledQuery<R>;

export interface SqlEngine {
  readonly dialect: Dialect;
  /**
   * The query builder. Only for building: run what it builds with the methods below (on SQLite they
   * run through a statement cache, synchronously inside).
   */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  readonly db: Kysely<any>;
  /** Every row a query returns. */
  all<R>(query: Statement<R>): Promise<R[]>;
  /** The first row, or undefined. */
  first<R>(query: Statement<R>): Promise<R | undefined>;
  run(query: Statement): Promise<RunResult>;
  /** Runs the statements in one transaction; all or none take effect. */
  batch(queries: readonly Statement[]): Promise<RunResult[]>;
  /**
   * Runs `fn` while no other caller holding `key` runs, on this node or (PostgreSQL: an advisory
   * lock) on any node sharing the database: a count checked against a limit and the insert after it.
   */
  exclusive<T>(key: string, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export function compiled<R>(q: Statement<R>): CompiledQuery<R> {
  return 'compile' in q ? q.compile() : q;
}

/** Whether a statement failed on a primary key or unique constraint (either engine). */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** `ok` when the database answers a trivial query within `timeoutMs`, else what went wrong. */
export async function databaseHealth(engine: SqlEngine, timeoutMs = 2000): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
  });
  try {
    return await Promise.race([engine.first(sql`select 1 as one`.compile(engine.db)).then(() => 'ok'), timeout]);
  } catch (err) {
    return `unreachable: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One caller at a time: each runs once the one before it settled. The engines hold their exclusive
 * sections in one such line per node (they are rare: creates checked against a limit), so that a
 * PostgreSQL node holds at most one connection for advisory locks and never waits on itself.
 */
export function oneAtATime(): <T>(fn: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: () => Promise<T>): Promise<T> => {
    const run = tail.then(fn, fn);
    tail = run.catch(() => undefined);
    return run;
  };
}
