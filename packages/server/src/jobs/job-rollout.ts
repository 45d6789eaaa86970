/**
 * The rollout of a job: things get their executions through the job's rollout queue, paced by its
 * rollout rate or by AWS's default of 1,000 a minute, so that a job for a small fleet starts
 * everywhere at once and one for a group of 100,000 does not publish 200,000 messages inside one
 * request. Each round takes things off the queue and creates their executions in one batch with
 * the job's `notified` counter, conditional on the job's row: two writers (the timer and a request,
 * or two nodes) cannot both create an execution from the same queue entry.
 */
import type { Namespace } from '../accounts/namespace.js';
import type { JobLifecycle, Outbox, PendingSnapshot } from './job-lifecycle.js';
import type { JobScheduler } from './job-scheduler.js';
import { untilApplied, type JobStore } from './job-store.js';
import { targetsThing, type TargetDeps } from './job-targets.js';
import type { ExecutionRecord, JobRecord } from './job-types.js';
import { RolloutPacer } from './rollout.js';

export interface RolloutDeps extends TargetDeps {
  store: JobStore;
  lifecycle: JobLifecycle;
  scheduler: Pick<JobScheduler, 'mayRollOut'>;
  clock: () => number;
  /**
   * Whether this node paces rollouts now. The pace is kept in memory, so in a cluster only the node
   * holding the jobs lease rolls out (a request on another node leaves the queue to its next tick).
   */
  leader?: () => boolean;
}

interface Round {
  created: ExecutionRecord[];
  before: Map<string, PendingSnapshot>;
  /** The queue held fewer things than asked for: it is empty now. */
  drained: boolean;
}

export class JobRollout {
  private readonly pacer: RolloutPacer;

  constructor(private readonly d: RolloutDeps) {
    this.pacer = new RolloutPacer(d.clock);
  }

  /** Creates executions for as many queued targets as the rollout rate allows now. */
  async rollOut(ns: Namespace, jobId: string, out: Outbox): Promise<void> {
    if (this.d.leader && !this.d.leader()) return;
    const job = this.d.store.job(ns, jobId);
    if (!job || job.status !== 'IN_PROGRESS' || !this.d.scheduler.mayRollOut(job)) return;
    const exp = job.jobExecutionsRolloutConfig?.exponentialRate;
    const succeeded =
      exp && exp.rateIncreaseCriteria.numberOfNotifiedThings === undefined ? (await this.d.store.countLatest(ns, jobId)).SUCCEEDED : 0;
    const allowed = this.pacer.allowance(ns, job, () => succeeded);
    if (allowed <= 0) return;
    let left = allowed;
    // Things that are no longer due are skipped without using the rate.
    while (left > 0) {
      const round = await untilApplied(`Job ${jobId}`, () => this.round(ns, jobId, left));
      if (!round) break;
      left -= round.created.length;
      const after = await this.d.store.pendingOfThings(
        ns,
        round.created.map((e) => e.thingName),
      );
      for (const e of round.created)
        await this.d.lifecycle.notifyIfChanged(ns, e.thingName, round.before.get(e.thingName)!, out, after.get(e.thingName));
      if (round.drained) break;
    }
    this.pacer.spend(ns, jobId, allowed - left);
    // The last queued things may all have been skipped: nothing else would complete the job.
    if ((await this.d.store.queuedTargets(ns, jobId)) === 0) await this.d.lifecycle.checkCompleted(ns, jobId, out);
  }

  /** Takes up to `n` things off the queue and creates the executions still due; null when there is nothing to do. */
  private async round(ns: Namespace, jobId: string, n: number): Promise<Round | null | false> {
    const job = this.d.store.job(ns, jobId);
    if (!job || job.status !== 'IN_PROGRESS' || job.rolloutStopped) return null;
    const taken = await this.d.store.queued(ns, jobId, n);
    if (taken.length === 0) return null;
    const created: ExecutionRecord[] = [];
    const before = new Map<string, PendingSnapshot>();
    // One read of the latest attempts and one of the pending lists for the whole round.
    const names = [...new Set(taken.map((t) => t.thingName))];
    const [latestOf, pendingOf] = await Promise.all([
      this.d.store.latestOfThings(ns, jobId, names),
      this.d.store.pendingOfThings(ns, names),
    ]);
    for (const thingName of names) {
      // Queued twice (it joined two target groups, or left and joined again): the first entry serves.
      const latest = latestOf.get(thingName);
      if (!this.stillDue(ns, job, thingName, latest)) continue;
      before.set(thingName, this.d.lifecycle.snapshotOfPending(pendingOf.get(thingName) ?? []));
      created.push(this.d.lifecycle.newExecution(job, thingName, latest));
    }
    job.notified += created.length;
    const written = await this.d.store.changeJob(ns, job, { dequeue: taken.map((t) => t.position), create: created });
    if (!written) return false;
    return { created, before, drained: taken.length < n };
  }

  /**
   * Whether a thing the rollout queue reached is still to get an execution. A thing waits in the
   * queue for minutes or hours: it may have been deleted, left a continuous job's target groups
   * (it is no longer targeted), or received its execution from an earlier entry.
   */
  private stillDue(ns: Namespace, job: JobRecord, thingName: string, latest: ExecutionRecord | undefined): boolean {
    if (!this.d.registry.thing(ns, thingName)) return false;
    if (latest && latest.status !== 'REMOVED') return false;
    return job.targetSelection !== 'CONTINUOUS' || targetsThing(this.d, ns, job, thingName);
  }

  /** Drops a deleted job's pace: a job later created under the same id starts with a full minute. */
  forget(ns: Namespace, jobId: string): void {
    this.pacer.forget(ns, jobId);
  }

  clear(): void {
    this.pacer.clear();
  }
}
