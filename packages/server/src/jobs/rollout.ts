/**
 * Rollout pacing (reference controlplane §5.1): how many more things a job may notify now, from
 * `maximumPerMinute` or an exponential rate that grows by `incrementFactor` each time another
 * `numberOfNotifiedThings` were notified (or `numberOfSucceededThings` succeeded). A token bucket
 * per job holds at most one minute's worth; it starts full, so a rollout begins with its first
 * minute's things at once. Buckets live in memory: after a restart a rollout starts a fresh minute.
 */
import { mountOf, type Namespace } from '../accounts/namespace.js';
import type { JobRecord } from './job-types.js';

/** AWS's ceiling for maximumPerMinute, also the rate of a job without a rollout configuration. */
export const MAX_PER_MINUTE = 1000;

export function ratePerMinute(job: JobRecord, succeeded: () => number): number {
  const cfg = job.jobExecutionsRolloutConfig;
  const cap = cfg?.maximumPerMinute ?? MAX_PER_MINUTE;
  const exp = cfg?.exponentialRate;
  if (!exp) return cap;
  const c = exp.rateIncreaseCriteria;
  const steps =
    c.numberOfNotifiedThings !== undefined
      ? Math.floor(job.notified / c.numberOfNotifiedThings)
      : Math.floor(succeeded() / c.numberOfSucceededThings!);
  return Math.min(cap, Math.floor(exp.baseRatePerMinute * exp.incrementFactor ** steps));
}

export class RolloutPacer {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly clock: () => number) {}

  /** How many things the job may notify now; call spend() with how many it did. */
  allowance(ns: Namespace, job: JobRecord, succeeded: () => number): number {
    const rate = ratePerMinute(job, succeeded);
    const key = `${mountOf(ns)}/${job.jobId}`;
    const now = this.clock();
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: rate, at: now }));
    else {
      b.tokens = Math.min(rate, b.tokens + ((now - b.at) * rate) / 60_000);
      b.at = now;
    }
    return Math.floor(b.tokens);
  }

  spend(ns: Namespace, jobId: string, n: number): void {
    const b = this.buckets.get(`${mountOf(ns)}/${jobId}`);
    if (b) b.tokens -= n;
  }

  /** Drops a deleted job's bucket: a job later created under the same id starts with a full one. */
  forget(ns: Namespace, jobId: string): void {
    this.buckets.delete(`${mountOf(ns)}/${jobId}`);
  }

  clear(): void {
    this.buckets.clear();
  }
}
