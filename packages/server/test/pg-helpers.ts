/**
 * A throwaway PostgreSQL 15 cluster for a test file: initdb in a scratch directory as the `postgres`
 * user (initdb refuses root), the server on a free loopback port, stopped by its PID afterwards.
 * It gets a login role `thicket` (CREATEROLE, not a superuser) owning database `telemetry`. TCP
 * logins need a password (scram-sha-256), as an operator's server would ask; only the Unix socket
 * in the scratch directory trusts. `pause` and `resume` stop and start the same server (its data
 * and port kept), for tests of a database that goes away. The broker's tests use it too.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const BIN = '/usr/lib/postgresql/15/bin';
const ADMIN_PASSWORD = 'admin-pw';
/** The `thicket` role's password (tests check that no log line repeats it). */
export const ROLE_PASSWORD = 'thicket-role-pw-7c1f';

export interface Postgres {
  port: number;
  /** `postgres://thicket:...@127.0.0.1:<port>/telemetry` */
  url: string;
  /** A superuser connection string (database `telemetry`), for checking what is stored. */
  adminUrl: string;
  /** Creates an empty database owned by `thicket` (an ordinary role) and gives its connection string. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown: open connections are cut), keeping its data and port. */
  pause(): Promise<void>;
  /** Starts it again after `pause`; resolves once it accepts connections. */
  resume(): Promise<void>;
  /** Stops it and removes its scratch directory. */
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

async function untilReady(url: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      return;
    } catch (err) {
      await c.end().catch(() => undefined);
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** `autovacuum: false` for tests that count transactions by transaction id, which nothing else may take. */
export async function startPostgres(opts: { autovacuum?: boolean } = {}): Promise<Postgres> {
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
  let port = await freePort();
  let serverAdminUrl = '';
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  async function resume(): Promise<void> {
    serverAdminUrl = `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres`;
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off'];
    if (opts.autovacuum === false) args.push('-c', 'autovacuum=off');
    const p = spawn('runuser', ['-u', 'postgres', '--', `${BIN}/postgres`, ...args], { stdio: 'ignore' });
    proc = p;
    let gone = false;
    exited = new Promise<void>((r) =>
      p.once('exit', () => {
        gone = true;
        r();
      }),
    );
    await untilReady(serverAdminUrl);
    // Another test file's server may have taken the port first: then ours exited, and the one that
    // answered is not ours (it would mix two files' databases).
    await new Promise((r) => setTimeout(r, 50));
    if (gone || !existsSync(join(data, 'postmaster.pid'))) {
      proc = null;
      throw new Error(`PostgreSQL did not start on port ${port} (taken by another server?)`);
    }
  }

  async function pause(): Promise<void> {
    if (!proc) return;
    proc = null;
    // The postmaster's PID (runuser's child), from its pid file; SIGINT is PostgreSQL's fast shutdown.
    const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      /* already gone */
    }
    await exited;
  }

  for (let attempt = 1; ; attempt++) {
    try {
      await resume();
      break;
    } catch (err) {
      if (attempt === 3) throw err;
      port = await freePort();
    }
  }
  const admin = new pg.Client({ connectionString: serverAdminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE ROLE thicket LOGIN CREATEROLE PASSWORD '${ROLE_PASSWORD}'`);
    await admin.query('CREATE DATABASE telemetry OWNER thicket');
  } finally {
    await admin.end();
  }
  return {
    port,
    url: `postgres://thicket:${ROLE_PASSWORD}@127.0.0.1:${port}/telemetry`,
    adminUrl: `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/telemetry`,
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: serverAdminUrl });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}" OWNER thicket`);
      } finally {
        await c.end();
      }
      return `postgres://thicket:${ROLE_PASSWORD}@127.0.0.1:${port}/${name}`;
    },
    pause,
    resume,
    async stop() {
      await pause();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
