/**
 * `npm run bench -- --cluster`: fan-in, fan-out and latency of Thicket as 1, 2 and 3 cluster nodes
 * (`serve --database postgres://... --cluster nats://... --node-id nN`) against a plain single node
 * (embedded SQLite, no cluster) as the reference, on this machine (DESIGN.md §1.8).
 *
 * One PostgreSQL 15 and one nats-server are started for the whole run (cluster-services.ts), each
 * setup gets a fresh database and fresh nodes, and every scenario of the set runs against them with
 * the load generator spreading its connections over the nodes round-robin (Job.ports).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { clusterScenarioTable, clusterSummary, type ClusterResult, type Setup } from './cluster-report.js';
import { clusterUnavailable, startNats, startPostgres, type Nats, type Postgres } from './cluster-services.js';
import { runLoadgen } from './loadgen-runner.js';
import { HOST, PEERS, REPO, type RunningPeer } from './peers.js';
import type { Pinning } from './processes.js';
import { scenarios, timing, type Job, type Scenario, type Timing } from './scenarios.js';

/** Every server-side process of a setup shares this core, as the single broker does in the normal bench. */
const SERVER_CORE = 0;

const REF = 'sqlite';
export const SETUPS: Setup[] = [
  { key: REF, label: '1 node, SQLite (ref)', nodes: 1, clustered: false },
  { key: 'cluster-1', label: '1 node + PG + NATS', nodes: 1, clustered: true },
  { key: 'cluster-2', label: '2 nodes', nodes: 2, clustered: true },
  { key: 'cluster-3', label: '3 nodes', nodes: 3, clustered: true },
];

/** The scenarios of the cluster bench, from scenarios.ts: QoS 0 and QoS 1, few and many clients. */
export const CLUSTER_SET = [
  'fanin-8-q0',
  'fanin-8-q1',
  'fanin-100-q0',
  'fanin-100-q1',
  'fanout-8-q0',
  'fanout-8-q1',
  'fanout-1000-q0',
  'fanout-1000-q1',
  'latency-q0',
  'latency-q1',
];
/** About a minute on a quiet machine (20 runs of 1.3 s plus set-up): one of each shape, both QoS levels. */
export const CLUSTER_QUICK_SET = ['fanin-8-q0', 'fanin-100-q1', 'fanout-8-q1', 'fanout-1000-q0', 'latency-q1'];

export interface ClusterOptions {
  quick: boolean;
  /** Scenario names or prefixes within CLUSTER_SET. */
  only: string[] | null;
  pinning: Pinning;
}

function chooseScenarios(quick: boolean, only: string[] | null): Scenario[] {
  const all = scenarios(quick).filter((s) => CLUSTER_SET.includes(s.name));
  if (only === null) return quick ? all.filter((s) => CLUSTER_QUICK_SET.includes(s.name)) : all;
  const chosen = all.filter((s) => only.some((o) => s.name === o || s.name.startsWith(o)));
  if (chosen.length === 0) throw new Error(`no cluster scenario matches ${only.join(', ')}; known: ${CLUSTER_SET.join(', ')}`);
  return chosen;
}

function notes(pinning: Pinning, nats: Nats, pg: Postgres): string[] {
  const cores = os.availableParallelism();
  const placement = pinning.enabled
    ? `every server process of a setup — all its Thicket nodes, PostgreSQL and nats-server — is pinned to core ${SERVER_CORE}, the load generator to core 1, as the single broker is in the normal bench`
    : `nothing is pinned (${pinning.note ?? 'no taskset'}): the nodes, PostgreSQL, nats-server and the load generator share the ${cores} cores`;
  return [
    `CORES LIMIT THIS RUN: ${cores} cores; ${placement}. More nodes cannot add throughput here — they divide the same core — so the rows show what the cluster costs per message (the NATS hop, more processes), not how it scales; with a core or a machine per node, nodes would add capacity`,
    'connections go to the nodes round-robin: fan-in — the subscriber on n1, publisher i on node i mod N, so (N-1)/N of the messages cross NATS; fan-out — the publisher on n1, subscriber i on node i mod N, so each message crosses NATS once to each other node and fans out there; latency — publisher and subscriber on different nodes (2 and 3 nodes)',
    `"1 node + PG + NATS" runs the same code as 2 and 3 nodes (serve --database --cluster, platform state in PostgreSQL) but sends nothing to NATS, as no other node needs its messages; the reference is serve --dev --data-dir (embedded SQLite, no cluster); MQTT sessions stay in each node's data directory in both`,
    `PostgreSQL ${pg.version} with its default settings (fsync on, synchronous_commit on), one fresh database per setup; nats-server ${nats.version}, core NATS (no JetStream); every setup starts fresh nodes, then runs its scenarios in turn`,
    'CPU% is percent of one core in the measured interval: thicket is all nodes together, postgres includes its backends; "other" is every other process on the machine (other work on it makes the figures noisy)',
    "QoS 0 publishers are windowed on what the subscribers received (end to end), QoS 1 publishers on their node's PUBACKs; a PUBACK from a node does not wait for delivery on another node",
  ];
}

/** Starts the nodes of one setup in turn (the first creates the schema and the shared identity). */
async function startSetup(setup: Setup, pg: Postgres, nats: Nats, pinning: Pinning, nodes: RunningPeer[]): Promise<void> {
  const database = setup.clustered ? await pg.createDatabase(setup.key.replace(/-/g, '_')) : undefined;
  for (let i = 1; i <= setup.nodes; i++) {
    nodes.push(
      await PEERS.thicket.start({
        qos: 1,
        pinning,
        durable: true,
        ...(database ? { cluster: { database, nats: nats.url, nodeId: `n${i}` } } : {}),
      }),
    );
  }
}

function jobFor(scenario: Scenario, t: Timing, setup: Setup, nodes: RunningPeer[], pg: Postgres, nats: Nats): Job {
  const job: Job = { scenario, timing: t, host: HOST, port: nodes[0]!.port, brokerPid: nodes[0]!.pid };
  if (!setup.clustered) return { ...job, serverPids: { thicket: [nodes[0]!.pid] } };
  return {
    ...job,
    ports: nodes.map((n) => n.port),
    serverPids: { thicket: nodes.map((n) => n.pid), nats: [nats.pid], postgres: [pg.pid] },
  };
}

export async function runCluster(opts: ClusterOptions): Promise<void> {
  const why = clusterUnavailable();
  if (why) throw new Error(`the cluster bench cannot run here: ${why}`);
  const noThicket = PEERS.thicket.unavailable();
  if (noThicket) throw new Error(noThicket);
  const t = timing(opts.quick);
  const chosen = chooseScenarios(opts.quick, opts.only);
  const startedAt = new Date();
  const t0 = Date.now();

  process.stderr.write('bench: starting PostgreSQL and nats-server ...');
  const [pg, nats] = await Promise.all([startPostgres(SERVER_CORE, opts.pinning), startNats(SERVER_CORE, opts.pinning)]);
  process.stderr.write(' done\n');
  const results: ClusterResult[] = [];
  const notesList = notes(opts.pinning, nats, pg);
  const versions = {
    thicket: PEERS.thicket.version(),
    postgres: pg.version,
    nats: nats.version,
  };
  try {
    console.log(
      [
        `thicket cluster bench — ${startedAt.toISOString()} — ${opts.quick ? 'quick' : 'full'} run, warm-up ${t.warmupMs} ms, measure ${t.measureMs} ms`,
        `machine: ${os.cpus()[0]?.model ?? 'unknown cpu'}, ${os.availableParallelism()} cores, Node ${process.version}, ${os.type()} ${os.release()}`,
        `thicket ${versions.thicket}, PostgreSQL ${versions.postgres}, nats-server ${versions.nats}`,
        ...notesList.map((n) => `note: ${n}`),
      ].join('\n') + '\n',
    );

    for (const setup of SETUPS) {
      const nodes: RunningPeer[] = [];
      try {
        process.stderr.write(`bench: starting ${setup.label} ...`);
        await startSetup(setup, pg, nats, opts.pinning, nodes);
        process.stderr.write(' done\n');
        for (const scenario of chosen) {
          process.stderr.write(`bench: ${scenario.name} on ${setup.label} ...`);
          const reply = await runLoadgen(jobFor(scenario, t, setup, nodes, pg, nats), opts.pinning);
          const base = { scenario: scenario.name, peer: setup.key, nodes: setup.nodes, clustered: setup.clustered };
          results.push(
            'error' in reply ? { ...base, ok: false, error: reply.error } : { ...base, ok: true, measurement: reply.measurement },
          );
          process.stderr.write('error' in reply ? ` FAILED: ${reply.error}\n` : ' done\n');
        }
      } catch (err) {
        process.stderr.write(` FAILED: ${(err as Error).message}\n`);
        for (const scenario of chosen)
          if (!results.some((r) => r.scenario === scenario.name && r.peer === setup.key))
            results.push({
              scenario: scenario.name,
              peer: setup.key,
              nodes: setup.nodes,
              clustered: setup.clustered,
              ok: false,
              error: (err as Error).message,
            });
      } finally {
        for (const n of nodes.reverse()) await n.stop();
      }
    }
  } finally {
    await Promise.all([nats.stop(), pg.stop()]);
  }

  for (const scenario of chosen) console.log(clusterScenarioTable(scenario, SETUPS, results, REF) + '\n');
  console.log(`summary — ratios against "${SETUPS[0]!.label}"; throughput higher is better, latency lower is better`);
  console.log(clusterSummary(chosen, SETUPS, results, REF) + '\n');

  const dir = path.join(REPO, '.bench');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `cluster-results-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  const doc = {
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - t0) / 1000,
    mode: opts.quick ? 'cluster-quick' : 'cluster-full',
    timing: t,
    machine: {
      cpu: os.cpus()[0]?.model ?? null,
      cores: os.availableParallelism(),
      node: process.version,
      os: `${os.type()} ${os.release()}`,
      pinned: opts.pinning.enabled,
    },
    versions,
    notes: notesList,
    setups: SETUPS,
    scenarios: chosen,
    results,
  };
  writeFileSync(file, JSON.stringify(doc, null, 2) + '\n');
  console.log(
    `${results.filter((r) => !r.ok).length} failed of ${results.length} runs in ${((Date.now() - t0) / 1000).toFixed(0)} s; results in ${path.relative(REPO, file)}`,
  );
}
