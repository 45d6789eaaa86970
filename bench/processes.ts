/**
 * Every process the benchmark starts goes through here, so that each one can be stopped by its PID
 * on the normal path, on a failure, and on Ctrl-C.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';

export interface Pinning {
  enabled: boolean;
  /** Why pinning is off, for the report. */
  note: string | null;
}

/** taskset with two cores or more: broker on core 0, load generator on core 1. */
export function detectPinning(): Pinning {
  const cores = os.availableParallelism();
  if (cores < 2) return { enabled: false, note: `only ${cores} core: broker and load generator share it, figures understate every broker` };
  const probe = spawnSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0)
    return { enabled: false, note: 'taskset is not available: broker and load generator are not pinned to separate cores' };
  return { enabled: true, note: null };
}

export class Tracked {
  readonly pid: number;
  readonly exited: Promise<void>;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  hasExited = false;
  /** What killAll sends on an exit path that cannot wait (PostgreSQL: SIGQUIT, so its postmaster takes its backends along). */
  abortSignal: NodeJS.Signals = 'SIGKILL';
  private tail = '';

  constructor(readonly child: ChildProcess) {
    if (child.pid === undefined) throw new Error('process did not start');
    this.pid = child.pid;
    const keep = (chunk: Buffer): void => {
      this.tail = (this.tail + chunk.toString()).slice(-2000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.hasExited = true;
        this.exitCode = code;
        this.exitSignal = signal;
        live.delete(this);
        resolve();
      });
    });
  }

  /** The last output of the process, for error messages. */
  output(): string {
    return this.tail.trim();
  }

  describeExit(): string {
    return this.exitSignal ? `killed by ${this.exitSignal}` : `exited with code ${this.exitCode}`;
  }
}

const live = new Set<Tracked>();

/** Starts `command` pinned to `core` (when pinning is on) and registers it for clean-up. */
export function start(command: string, args: string[], core: number, pinning: Pinning, options: SpawnOptions = {}): Tracked {
  const [cmd, argv] = pinning.enabled ? ['taskset', ['-c', String(core), command, ...args]] : [command, args];
  // taskset execs the command, so the PID spawn returns is the broker's or load generator's own.
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  child.on('error', () => {});
  const tracked = new Tracked(child);
  live.add(tracked);
  return tracked;
}

/** `first` (SIGTERM), then SIGKILL after `graceMs`; resolves once the process is gone (or gives up after 5 s more). */
export async function stop(p: Tracked, graceMs = 3000, first: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.hasExited) return;
  signal(p.pid, first);
  if (await within(p.exited, graceMs)) return;
  signal(p.pid, 'SIGKILL');
  await within(p.exited, 5000);
}

const scratch = new Set<string>();

/** A temporary directory that goes when the run ends, however it ends. */
export function scratchDir(dir: string): { remove(): void } {
  scratch.add(dir);
  return {
    remove() {
      scratch.delete(dir);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** For exit paths that cannot wait: SIGKILL every process still running, remove scratch directories. */
export function killAll(): void {
  for (const p of live) signal(p.pid, p.abortSignal);
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  scratch.clear();
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {}
}

/** True if `promise` settled within `ms`. */
export function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    promise.then(
      () => {
        clearTimeout(timer);
        resolve(true);
      },
      () => {
        clearTimeout(timer);
        resolve(true);
      },
    );
  });
}
