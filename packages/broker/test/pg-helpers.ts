/**
 * A throwaway PostgreSQL 15 cluster for a broker test file, as packages/server/test/pg-helpers.ts
 * makes one (initdb in a scratch directory as the `postgres` user, the server on a free loopback
 * port, stopped by its PID; the broker package does not import the server's tests), plus stop() and
 * start() on the same data directory and port, to take the database away under load and bring it
 * back. Login role `thicket` (an ordinary role) with a password over TCP.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const BIN = '/usr/lib/postgresql/15/bin';
const ADMIN_PASSWORD = 'admin-pw';
/** The role's password: distinctive, so tests can check that logs never carry it. */
export const ROLE_PASSWORD = 'broker-store-secret-7c1f';

export interface Postgres {
  port: number;
  /** Superuser connection string to database `postgres`. */
  adminUrl: string;
  /** Creates an empty database owned by `thicket` and gives its connection string. */
  createDatabase(name: string): Promise<string>;
  /** Stops the server (fast shutdown: open connections are cut), keeping its data. */
  stop(): Promise<void>;
  /** Starts it again on the same data and port; resolves once it accepts connections. */
  start(): Promise<void>;
  /** Stops it if running and removes the scratch directory. */
  destroy(): Promise<void>;
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

export async function startPostgres(): Promise<Postgres> {
  const dir = mkdtempSync(join(tmpdir(), 'thicket-broker-pg-'));
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
  const adminUrl = `postgres://postgres:${ADMIN_PASSWORD}@127.0.0.1:${port}/postgres`;
  let proc: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();

  async function start(): Promise<void> {
    // autovacuum off: tests count transactions by transaction id, which nothing else may take.
    const args = ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'autovacuum=off'];
    const p = spawn('runuser', ['-u', 'postgres', '--', `${BIN}/postgres`, ...args], { stdio: 'ignore' });
    proc = p;
    exited = new Promise<void>((r) => p.once('exit', () => r()));
    await untilReady(adminUrl);
  }

  async function stop(): Promise<void> {
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

  await start();
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE ROLE thicket LOGIN PASSWORD '${ROLE_PASSWORD}'`);
  await admin.end();

  return {
    port,
    adminUrl,
    async createDatabase(name) {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}" OWNER thicket`);
      } finally {
        await c.end();
      }
      return `postgres://thicket:${ROLE_PASSWORD}@127.0.0.1:${port}/${name}`;
    },
    stop,
    start,
    async destroy() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
