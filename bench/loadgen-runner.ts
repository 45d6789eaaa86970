/** Runs one load generator process for a Job, pinned to its own core, and waits for its one reply. */
import path from 'node:path';
import type { LoadgenReply } from './loadgen.js';
import { REPO } from './peers.js';
import { start, stop, type Pinning } from './processes.js';
import type { Job, Scenario, Timing } from './scenarios.js';

export const LOADGEN_CORE = 1;

/** Long enough for the slowest broker to finish set-up, measurement and drain; a hang is cut off here. */
function loadgenTimeoutMs(s: Scenario, t: Timing): number {
  return s.kind === 'connections' ? 180_000 : t.warmupMs + t.measureMs + 60_000;
}

export async function runLoadgen(job: Job, pinning: Pinning): Promise<LoadgenReply> {
  const proc = start(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', path.join(REPO, 'bench/loadgen.ts'), JSON.stringify(job)],
    LOADGEN_CORE,
    pinning,
    {
      cwd: REPO,
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  try {
    const reply = new Promise<LoadgenReply>((resolve) => {
      proc.child.once('message', (m) => resolve(m as LoadgenReply));
      void proc.exited.then(() => resolve({ error: `load generator ${proc.describeExit()}: ${proc.output() || '(no output)'}` }));
    });
    const timeout = loadgenTimeoutMs(job.scenario, job.timing);
    const result = await Promise.race([
      reply,
      new Promise<LoadgenReply>((resolve) =>
        setTimeout(() => resolve({ error: `load generator timed out after ${timeout / 1000} s` }), timeout).unref(),
      ),
    ]);
    return result;
  } finally {
    await stop(proc, 2000);
  }
}
