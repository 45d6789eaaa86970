/**
 * What happens around a change of an execution: the devices' `notify` and `notify-next` messages
 * when the thing's pending list changes, job execution events, retries of failed and timed-out
 * attempts, abort criteria, the cancellation of a job and the completion of snapshot jobs.
 *
 * Every change is a conditional write (the row must still hold what was read): a method that
 * writes answers false when it lost to another writer, having written nothing, and its caller reads
 * again and decides anew (`untilApplied`). Messages are queued in an Outbox only once the write they
 * tell of has landed, and sent in that order.
 */
import type { Namespace } from '../accounts/namespace.js';
import type { RegistryEvents } from '../registry/events.js';
import { keyOf } from '../store/held-rows.js';
import { KeyedRecheck } from './in-order.js';
import { untilApplied, type JobStore } from './job-store.js';
import { isTerminal, type ExecutionRecord, type ExecutionStatus, type JobRecord } from './job-types.js';
import { deviceExecution, deviceSummary, processDetails, thingArn } from './job-views.js';

export type JobPublish = (ns: Namespace, topic: string, payload: Record<string, unknown>) => void;

/** Messages and events of writes that have landed, sent in the order they were queued. */
export class Outbox {
  private readonly items: Array<() => void | Promise<void>> = [];
  add(fn: () => void | Promise<void>): void {
    this.items.push(fn);
  }
  async flush(): Promise<void> {
    for (const fn of this.items.splice(0)) {
      // Most messages are sent synchronously; only those that await (a document to sign) are awaited.
      const sending = fn();
      if (sending) await sending;
    }
  }
}

/** Runs `fn` with an outbox that is sent when it ends, also when it fails: what it holds tells of writes that landed. */
export async function withOutbox<T>(fn: (out: Outbox) => Promise<T>): Promise<T> {
  const out = new Outbox();
  try {
    return await fn(out);
  } finally {
    await out.flush();
  }
}

/** The pending list of a thing as the devices see it: which executions, in which state, which is next. */
export interface PendingSnapshot {
  list: string;
  next: string;
}

/** AWS's ListNotification holds at most 15 pending executions. */
const NOTIFY_LIMIT = 15;

export interface LifecycleDeps {
  store: JobStore;
  events: RegistryEvents;
  publish: JobPublish;
  /** The job document a device receives (parameters filled, file URLs signed), parsed. */
  documentFor(ns: Namespace, job: JobRecord): Promise<unknown>;
  clock: () => number;
}

export interface CancelOptions {
  force: boolean;
  reasonCode?: string;
  comment?: string;
}

/** IN_PROGRESS first, then QUEUED, each oldest first (AWS's order for notify and $next). */
export function ordered(pending: ExecutionRecord[]): ExecutionRecord[] {
  return [...pending.filter((e) => e.status === 'IN_PROGRESS'), ...pending.filter((e) => e.status === 'QUEUED')];
}

function snapshotOf(pending: ExecutionRecord[]): PendingSnapshot {
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

export class JobLifecycle {
  private readonly completions = new KeyedRecheck();

  constructor(private readonly d: LifecycleDeps) {}

  async snapshot(ns: Namespace, thingName: string): Promise<PendingSnapshot> {
    return snapshotOf(ordered(await this.d.store.pendingOfThing(ns, thingName)));
  }

  /** The snapshot of a pending list read already (pendingOfThings). */
  snapshotOfPending(pending: ExecutionRecord[]): PendingSnapshot {
    return snapshotOf(ordered(pending));
  }

  /**
   * Queues `notify` / `notify-next` for the thing if its pending list or next execution changed since
   * `before`; `current` is its pending list when the caller has read it already (pendingOfThings).
   */
  async notifyIfChanged(
    ns: Namespace,
    thingName: string,
    before: PendingSnapshot,
    out: Outbox,
    current?: ExecutionRecord[],
  ): Promise<void> {
    const pending = ordered(current ?? (await this.d.store.pendingOfThing(ns, thingName)));
    const after = snapshotOf(pending);
    if (after.list === before.list && after.next === before.next) return;
    const now = this.d.clock();
    const timestamp = Math.floor(now / 1000);
    const prefix = `$aws/things/${thingName}/jobs`;
    if (after.list !== before.list) {
      const jobs: Record<string, unknown[]> = {};
      for (const e of pending.slice(0, NOTIFY_LIMIT)) (jobs[e.status] ??= []).push(deviceSummary(e));
      out.add(() => this.d.publish(ns, `${prefix}/notify`, { timestamp, jobs }));
    }
    if (after.next !== before.next) {
      const next = pending[0];
      const job = next && this.d.store.peekJob(ns, next.jobId);
      // The document is made when the message is sent: signing its file URLs never undoes a state change.
      out.add(async () => {
        const payload: Record<string, unknown> = { timestamp };
        if (next && job) {
          let document: unknown;
          try {
            document = await this.d.documentFor(ns, job);
          } catch {
            // Only a file deleted since CreateJob gets here; the device still learns what is next.
          }
          payload.execution = deviceExecution(next, document, now);
        }
        this.d.publish(ns, `${prefix}/notify-next`, payload);
      });
    }
  }

  /** A new QUEUED execution of a job for a thing: the first, the next after `latest`, or a retry of it. */
  newExecution(job: JobRecord, thingName: string, latest: ExecutionRecord | undefined, retry = false): ExecutionRecord {
    const now = this.d.clock();
    return {
      jobId: job.jobId,
      thingName,
      executionNumber: (latest?.executionNumber ?? 0) + 1,
      status: 'QUEUED',
      statusDetails: {},
      versionNumber: 1,
      queuedAt: now,
      lastUpdatedAt: now,
      retryAttempt: retry && latest ? latest.retryAttempt + 1 : 0,
      // Given by the database as the execution is inserted.
      seq: 0,
    };
  }

  /**
   * Writes an execution read from the store and changed, then does what follows from it:
   * notifications, events, a retry, the job's abort criteria and completion. False, having written
   * nothing, when the execution changed meanwhile.
   */
  async changed(ns: Namespace, e: ExecutionRecord, before: PendingSnapshot, out: Outbox): Promise<boolean> {
    const terminal = isTerminal(e.status);
    const job = terminal ? this.d.store.peekJob(ns, e.jobId) : undefined;
    // A retry is written with the change, before the devices are told: they never see a moment without it.
    const retry = job?.status === 'IN_PROGRESS' ? await this.retryOf(ns, job, e) : undefined;
    if (!(await this.d.store.updateExecution(ns, e, retry))) return false;
    await this.notifyIfChanged(ns, e.thingName, before, out);
    if (!terminal) return true;
    this.executionEvent(ns, e, e.status.toLowerCase(), out);
    if (!job || retry) return true;
    if (job.status === 'IN_PROGRESS') await this.checkAbort(ns, job.jobId, out);
    await this.checkCompleted(ns, e.jobId, out);
    return true;
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

  /** The job event as the job stands now (its counters read now), to queue. */
  async jobEvent(ns: Namespace, job: JobRecord, operation: string): Promise<() => void> {
    const counts = await this.d.store.countLatest(ns, job.jobId);
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
    return () => this.d.events.emit(ns, 'JOB', `$aws/events/job/${job.jobId}/${operation}`, body);
  }

  /** The next attempt of a FAILED or TIMED_OUT execution, while the job's retry criteria allow one. */
  private async retryOf(ns: Namespace, job: JobRecord, e: ExecutionRecord): Promise<ExecutionRecord | undefined> {
    if (e.status !== 'FAILED' && e.status !== 'TIMED_OUT') return undefined;
    const list = job.jobExecutionsRetryConfig?.criteriaList ?? [];
    const criterion = list.find((c) => c.failureType === e.status) ?? list.find((c) => c.failureType === 'ALL');
    if (!criterion) return undefined;
    const counted: ExecutionStatus[] = criterion.failureType === 'ALL' ? ['FAILED', 'TIMED_OUT'] : [criterion.failureType];
    const attempts = await this.d.store.attempts(ns, job.jobId, e.thingName);
    // Each earlier attempt that ended this way was retried once already.
    const used = attempts.filter((x) => x.executionNumber < e.executionNumber && counted.includes(x.status)).length;
    if (used >= criterion.numberOfRetries) return undefined;
    return this.newExecution(job, e.thingName, e, true);
  }

  private async checkAbort(ns: Namespace, jobId: string, out: Outbox): Promise<void> {
    await untilApplied(`Job ${jobId}`, async () => {
      // Read without a copy: most jobs have no abort criteria, and this runs whenever an execution ends.
      const held = this.d.store.peekJob(ns, jobId);
      const criteria = held?.abortConfig?.criteriaList;
      if (!held || held.status !== 'IN_PROGRESS' || !criteria?.length) return true;
      const job = this.d.store.job(ns, jobId)!;
      const counts = await this.d.store.countLatest(ns, jobId);
      const executed = counts.SUCCEEDED + counts.FAILED + counts.REJECTED + counts.TIMED_OUT;
      for (const c of criteria) {
        if (executed < c.minNumberOfExecutedThings) continue;
        const failures = c.failureType === 'ALL' ? counts.FAILED + counts.REJECTED + counts.TIMED_OUT : counts[c.failureType];
        // A threshold of 0% would otherwise cancel a job on its first success: aborting needs a failure.
        if (failures === 0 || (failures / executed) * 100 < c.thresholdPercentage) continue;
        const pct = Math.round((failures / executed) * 10000) / 100;
        const ended = c.failureType === 'ALL' ? 'FAILED, REJECTED or TIMED_OUT' : c.failureType;
        return this.cancelJob(
          ns,
          job,
          {
            force: false,
            reasonCode: 'ABORT_CRITERIA_MET',
            comment: `Aborted: ${failures} of ${executed} executed things (${pct}%) ended ${ended}, at or above the threshold of ${c.thresholdPercentage}%`,
          },
          out,
        );
      }
      return true;
    });
  }

  /**
   * Cancels the job (read from the store): QUEUED executions (and IN_PROGRESS ones when forced)
   * become CANCELED, the rollout and the schedule stop. False, having written nothing, when the job
   * changed meanwhile.
   */
  async cancelJob(ns: Namespace, job: JobRecord, opts: CancelOptions, out: Outbox): Promise<boolean> {
    const now = this.d.clock();
    const cancelable = (e: ExecutionRecord): boolean => e.status === 'QUEUED' || (opts.force && e.status === 'IN_PROGRESS');
    const executions = (await this.d.store.executionsOfJob(ns, job.jobId)).filter(cancelable);
    const before = new Map<string, PendingSnapshot>();
    for (const e of executions) before.set(e.thingName, await this.snapshot(ns, e.thingName));
    job.status = 'CANCELED';
    job.forceCanceled = opts.force;
    job.reasonCode = opts.reasonCode;
    job.comment = opts.comment;
    job.lastUpdatedAt = now;
    job.completedAt = now;
    for (const e of executions) canceled(e, opts.force, now);
    const written = await this.d.store.changeJob(ns, job, { clearQueue: true, due: null, update: executions });
    if (!written) return false;
    for (const [i, e] of executions.entries()) {
      if (written.updated[i]) {
        await this.notifyIfChanged(ns, e.thingName, before.get(e.thingName)!, out);
        this.executionEvent(ns, e, 'canceled', out);
        continue;
      }
      // A device changed it meanwhile: it is read again, and canceled if it still may be.
      await untilApplied('The job execution', async () => {
        const current = await this.d.store.execution(ns, e.jobId, e.thingName, e.executionNumber);
        return !current || !cancelable(current) || this.cancelExecution(ns, current, opts.force, out);
      });
    }
    out.add(await this.jobEvent(ns, job, 'canceled'));
    return true;
  }

  /** Cancels an execution read from the store; false, having written nothing, when it changed meanwhile. */
  async cancelExecution(
    ns: Namespace,
    e: ExecutionRecord,
    force: boolean,
    out: Outbox,
    statusDetails?: Record<string, string>,
  ): Promise<boolean> {
    const before = await this.snapshot(ns, e.thingName);
    canceled(e, force, this.d.clock(), statusDetails);
    if (!(await this.d.store.updateExecution(ns, e))) return false;
    await this.notifyIfChanged(ns, e.thingName, before, out);
    this.executionEvent(ns, e, 'canceled', out);
    return true;
  }

  /**
   * A snapshot job whose every thing has a terminal execution, and nothing left to roll out, is
   * COMPLETED; so is a continuous one whose rollout stopped at its scheduled endTime.
   */
  checkCompleted(ns: Namespace, jobId: string, out: Outbox): Promise<void> {
    return this.completions.run(keyOf(ns, jobId), () => this.completeIfDone(ns, jobId, out));
  }

  private async completeIfDone(ns: Namespace, jobId: string, out: Outbox): Promise<void> {
    await untilApplied(`Job ${jobId}`, async () => {
      const completable = (job: Readonly<JobRecord> | undefined): boolean =>
        job?.status === 'IN_PROGRESS' && (job.targetSelection === 'SNAPSHOT' || job.rolloutStopped === true);
      // Read without a copy first: this runs whenever an execution ends, and seldom completes the job.
      if (!completable(this.d.store.peekJob(ns, jobId))) return true;
      if (await this.d.store.unfinished(ns, jobId)) return true;
      const job = this.d.store.job(ns, jobId);
      if (!job || !completable(job)) return true;
      const now = this.d.clock();
      job.status = 'COMPLETED';
      job.completedAt = now;
      job.lastUpdatedAt = now;
      if (!(await this.d.store.changeJob(ns, job))) return false;
      out.add(await this.jobEvent(ns, job, 'completed'));
      return true;
    });
  }
}

function canceled(e: ExecutionRecord, force: boolean, now: number, statusDetails?: Record<string, string>): void {
  e.status = 'CANCELED';
  e.forceCanceled = force;
  if (statusDetails) e.statusDetails = statusDetails;
  e.versionNumber++;
  e.lastUpdatedAt = now;
}
