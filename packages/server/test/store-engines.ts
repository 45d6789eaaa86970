/**
 * Runs a store test suite on both engines: embedded SQLite (a fresh in-memory database per test)
 * and PostgreSQL (a fresh database per test in one throwaway cluster per file).
 */
import { after, before, describe } from 'node:test';
import pino from 'pino';
import { openDatabase } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { postgresEngine } from '../src/store/sql/postgres-engine.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { startPostgres, type Postgres } from './pg-helpers.js';

export interface EngineUnderTest {
  /** A new empty database on this engine; `share` opens a second engine on the last one made. */
  open(opts?: { share?: boolean }): Promise<SqlEngine>;
}

export function onBothEngines(title: string, suite: (engine: EngineUnderTest) => void): void {
  const opened: SqlEngine[] = [];
  const closeAll = async (): Promise<void> => {
    for (const e of opened.splice(0)) await e.close();
  };

  describe(`${title} (SQLite)`, () => {
    let last: ReturnType<typeof openDatabase> | undefined;
    after(closeAll);
    suite({
      async open(opts = {}) {
        if (!opts.share || !last) last = openDatabase(null);
        const e = sqliteEngine(last);
        opened.push(e);
        return e;
      },
    });
  });

  describe(`${title} (PostgreSQL)`, () => {
    let cluster: Postgres;
    let count = 0;
    let lastUrl = '';
    before(async () => {
      cluster = await startPostgres();
    });
    after(async () => {
      await closeAll();
      await cluster.stop();
    });
    suite({
      async open(opts = {}) {
        if (!opts.share || !lastUrl) lastUrl = await cluster.createDatabase(`store_${++count}`);
        const e = postgresEngine({ connectionString: lastUrl, max: 4, log: pino({ level: 'silent' }) });
        opened.push(e);
        return e;
      },
    });
  });
}
