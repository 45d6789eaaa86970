/**
 * The device side of Jobs (reference dataplane §3): GetPendingJobExecutions,
 * StartNextPendingJobExecution, DescribeJobExecution and UpdateJobExecution, the same functions for
 * MQTT and the iot-jobs-data HTTP API. Errors are JobErrors with the MQTT codes.
 */
import type { Namespace } from '../accounts/namespace.js';
import { AwsError } from '../aws/errors.js';
import { JobError } from './job-errors.js';
import { Outbox, type JobLifecycle } from './job-lifecycle.js';
import type { JobStore } from './job-store.js';
import { EXECUTION_STATUSES, isTerminal, type ExecutionRecord, type ExecutionStatus, type JobRecord } from './job-types.js';
import { deviceExecution, deviceSummary, executionState } from './job-views.js';
import { checkStatusDetails } from './job-config.js';

const DEVICE_TARGETS: ReadonlySet<ExecutionStatus> = new Set(['IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'REJECTED']);

export interface DeviceJobsDeps {
  store: JobStore;
  lifecycle: JobLifecycle;
  documentFor(ns: Namespace, job: JobRecord): unknown;
  clock: () => number;
  /** Times out executions whose deadline passed (JobsService.expireDue), before a request is served. */
  expireDue?: () => void;
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

  private document(ns: Namespace, e: ExecutionRecord): unknown {
    const job = this.d.store.job(ns, e.jobId);
    return job ? this.d.documentFor(ns, job) : undefined;
  }

  /**
   * The document for an answer to a change that has committed: if it cannot be made (a file it
   * names was deleted), the answer goes without it rather than telling the device its change failed.
   */
  private documentAfterCommit(ns: Namespace, e: ExecutionRecord): unknown {
    try {
      return this.document(ns, e);
    } catch {
      return undefined;
    }
  }

  getPending(ns: Namespace, thingName: string) {
    this.d.expireDue?.();
    const pending = this.d.store.pendingOfThing(ns, thingName);
    return {
      inProgressJobs: pending.filter((e) => e.status === 'IN_PROGRESS').map(deviceSummary),
      queuedJobs: pending.filter((e) => e.status === 'QUEUED').map(deviceSummary),
      timestamp: Math.floor(this.now() / 1000),
    };
  }

  private next(ns: Namespace, thingName: string): ExecutionRecord | undefined {
    return this.d.lifecycle.ordered(this.d.store.pendingOfThing(ns, thingName))[0];
  }

  startNext(ns: Namespace, thingName: string, body: Record<string, unknown>) {
    this.d.expireDue?.();
    const details = body.statusDetails === undefined ? undefined : asRequestError(() => checkStatusDetails(body.statusDetails));
    const step = stepTimeout(body.stepTimeoutInMinutes);
    const out = new Outbox(this.d.store);
    const execution = this.d.store.tx(() => {
      const e = this.next(ns, thingName);
      if (!e) return undefined;
      if (e.status === 'QUEUED') {
        const before = this.d.lifecycle.snapshot(ns, thingName);
        this.start(ns, e, step);
        if (details) e.statusDetails = details;
        e.versionNumber++;
        this.d.lifecycle.changed(ns, e, before, out);
      }
      return e;
    });
    out.flush();
    const timestamp = Math.floor(this.now() / 1000);
    return execution
      ? { execution: deviceExecution(execution, this.documentAfterCommit(ns, execution), this.now()), timestamp }
      : { timestamp };
  }

  /** QUEUED → IN_PROGRESS: the start time and the job's in-progress timer. */
  private start(ns: Namespace, e: ExecutionRecord, step: number | null | undefined): void {
    const now = this.now();
    e.status = 'IN_PROGRESS';
    e.startedAt = now;
    e.lastUpdatedAt = now;
    const minutes = this.d.store.job(ns, e.jobId)?.timeoutConfig?.inProgressTimeoutInMinutes;
    if (minutes !== undefined) e.inProgressDeadline = now + minutes * 60_000;
    if (step != null) e.stepDeadline = now + step * 60_000;
  }

  describe(ns: Namespace, thingName: string, jobId: string, body: { executionNumber?: unknown; includeJobDocument?: unknown }) {
    this.d.expireDue?.();
    const n = executionNumber(body.executionNumber);
    const include = flag('includeJobDocument', body.includeJobDocument, true);
    const now = this.now();
    const e = jobId === '$next' ? this.next(ns, thingName) : this.d.store.execution(ns, jobId, thingName, n);
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
    return { execution: deviceExecution(e, include ? this.document(ns, e) : undefined, now), timestamp: Math.floor(now / 1000) };
  }

  update(ns: Namespace, thingName: string, jobId: string, body: Record<string, unknown>) {
    this.d.expireDue?.();
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
    const out = new Outbox(this.d.store);
    const e = this.d.store.tx(() => {
      const e = this.d.store.execution(ns, jobId, thingName, n);
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
      const before = this.d.lifecycle.snapshot(ns, thingName);
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
      this.d.lifecycle.changed(ns, e, before, out);
      return e;
    });
    out.flush();
    return {
      executionState: includeState ? executionState(e) : undefined,
      jobDocument: includeDocument ? this.documentAfterCommit(ns, e) : undefined,
      timestamp: Math.floor(this.now() / 1000),
    };
  }
}
