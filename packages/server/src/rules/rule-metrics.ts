/**
 * The rules engine's Prometheus metrics, per rule where it matters to an operator. The engine counts
 * in plain numbers on its path (a prom-client label lookup or observe per message cost more than
 * the rest of the tap); these families read them when /metrics is scraped.
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** Cumulative buckets of one latency distribution, in seconds. */
class Distribution {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length);
  }

  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    const b = this.bounds;
    for (let i = 0; i < b.length; i++) {
      if (seconds <= b[i]!) {
        this.counts[i]!++;
        return;
      }
    }
  }
}

const EVALUATION_BUCKETS = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1];
const ACTION_BUCKETS = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30];

export interface ActionCounters {
  succeeded(seconds: number): void;
  failed(seconds: number): void;
}

/** Why a rule evaluation was not made: the queue was full, or the message had been republished by rules too often. */
export type DropReason = 'queue_full' | 'loop';

/** One rule's counters; the same object across a replace, so its counts go on. */
export interface RuleCounters {
  matched: number;
  noOutput: number;
  dropped: Record<DropReason, number>;
  evaluation: Distribution;
  /** By action index; the error action, when there is one, is last. */
  actions: ActionCounters[];
}

interface RuleStats {
  account: string;
  rule: string;
  counters: RuleCounters;
  /** outcome counts by action type (a rule may have several actions of one type). */
  actions: Map<string, { success: number; failure: number }>;
  /** Latency by action type (its error action's included). */
  latency: Map<string, Distribution>;
  errorActions: { success: number; failure: number };
  hasErrorAction: boolean;
}

type Labels = Record<string, string>;

/** A histogram family read from Distributions at scrape time, in the shape prom-client's registry prints. */
function histogramFamily(registry: Registry, name: string, help: string, read: () => Array<[Labels, Distribution]>): void {
  registry.registerMetric({
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const values: { value: number; labels: Labels; metricName: string }[] = [];
      for (const [labels, d] of read()) {
        let cumulative = 0;
        d.bounds.forEach((le, i) => {
          cumulative += d.counts[i]!;
          values.push({ value: cumulative, labels: { ...labels, le: String(le) }, metricName: `${name}_bucket` });
        });
        values.push({ value: d.count, labels: { ...labels, le: '+Inf' }, metricName: `${name}_bucket` });
        values.push({ value: d.sum, labels, metricName: `${name}_sum` });
        values.push({ value: d.count, labels, metricName: `${name}_count` });
      }
      return { name, help, type: 'histogram', values, aggregator: 'sum' };
    },
    reset() {},
  } as never);
}

/** A counter family whose values are set from plain numbers at scrape time. */
function counterFamily(registry: Registry, name: string, help: string, labelNames: string[], read: () => Array<[Labels, number]>): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

export class RuleMetrics {
  /** Every series but the queue gauge is per rule, and goes when its rule is deleted: that bounds them. */
  private readonly rules = new Map<string, RuleStats>();

  constructor(registry: Registry, queued: () => number) {
    const each = <T>(f: (s: RuleStats) => T[]): T[] => [...this.rules.values()].flatMap(f);
    const ids = (s: RuleStats): Labels => ({ account: s.account, rule: s.rule });
    counterFamily(registry, 'thicket_rules_messages_matched_total', 'Messages whose topic matched a rule', ['account', 'rule'], () =>
      each((s) => [[ids(s), s.counters.matched]]),
    );
    counterFamily(
      registry,
      'thicket_rules_no_output_total',
      'Matched messages the SQL gave no output for (WHERE not true, or an Undefined result): no action ran',
      ['account', 'rule'],
      () => each((s) => [[ids(s), s.counters.noOutput]]),
    );
    counterFamily(
      registry,
      'thicket_rules_actions_total',
      'Rule actions performed, by action type and outcome (success, failure)',
      ['account', 'rule', 'action', 'outcome'],
      () =>
        each((s) =>
          [...s.actions].flatMap(([action, n]): [Labels, number][] => [
            [{ ...ids(s), action, outcome: 'success' }, n.success],
            [{ ...ids(s), action, outcome: 'failure' }, n.failure],
          ]),
        ),
    );
    counterFamily(
      registry,
      'thicket_rules_error_actions_total',
      'Error actions run, by outcome (success, failure)',
      ['account', 'rule', 'outcome'],
      () =>
        each((s): [Labels, number][] =>
          s.hasErrorAction || s.errorActions.success + s.errorActions.failure > 0
            ? [
                [{ ...ids(s), outcome: 'success' }, s.errorActions.success],
                [{ ...ids(s), outcome: 'failure' }, s.errorActions.failure],
              ]
            : [],
        ),
    );
    histogramFamily(
      registry,
      'thicket_rules_evaluation_seconds',
      'Time to evaluate a rule on one message (SQL, external functions included)',
      () => each((s) => [[ids(s), s.counters.evaluation]]),
    );
    histogramFamily(
      registry,
      'thicket_rules_action_seconds',
      'Time an action took, retries included, by rule and action type (an error action under its type)',
      () => each((s) => [...s.latency].map(([action, d]): [Labels, Distribution] => [{ ...ids(s), action }, d])),
    );
    counterFamily(
      registry,
      'thicket_rules_messages_dropped_total',
      'Rule evaluations not made: queue_full (the engine could not keep up), loop (a message republished by rules too many times in a row)',
      ['account', 'rule', 'reason'],
      () => each((s) => Object.entries(s.counters.dropped).map(([reason, n]): [Labels, number] => [{ ...ids(s), reason }, n])),
    );
    new Gauge({
      name: 'thicket_rules_messages_queued',
      help: 'Rule evaluations waiting',
      registers: [registry],
      collect() {
        this.set(queued());
      },
    });
  }

  /**
   * The counters of a rule, kept across replace (same account and name). `actionKeys`: its action
   * types by index; `errorActionKey`: its error action's, counted apart.
   */
  forRule(account: string, rule: string, actionKeys: string[], errorActionKey: string | undefined): RuleCounters {
    const key = `${account}\u0000${rule}`;
    let s = this.rules.get(key);
    if (!s) {
      s = {
        account,
        rule,
        counters: {
          matched: 0,
          noOutput: 0,
          dropped: { queue_full: 0, loop: 0 },
          evaluation: new Distribution(EVALUATION_BUCKETS),
          actions: [],
        },
        actions: new Map(),
        latency: new Map(),
        errorActions: { success: 0, failure: 0 },
        hasErrorAction: false,
      };
      this.rules.set(key, s);
    }
    const stats = s;
    stats.hasErrorAction = errorActionKey !== undefined;
    for (const k of actionKeys) if (!stats.actions.has(k)) stats.actions.set(k, { success: 0, failure: 0 });
    const keys = errorActionKey === undefined ? actionKeys : [...actionKeys, errorActionKey];
    stats.counters.actions = keys.map((k, i) => {
      const outcome = i === actionKeys.length ? stats.errorActions : stats.actions.get(k)!;
      const latency = stats.latency.get(k) ?? new Distribution(ACTION_BUCKETS);
      stats.latency.set(k, latency);
      return {
        succeeded(seconds) {
          outcome.success++;
          latency.observe(seconds);
        },
        failed(seconds) {
          outcome.failure++;
          latency.observe(seconds);
        },
      };
    });
    return stats.counters;
  }

  /** Forgets a deleted rule's counters. */
  forget(account: string, rule: string): void {
    this.rules.delete(`${account}\u0000${rule}`);
  }
}
