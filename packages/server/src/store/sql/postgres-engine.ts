/** The SQL engine on PostgreSQL (`pg`): a connection pool; batches run in BEGIN ... COMMIT on one connection. */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import { compiled, oneAtATime, type RunResult, type SqlEngine, type Statement } from './engine.js';

const INT8 = 20;
const NUMERIC = 1700;

/**
 * int8 (epoch milliseconds, counters) as a number rather than pg's default string: every value the
 * stores keep in one fits a double exactly.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 || oid === NUMERIC ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface PostgresEngineOptions {
  connectionString: string;
  /** Connections at most (pg's pool). */
  max?: number;
  log: Logger;
}

async function execute(client: pg.Pool | pg.PoolClient, q: Statement): Promise<RunResult> {
  const { sql, parameters } = compiled(q);
  const r = await client.query({ text: sql, values: parameters as unknown[] });
  return { changes: r.rowCount ?? 0, rows: r.rows as Record<string, unknown>[] };
}

export function postgresEngine(opts: PostgresEngineOptions): SqlEngine {
  const pool = new pg.Pool({ connectionString: opts.connectionString, max: opts.max ?? 10, types });
  // An idle connection that breaks (server restart) must not take the process down; the pool replaces it.
  pool.on('error', (err) => opts.log.warn({ err: err.message }, 'a PostgreSQL connection failed'));
  const db = new Kysely({ dialect: new PostgresDialect({ pool }) });
  const line = oneAtATime();
  return {
    dialect: 'postgres',
    db,
    all: async <R>(q: Statement<R>) => (await execute(pool, q)).rows as R[],
    first: async <R>(q: Statement<R>) => (await execute(pool, q)).rows[0] as R | undefined,
    run: (q) => execute(pool, q),
    async batch(qs) {
      const client = await pool.connect();
      // A connection whose ROLLBACK fails is broken: the pool closes it rather than lending it again.
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const results: RunResult[] = [];
        for (const q of qs) results.push(await execute(client, q));
        await client.query('COMMIT');
        return results;
      } catch (err) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw err;
      } finally {
        client.release(broken);
      }
    },
    async exclusive<T>(key: string, fn: () => Promise<T>): Promise<T> {
      return line(async () => {
        const client = await pool.connect();
        let broken: Error | undefined;
        try {
          // Held by the session: it goes with the connection if this node dies meanwhile.
          await client.query('SELECT pg_advisory_lock(hashtext($1))', [key]);
          try {
            return await fn();
          } finally {
            await client.query('SELECT pg_advisory_unlock(hashtext($1))', [key]).catch((e: Error) => (broken = e));
          }
        } finally {
          // A connection that could not unlock is closed rather than lent again (closing unlocks).
          client.release(broken);
        }
      });
    },
    // Kysely's destroy ends the pool.
    close: () => db.destroy(),
  };
}
