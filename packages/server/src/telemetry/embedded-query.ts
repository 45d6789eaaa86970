/**
 * Queries over an embedded database run in a child process with the file opened read-only. A query
 * that runs too long is stopped by killing its process: SQLite's loop is native code that neither
 * a worker thread's termination nor anything better-sqlite3 exposes can interrupt, while SIGKILL
 * always ends it (and whatever memory it took). Warm processes are kept for the next queries.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { AwsError } from '../aws/errors.js';

export interface QueryResult {
  columns: string[];
  rows: unknown[][];
  /** More rows matched than were returned (the limit or the size bound cut them off). */
  truncated: boolean;
}

/** Queries running at once; more wait in line (and are refused beyond MAX_WAITING). */
const MAX_RUNNING = 4;
const MAX_WAITING = 64;
/** Idle processes kept for the next query (starting one costs tens of milliseconds). */
const MAX_IDLE = 2;
/** Bytes of JSON a result may hold before it is cut off. */
export const MAX_RESULT_BYTES = 16 * 1024 * 1024;
/**
 * The address space of a query's process (ulimit -v, in KiB). better-sqlite3 builds SQLite without
 * memory statistics, so SQLite's own heap limit is not enforced; the operating system's is. Node
 * itself reserves about 0.8 GiB, which leaves SQLite a few hundred MiB (randomblob(3e8) fails).
 */
const ADDRESS_SPACE_KIB = 1_200_000;

// Plain JavaScript run with \`node -e\`: the same code runs from the sources (tsx) and from dist.
const RUNNER_SOURCE = `
const Database = require(process.env.THICKET_SQLITE_MODULE);
process.on('disconnect', () => process.exit(0));
process.on('message', (job) => {
  let db;
  try {
    db = new Database(job.path, { readonly: true, fileMustExist: true });
    const stmt = db.prepare(job.sql);
    if (!stmt.reader || !stmt.readonly) throw Object.assign(new Error('Only queries that read are allowed'), { refused: true });
    const columns = stmt.columns().map((c) => c.name);
    stmt.raw(true);
    const rows = [];
    let bytes = 0;
    let truncated = false;
    for (const row of stmt.iterate()) {
      if (rows.length >= job.limit) { truncated = true; break; }
      for (let i = 0; i < row.length; i++) {
        const v = row[i];
        if (typeof v === 'bigint') row[i] = Number(v);
        else if (Buffer.isBuffer(v)) row[i] = v.toString('base64');
      }
      bytes += JSON.stringify(row).length + 1;
      if (bytes > job.maxBytes) { truncated = true; break; }
      rows.push(row);
    }
    process.send({ columns, rows, truncated });
  } catch (err) {
    process.send({ error: String(err && err.message || err), refused: !!(err && err.refused) });
  } finally {
    try { if (db) db.close(); } catch {}
  }
});
`;

const sqlitePath = createRequire(import.meta.url).resolve('better-sqlite3');

interface Job {
  path: string;
  sql: string;
  limit: number;
  timeoutMs: number;
  resolve(r: QueryResult): void;
  reject(e: Error): void;
  /** Run again once, without the address-space limit, after a runner died before answering. */
  retried?: boolean;
}

type Reply = QueryResult & { error?: string; refused?: boolean };

export class EmbeddedQueries {
  private idle: ChildProcess[] = [];
  private readonly busy = new Set<ChildProcess>();
  private readonly waiting: Job[] = [];
  private closed = false;
  /** Off when a limited runner could not even start (a Node that reserves more address space). */
  private limitAddressSpace = process.platform !== 'win32' && existsSync('/bin/sh');
  private readonly answered = new WeakSet<ChildProcess>();

  run(path: string, sql: string, limit: number, timeoutMs: number): Promise<QueryResult> {
    if (this.closed) return Promise.reject(new AwsError('ServiceUnavailableException', 503, 'The server is stopping'));
    if (this.busy.size >= MAX_RUNNING && this.waiting.length >= MAX_WAITING)
      return Promise.reject(new AwsError('ThrottlingException', 429, 'Too many data queries are running; try again later'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ path, sql, limit, timeoutMs, resolve, reject });
      this.next();
    });
  }

  private next(): void {
    while (this.busy.size < MAX_RUNNING && this.waiting.length > 0) this.start(this.waiting.shift()!);
  }

  private spawnRunner(): ChildProcess {
    const node = [process.execPath, '--max-old-space-size=256', '-e', RUNNER_SOURCE];
    const [command, ...args] = this.limitAddressSpace
      ? ['/bin/sh', '-c', `ulimit -v ${ADDRESS_SPACE_KIB} && exec "$0" "$@"`, ...node]
      : node;
    const child = spawn(command!, args, {
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: { THICKET_SQLITE_MODULE: sqlitePath },
      serialization: 'advanced',
    });
    // An idle runner that dies is simply not reused.
    child.on('exit', () => {
      this.idle = this.idle.filter((c) => c !== child);
    });
    child.on('error', () => undefined);
    return child;
  }

  private start(job: Job): void {
    let child = this.idle.pop();
    if (child) child.ref();
    else child = this.spawnRunner();
    const runner = child;
    this.busy.add(runner);
    let settled = false;
    const finish = (keep: boolean): void => {
      settled = true;
      clearTimeout(timer);
      runner.removeListener('message', onMessage);
      runner.removeListener('exit', onExit);
      this.busy.delete(runner);
      if (keep && !this.closed && this.idle.length < MAX_IDLE && runner.connected) {
        runner.unref();
        (runner.channel as { unref?(): void } | undefined)?.unref?.();
        this.idle.push(runner);
      } else runner.kill('SIGKILL');
      this.next();
    };
    const timer = setTimeout(() => {
      if (settled) return;
      finish(false);
      job.reject(new AwsError('InvalidRequestException', 400, `The query ran longer than ${job.timeoutMs / 1000} seconds and was stopped`));
    }, job.timeoutMs);
    const onMessage = (m: Reply): void => {
      this.answered.add(runner);
      if (settled) return;
      finish(true);
      if (m.error !== undefined)
        job.reject(new AwsError('InvalidRequestException', 400, m.refused ? m.error : `The query failed: ${m.error}`));
      else job.resolve({ columns: m.columns, rows: m.rows, truncated: m.truncated });
    };
    const onExit = (code: number | null, signal: string | null): void => {
      if (settled) return;
      finish(false);
      if (!this.answered.has(runner) && this.limitAddressSpace && !job.retried && !this.closed) {
        this.limitAddressSpace = false;
        job.retried = true;
        this.waiting.unshift(job);
        this.next();
        return;
      }
      job.reject(new AwsError('InvalidRequestException', 400, `The query failed: its process ended (${signal ?? `exit code ${code}`})`));
    };
    runner.on('message', onMessage);
    runner.on('exit', onExit);
    (runner.channel as { ref?(): void } | undefined)?.ref?.();
    runner.send({ path: job.path, sql: job.sql, limit: job.limit, maxBytes: MAX_RESULT_BYTES });
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.idle, ...this.busy]) c.kill('SIGKILL');
    this.idle = [];
    for (const j of this.waiting.splice(0)) j.reject(new AwsError('ServiceUnavailableException', 503, 'The server is stopping'));
  }
}
