/**
 * The load generator: one process per scenario and peer, pinned to its own core by run.ts. It takes
 * a Job as JSON in argv[2] and answers with one message over the IPC channel: a Measurement, or
 * { error }.
 */
import type { Job } from './scenarios.js';
import type { Measurement } from './results.js';
import { runConnections } from './workloads/connections.js';
import { runLatency } from './workloads/latency.js';
import { runJobs } from './workloads/jobs.js';
import { runShadow } from './workloads/shadow.js';
import { setUpRules, type RulesHandle } from './workloads/rules.js';
import { runThroughput } from './workloads/throughput.js';

export type LoadgenReply = { measurement: Measurement } | { error: string };

async function execute(job: Job): Promise<Measurement> {
  const to = { host: job.host, port: job.port, ...(job.ports ? { ports: job.ports } : {}) };
  /** What the broker's CPU is: one process, or a cluster's nodes, NATS and PostgreSQL. */
  const server = job.serverPids ?? job.brokerPid;
  const s = job.scenario;
  if ((job.ports || job.serverPids) && s.kind !== 'fan-in' && s.kind !== 'fan-out' && s.kind !== 'latency')
    throw new Error(`${s.kind} scenarios do not run against a cluster`);
  switch (s.kind) {
    case 'fan-in': {
      let rules: RulesHandle | undefined;
      if (s.rules) {
        if (!job.api) throw new Error('the rules scenario needs the server API (a durable thicket)');
        rules = await setUpRules(to, job.api, s.rules.count);
      }
      const { sidePerSecond, ...m } = await runThroughput(
        to,
        server,
        {
          publishers: s.publishers,
          subscribers: 1,
          qos: s.qos,
          window: s.window,
          topic: (i) => `bench/${i}/x`,
          filter: 'bench/+/x',
          sideCounter: rules ? () => rules.evaluations() : undefined,
        },
        job.timing,
      );
      if (!rules) return m;
      return { ...m, rules: { evaluatedPerSecond: sidePerSecond ?? 0, ...(await rules.problems()) } };
    }
    case 'fan-out':
      return runThroughput(
        to,
        server,
        { publishers: 1, subscribers: s.subscribers, qos: s.qos, window: s.window, topic: () => 'bench/fanout', filter: 'bench/fanout' },
        job.timing,
      );
    case 'latency': {
      let rules: RulesHandle | undefined;
      if (s.rules) {
        if (!job.api) throw new Error('the rules scenario needs the server API (a durable thicket)');
        rules = await setUpRules(to, job.api, s.rules.count, 'bench/latency');
      }
      const { sidePerSecond, ...m } = await runLatency(
        to,
        server,
        s.rate,
        s.qos,
        job.timing,
        rules ? () => rules.evaluations() : undefined,
      );
      if (!rules) return m;
      return { ...m, rules: { evaluatedPerSecond: sidePerSecond ?? 0, ...(await rules.problems()) } };
    }
    case 'connections':
      return runConnections(to, job.brokerPid, s.storm, s.idle, s.concurrency);
    case 'shadow':
      return runShadow(to, job.brokerPid, s.devices, s.rate, job.timing);
    case 'jobs':
      if (!job.api) throw new Error('the jobs scenario needs the server API (a durable thicket)');
      return runJobs(to, job.brokerPid, s.devices, job.api);
  }
}

function reply(message: LoadgenReply): void {
  if (!process.send) {
    console.log(JSON.stringify(message));
    process.exit(0);
  }
  process.send(message, () => process.exit(0));
}

// Without the orchestrator nobody would stop this process.
process.on('disconnect', () => process.exit(1));

try {
  reply({ measurement: await execute(JSON.parse(process.argv[2] ?? '') as Job) });
} catch (err) {
  reply({ error: (err as Error).message ?? String(err) });
}
