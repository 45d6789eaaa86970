/**
 * What happens around a change of an execution: the devices' `notify` and `notify-next` messages
 * when the thing's pending list changes, job execution events, retries of failed and timed-out
 * attempts, abort criteria, and the completion of snapshot jobs. Every change runs inside a store
 * transaction and queues its messages in an Outbox that is sent after the commit.
 */
import type { Namespace } from '../accounts/namespace.js';
import type { RegistryEvents } from '../registry/events.js';
import type { JobStore } from './job-store.js';
import { isTerminal, type ExecutionRecord, type ExecutionStatus, type JobRecord } from './job-types.js';
import { deviceExecution, deviceSummary, processDetails, thingArn } from './job-views.js';

export type JobPublish = (ns: Namespace, topic: string, payload: Record<string, unknown>) => void;

/** Messages and events to send once the transaction that caused them has committed. */
export class Outbox {
  private readonly items: Array<() => void> = [];
  constructor(private readonly store: Pick<JobStore, 'afterCommit'>) {}
  add(fn: () => void): void {
    this.items.push(fn);
  }
  /** Sends now if the change has committed, else when the transaction around it (a registry change's) commits. */
  flush(): void {
    const items = this.items.splice(0);
    if (items.length) this.store.afterCommit(() => items.forEach((fn) => fn()));
  }
}

/** The pending list of a thing as the devices see it: which executions, in which state, which is next. */
interface PendingSnapshot {
  list: string;
  next: string;
}

/** AWS's ListNotification holds at most 15 pending executions. */
const NOTIFY_LIMIT = 15;

export interface LifecycleDeps {
  store: JobStore;
  events: RegistryEvents;
  publish: JobPublish;
  /** The job document text a device receives (parameters filled, file URLs signed), parsed. */
  documentFor(ns: Namespace, job: JobRecord): unknown;
  clock: () => number;
}

export class JobLifecycle {
  constructor(private readonly d: LifecycleDeps) {}

  snapshot(ns: Namespace, thingName: string): PendingSnapshot {
    const pending = this.ordered(this.d.store.pendingOfThing(ns, thingName));
    return {
      // `notify` goes out when an execution joins or leaves the list or changes status within it
      // (AWS: "queued or changes to a non-terminal status"); refreshing statusDetails is not a change.
      list: pending
        .map((e) => `${e.jobId}#${e.executionNumber}:${e.status}`)
        .sort()
        .join(','),
      next: pending[0] ? `${pending[0].jobId}#${pending[0].executionNumber}` : '',
    };
  }

  /** IN_PROGRESS first, then QUEUED, each oldest first (AWS's order for notify and $next). */
  ordered(pending: ExecutionRecord[]): ExecutionRecord[] {
    return [...pending.filter((e) => e.status === 'IN_PROGRESS'), ...pending.filter((e) => e.status === 'QUEUED')];
  }

  /** Queues `notify` / `notify-next` for the thing if its pending list or next execution changed since `before`. */
  notifyIfChanged(ns: Namespace, thingName: string, before: PendingSnapshot, out: Outbox): void {
    const after = this.snapshot(ns, thingName);
    if (after.list === before.list && after.next === before.next) return;
    const now = this.d.clock();
    const pending = this.ordered(this.d.store.pendingOfThing(ns, thingName));
    const timestamp = Math.floor(now / 1000);
    const prefix = `$aws/things/${thingName}/jobs`;
    if (after.list !== before.list) {
      const jobs: Record<string, unknown[]> = {};
      for (const e of pending.slice(0, NOTIFY_LIMIT)) (jobs[e.status] ??= []).push(deviceSummary(e));
      out.add(() => this.d.publish(ns, `${prefix}/notify`, { timestamp, jobs }));
    }
    if (after.next !== before.next) {
      const next = pending[0] && { ...pending[0] };
      const job = next && this.d.store.job(ns, next.jobId);
      // The document is made after the commit: signing its file URLs must never undo a state change.
      out.add(() => {
        const payload: Record<string, unknown> = { timestamp };
        if (next && job) {
          let document: unknown;
          try {
            document = this.d.documentFor(ns, job);
          } catch {
            // Only a file deleted since CreateJob gets here; the device still learns what is next.
          }
          payload.execution = deviceExecution(next, document, now);
        }
        this.d.publish(ns, `${prefix}/notify-next`, payload);
      });
    }
  }

  /** Creates the first (or a retry) execution of a job for a thing, QUEUED; `silent`: the caller notifies. */
  createExecution(
    ns: Namespace,
    job: JobRecord,
    thingName: string,
    out: Outbox,
    previous?: ExecutionRecord,
    silent = false,
  ): ExecutionRecord {
    const before = this.snapshot(ns, thingName);
    const now = this.d.clock();
    const latest = previous ?? this.d.store.execution(ns, job.jobId, thingName);
    const e: ExecutionRecord = {
      jobId: job.jobId,
      thingName,
      executionNumber: (latest?.executionNumber ?? 0) + 1,
      status: 'QUEUED',
      statusDetails: {},
      versionNumber: 1,
      queuedAt: now,
      lastUpdatedAt: now,
      retryAttempt: previous ? previous.retryAttempt + 1 : 0,
      seq: this.d.store.nextSeq(),
    };
    this.d.store.putExecution(ns, e);
    if (!silent) this.notifyIfChanged(ns, thingName, before, out);
    return e;
  }

  /**
   * Writes an execution that changed state and does what follows from it: notifications, events,
   * a retry, the job's abort criteria and completion.
   */
  changed(ns: Namespace, e: ExecutionRecord, before: PendingSnapshot, out: Outbox): void {
    this.d.store.putExecution(ns, e);
    const terminal = isTerminal(e.status);
    const job = terminal ? this.d.store.job(ns, e.jobId) : undefined;
    // A retry is queued before the devices are told, so they never see a moment without it.
    const retried = job?.status === 'IN_PROGRESS' && this.retry(ns, job, e, out);
    this.notifyIfChanged(ns, e.thingName, before, out);
    if (!terminal) return;
    this.executionEvent(ns, e, e.status.toLowerCase(), out);
    if (!job || retried) return;
    if (job.status === 'IN_PROGRESS') this.checkAbort(ns, job, out);
    this.checkCompleted(ns, e.jobId, out);
  }

  executionEvent(ns: Namespace, e: ExecutionRecord, operation: string, out: Outbox): void {
    const body = {
      eventType: 'JOB_EXECUTION',
      timestamp: Math.floor(this.d.clock() / 1000),
      operation,
      jobId: e.jobId,
      thingArn: thingArn(ns, e.thingName),
      status: e.status,
      statusDetails: e.statusDetails,
    };
    out.add(() => this.d.events.emit(ns, 'JOB_EXECUTION', `$aws/events/jobExecution/${e.jobId}/${operation}`, body));
  }

  jobEvent(ns: Namespace, job: JobRecord, operation: string, out: Outbox): void {
    const counts = this.d.store.countLatest(ns, job.jobId);
    const details = processDetails(counts, undefined);
    delete details.processingTargets;
    const body: Record<string, unknown> = {
      eventType: 'JOB',
      timestamp: Math.floor(this.d.clock() / 1000),
      operation,
      jobId: job.jobId,
      status: job.status,
      targetSelection: job.targetSelection,
      targets: job.targets,
      description: job.description,
      createdAt: Math.floor(job.createdAt / 1000),
      lastUpdatedAt: Math.floor(job.lastUpdatedAt / 1000),
      completedAt: job.completedAt === undefined ? undefined : Math.floor(job.completedAt / 1000),
      jobProcessDetails: details,
      comment: job.comment,
    };
    out.add(() => this.d.events.emit(ns, 'JOB', `$aws/events/job/${job.jobId}/${operation}`, body));
  }

  /** A FAILED or TIMED_OUT attempt is tried again while the job's retry criteria allow. */
  private retry(ns: Namespace, job: JobRecord, e: ExecutionRecord, out: Outbox): boolean {
    if (e.status !== 'FAILED' && e.status !== 'TIMED_OUT') return false;
    const list = job.jobExecutionsRetryConfig?.criteriaList ?? [];
    const criterion = list.find((c) => c.failureType === e.status) ?? list.find((c) => c.failureType === 'ALL');
    if (!criterion) return false;
    const counted: ExecutionStatus[] = criterion.failureType === 'ALL' ? ['FAILED', 'TIMED_OUT'] : [criterion.failureType];
    const attempts = this.d.store.attempts(ns, job.jobId, e.thingName);
    // Each earlier attempt that ended this way was retried once already.
    const used = attempts.filter((x) => x.executionNumber < e.executionNumber && counted.includes(x.status)).length;
    if (used >= criterion.numberOfRetries) return false;
    this.createExecution(ns, job, e.thingName, out, e, true);
    return true;
  }

  private checkAbort(ns: Namespace, job: JobRecord, out: Outbox): void {
    const criteria = job.abortConfig?.criteriaList;
    if (!criteria?.length) return;
    const counts = this.d.store.countLatest(ns, job.jobId);
    const executed = counts.SUCCEEDED + counts.FAILED + counts.REJECTED + counts.TIMED_OUT;
    for (const c of criteria) {
      if (executed < c.minNumberOfExecutedThings) continue;
      const failures = c.failureType === 'ALL' ? counts.FAILED + counts.REJECTED + counts.TIMED_OUT : counts[c.failureType];
      // A threshold of 0% would otherwise cancel a job on its first success: aborting needs a failure.
      if (failures === 0 || (failures / executed) * 100 < c.thresholdPercentage) continue;
      const pct = Math.round((failures / executed) * 10000) / 100;
      this.cancelJob(
        ns,
        job,
        {
          force: false,
          reasonCode: 'ABORT_CRITERIA_MET',
          comment: `Aborted: ${failures} of ${executed} executed things (${pct}%) ended ${c.failureType === 'ALL' ? 'FAILED, REJECTED or TIMED_OUT' : c.failureType}, at or above the threshold of ${c.thresholdPercentage}%`,
        },
        out,
      );
      return;
    }
  }

  /** Cancels the job: QUEUED executions (and IN_PROGRESS ones when forced) become CANCELED; the rollout stops. */
  cancelJob(ns: Namespace, job: JobRecord, opts: { force: boolean; reasonCode?: string; comment?: string }, out: Outbox): void {
    const now = this.d.clock();
    job.status = 'CANCELED';
    job.forceCanceled = opts.force;
    job.reasonCode = opts.reasonCode;
    job.comment = opts.comment;
    job.lastUpdatedAt = now;
    job.completedAt = now;
    this.d.store.putJob(ns, job);
    this.d.store.clearQueue(ns, job.jobId);
    this.d.store.setDue(ns, job.jobId, undefined);
    for (const e of this.d.store.executionsOfJob(ns, job.jobId)) {
      if (e.status === 'QUEUED' || (opts.force && e.status === 'IN_PROGRESS')) this.cancelExecution(ns, e, opts.force, out);
    }
    this.jobEvent(ns, job, 'canceled', out);
  }

  cancelExecution(ns: Namespace, e: ExecutionRecord, force: boolean, out: Outbox, statusDetails?: Record<string, string>): void {
    const before = this.snapshot(ns, e.thingName);
    e.status = 'CANCELED';
    e.forceCanceled = force;
    if (statusDetails) e.statusDetails = statusDetails;
    e.versionNumber++;
    e.lastUpdatedAt = this.d.clock();
    this.d.store.putExecution(ns, e);
    this.notifyIfChanged(ns, e.thingName, before, out);
    this.executionEvent(ns, e, 'canceled', out);
  }

  /**
   * A snapshot job whose every thing has a terminal execution, and nothing left to roll out, is
   * COMPLETED; so is a continuous one whose rollout stopped at its scheduled endTime.
   */
  checkCompleted(ns: Namespace, jobId: string, out: Outbox): void {
    const job = this.d.store.job(ns, jobId);
    if (!job || job.status !== 'IN_PROGRESS' || (job.targetSelection !== 'SNAPSHOT' && !job.rolloutStopped)) return;
    if (this.d.store.queuedTargets(ns, jobId) > 0) return;
    if (this.d.store.hasPending(ns, jobId)) return;
    const now = this.d.clock();
    job.status = 'COMPLETED';
    job.completedAt = now;
    job.lastUpdatedAt = now;
    this.d.store.putJob(ns, job);
    this.jobEvent(ns, job, 'completed', out);
  }
}
