/**
 * `npm run bench`: thicket side by side with aedes and mosquitto in the same run (DESIGN.md §1.8).
 *
 *   node --conditions=source --import tsx bench/run.ts [--quick] [--only <scenario>[,...]] [--peers thicket,aedes,mosquitto]
 *
 * Each scenario starts each peer afresh, pinned to core 0, and a load generator process pinned to
 * core 1; tables go to stdout, progress to stderr, everything to .bench/results-<timestamp>.json.
 * `--only` takes scenario names or prefixes (`fanin`, `fanout-1000`, `latency-q1`, `connections`).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { LoadgenReply } from './loadgen.js';
import { HOST, PEERS, PEER_NAMES, REPO, type PeerName, type RunningPeer } from './peers.js';
import { detectPinning, killAll, start, stop, type Pinning } from './processes.js';
import { scenarioTable } from './report.js';
import type { RunResult } from './results.js';
import { QUICK_SET, baselineOf, scenarios, thicketOnly, timing, type Job, type Scenario, type Timing } from './scenarios.js';

const LOADGEN_CORE = 1;

const USAGE = `usage: npm run bench -- [--quick] [--only <scenario|prefix>[,...]] [--peers ${PEER_NAMES.join(',')}]
scenarios: ${scenarios(false)
  .map((s) => s.name)
  .join(', ')}
--quick: about a minute, shorter measurements and a subset (${QUICK_SET.join(', ')}) unless --only is given`;

function options(): { quick: boolean; only: string[] | null; peers: PeerName[] } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      peers: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const peers = (values.peers?.split(',') ?? PEER_NAMES).map((p) => p.trim()).filter(Boolean);
  for (const p of peers) if (!PEER_NAMES.includes(p as PeerName)) throw new Error(`unknown peer ${p}; known: ${PEER_NAMES.join(', ')}`);
  const only =
    values.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? null;
  return { quick: values.quick, only, peers: peers as PeerName[] };
}

function select(all: Scenario[], quick: boolean, only: string[] | null): Scenario[] {
  if (only === null) return quick ? all.filter((s) => QUICK_SET.includes(s.name)) : all;
  const chosen = all.filter((s) => only.some((o) => s.name === o || s.name.startsWith(o)));
  if (chosen.length === 0) throw new Error(`no scenario matches ${only.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
  return chosen;
}

/** Long enough for the slowest broker to finish set-up, measurement and drain; a hang is cut off here. */
function loadgenTimeoutMs(s: Scenario, t: Timing): number {
  return s.kind === 'connections' ? 180_000 : t.warmupMs + t.measureMs + 60_000;
}

async function runLoadgen(job: Job, pinning: Pinning): Promise<LoadgenReply> {
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

async function runOne(peerName: PeerName, scenario: Scenario, t: Timing, pinning: Pinning): Promise<RunResult> {
  const peer = PEERS[peerName];
  let running: RunningPeer | undefined;
  try {
    running = await peer.start({
      qos: scenario.kind === 'connections' ? 0 : scenario.kind === 'shadow' || scenario.kind === 'jobs' ? 1 : scenario.qos,
      pinning,
      policy: scenario.kind === 'fan-in' && scenario.policy !== undefined,
      durable:
        scenario.kind === 'shadow' ||
        scenario.kind === 'jobs' ||
        ((scenario.kind === 'fan-in' || scenario.kind === 'latency') && scenario.durable === true),
    });
    const reply = await runLoadgen(
      { scenario, timing: t, host: HOST, port: running.port, brokerPid: running.pid, api: running.api },
      pinning,
    );
    if ('error' in reply) return { scenario: scenario.name, peer: peerName, ok: false, error: reply.error };
    return { scenario: scenario.name, peer: peerName, ok: true, measurement: reply.measurement };
  } catch (err) {
    return { scenario: scenario.name, peer: peerName, ok: false, error: (err as Error).message };
  } finally {
    await running?.stop();
  }
}

function installExitHandlers(): void {
  const abort = (why: string, code: number): void => {
    process.stderr.write(`\nbench: ${why}; stopping started processes\n`);
    killAll();
    process.exit(code);
  };
  process.on('SIGINT', () => abort('interrupted', 130));
  process.on('SIGTERM', () => abort('terminated', 143));
  process.on('uncaughtException', (err) => abort(`uncaught ${err.stack ?? err.message}`, 1));
  process.on('unhandledRejection', (err) => abort(`unhandled rejection ${String(err)}`, 1));
  process.on('exit', killAll);
}

async function main(): Promise<void> {
  installExitHandlers();
  const opts = options();
  const t = timing(opts.quick);
  const chosen = select(scenarios(opts.quick), opts.quick, opts.only);
  const pinning = detectPinning();
  const notes: string[] = [];
  if (pinning.note) notes.push(pinning.note);
  else notes.push(`brokers pinned to core 0, load generator to core 1 (taskset); ${os.availableParallelism()} cores`);

  const peers: PeerName[] = [];
  const versions: Record<string, { version: string; settings: string }> = {};
  for (const name of opts.peers) {
    const why = PEERS[name].unavailable();
    if (why) {
      notes.push(`${name} skipped: ${why}`);
      continue;
    }
    peers.push(name);
    versions[name] = { version: PEERS[name].version(), settings: PEERS[name].settings };
  }
  notes.push(
    'mosquitto 2.0 drops QoS 1 messages beyond max_queued_messages (default 1000) even after PUBACKing them, so QoS 1 scenarios run it with max_queued_messages 0 (unlimited); QoS 0 scenarios use its default',
    "QoS 0 publishers are windowed on what the subscribers received (end to end), QoS 1 publishers on the broker's PUBACKs",
    'CPU% is percent of one core during the measured interval, from /proc/<pid>/stat; "other" is every other process on the machine',
    '"loadgen-bound" in the note column: the load generator used >= 85% of its core while the broker did not, so the figure is a floor for that broker',
  );

  const startedAt = new Date();
  const header = [
    `thicket bench — ${startedAt.toISOString()} — ${opts.quick ? 'quick' : 'full'} run, warm-up ${t.warmupMs} ms, measure ${t.measureMs} ms`,
    `machine: ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.availableParallelism()} cores, Node ${process.version}, ${os.type()} ${os.release()}`,
    ...peers.map((p) => `${p} ${versions[p]!.version}: ${versions[p]!.settings}`),
    ...notes.map((n) => `note: ${n}`),
  ];
  console.log(header.join('\n') + '\n');

  const results: RunResult[] = [];
  const t0 = Date.now();
  for (const scenario of chosen) {
    const forScenario: RunResult[] = [];
    const compared = baselineOf(scenario);
    for (const peer of peers) {
      if (thicketOnly(scenario) && peer !== 'thicket') continue;
      process.stderr.write(`bench: ${scenario.name} on ${peer} ...`);
      const r = await runOne(peer, scenario, t, pinning);
      process.stderr.write(r.ok ? ' done\n' : ` FAILED: ${r.error}\n`);
      forScenario.push(r);
    }
    results.push(...forScenario);
    const baseline = compared ? results.find((r) => r.scenario === compared.scenario && r.peer === 'thicket') : undefined;
    console.log(scenarioTable(scenario, forScenario, baseline) + '\n');
  }

  const dir = path.join(REPO, '.bench');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `results-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const doc = {
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - t0) / 1000,
    mode: opts.quick ? 'quick' : 'full',
    timing: t,
    machine: {
      cpu: os.cpus()[0]?.model ?? null,
      cores: os.availableParallelism(),
      node: process.version,
      os: `${os.type()} ${os.release()}`,
      pinned: pinning.enabled,
    },
    peers: versions,
    notes,
    scenarios: chosen,
    results,
  };
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  console.log(
    `${results.filter((r) => !r.ok).length} failed of ${results.length} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s; results in ${path.relative(REPO, file)}`,
  );
}

await main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).message}\n${USAGE}\n`);
  killAll();
  process.exitCode = 1;
});
