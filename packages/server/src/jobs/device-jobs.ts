/**
 * The device side of Jobs (reference dataplane §3): GetPendingJobExecutions,
 * StartNextPendingJobExecution, DescribeJobExecution and UpdateJobExecution, the same functions for
 * MQTT and the iot-jobs-data HTTP API. Errors are JobErrors with the MQTT codes.
 */
import type { Namespace } from '../accounts/namespace.js';
import { AwsError } from '../aws/errors.js';
import { keyOf } from '../store/held-rows.js';
import type { KeyedSerial, Limiter } from './in-order.js';
import { JobError } from './job-errors.js';
import { ordered, withOutbox, type JobLifecycle } from './job-lifecycle.js';
import { untilApplied, type JobStore } from './job-store.js';
import { EXECUTION_STATUSES, deadlineOf, isTerminal, type ExecutionRecord, type ExecutionStatus, type JobRecord } from './job-types.js';
import { deviceExecution, deviceSummary, executionState } from './job-views.js';
import { checkStatusDetails } from './job-config.js';

const DEVICE_TARGETS: ReadonlySet<ExecutionStatus> = new Set(['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED']);

export interface DeviceJobsDeps {
  store: JobStore;
  lifecycle: JobLifecycle;
  documentFor(ns: Namespace, job: JobRecord): Promise<unknown>;
  clock: () => number;
  /**
   * Times out executions whose deadline passed (JobsService.expireDue): asked when a request finds
   * one of its thing's executions past its deadline, before it is served.
   */
  expireDue?: () => Promise<void>;
  /** Orders each thing's requests (JobsService.things); without it `inOrder` runs at once. */
  things?: KeyedSerial;
  /** How many requests are served at once (in their things' order); unlimited when not given. */
  limiter?: Limiter;
}

/** Validation failures of the control-plane helpers become the device API's InvalidRequest. */
function asRequestError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AwsError && err.status === 400) throw new JobError('InvalidRequest', err.message);
    throw err;
  }
}

/** Minutes of a step timer; -1 (AWS: "cancel the step timer") is returned as null. */
function stepTimeout(v: unknown): number | null | undefined {
  if (v === undefined || v === null) return undefined;
  if (v === -1) return null;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 10080) {
    throw new JobError(
      'InvalidRequest',
      `stepTimeoutInMinutes must be a whole number from 1 to 10080, or -1 to cancel the step timer, not ${JSON.stringify(v)}`,
    );
  }
  return v;
}

function flag(name: string, v: unknown, fallback: boolean): boolean {
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new JobError('InvalidRequest', `${name} must be true or false`);
  return v;
}

function executionNumber(v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1)
    throw new JobError('InvalidRequest', `executionNumber must be a positive whole number, not ${JSON.stringify(v)}`);
  return v;
}

export class DeviceJobs {
  constructor(private readonly d: DeviceJobsDeps) {}

  /** The service clock, in epoch ms (answers' timestamps come from it). */
  now(): number {
    return this.d.clock();
  }

  /** Runs a request of the thing after those that came before it (on this node) have been answered. */
  inOrder<T>(ns: Namespace, thingName: string, fn: () => Promise<T>): Promise<T> {
    const { limiter } = this.d;
    const limited = limiter ? () => limiter.run(fn) : fn;
    return this.d.things ? this.d.things.run(keyOf(ns, thingName), limited) : limited();
  }

  private async document(ns: Namespace, e: ExecutionRecord): Promise<unknown> {
    const job = this.d.store.peekJob(ns, e.jobId);
    return job ? this.d.documentFor(ns, job) : undefined;
  }

  /**
   * The document for an answer to a change that has landed: if it cannot be made (a file it names
   * was deleted), the answer goes without it rather than telling the device its change failed.
   */
  private async documentAfterCommit(ns: Namespace, e: ExecutionRecord): Promise<unknown> {
    try {
      return await this.document(ns, e);
    } catch {
      return undefined;
    }
  }

  /**
   * The thing's QUEUED and IN_PROGRESS executions, oldest first. One whose timer ran out is timed out
   * first, so that a device never has an update accepted past its deadline; the timer tick does the
   * same every second for devices that do not ask.
   */
  private async pending(ns: Namespace, thingName: string): Promise<ExecutionRecord[]> {
    const pending = await this.d.store.pendingOfThing(ns, thingName);
    if (!pending.some((e) => this.due(e))) return pending;
    await this.d.expireDue?.();
    return this.d.store.pendingOfThing(ns, thingName);
  }

  private due(e: ExecutionRecord): boolean {
    return this.d.expireDue !== undefined && e.status === 'IN_PROGRESS' && (deadlineOf(e) ?? Infinity) <= this.now();
  }

  async getPending(ns: Namespace, thingName: string) {
    const pending = await this.pending(ns, thingName);
    return {
      inProgressJobs: pending.filter((e) => e.status === 'IN_PROGRESS').map(deviceSummary),
      queuedJobs: pending.filter((e) => e.status === 'QUEUED').map(deviceSummary),
      timestamp: Math.floor(this.now() / 1000),
    };
  }

  private async next(ns: Namespace, thingName: string): Promise<ExecutionRecord | undefined> {
    return ordered(await this.pending(ns, thingName))[0];
  }

  /** One attempt (the latest when `n` is undefined), timed out first if its timer ran out. */
  private async execution(ns: Namespace, thingName: string, jobId: string, n: number | undefined) {
    const e = await this.d.store.execution(ns, jobId, thingName, n);
    if (!e || !this.due(e)) return e;
    await this.d.expireDue?.();
    return this.d.store.execution(ns, jobId, thingName, n);
  }

  async startNext(ns: Namespace, thingName: string, body: Record<string, unknown>) {
    const details = body.statusDetails === undefined ? undefined : asRequestError(() => checkStatusDetails(body.statusDetails));
    const step = stepTimeout(body.stepTimeoutInMinutes);
    const execution = await withOutbox((out) =>
      untilApplied('The job execution', async () => {
        const pending = await this.pending(ns, thingName);
        const e = ordered(pending)[0];
        if (!e) return null;
        if (e.status === 'QUEUED') {
          const before = this.d.lifecycle.snapshotOfPending(pending);
          this.start(ns, e, step);
          if (details) e.statusDetails = details;
          e.versionNumber++;
          if (!(await this.d.lifecycle.changed(ns, e, before, out))) return false;
        }
        return e;
      }),
    );
    const timestamp = Math.floor(this.now() / 1000);
    return execution
      ? { execution: deviceExecution(execution, await this.documentAfterCommit(ns, execution), this.now()), timestamp }
      : { timestamp };
  }

  /** QUEUED → IN_PROGRESS: the start time and the job's in-progress timer. */
  private start(ns: Namespace, e: ExecutionRecord, step: number | null | undefined): void {
    const now = this.now();
    e.status = 'IN_PROGRESS';
    e.startedAt = now;
    e.lastUpdatedAt = now;
    const minutes = this.d.store.peekJob(ns, e.jobId)?.timeoutConfig?.inProgressTimeoutInMinutes;
    if (minutes !== undefined) e.inProgressDeadline = now + minutes * 60_000;
    if (step != null) e.stepDeadline = now + step * 60_000;
  }

  async describe(ns: Namespace, thingName: string, jobId: string, body: { executionNumber?: unknown; includeJobDocument?: unknown }) {
    const n = executionNumber(body.executionNumber);
    const include = flag('includeJobDocument', body.includeJobDocument, true);
    const now = this.now();
    const e = jobId === '$next' ? await this.next(ns, thingName) : await this.execution(ns, thingName, jobId, n);
    // `$next` with nothing pending is answered without an `execution`, as StartNext is: devices ask
    // `$next/get` at start-up (the v1 SDK's startJobNotifications, the FreeRTOS OTA agent) and read
    // an accepted answer without an execution as "no job", not as an error.
    if (!e && jobId === '$next') return { timestamp: Math.floor(now / 1000) };
    if (!e) {
      throw new JobError(
        'ResourceNotFound',
        `Job execution of job ${jobId} on thing ${thingName}${n === undefined ? '' : ` with executionNumber ${n}`} cannot be found`,
      );
    }
    const document = include ? await this.document(ns, e) : undefined;
    return { execution: deviceExecution(e, document, now), timestamp: Math.floor(now / 1000) };
  }

  async update(ns: Namespace, thingName: string, jobId: string, body: Record<string, unknown>) {
    if (typeof body.status !== 'string' || !(EXECUTION_STATUSES as readonly string[]).includes(body.status)) {
      throw new JobError(
        'InvalidRequest',
        `status is required and must be one of ${EXECUTION_STATUSES.join(', ')}${body.status === undefined ? '' : `, not ${JSON.stringify(body.status)}`}`,
      );
    }
    const status = body.status as ExecutionStatus;
    const details = body.statusDetails === undefined ? undefined : asRequestError(() => checkStatusDetails(body.statusDetails));
    const step = stepTimeout(body.stepTimeoutInMinutes);
    const n = executionNumber(body.executionNumber);
    const includeState = flag('includeJobExecutionState', body.includeJobExecutionState, false);
    const includeDocument = flag('includeJobDocument', body.includeJobDocument, false);
    if (body.expectedVersion !== undefined && (typeof body.expectedVersion !== 'number' || !Number.isInteger(body.expectedVersion))) {
      throw new JobError('InvalidRequest', `expectedVersion must be a whole number, not ${JSON.stringify(body.expectedVersion)}`);
    }
    // Conditional on the execution as read: one that changed meanwhile is read again, and then
    // `expectedVersion` (when given) no longer matches — of two updates at one version, one wins.
    const e = await withOutbox((out) =>
      untilApplied('The job execution', async () => {
        // An execution a device updates is nearly always pending: its thing's list, read anyway for
        // the notifications, holds it (only a latest attempt can be pending).
        const pending = await this.pending(ns, thingName);
        const e =
          pending.find((x) => x.jobId === jobId && (n === undefined || x.executionNumber === n)) ??
          (await this.execution(ns, thingName, jobId, n));
        if (!e)
          throw new JobError(
            'ResourceNotFound',
            `Job execution of job ${jobId} on thing ${thingName}${n === undefined ? '' : ` with executionNumber ${n}`} cannot be found`,
          );
        if (body.expectedVersion !== undefined && body.expectedVersion !== e.versionNumber) {
          throw new JobError(
            'VersionMismatch',
            `The job execution is at version ${e.versionNumber}, not ${String(body.expectedVersion)}`,
            executionState(e),
          );
        }
        if (isTerminal(e.status)) {
          throw new JobError(
            'InvalidStateTransition',
            `The job execution is ${e.status}, a terminal state; it cannot become ${status}`,
            executionState(e),
          );
        }
        if (!DEVICE_TARGETS.has(status)) {
          throw new JobError(
            'InvalidStateTransition',
            `A device may set a job execution to IN_PROGRESS, SUCCEEDED, FAILED or REJECTED, not ${status}`,
            executionState(e),
          );
        }
        const before = this.d.lifecycle.snapshotOfPending(pending);
        const now = this.now();
        if (e.status === 'QUEUED' && status === 'IN_PROGRESS') this.start(ns, e, step);
        else if (status === 'IN_PROGRESS' && step !== undefined) e.stepDeadline = step === null ? undefined : now + step * 60_000;
        if (status !== 'IN_PROGRESS') {
          e.stepDeadline = undefined;
          e.inProgressDeadline = undefined;
        }
        e.status = status;
        if (details) e.statusDetails = details;
        e.versionNumber++;
        e.lastUpdatedAt = now;
        return (await this.d.lifecycle.changed(ns, e, before, out)) && e;
      }),
    );
    return {
      executionState: includeState ? executionState(e) : undefined,
      jobDocument: includeDocument ? await this.documentAfterCommit(ns, e) : undefined,
      timestamp: Math.floor(this.now() / 1000),
    };
  }
}
