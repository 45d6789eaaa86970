/** CPU time and resident memory of a process, read from Linux's /proc (null elsewhere). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
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
 * Starts a CPU meter; stop() gives the broker's, this process's and everything else's CPU as
 * percent of one core. "Everything else" shows when another workload on the machine was competing.
 */
export function cpuMeter(brokerPid: number): { stop(): CpuShare } {
  const t0 = performance.now();
  const broker0 = cpuSeconds(brokerPid);
  const machine0 = machineBusySeconds();
  const self0 = process.cpuUsage();
  return {
    stop() {
      const wall = (performance.now() - t0) / 1000;
      const broker1 = cpuSeconds(brokerPid);
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
      };
    },
  };
}
