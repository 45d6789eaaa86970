/**
 * The samples of the cloudwatchMetric action as Prometheus series on `/metrics`. Each distinct
 * (account, region, namespace, metric, unit) is one series holding its last value (by metric
 * timestamp), a count of samples and their sum, so that rates and averages can be computed
 * (`rate(thicket_rule_metric_sum[5m]) / rate(thicket_rule_metric_samples_total[5m])`). Label values
 * come from templates a device can steer, so the number of series is capped, per account and in
 * all; a sample that would open a series past a cap is refused and counted.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Namespace } from '../../accounts/namespace.js';
import type { RuleMetricSettings } from '../rules-config.js';

type Label = 'account' | 'region' | 'namespace' | 'metric' | 'unit';
const LABELS: Label[] = ['account', 'region', 'namespace', 'metric', 'unit'];

interface Series {
  labels: Record<Label, string>;
  last: number;
  /** Epoch seconds of `last`. */
  at: number;
  count: number;
  sum: number;
}

export interface MetricSample {
  ns: Namespace;
  namespace: string;
  metric: string;
  unit: string;
  value: number;
  /** Epoch seconds. */
  timestamp: number;
}

export class MetricSeries {
  private readonly series = new Map<string, Series>();
  private readonly perAccount = new Map<string, number>();
  private readonly refused: Counter<'account' | 'reason'>;

  constructor(
    registry: Registry,
    private readonly limits: RuleMetricSettings,
  ) {
    const registers = [registry];
    const all = (): IterableIterator<Series> => this.series.values();
    new Gauge({
      name: 'thicket_rule_metric',
      help: 'cloudwatchMetric rule action: the last value of each metric (by its metricTimestamp)',
      labelNames: LABELS,
      registers,
      collect() {
        this.reset();
        for (const s of all()) this.set(s.labels, s.last);
      },
    });
    new Gauge({
      name: 'thicket_rule_metric_timestamp_seconds',
      help: 'cloudwatchMetric rule action: the metricTimestamp of the last value (epoch seconds)',
      labelNames: LABELS,
      registers,
      collect() {
        this.reset();
        for (const s of all()) this.set(s.labels, s.at);
      },
    });
    new Counter({
      name: 'thicket_rule_metric_samples_total',
      help: 'cloudwatchMetric rule action: samples recorded',
      labelNames: LABELS,
      registers,
      collect() {
        this.reset();
        for (const s of all()) this.inc(s.labels, s.count);
      },
    });
    // A gauge, not a counter: values may be negative, so the sum may go down.
    new Gauge({
      name: 'thicket_rule_metric_sum',
      help: 'cloudwatchMetric rule action: the sum of the values recorded',
      labelNames: LABELS,
      registers,
      collect() {
        this.reset();
        for (const s of all()) this.set(s.labels, s.sum);
      },
    });
    const count = (): number => this.series.size;
    new Gauge({
      name: 'thicket_rule_metric_series',
      help: 'cloudwatchMetric rule action: series held (capped by rules.metrics.maxSeries)',
      registers,
      collect() {
        this.set(count());
      },
    });
    this.refused = new Counter({
      name: 'thicket_rule_metric_refused_total',
      help: 'cloudwatchMetric rule action: samples refused because they would open a series past a cap (series_limit, account_series_limit)',
      labelNames: ['account', 'reason'],
      registers,
    });
  }

  /** Records a sample; returns why it was refused, or undefined. */
  record(s: MetricSample): string | undefined {
    const labels: Record<Label, string> = {
      account: s.ns.accountId,
      region: s.ns.region,
      namespace: s.namespace,
      metric: s.metric,
      unit: s.unit,
    };
    const key = JSON.stringify(LABELS.map((l) => labels[l]));
    let series = this.series.get(key);
    if (!series) {
      const ofAccount = this.perAccount.get(s.ns.accountId) ?? 0;
      if (ofAccount >= this.limits.maxSeriesPerAccount) {
        this.refused.labels(s.ns.accountId, 'account_series_limit').inc();
        return `account ${s.ns.accountId} already has ${ofAccount} metric series, the most one account may have (rules.metrics.maxSeriesPerAccount)`;
      }
      if (this.series.size >= this.limits.maxSeries) {
        this.refused.labels(s.ns.accountId, 'series_limit').inc();
        return `the server already holds ${this.series.size} metric series, the most it keeps (rules.metrics.maxSeries)`;
      }
      this.series.set(key, (series = { labels, last: s.value, at: s.timestamp, count: 0, sum: 0 }));
      this.perAccount.set(s.ns.accountId, ofAccount + 1);
    } else if (s.timestamp >= series.at) {
      series.last = s.value;
      series.at = s.timestamp;
    }
    series.count++;
    series.sum += s.value;
    return undefined;
  }

  /** Test-mode reset: forgets every series. */
  clear(): void {
    this.series.clear();
    this.perAccount.clear();
  }
}
