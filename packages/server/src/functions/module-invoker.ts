/**
 * Functions that are JavaScript modules on the server's disk run in child processes of their own
 * (module-runner.ts), never in the server: a module that throws, hangs, exits or allocates without
 * end costs its own process only. Each function keeps up to MAX_INSTANCES warm processes, each
 * running one event at a time (module state survives between events, as in a warm Lambda); an
 * instance is killed when its event outlives the timeout, when its heap (--max-old-space-size) or
 * resident memory exceeds the function's memory size, and after IDLE_MS without work.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { FunctionError, MAX_RESULT_BYTES, parseResult, type InvocationContext } from './function-error.js';

/** Warm processes per function. */
const MAX_INSTANCES = 4;
/** Events waiting for an instance of one function before more are refused (Lambda's throttling). */
const MAX_QUEUED = 1_000;
/** An instance without work for this long is stopped. */
const IDLE_MS = 5 * 60_000;
/** Importing the module (Lambda's init phase) may take this long. */
const INIT_TIMEOUT_MS = 10_000;
/** What Node itself needs besides the heap, on top of the function's memory size, before an instance is killed. */
const RSS_OVERHEAD_MB = 96;
const MEMORY_CHECK_MS = 200;
/** Log lines a busy instance may write per second; the rest are counted and dropped. */
const LOG_LINES_PER_SECOND = 50;
const MAX_LOG_LINE = 2_000;
const PAGE_SIZE = 4096;

export interface ModuleFunction {
  /** Identifies the function across registrations (`<account>/<region>/<name>`). */
  key: string;
  revision: string;
  path: string;
  name: string;
  arn: string;
  region: string;
  memoryMb: number;
}

interface Job {
  event: string;
  ctx: InvocationContext;
  resolve(v: unknown): void;
  reject(e: FunctionError): void;
}

interface Instance {
  proc: ChildProcess;
  state: 'starting' | 'idle' | 'busy' | 'dead';
  job: Job | undefined;
  jobId: number;
  timer: NodeJS.Timeout | undefined;
  memoryTimer: NodeJS.Timeout | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  /** Why the server killed it, when it did. */
  killedFor: FunctionError | undefined;
  stderrTail: string;
}

/** In source mode (tests through tsx) the runner is TypeScript and needs the same loader. */
const SOURCE_MODE = import.meta.url.endsWith('.ts');
const RUNNER = fileURLToPath(new URL(SOURCE_MODE ? './module-runner.ts' : './module-runner.js', import.meta.url));

function runnerArgs(memoryMb: number): string[] {
  const args = [`--max-old-space-size=${memoryMb}`];
  if (SOURCE_MODE) args.push('--import', import.meta.resolve('tsx'));
  return args;
}

/** The resident memory of a process in MB, when the platform says (Linux /proc). */
function residentMb(pid: number): number | undefined {
  try {
    const pages = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]);
    return Number.isFinite(pages) ? (pages * PAGE_SIZE) / (1024 * 1024) : undefined;
  } catch {
    return undefined;
  }
}

class ModulePool {
  private readonly instances = new Set<Instance>();
  private readonly queue: Job[] = [];
  private retired = false;

  constructor(
    readonly fn: ModuleFunction,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.instances.size;
  }

  invoke(event: string, ctx: InvocationContext): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.queue.length >= MAX_QUEUED) {
        reject(
          new FunctionError('TooManyRequestsException', `Rate exceeded: ${MAX_QUEUED} events are waiting for function ${this.fn.arn}`),
        );
        return;
      }
      this.queue.push({ event, ctx, resolve, reject });
      this.pump();
    });
  }

  /** Stops idle instances now and busy ones once their event is done; nothing new starts. */
  retire(): void {
    this.retired = true;
    for (const i of this.instances) if (i.state !== 'busy') this.kill(i);
  }

  /** Kills every instance and fails what waits (server stop). */
  stop(): void {
    this.retired = true;
    for (const job of this.queue.splice(0)) job.reject(new FunctionError('ServiceException', 'The server is stopping'));
    for (const i of this.instances) {
      i.killedFor = new FunctionError('ServiceException', 'The server is stopping');
      this.kill(i);
    }
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let idle: Instance | undefined;
      for (const i of this.instances) if (i.state === 'idle') idle = i;
      if (idle) {
        this.dispatch(idle, this.queue.shift()!);
        continue;
      }
      const starting = [...this.instances].filter((i) => i.state === 'starting').length;
      // Start instances for waiting events, up to the bound; the rest wait for one to be free.
      if (this.instances.size < MAX_INSTANCES && starting < this.queue.length) this.start();
      else break;
    }
  }

  private start(): void {
    const fn = this.fn;
    const proc = spawn(process.execPath, [...runnerArgs(fn.memoryMb), RUNNER, fn.path, fn.name, fn.arn, String(fn.memoryMb)], {
      cwd: dirname(fn.path),
      // The server's environment (its configuration, perhaps secrets) is not the function's.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        TZ: process.env.TZ ?? 'UTC',
        LANG: process.env.LANG ?? 'C.UTF-8',
        AWS_REGION: fn.region,
        AWS_DEFAULT_REGION: fn.region,
        AWS_LAMBDA_FUNCTION_NAME: fn.name,
        AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
        AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
      },
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    const inst: Instance = {
      proc,
      state: 'starting',
      job: undefined,
      jobId: 0,
      timer: undefined,
      memoryTimer: undefined,
      idleTimer: undefined,
      killedFor: undefined,
      stderrTail: '',
    };
    this.instances.add(inst);
    inst.timer = setTimeout(() => {
      inst.killedFor = new FunctionError('Runtime.InitTimeout', `The module did not load within ${INIT_TIMEOUT_MS / 1000} seconds`);
      this.kill(inst);
    }, INIT_TIMEOUT_MS);
    this.watchMemory(inst);
    this.readAnswers(inst, proc.stdio[3] as Readable);
    this.forwardLog(inst, proc.stdout!, 'stdout');
    this.forwardLog(inst, proc.stderr!, 'stderr');
    proc.stdin!.on('error', () => {});
    proc.on('error', (err) => {
      inst.killedFor ??= new FunctionError('Runtime.ExitError', `The function's process could not start: ${err.message}`);
      this.exited(inst, null, null);
    });
    proc.on('exit', (code, signal) => this.exited(inst, code, signal));
  }

  private dispatch(inst: Instance, job: Job): void {
    clearTimeout(inst.idleTimer);
    inst.state = 'busy';
    inst.job = job;
    inst.jobId++;
    const deadline = Date.now() + job.ctx.timeoutMs;
    inst.timer = setTimeout(() => {
      inst.killedFor = new FunctionError('Sandbox.Timedout', `Task timed out after ${(job.ctx.timeoutMs / 1000).toFixed(2)} seconds`);
      this.kill(inst);
    }, job.ctx.timeoutMs);
    inst.proc.stdin!.write(`${JSON.stringify({ id: inst.jobId, event: job.event, requestId: job.ctx.requestId, deadline })}\n`);
  }

  /** Answers arrive as JSON lines on fd 3; a line longer than any valid answer ends the instance. */
  private readAnswers(inst: Instance, stream: Readable): void {
    let buffered = '';
    const limit = 2 * MAX_RESULT_BYTES + 4096;
    stream.setEncoding('utf8');
    stream.on('error', () => {});
    stream.on('data', (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        this.answer(inst, line);
      }
      if (buffered.length > limit) {
        buffered = '';
        inst.killedFor = new FunctionError('Function.ResponseSizeTooLarge', `The response is larger than ${MAX_RESULT_BYTES} bytes`);
        this.kill(inst);
      }
    });
  }

  private answer(inst: Instance, line: string): void {
    let msg: { ready?: boolean; id?: number; ok?: boolean; result?: unknown; errorType?: unknown; errorMessage?: unknown };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    const errorOf = (): FunctionError =>
      new FunctionError(String(msg.errorType ?? 'Error').slice(0, 200), String(msg.errorMessage ?? '').slice(0, 4_000));
    if (inst.state === 'starting') {
      clearTimeout(inst.timer);
      if (msg.ready === true) {
        this.idle(inst);
        this.pump();
      } else if (msg.ready === false) {
        inst.killedFor = errorOf();
        this.kill(inst);
      }
      return;
    }
    const job = inst.job;
    if (inst.state !== 'busy' || !job || msg.id !== inst.jobId) return;
    clearTimeout(inst.timer);
    inst.job = undefined;
    if (msg.ok === true && typeof msg.result === 'string') {
      if (Buffer.byteLength(msg.result) > MAX_RESULT_BYTES)
        job.reject(new FunctionError('Function.ResponseSizeTooLarge', `The response is larger than ${MAX_RESULT_BYTES} bytes`));
      else job.resolve(parseResult(msg.result));
    } else job.reject(errorOf());
    if (this.retired) this.kill(inst);
    else {
      this.idle(inst);
      this.pump();
    }
  }

  private idle(inst: Instance): void {
    inst.state = 'idle';
    clearTimeout(inst.idleTimer);
    inst.idleTimer = setTimeout(() => this.kill(inst), IDLE_MS);
    inst.idleTimer.unref();
  }

  private watchMemory(inst: Instance): void {
    const limit = this.fn.memoryMb + RSS_OVERHEAD_MB;
    inst.memoryTimer = setInterval(() => {
      const pid = inst.proc.pid;
      if (pid === undefined || inst.state === 'idle') return;
      const rss = residentMb(pid);
      if (rss !== undefined && rss > limit) {
        inst.killedFor = this.outOfMemory();
        this.kill(inst);
      }
    }, MEMORY_CHECK_MS);
    inst.memoryTimer.unref();
  }

  private outOfMemory(): FunctionError {
    return new FunctionError(
      'Runtime.OutOfMemory',
      `Runtime exited with error: the function ran out of memory (memory size ${this.fn.memoryMb} MB)`,
    );
  }

  private forwardLog(inst: Instance, stream: Readable, name: 'stdout' | 'stderr'): void {
    let partial = '';
    let second = 0;
    let lines = 0;
    let dropped = 0;
    stream.setEncoding('utf8');
    stream.on('error', () => {});
    stream.on('data', (chunk: string) => {
      if (name === 'stderr') inst.stderrTail = (inst.stderrTail + chunk).slice(-2_000);
      partial += chunk;
      const parts = partial.split('\n');
      partial = parts.pop()!.slice(-MAX_LOG_LINE);
      const now = Math.floor(Date.now() / 1000);
      for (const line of parts) {
        if (now !== second) {
          if (dropped > 0) this.log.warn({ function: this.fn.arn, dropped }, 'function log lines dropped (over the rate limit)');
          second = now;
          lines = 0;
          dropped = 0;
        }
        if (++lines > LOG_LINES_PER_SECOND) dropped++;
        else this.log.info({ function: this.fn.arn, stream: name }, line.slice(0, MAX_LOG_LINE));
      }
    });
  }

  private kill(inst: Instance): void {
    if (inst.state === 'dead') return;
    inst.proc.stdin?.end();
    inst.proc.kill('SIGKILL');
  }

  private exited(inst: Instance, code: number | null, signal: NodeJS.Signals | null): void {
    if (inst.state === 'dead') return;
    const was = inst.state;
    inst.state = 'dead';
    clearTimeout(inst.timer);
    clearTimeout(inst.idleTimer);
    clearInterval(inst.memoryTimer);
    this.instances.delete(inst);
    const why = inst.killedFor ?? this.exitReason(inst, code, signal);
    if (inst.job) {
      inst.job.reject(why);
      inst.job = undefined;
    } else if (was === 'starting' && this.instances.size === 0) {
      // The module cannot load: what waits for it fails the same way, rather than respawning forever.
      for (const job of this.queue.splice(0)) job.reject(why);
    }
    if (why.errorType !== 'ServiceException' && (was === 'busy' || was === 'starting'))
      this.log.warn({ function: this.fn.arn, errorType: why.errorType, err: why.message }, 'a function instance ended');
    if (!this.retired) this.pump();
  }

  private exitReason(inst: Instance, code: number | null, signal: NodeJS.Signals | null): FunctionError {
    if (/heap out of memory|Allocation failed/i.test(inst.stderrTail) || signal === 'SIGABRT' || code === 134) return this.outOfMemory();
    return new FunctionError('Runtime.ExitError', `Runtime exited with error: ${signal ? `signal: ${signal}` : `exit status ${code}`}`);
  }
}

export class ModuleInvoker {
  private readonly pools = new Map<string, ModulePool>();
  /** Retired pools whose busy instances have not ended yet (stop() must reach them too). */
  private readonly retired = new Set<ModulePool>();

  constructor(private readonly log: Logger) {}

  invoke(fn: ModuleFunction, event: string, ctx: InvocationContext): Promise<unknown> {
    let pool = this.pools.get(fn.key);
    if (pool && pool.fn.revision !== fn.revision) {
      this.retire(pool);
      pool = undefined;
    }
    if (!pool) this.pools.set(fn.key, (pool = new ModulePool(fn, this.log)));
    return pool.invoke(event, ctx);
  }

  /** The function changed or is gone: its warm instances end once idle. */
  forget(key: string): void {
    const pool = this.pools.get(key);
    if (pool) this.retire(pool);
    this.pools.delete(key);
  }

  private retire(pool: ModulePool): void {
    pool.retire();
    for (const p of this.retired) if (p.size === 0) this.retired.delete(p);
    if (pool.size > 0) this.retired.add(pool);
  }

  /** Running processes of a function (tests, metrics). */
  instances(key: string): number {
    return this.pools.get(key)?.size ?? 0;
  }

  stop(): void {
    for (const p of [...this.pools.values(), ...this.retired]) p.stop();
    this.pools.clear();
    this.retired.clear();
  }
}
