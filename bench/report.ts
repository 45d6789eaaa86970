/** Plain-text tables per scenario, with thicket's ratio to each peer. */
import type { Measurement, RunResult } from './results.js';
import { baselineOf, type Scenario } from './scenarios.js';

export function fixed(n: number | null, digits: number): string {
  return n === null || !Number.isFinite(n) ? '-' : n.toFixed(digits);
}

export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function describe(s: Scenario): string {
  switch (s.kind) {
    case 'fan-in':
      return (
        `fan-in: ${s.publishers} publishers -> 1 subscriber (bench/+/x), QoS ${s.qos}, 64-byte payload, window ${s.window}/publisher` +
        (s.durable ? '; data directory' : '') +
        (s.rules ? `; ${s.rules.count} topic rules on bench/+/x, each republish + table (dynamoDBv2)` : '')
      );
    case 'fan-out':
      return `fan-out: 1 publisher -> ${s.subscribers} subscribers (same topic), QoS ${s.qos}, 64-byte payload, window ${s.window}`;
    case 'latency':
      return (
        `latency: 1 publisher -> 1 subscriber at ${s.rate} msg/s, QoS ${s.qos}` +
        (s.durable ? '; data directory' : '') +
        (s.rules ? `; ${s.rules.count} topic rules on the topic, each republish + table (dynamoDBv2)` : '')
      );
    case 'connections':
      return `connections: storm of ${s.storm} (CONNECT->CONNACK, ${s.concurrency} in flight), then ${s.idle} held idle`;
    case 'jobs':
      return `jobs: CreateJob to a group of ${s.devices} things, each device (MQTT) start-next then SUCCEEDED; store on disk`;
    case 'shadow':
      return s.rate === null
        ? `shadow: ${s.devices} devices, each with one QoS 1 reported-state update in flight; latency to /update/accepted; store on disk`
        : `shadow: ${s.devices} devices taking turns, ${s.rate} QoS 1 reported-state updates/s in total; latency to /update/accepted; store on disk`;
  }
}

interface Column {
  title: string;
  cell(m: Measurement): string;
}

/** The figures compared in the ratio line; `higherIsBetter` decides the word after the ratio. */
interface Headline {
  label: string;
  value(m: Measurement): number | null;
  higherIsBetter: boolean;
}

const cpuColumns: Column[] = [
  { title: 'broker CPU%', cell: (m) => fixed(m.cpu.broker, 0) },
  { title: 'loadgen CPU%', cell: (m) => fixed(m.cpu.loadgen, 0) },
  { title: 'other CPU%', cell: (m) => fixed(m.cpu.other, 0) },
];

/** Warnings a reader needs before trusting a figure. */
export function warnings(m: Measurement): string[] {
  const out: string[] = [];
  if (m.kind === 'jobs') {
    if (m.jobStatus !== 'COMPLETED' || m.succeeded !== m.devices) out.push(`job ${m.jobStatus}, ${m.succeeded} succeeded`);
  }
  if (m.kind === 'shadow') {
    if (m.rejected > 0) out.push(`${count(m.rejected)} rejected (${m.firstRejection ?? '?'})`);
    if (m.versionErrors > 0) out.push(`${count(m.versionErrors)} version errors`);
    if (m.tokenErrors > 0) out.push(`${count(m.tokenErrors)} clientToken errors`);
    if (m.unanswered > 0) out.push(`${count(m.unanswered)} unanswered after drain`);
    if (m.behind > 0) out.push(`${count(m.behind)} turns skipped (device still waiting)`);
  }
  if (m.kind === 'throughput' && m.acked !== null) {
    const subscribers = m.published === 0 ? 0 : m.expected / m.published;
    const lostAcked = m.acked * subscribers - m.received;
    if (lostAcked > 0) out.push(`${count(lostAcked)} PUBACKed deliveries lost`);
    else if (!m.drained) out.push('undelivered after drain');
  }
  // A saturated generator means the broker could have done more: the figure is a floor.
  if (m.cpu.loadgen >= 85 && (m.cpu.broker === null || m.cpu.broker < 85)) out.push('loadgen-bound');
  if (m.cpu.other !== null && m.cpu.other >= 25) out.push(`other load ${m.cpu.other.toFixed(0)}%`);
  return out;
}

const noteColumn: Column = { title: 'note', cell: (m) => warnings(m).join('; ') };

function columnsFor(s: Scenario): { columns: Column[]; headlines: Headline[] } {
  switch (s.kind) {
    case 'fan-in':
    case 'fan-out': {
      const rate = s.kind === 'fan-in' ? 'msg/s' : 'deliveries/s';
      const t = (m: Measurement): Extract<Measurement, { kind: 'throughput' }> => m as Extract<Measurement, { kind: 'throughput' }>;
      return {
        columns: [
          { title: rate, cell: (m) => count(t(m).perSecond) },
          { title: 'loss %', cell: (m) => fixed(t(m).lossPct, 2) },
          { title: 'order err', cell: (m) => count(t(m).orderErrors) },
          { title: 'published', cell: (m) => count(t(m).published) },
          { title: 'received', cell: (m) => count(t(m).received) },
          ...(s.kind === 'fan-in' && s.rules
            ? [
                { title: 'rule evals/s', cell: (m: Measurement) => count(t(m).rules?.evaluatedPerSecond ?? 0) },
                { title: 'rule drops', cell: (m: Measurement) => count(t(m).rules?.dropped ?? 0) },
                { title: 'action fails', cell: (m: Measurement) => count(t(m).rules?.actionsFailed ?? 0) },
              ]
            : []),
          ...cpuColumns,
          noteColumn,
        ],
        headlines: [{ label: rate, value: (m) => t(m).perSecond, higherIsBetter: true }],
      };
    }
    case 'latency': {
      const t = (m: Measurement): Extract<Measurement, { kind: 'latency' }> => m as Extract<Measurement, { kind: 'latency' }>;
      return {
        columns: [
          { title: 'p50 ms', cell: (m) => fixed(t(m).p50Ms, 3) },
          { title: 'p99 ms', cell: (m) => fixed(t(m).p99Ms, 3) },
          { title: 'max ms', cell: (m) => fixed(t(m).maxMs, 3) },
          { title: 'samples', cell: (m) => count(t(m).samples) },
          { title: 'loss %', cell: (m) => fixed(t(m).lossPct, 2) },
          ...(s.rules
            ? [
                { title: 'rule evals/s', cell: (m: Measurement) => count(t(m).rules?.evaluatedPerSecond ?? 0) },
                { title: 'rule drops', cell: (m: Measurement) => count(t(m).rules?.dropped ?? 0) },
                { title: 'action fails', cell: (m: Measurement) => count(t(m).rules?.actionsFailed ?? 0) },
              ]
            : []),
          ...cpuColumns,
          noteColumn,
        ],
        headlines: [
          { label: 'p50', value: (m) => t(m).p50Ms, higherIsBetter: false },
          { label: 'p99', value: (m) => t(m).p99Ms, higherIsBetter: false },
        ],
      };
    }
    case 'connections': {
      const t = (m: Measurement): Extract<Measurement, { kind: 'connections' }> => m as Extract<Measurement, { kind: 'connections' }>;
      const mb = (kb: number | null): string => fixed(kb === null ? null : kb / 1024, 1);
      return {
        columns: [
          { title: 'conn/s', cell: (m) => count(t(m).stormPerSecond) },
          { title: 'failed', cell: (m) => count(t(m).stormFailed + t(m).idleFailed) },
          { title: 'idle held', cell: (m) => count(t(m).idle) },
          { title: 'RSS before MB', cell: (m) => mb(t(m).rssBeforeKb) },
          { title: 'RSS after MB', cell: (m) => mb(t(m).rssAfterKb) },
          { title: 'KB/conn', cell: (m) => fixed(t(m).kbPerConnection, 1) },
          ...cpuColumns,
          noteColumn,
        ],
        headlines: [
          { label: 'conn/s', value: (m) => t(m).stormPerSecond, higherIsBetter: true },
          { label: 'KB/conn', value: (m) => t(m).kbPerConnection, higherIsBetter: false },
        ],
      };
    }
    case 'jobs': {
      const t = (m: Measurement): Extract<Measurement, { kind: 'jobs' }> => m as Extract<Measurement, { kind: 'jobs' }>;
      return {
        columns: [
          { title: 'executions/s', cell: (m) => count(t(m).perSecond) },
          { title: 'job done ms', cell: (m) => count(t(m).completionMs) },
          { title: 'create ms', cell: (m) => count(t(m).createMs) },
          { title: 'notify p50/p99 ms', cell: (m) => `${fixed(t(m).notifyP50Ms, 0)} / ${fixed(t(m).notifyP99Ms, 0)}` },
          { title: 'request p50/p99 ms', cell: (m) => `${fixed(t(m).requestP50Ms, 2)} / ${fixed(t(m).requestP99Ms, 2)}` },
          ...cpuColumns,
          noteColumn,
        ],
        headlines: [{ label: 'executions/s', value: (m) => t(m).perSecond, higherIsBetter: true }],
      };
    }
    case 'shadow': {
      const t = (m: Measurement): Extract<Measurement, { kind: 'shadow' }> => m as Extract<Measurement, { kind: 'shadow' }>;
      return {
        columns: [
          { title: 'updates/s', cell: (m) => count(t(m).perSecond) },
          { title: 'p50 ms', cell: (m) => fixed(t(m).p50Ms, 2) },
          { title: 'p99 ms', cell: (m) => fixed(t(m).p99Ms, 2) },
          { title: 'max ms', cell: (m) => fixed(t(m).maxMs, 2) },
          { title: 'accepted', cell: (m) => count(t(m).accepted) },
          { title: 'version err', cell: (m) => count(t(m).versionErrors) },
          ...cpuColumns,
          noteColumn,
        ],
        headlines: [{ label: 'updates/s', value: (m) => t(m).perSecond, higherIsBetter: true }],
      };
    }
  }
}

/** `baseline`: thicket's result for the same load without what `s` adds (a policy, rules), when `s` is such a variant. */
export function scenarioTable(s: Scenario, results: RunResult[], baseline?: RunResult): string {
  const { columns, headlines } = columnsFor(s);
  const rows: string[][] = [];
  const failures: string[] = [];
  for (const r of results) {
    if (r.ok) rows.push([r.peer, ...columns.map((c) => c.cell(r.measurement))]);
    else {
      rows.push([r.peer, 'FAILED']);
      failures.push(`  ${r.peer}: ${r.error}`);
    }
  }
  const out = [`${s.name} — ${describe(s)}`, table(['peer', ...columns.map((c) => c.title)], rows)];
  if (failures.length > 0) out.push(...failures);
  const mine = results.find((r) => r.peer === 'thicket');
  if (mine?.ok && baseline?.ok) {
    const h = headlines[0]!;
    const a = h.value(mine.measurement);
    const b = h.value(baseline.measurement);
    if (a !== null && b !== null && b > 0) {
      const change = ((a - b) / b) * 100;
      // For throughput higher is better; for latency lower is.
      const worse = h.higherIsBetter ? change < 0 : change > 0;
      const words = h.higherIsBetter
        ? worse
          ? `${(-change).toFixed(1)}% slower`
          : `${change.toFixed(1)}% faster: within run-to-run noise`
        : worse
          ? `${h.label} ${change.toFixed(1)}% higher`
          : `${h.label} ${(-change).toFixed(1)}% lower: within run-to-run noise`;
      out.push(`  thicket with ${baselineOf(s)?.what} / without (${baseline.scenario}, same run): ${(a / b).toFixed(2)}× (${words})`);
    }
  } else if (baselineOf(s)) {
    out.push(`  (run ${baselineOf(s)!.scenario} in the same run to compare without ${baselineOf(s)!.what})`);
  }
  if (mine?.ok) {
    for (const other of results) {
      if (other.peer === 'thicket' || !other.ok) continue;
      const parts = headlines.map((h) => {
        const a = h.value(mine.measurement);
        const b = h.value(other.measurement);
        if (a === null || b === null || b === 0 || a === 0) return `${h.label} -`;
        const ratio = a / b;
        const better = h.higherIsBetter ? ratio >= 1 : ratio <= 1;
        return `${h.label} ${ratio.toFixed(2)}× (${better ? 'better' : 'worse'})`;
      });
      out.push(`  thicket/${other.peer}: ${parts.join(', ')}`);
    }
  }
  return out.join('\n');
}
