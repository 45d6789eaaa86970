/**
 * A throwaway PostgreSQL 15 cluster for a test file: initdb in a scratch directory as the `postgres`
 * user (initdb refuses root), the server on a free loopback port, stopped by its PID afterwards.
 * It gets a login role `thicket` (CREATEROLE, not a superuser) owning database `telemetry`. TCP
 * logins need a password (scram-sha-256), as an operator's server would ask; only the Unix socket
 * in the scratch directory trusts.
 */
import { spawn, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const BIN = '/usr/lib/postgresql/15/bin';
const ADMIN_PASSWORD = 'admin-pw';

export interface Postgres {
  port: number;
  /** `postgres://thicket:...@127.0.0.1:<port>/telemetry` */
  url: string;
  /** A superuser connection string (database `telemetry`), for checking what is stored. */
  adminUrl: string;
  /** Creates an empty database owned by `thicket` (an ordinary role) and gives its connection string. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

export async function startPostgres(): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'thicket-pg-'));
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pwfile');
  writeFileSync(pwfile, ADMIN_PASSWORD + '\n');
  chownSync(pwfile, uid, gid);
  execFileSync(
    'runuser',
    [
      '-u',
      'postgres',
      '--',
      `${BIN}/initdb`,
      '-D',
      data,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      `--pwfile=${pwfile}`,
      '-U',
      'postgres',
      '--no-sync',
    ],
    { stdio: 'ignore' },
  );
  const port = await freePort();
  const proc = spawn(
    'runuser',
    [
      '-u',
      'postgres',
      '--',
      `${BIN}/postgres`,
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'fsync=off',
    ],
    { stdio: 'ignore' },
  );
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const adminUrl = `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const c = new pg.Client({ connectionString: adminUrl });
    try {
      await c.connect();
      await c.query("CREATE ROLE thicket LOGIN CREATEROLE PASSWORD 'pw'");
      await c.query('CREATE DATABASE telemetry OWNER thicket');
      await c.end();
      break;
    } catch (err) {
      await c.end().catch(() => undefined);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    port,
    url: `postgres://thicket:pw@127.0.0.1:${port}/telemetry`,
    adminUrl: `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/telemetry`,
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}" OWNER thicket`);
      } finally {
        await c.end();
      }
      return `postgres://thicket:pw@127.0.0.1:${port}/${name}`;
    },
    async stop() {
      try {
        process.kill(pid, 'SIGINT');
      } catch {
        /* already gone */
      }
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
