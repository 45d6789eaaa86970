/**
 * Scheduled jobs over time (AWS SchedulingConfig): a job created with a future `startTime` is
 * SCHEDULED, with no executions, until then; at its `endTime` the `endBehavior` applies —
 * STOP_ROLLOUT (no more things get an execution; those that have one go on, and the job completes
 * when they have ended), CANCEL (queued executions are canceled) or FORCE_CANCEL (in-progress ones
 * too). Each job's next start or end is a row of the store that the timer tick reads, so a
 * schedule survives a restart and one that fell due while the server was down runs at start-up.
 * Starting and ending are conditional writes on the job's row, like every change of a job.
 * Maintenance windows gate the rollout itself (JobsService.rollOut asks `mayRollOut`).
 */
import type { Namespace } from '../accounts/namespace.js';
import type { JobLifecycle, Outbox } from './job-lifecycle.js';
import { inMaintenanceWindow, nextRollouts, formatScheduleTime } from './job-schedule.js';
import { untilApplied, type JobStore } from './job-store.js';
import type { JobRecord } from './job-types.js';

export interface SchedulerDeps {
  store: JobStore;
  lifecycle: JobLifecycle;
  clock: () => number;
  /** The things the job's targets reach now (a target deleted since CreateJob is skipped). */
  expandTargets(ns: Namespace, job: JobRecord): string[];
  /** Lets the rollout notify the job's first things. */
  rollOut(ns: Namespace, jobId: string, out: Outbox): Promise<void>;
}

export class JobScheduler {
  constructor(private readonly d: SchedulerDeps) {}

  /** The status a new job starts in. */
  initialStatus(job: Pick<JobRecord, 'startAt'>): 'SCHEDULED' | 'IN_PROGRESS' {
    return job.startAt !== undefined && job.startAt > this.d.clock() ? 'SCHEDULED' : 'IN_PROGRESS';
  }

  /** When the scheduler must next look at the job: its scheduled start or end; null once it has ended or its rollout stopped. */
  nextDue(job: JobRecord): number | null {
    const next = job.status === 'SCHEDULED' ? job.startAt : job.status === 'IN_PROGRESS' && !job.rolloutStopped ? job.endAt : undefined;
    return next ?? null;
  }

  /** Starts and ends the jobs whose time has come (the timer tick calls it). */
  async runDue(out: Outbox): Promise<void> {
    const now = this.d.clock();
    for (const { ns, jobId } of await this.d.store.dueSchedules(now)) {
      const started = await this.startIfDue(ns, jobId, now, out);
      const ended = await this.endIfDue(ns, jobId, now, out);
      if (!started && !ended) await this.track(ns, jobId);
    }
  }

  /** Whether it started the job. */
  private async startIfDue(ns: Namespace, jobId: string, now: number, out: Outbox): Promise<boolean> {
    const done = await untilApplied(`Job ${jobId}`, async () => {
      const job = this.d.store.job(ns, jobId);
      if (job?.status !== 'SCHEDULED' || (job.startAt ?? 0) > now) return 'idle';
      job.status = 'IN_PROGRESS';
      job.lastUpdatedAt = now;
      // Its executions go to its targets' members as they are now.
      const enqueue = job.rolloutStopped ? [] : this.d.expandTargets(ns, job);
      if (!(await this.d.store.changeJob(ns, job, { due: this.nextDue(job), enqueue }))) return false;
      await this.d.rollOut(ns, jobId, out);
      await this.d.lifecycle.checkCompleted(ns, jobId, out);
      return 'acted';
    });
    return done === 'acted';
  }

  /** Whether it ended the job's rollout or canceled it. */
  private async endIfDue(ns: Namespace, jobId: string, now: number, out: Outbox): Promise<boolean> {
    const done = await untilApplied(`Job ${jobId}`, async () => {
      const job = this.d.store.job(ns, jobId);
      if (job?.status !== 'IN_PROGRESS' || job.rolloutStopped || job.endAt === undefined || job.endAt > now) return 'idle';
      const behavior = job.schedulingConfig?.endBehavior ?? 'STOP_ROLLOUT';
      if (behavior !== 'STOP_ROLLOUT')
        return (await this.d.lifecycle.cancelJob(ns, job, { force: behavior === 'FORCE_CANCEL' }, out)) && 'acted';
      job.rolloutStopped = true;
      job.lastUpdatedAt = now;
      if (!(await this.d.store.changeJob(ns, job, { clearQueue: true, due: this.nextDue(job) }))) return false;
      await this.d.lifecycle.checkCompleted(ns, jobId, out);
      return 'acted';
    });
    return done === 'acted';
  }

  /** Records the job's next scheduled start or end as the job stands (forgets the schedule of a job that is gone). */
  private async track(ns: Namespace, jobId: string): Promise<void> {
    await untilApplied(`Job ${jobId}`, async () => {
      const job = this.d.store.job(ns, jobId);
      if (!job) {
        await this.d.store.clearDue(ns, jobId);
        return true;
      }
      return (await this.d.store.changeJob(ns, job, { due: this.nextDue(job) })) !== false;
    });
  }

  /** Whether the rollout may notify things now: not after a stop, and inside a window when the job has any. */
  mayRollOut(job: JobRecord): boolean {
    return !job.rolloutStopped && inMaintenanceWindow(job.schedulingConfig?.maintenanceWindows, this.d.clock());
  }

  /** DescribeJob's scheduledJobRollouts: the next seven window openings of a job that may still roll out. */
  rollouts(job: JobRecord): Array<{ startTime: string }> | undefined {
    const windows = job.schedulingConfig?.maintenanceWindows;
    if (!windows?.length || job.rolloutStopped || (job.status !== 'SCHEDULED' && job.status !== 'IN_PROGRESS')) return undefined;
    // A window opening this very moment is open, no longer next.
    const from = Math.max(this.d.clock() + 1, job.startAt ?? 0);
    return nextRollouts(windows, from, job.endAt).map((t) => ({ startTime: formatScheduleTime(t) }));
  }
}
