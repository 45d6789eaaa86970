/** The rules engine's Prometheus metrics, per rule where it matters to an operator. */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export interface RuleCounters {
  matched: { inc(): void };
  noOutput: { inc(): void };
  evaluation: { observe(seconds: number): void };
}

export class RuleMetrics {
  private readonly matched: Counter<'account' | 'rule'>;
  private readonly noOutput: Counter<'account' | 'rule'>;
  private readonly actions: Counter<'account' | 'rule' | 'action' | 'outcome'>;
  private readonly errorActions: Counter<'account' | 'rule' | 'outcome'>;
  private readonly evaluation: Histogram<'account' | 'rule'>;
  private readonly actionLatency: Histogram<'action'>;
  private readonly dropped: Counter<'reason'>;

  constructor(registry: Registry, queued: () => number) {
    const registers = [registry];
    this.matched = new Counter({
      name: 'thicket_rules_messages_matched_total',
      help: 'Messages whose topic matched a rule',
      labelNames: ['account', 'rule'],
      registers,
    });
    this.noOutput = new Counter({
      name: 'thicket_rules_no_output_total',
      help: 'Matched messages the SQL gave no output for (WHERE not true, or an Undefined result): no action ran',
      labelNames: ['account', 'rule'],
      registers,
    });
    this.actions = new Counter({
      name: 'thicket_rules_actions_total',
      help: 'Rule actions performed, by action type and outcome (success, failure)',
      labelNames: ['account', 'rule', 'action', 'outcome'],
      registers,
    });
    this.errorActions = new Counter({
      name: 'thicket_rules_error_actions_total',
      help: 'Error actions run, by outcome (success, failure)',
      labelNames: ['account', 'rule', 'outcome'],
      registers,
    });
    this.evaluation = new Histogram({
      name: 'thicket_rules_evaluation_seconds',
      help: 'Time to evaluate a rule on one message (SQL, external functions included)',
      labelNames: ['account', 'rule'],
      buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
      registers,
    });
    this.actionLatency = new Histogram({
      name: 'thicket_rules_action_seconds',
      help: 'Time an action took, retries included, by action type',
      labelNames: ['action'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30],
      registers,
    });
    this.dropped = new Counter({
      name: 'thicket_rules_messages_dropped_total',
      help: 'Messages a rule did not evaluate: queue_full (the engine could not keep up), loop (republished too many times by rules)',
      labelNames: ['reason'],
      registers,
    });
    new Gauge({
      name: 'thicket_rules_messages_queued',
      help: 'Messages waiting for rule evaluation',
      registers,
      collect() {
        this.set(queued());
      },
    });
  }

  forRule(account: string, rule: string): RuleCounters {
    return {
      matched: this.matched.labels(account, rule),
      noOutput: this.noOutput.labels(account, rule),
      evaluation: this.evaluation.labels(account, rule),
    };
  }

  action(account: string, rule: string, action: string, ok: boolean, seconds: number): void {
    this.actions.labels(account, rule, action, ok ? 'success' : 'failure').inc();
    this.actionLatency.labels(action).observe(seconds);
  }

  errorAction(account: string, rule: string, ok: boolean): void {
    this.errorActions.labels(account, rule, ok ? 'success' : 'failure').inc();
  }

  drop(reason: 'queue_full' | 'loop'): void {
    this.dropped.labels(reason).inc();
  }
}
