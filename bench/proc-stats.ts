/** CPU time and resident memory of a process, read from Linux's /proc (null elsewhere). */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { CpuShare } from './results.js';

let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of all the process's threads, in seconds. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may contain spaces; the fields after it do not.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  } catch {
    return null;
  }
}

export function rssKb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/**
 * CPU time of all processes on all cores since boot, plus time the hypervisor stole, in seconds.
 * Interrupt time is left out: loopback TCP work the benchmark itself causes is accounted there.
 */
function machineBusySeconds(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
    const [user, nice, system, , , , , steal] = line.trim().split(/\s+/).slice(1).map(Number);
    return (user! + nice! + system! + (steal ?? 0)) / ticksPerSecond();
  } catch {
    return null;
  }
}

function percent(seconds: number, wall: number): number {
  return wall <= 0 ? 0 : (seconds / wall) * 100;
}

/**
 * What counts as the broker: one process, or (bench --cluster) named groups of processes — the
 * nodes, NATS, PostgreSQL — each PID taken with its children (PostgreSQL's backends).
 */
export type CpuTarget = number | Record<string, number[]>;

/** PIDs of the live children of `parents`, from /proc (one pass over it). */
function childrenOf(parents: Set<number>): number[] {
  const out: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parents.has(ppid)) out.push(Number(name));
    } catch {}
  }
  return out;
}

/**
 * CPU seconds of each group: its processes' own time, their reaped children's (cutime + cstime) and
 * their live children's, so that a backend which ends between two readings is still counted once.
 */
function groupSeconds(groups: Record<string, number[]>): Record<string, number | null> {
  const all = new Set(Object.values(groups).flat());
  const children = new Map<number, number>();
  for (const child of childrenOf(all)) {
    try {
      const stat = readFileSync(`/proc/${child}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const s = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
      const ppid = Number(fields[1]);
      children.set(ppid, (children.get(ppid) ?? 0) + s);
    } catch {}
  }
  const out: Record<string, number | null> = {};
  for (const [name, pids] of Object.entries(groups)) {
    let total: number | null = 0;
    for (const pid of pids) {
      const own = treeOwnSeconds(pid);
      if (own === null || total === null) total = null;
      else total += own + (children.get(pid) ?? 0);
    }
    out[name] = total;
  }
  return out;
}

/** utime + stime + cutime + cstime of one process, in seconds. */
function treeOwnSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** The server side's CPU seconds: in total, and by group for a cluster. */
function targetSeconds(target: CpuTarget): { total: number | null; parts: Record<string, number | null> | null } {
  if (typeof target === 'number') return { total: cpuSeconds(target), parts: null };
  const parts = groupSeconds(target);
  const values = Object.values(parts);
  return { total: values.some((v) => v === null) ? null : values.reduce<number>((a, b) => a + b!, 0), parts };
}

/**
 * Starts a CPU meter; stop() gives the broker's, this process's and everything else's CPU as
 * percent of one core. "Everything else" shows when another workload on the machine was competing.
 */
export function cpuMeter(target: CpuTarget): { stop(): CpuShare } {
  const t0 = performance.now();
  const start = targetSeconds(target);
  const broker0 = start.total;
  const machine0 = machineBusySeconds();
  const self0 = process.cpuUsage();
  return {
    stop() {
      const wall = (performance.now() - t0) / 1000;
      const end = targetSeconds(target);
      const broker1 = end.total;
      const machine1 = machineBusySeconds();
      const self = process.cpuUsage(self0);
      const selfSeconds = (self.user + self.system) / 1e6;
      const brokerSeconds = broker0 === null || broker1 === null ? null : broker1 - broker0;
      const machineSeconds = machine0 === null || machine1 === null ? null : machine1 - machine0;
      return {
        broker: brokerSeconds === null ? null : percent(brokerSeconds, wall),
        loadgen: percent(selfSeconds, wall),
        other:
          machineSeconds === null || brokerSeconds === null
            ? null
            : Math.max(0, percent(machineSeconds - brokerSeconds - selfSeconds, wall)),
        ...(start.parts && end.parts ? { parts: partsPercent(start.parts, end.parts, wall) } : {}),
      };
    },
  };
}

function partsPercent(
  before: Record<string, number | null>,
  after: Record<string, number | null>,
  wall: number,
): Record<string, number | null> {
  const out: Record<string, number | null> = {};
  for (const [name, b] of Object.entries(before)) {
    const a = after[name];
    out[name] = a === null || a === undefined || b === null ? null : percent(a - b, wall);
  }
  return out;
}
