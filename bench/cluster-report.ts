/** Plain-text tables for bench --cluster: per scenario one row per setup, then setups × scenarios. */
import { count, describe, fixed, table, warnings } from './report.js';
import type { LatencyMeasurement, Measurement, RunResult, ThroughputMeasurement } from './results.js';
import type { Scenario } from './scenarios.js';

/** One way of running Thicket: the SQLite reference, or a cluster of `nodes` on PostgreSQL + NATS. */
export interface Setup {
  /** Short name, also the `peer` of its results. */
  key: string;
  label: string;
  nodes: number;
  clustered: boolean;
}

export type ClusterResult = RunResult & { nodes: number; clustered: boolean };

interface Headline {
  label: string;
  value(m: Measurement): number;
  higherIsBetter: boolean;
}

function headlines(s: Scenario): Headline[] {
  if (s.kind === 'latency')
    return [
      { label: 'p50 ms', value: (m) => (m as LatencyMeasurement).p50Ms, higherIsBetter: false },
      { label: 'p99 ms', value: (m) => (m as LatencyMeasurement).p99Ms, higherIsBetter: false },
    ];
  return [
    { label: s.kind === 'fan-out' ? 'deliveries/s' : 'msg/s', value: (m) => (m as ThroughputMeasurement).perSecond, higherIsBetter: true },
  ];
}

function ratio(h: Headline, m: Measurement, ref: Measurement | undefined): string {
  if (!ref) return '-';
  const a = h.value(m);
  const b = h.value(ref);
  return b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(2)}×` : '-';
}

function headlineValue(h: Headline, m: Measurement): string {
  return h.higherIsBetter ? count(h.value(m)) : fixed(h.value(m), 2);
}

const PARTS = ['thicket', 'nats', 'postgres'];

function cpuCells(m: Measurement): string[] {
  return [...PARTS.map((p) => (m.cpu.parts ? fixed(m.cpu.parts[p] ?? null, 0) : '-')), fixed(m.cpu.loadgen, 0), fixed(m.cpu.other, 0)];
}

function refOf(results: ClusterResult[], scenario: string, refKey: string): Measurement | undefined {
  const r = results.find((x) => x.scenario === scenario && x.peer === refKey);
  return r?.ok ? r.measurement : undefined;
}

/** One scenario: a row per setup, with its ratio to the reference setup's figure. */
export function clusterScenarioTable(s: Scenario, setups: Setup[], results: ClusterResult[], refKey: string): string {
  const hs = headlines(s);
  const ref = refOf(results, s.name, refKey);
  const header = [
    'setup',
    ...hs.map((h) => h.label),
    ...(s.kind === 'latency' ? ['max ms'] : []),
    ...hs.map((h) => (hs.length > 1 ? `${h.label.split(' ')[0]} × ref` : '× ref')),
    'loss %',
    ...(s.kind === 'latency' ? [] : ['order err']),
    ...PARTS.map((p) => `${p} CPU%`),
    'loadgen CPU%',
    'other CPU%',
    'note',
  ];
  const rows: string[][] = [];
  const failures: string[] = [];
  for (const setup of setups) {
    const r = results.find((x) => x.scenario === s.name && x.peer === setup.key);
    if (!r) continue;
    if (!r.ok) {
      rows.push([setup.label, 'FAILED']);
      failures.push(`  ${setup.label}: ${r.error}`);
      continue;
    }
    const m = r.measurement;
    const extra = m.kind === 'latency' ? [fixed(m.maxMs, 2)] : [];
    rows.push([
      setup.label,
      ...hs.map((h) => headlineValue(h, m)),
      ...extra,
      ...hs.map((h) => (setup.key === refKey ? 'ref' : ratio(h, m, ref))),
      fixed(m.kind === 'latency' || m.kind === 'throughput' ? m.lossPct : null, 2),
      ...(m.kind === 'throughput' ? [count(m.orderErrors)] : []),
      ...cpuCells(m),
      warnings(m).join('; '),
    ]);
  }
  return [`${s.name} — ${describe(s)}`, table(header, rows), ...failures].join('\n');
}

/** Setups across, scenarios down: each cell the headline figure and its ratio to the reference. */
export function clusterSummary(scenarios: Scenario[], setups: Setup[], results: ClusterResult[], refKey: string): string {
  const rows: string[][] = [];
  for (const s of scenarios) {
    const ref = refOf(results, s.name, refKey);
    for (const h of headlines(s)) {
      const cells = setups.map((setup) => {
        const r = results.find((x) => x.scenario === s.name && x.peer === setup.key);
        if (!r) return '';
        if (!r.ok) return 'FAILED';
        const v = headlineValue(h, r.measurement);
        return setup.key === refKey ? v : `${v} (${ratio(h, r.measurement, ref)})`;
      });
      rows.push([s.name, h.label, ...cells]);
    }
  }
  return table(['scenario', 'figure', ...setups.map((s) => s.label)], rows);
}
