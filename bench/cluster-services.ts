/**
 * What a benchmarked cluster shares: its own PostgreSQL 15 and its own nats-server, each in a scratch
 * directory on a free loopback port, started through processes.ts (pinned with the brokers, stopped
 * by PID on every exit path). Like packages/server/test/pg-helpers.ts and nats-helpers.ts, but with
 * PostgreSQL's durability settings left at their defaults (fsync on, synchronous_commit on): this is
 * a benchmark of a durable store.
 */
import { execFile, execFileSync } from 'node:child_process';
import { chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { HOST, canConnect, freePort } from './peers.js';
import { scratchDir, start, stop, within, type Pinning, type Tracked } from './processes.js';

const PG_BIN = '/usr/lib/postgresql/15/bin';
const NATS_SERVER = 'nats-server';
/** The login role the nodes use (an ordinary role, as an operator's would be) and its password. */
const ROLE = 'thicket';
const ROLE_PASSWORD = 'bench-pw';
const ADMIN_PASSWORD = 'bench-admin-pw';
const READY_TIMEOUT_MS = 20_000;

const run = promisify(execFile);

export interface Service {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

export interface Postgres extends Service {
  version: string;
  /** Creates an empty database owned by the nodes' role and gives the URL a node connects with. */
  createDatabase(name: string): Promise<string>;
}

export interface Nats extends Service {
  version: string;
  url: string;
}

/** Null if the cluster bench can run here, else why not. */
export function clusterUnavailable(): string | null {
  try {
    execFileSync(path.join(PG_BIN, 'postgres'), ['--version'], { stdio: 'ignore' });
  } catch {
    return `PostgreSQL 15 is not installed (${PG_BIN}; apt-get install postgresql-15)`;
  }
  try {
    execFileSync(NATS_SERVER, ['--version'], { stdio: 'ignore' });
  } catch {
    return 'nats-server is not on PATH (apt-get install nats-server)';
  }
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    return 'there is no postgres user to run initdb as';
  }
  return null;
}

function idOf(flag: '-u' | '-g'): number {
  return Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
}

/**
 * initdb as the `postgres` user (initdb refuses root), then the server itself spawned with that
 * user's uid and gid, so the PID held is the postmaster's (runuser would stay in between).
 */
export async function startPostgres(core: number, pinning: Pinning): Promise<Postgres> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'thicket-bench-pg-'));
  const scratch = scratchDir(dir);
  const uid = idOf('-u');
  const gid = idOf('-g');
  chownSync(dir, uid, gid);
  const data = path.join(dir, 'data');
  const pwfile = path.join(dir, 'pwfile');
  writeFileSync(pwfile, ADMIN_PASSWORD + '\n');
  chownSync(pwfile, uid, gid);
  try {
    // --no-sync only skips initdb's own final flush of the new files; the server runs with fsync on.
    await run('runuser', [
      '-u',
      'postgres',
      '--',
      path.join(PG_BIN, 'initdb'),
      '-D',
      data,
      '--auth-local=trust',
      '--auth-host=scram-sha-256',
      `--pwfile=${pwfile}`,
      '-U',
      'postgres',
      '--no-sync',
    ]);
  } catch (err) {
    scratch.remove();
    throw new Error(`initdb failed: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`, { cause: err });
  }
  const port = await freePort();
  const proc = start(
    path.join(PG_BIN, 'postgres'),
    ['-D', data, '-p', String(port), '-k', dir, '-c', `listen_addresses=${HOST}`],
    core,
    pinning,
    { cwd: dir, uid, gid },
  );
  // Immediate shutdown on an abort: the postmaster takes its backends along.
  proc.abortSignal = 'SIGQUIT';
  const stopIt = async (): Promise<void> => {
    // Fast shutdown: open sessions are ended, then a checkpoint.
    await stop(proc, 15_000, 'SIGINT');
    scratch.remove();
  };
  // Superuser over the Unix socket in the scratch directory (trusted there; TCP asks for passwords).
  const psql = (sql: string, database = 'postgres'): Promise<{ stdout: string }> =>
    run(path.join(PG_BIN, 'psql'), [
      '-X',
      '-q',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      dir,
      '-p',
      String(port),
      '-U',
      'postgres',
      '-d',
      database,
      '-c',
      sql,
    ]);
  try {
    await waitFor(proc, 'postgres', async () => {
      try {
        await run(path.join(PG_BIN, 'pg_isready'), ['-q', '-h', dir, '-p', String(port)]);
        return true;
      } catch {
        return false;
      }
    });
    await psql(`CREATE ROLE ${ROLE} LOGIN PASSWORD '${ROLE_PASSWORD}'`);
    const version = (await psql('SHOW server_version')).stdout.trim();
    return {
      pid: proc.pid,
      port,
      version,
      async createDatabase(name) {
        if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`database name ${name}: lowercase letters, digits and _ only`);
        await psql(`CREATE DATABASE ${name} OWNER ${ROLE}`);
        return `postgres://${ROLE}:${ROLE_PASSWORD}@${HOST}:${port}/${name}`;
      },
      stop: stopIt,
    };
  } catch (err) {
    await stopIt();
    throw err;
  }
}

/** Core NATS (no JetStream), as the nodes use it. */
export async function startNats(core: number, pinning: Pinning): Promise<Nats> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'thicket-bench-nats-'));
  const scratch = scratchDir(dir);
  const port = await freePort();
  const conf = path.join(dir, 'nats.conf');
  writeFileSync(conf, `listen: ${HOST}:${port}\n`);
  const version = execFileSync(NATS_SERVER, ['--version'], { encoding: 'utf8' })
    .trim()
    .replace(/^nats-server:\s*/, '');
  const proc = start(NATS_SERVER, ['-c', conf], core, pinning, { cwd: dir });
  const stopIt = async (): Promise<void> => {
    await stop(proc, 5000);
    scratch.remove();
  };
  try {
    await waitFor(proc, 'nats-server', () => canConnect(port));
    return { pid: proc.pid, port, version, url: `nats://${HOST}:${port}`, stop: stopIt };
  } catch (err) {
    await stopIt();
    throw err;
  }
}

async function waitFor(proc: Tracked, what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.hasExited) throw new Error(`${what} ${proc.describeExit()} before it was ready: ${proc.output() || '(no output)'}`);
    if (await probe()) return;
    await within(proc.exited, 100);
  }
  throw new Error(`${what} not ready after ${READY_TIMEOUT_MS} ms: ${proc.output() || '(no output)'}`);
}
