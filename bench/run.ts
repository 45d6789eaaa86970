/**
 * `npm run bench`: thicket side by side with aedes and mosquitto in the same run (DESIGN.md §1.8).
 *
 *   node --conditions=source --import tsx bench/run.ts [--quick] [--only <scenario>[,...]] [--peers thicket,aedes,mosquitto]
 *   node --conditions=source --import tsx bench/run.ts --cluster [--quick] [--only <scenario>[,...]]
 *
 * Each scenario starts each peer afresh, pinned to core 0, and a load generator process pinned to
 * core 1; tables go to stdout, progress to stderr, everything to .bench/results-<timestamp>.json.
 * `--only` takes scenario names or prefixes (`fanin`, `fanout-1000`, `latency-q1`, `connections`).
 * `--cluster` runs cluster.ts instead: Thicket as 1, 2 and 3 nodes on PostgreSQL + NATS, no peers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CLUSTER_QUICK_SET, CLUSTER_SET, runCluster } from './cluster.js';
import { runLoadgen } from './loadgen-runner.js';
import { HOST, PEERS, PEER_NAMES, REPO, type PeerName, type RunningPeer } from './peers.js';
import { detectPinning, killAll, type Pinning } from './processes.js';
import { scenarioTable } from './report.js';
import type { RunResult } from './results.js';
import { QUICK_SET, baselineOf, scenarios, thicketOnly, timing, type Scenario, type Timing } from './scenarios.js';

const USAGE = `usage: npm run bench -- [--quick] [--only <scenario|prefix>[,...]] [--peers ${PEER_NAMES.join(',')}]
       npm run bench -- --cluster [--quick] [--only <scenario|prefix>[,...]]
scenarios: ${scenarios(false)
  .map((s) => s.name)
  .join(', ')}
--quick: about a minute, shorter measurements and a subset (${QUICK_SET.join(', ')}) unless --only is given
--cluster: instead of the peer comparison, Thicket as 1, 2 and 3 cluster nodes (serve --database --cluster
  --node-id) on a PostgreSQL 15 and a nats-server the bench starts itself, against one plain node (embedded
  SQLite, no cluster) as the reference; clients spread over the nodes round-robin.
  scenarios: ${CLUSTER_SET.join(', ')}
  --quick: ${CLUSTER_QUICK_SET.join(', ')}, short measurements; about a minute on a quiet machine (full run: about 6)
  Needs /usr/lib/postgresql/15/bin and nats-server (Debian packages postgresql-15, nats-server).
  On a 2-core machine every node, PostgreSQL and NATS share one core: it shows the cluster's cost per message, not its scale.`;

function options(): { quick: boolean; only: string[] | null; peers: PeerName[]; cluster: boolean } {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      peers: { type: 'string' },
      cluster: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (values.cluster && values.peers !== undefined) throw new Error('--peers does not apply to --cluster (it runs thicket only)');
  const peers = (values.peers?.split(',') ?? PEER_NAMES).map((p) => p.trim()).filter(Boolean);
  for (const p of peers) if (!PEER_NAMES.includes(p as PeerName)) throw new Error(`unknown peer ${p}; known: ${PEER_NAMES.join(', ')}`);
  const only =
    values.only
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean) ?? null;
  return { quick: values.quick, only, peers: peers as PeerName[], cluster: values.cluster };
}

function select(all: Scenario[], quick: boolean, only: string[] | null): Scenario[] {
  if (only === null) return quick ? all.filter((s) => QUICK_SET.includes(s.name)) : all;
  const chosen = all.filter((s) => only.some((o) => s.name === o || s.name.startsWith(o)));
  if (chosen.length === 0) throw new Error(`no scenario matches ${only.join(', ')}; known: ${all.map((s) => s.name).join(', ')}`);
  return chosen;
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
  if (opts.cluster) return runCluster({ quick: opts.quick, only: opts.only, pinning: detectPinning() });
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
