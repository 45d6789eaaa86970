/**
 * Scheduled jobs over time (AWS SchedulingConfig): a job created with a future `startTime` is
 * SCHEDULED, with no executions, until then; at its `endTime` the `endBehavior` applies —
 * STOP_ROLLOUT (no more things get an execution; those that have one go on, and the job completes
 * when they have ended), CANCEL (queued executions are canceled) or FORCE_CANCEL (in-progress ones
 * too). Each job's next start or end is a row of the store that the timer tick reads, so a
 * schedule survives a restart and one that fell due while the server was down runs at start-up.
 * Maintenance windows gate the rollout itself (JobsService.rollOut asks `mayRollOut`).
 */
import type { Namespace } from '../accounts/namespace.js';
import type { JobLifecycle, Outbox } from './job-lifecycle.js';
import { inMaintenanceWindow, nextRollouts, formatScheduleTime } from './job-schedule.js';
import type { JobStore } from './job-store.js';
import type { JobRecord } from './job-types.js';

export interface SchedulerDeps {
  store: JobStore;
  lifecycle: JobLifecycle;
  clock: () => number;
  /** Expands the job's targets as they are now and queues them for the rollout. */
  startRollout(ns: Namespace, job: JobRecord, out: Outbox): void;
}

export class JobScheduler {
  constructor(private readonly d: SchedulerDeps) {}

  /** The status a new job starts in, and records when the scheduler must next look at it. */
  initialStatus(job: Pick<JobRecord, 'startAt'>): 'SCHEDULED' | 'IN_PROGRESS' {
    return job.startAt !== undefined && job.startAt > this.d.clock() ? 'SCHEDULED' : 'IN_PROGRESS';
  }

  /** Records the job's next scheduled start or end (none once it has ended or its rollout stopped). */
  track(ns: Namespace, job: JobRecord): void {
    const next = job.status === 'SCHEDULED' ? job.startAt : job.status === 'IN_PROGRESS' && !job.rolloutStopped ? job.endAt : undefined;
    this.d.store.setDue(ns, job.jobId, next);
  }

  /** Starts and ends the jobs whose time has come; runs inside the tick's transaction. */
  runDue(out: Outbox): void {
    const now = this.d.clock();
    for (const { ns, jobId } of this.d.store.dueSchedules(now)) {
      const job = this.d.store.job(ns, jobId);
      if (!job) {
        this.d.store.setDue(ns, jobId, undefined);
        continue;
      }
      if (job.status === 'SCHEDULED' && (job.startAt ?? 0) <= now) this.start(ns, job, out);
      if (job.status === 'IN_PROGRESS' && !job.rolloutStopped && job.endAt !== undefined && job.endAt <= now) this.end(ns, job, out);
      this.track(ns, job);
    }
  }

  private start(ns: Namespace, job: JobRecord, out: Outbox): void {
    job.status = 'IN_PROGRESS';
    job.lastUpdatedAt = this.d.clock();
    this.d.store.putJob(ns, job);
    this.d.startRollout(ns, job, out);
    this.d.lifecycle.checkCompleted(ns, job.jobId, out);
    // checkCompleted works on its own copy of the record: read back what it decided.
    Object.assign(job, this.d.store.job(ns, job.jobId));
  }

  private end(ns: Namespace, job: JobRecord, out: Outbox): void {
    const behavior = job.schedulingConfig?.endBehavior ?? 'STOP_ROLLOUT';
    if (behavior === 'STOP_ROLLOUT') {
      job.rolloutStopped = true;
      job.lastUpdatedAt = this.d.clock();
      this.d.store.putJob(ns, job);
      this.d.store.clearQueue(ns, job.jobId);
      this.d.lifecycle.checkCompleted(ns, job.jobId, out);
      Object.assign(job, this.d.store.job(ns, job.jobId));
    } else {
      this.d.lifecycle.cancelJob(ns, job, { force: behavior === 'FORCE_CANCEL' }, out);
    }
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
