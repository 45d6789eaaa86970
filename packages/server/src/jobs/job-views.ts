/**
 * How jobs and executions look to each caller: the control plane's shapes (client-iot, timestamps
 * in fractional epoch seconds, statusDetails under `detailsMap` when there are any) and the devices' shapes (MQTT and
 * iot-jobs-data, whole epoch seconds, a plain statusDetails map, the job document inline).
 */
import type { JobExecution, JobExecutionSummary } from '@thicket/sdk/protocol';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import type { ExecutionState } from './job-errors.js';
import { deadlineOf, type ExecutionRecord, type ExecutionStatus, type JobRecord } from './job-types.js';

const seconds = (ms: number): number => ms / 1000;
const wholeSeconds = (ms: number): number => Math.floor(ms / 1000);

export const jobArn = (ns: Namespace, jobId: string): string => iotArn(ns, `job/${jobId}`);
export const thingArn = (ns: Namespace, thing: string): string => iotArn(ns, `thing/${thing}`);

export type StatusCounts = Record<ExecutionStatus, number>;

export function emptyCounts(): StatusCounts {
  return { QUEUED: 0, IN_PROGRESS: 0, SUCCEEDED: 0, FAILED: 0, TIMED_OUT: 0, REJECTED: 0, REMOVED: 0, CANCELED: 0 };
}

export function processDetails(counts: StatusCounts, processingTargets: string[] | undefined) {
  return {
    processingTargets,
    numberOfCanceledThings: counts.CANCELED,
    numberOfSucceededThings: counts.SUCCEEDED,
    numberOfFailedThings: counts.FAILED,
    numberOfRejectedThings: counts.REJECTED,
    numberOfQueuedThings: counts.QUEUED,
    numberOfInProgressThings: counts.IN_PROGRESS,
    numberOfRemovedThings: counts.REMOVED,
    numberOfTimedOutThings: counts.TIMED_OUT,
  };
}

/** The control plane's Job. `document` members are not part of it (DescribeJob returns the source separately). */
export function jobView(
  ns: Namespace,
  job: JobRecord,
  counts: StatusCounts,
  rollingOut: boolean,
  scheduledJobRollouts?: Array<{ startTime: string }>,
) {
  return {
    jobArn: jobArn(ns, job.jobId),
    jobId: job.jobId,
    targetSelection: job.targetSelection,
    status: job.status,
    forceCanceled: job.forceCanceled,
    reasonCode: job.reasonCode,
    comment: job.comment,
    targets: job.targets,
    description: job.description,
    presignedUrlConfig: job.presignedUrlConfig,
    jobExecutionsRolloutConfig: job.jobExecutionsRolloutConfig,
    abortConfig: job.abortConfig,
    createdAt: seconds(job.createdAt),
    lastUpdatedAt: seconds(job.lastUpdatedAt),
    completedAt: job.completedAt === undefined ? undefined : seconds(job.completedAt),
    jobProcessDetails: processDetails(counts, rollingOut ? job.targets : undefined),
    timeoutConfig: job.timeoutConfig,
    namespaceId: job.namespaceId,
    jobTemplateArn: job.jobTemplateArn,
    jobExecutionsRetryConfig: job.jobExecutionsRetryConfig,
    documentParameters: job.documentParameters,
    isConcurrent: rollingOut,
    schedulingConfig: job.schedulingConfig,
    scheduledJobRollouts,
  };
}

export function jobSummary(ns: Namespace, job: JobRecord, rollingOut: boolean) {
  return {
    jobArn: jobArn(ns, job.jobId),
    jobId: job.jobId,
    targetSelection: job.targetSelection,
    status: job.status,
    createdAt: seconds(job.createdAt),
    lastUpdatedAt: seconds(job.lastUpdatedAt),
    completedAt: job.completedAt === undefined ? undefined : seconds(job.completedAt),
    isConcurrent: rollingOut,
  };
}

function secondsLeft(e: ExecutionRecord, now: number): number | undefined {
  if (e.status !== 'IN_PROGRESS') return undefined;
  const d = deadlineOf(e);
  return d === undefined ? undefined : Math.max(0, Math.round((d - now) / 1000));
}

/** The control plane's JobExecution. */
export function executionView(ns: Namespace, e: ExecutionRecord, now: number) {
  return {
    jobId: e.jobId,
    status: e.status,
    forceCanceled: e.forceCanceled ?? false,
    // AWS answers `"statusDetails": {}` for an execution without details (a QUEUED one), not an empty detailsMap.
    statusDetails: Object.keys(e.statusDetails).length > 0 ? { detailsMap: e.statusDetails } : {},
    thingArn: thingArn(ns, e.thingName),
    queuedAt: seconds(e.queuedAt),
    startedAt: e.startedAt === undefined ? undefined : seconds(e.startedAt),
    lastUpdatedAt: seconds(e.lastUpdatedAt),
    executionNumber: e.executionNumber,
    versionNumber: e.versionNumber,
    approximateSecondsBeforeTimedOut: secondsLeft(e, now),
  };
}

export function executionSummary(e: ExecutionRecord) {
  return {
    status: e.status,
    queuedAt: seconds(e.queuedAt),
    startedAt: e.startedAt === undefined ? undefined : seconds(e.startedAt),
    lastUpdatedAt: seconds(e.lastUpdatedAt),
    executionNumber: e.executionNumber,
    retryAttempt: e.retryAttempt,
  };
}

/** A device's JobExecution (MQTT and iot-jobs-data); `document` is the parsed job document, when it is to be included. */
export function deviceExecution(e: ExecutionRecord, document: unknown, now: number): JobExecution<unknown> {
  return {
    jobId: e.jobId,
    thingName: e.thingName,
    jobDocument: document,
    status: e.status,
    statusDetails: e.statusDetails,
    queuedAt: wholeSeconds(e.queuedAt),
    startedAt: e.startedAt === undefined ? undefined : wholeSeconds(e.startedAt),
    lastUpdatedAt: wholeSeconds(e.lastUpdatedAt),
    approximateSecondsBeforeTimedOut: secondsLeft(e, now),
    versionNumber: e.versionNumber,
    executionNumber: e.executionNumber,
  };
}

export function deviceSummary(e: ExecutionRecord): JobExecutionSummary {
  return {
    jobId: e.jobId,
    queuedAt: wholeSeconds(e.queuedAt),
    startedAt: e.startedAt === undefined ? undefined : wholeSeconds(e.startedAt),
    lastUpdatedAt: wholeSeconds(e.lastUpdatedAt),
    versionNumber: e.versionNumber,
    executionNumber: e.executionNumber,
  };
}

export function executionState(e: ExecutionRecord): ExecutionState {
  return { status: e.status, statusDetails: e.statusDetails, versionNumber: e.versionNumber };
}
