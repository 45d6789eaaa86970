/** Jobs JSON documents on the device side (reference dataplane §3.2–§3.5). Timestamps are epoch seconds. */

export type JobExecutionStatus = 'QUEUED' | 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'TIMED_OUT' | 'REJECTED' | 'REMOVED' | 'CANCELED';

/** The statuses a device may report. */
export type DeviceJobStatus = 'IN_PROGRESS' | 'SUCCEEDED' | 'FAILED' | 'REJECTED';

export const TERMINAL_JOB_STATUSES: readonly JobExecutionStatus[] = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED'];

/** Values are strings of at most 1024 characters. */
export type StatusDetails = Record<string, string>;

export interface JobExecutionSummary {
  jobId: string;
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  versionNumber: number;
  executionNumber: number;
}

export interface JobExecution<D = Record<string, unknown>> {
  jobId: string;
  thingName: string;
  jobDocument?: D;
  status: JobExecutionStatus;
  statusDetails?: StatusDetails;
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  versionNumber: number;
  executionNumber: number;
  approximateSecondsBeforeTimedOut?: number;
}

export interface JobExecutionState {
  status: JobExecutionStatus;
  statusDetails?: StatusDetails;
  versionNumber: number;
}

/** `jobs/get`. */
export interface GetPendingJobExecutionsRequest {
  clientToken?: string;
}
export interface GetPendingJobExecutionsResponse {
  inProgressJobs: JobExecutionSummary[];
  queuedJobs: JobExecutionSummary[];
  timestamp: number;
  clientToken?: string;
}

/** `jobs/start-next`. */
export interface StartNextPendingJobExecutionRequest {
  statusDetails?: StatusDetails;
  /** 1..10080; the execution times out unless updated within it. */
  stepTimeoutInMinutes?: number;
  clientToken?: string;
}
/** `start-next/accepted` and `{jobId}/get/accepted`; no `execution` when nothing is pending. */
export interface JobExecutionResponse<D = Record<string, unknown>> {
  execution?: JobExecution<D>;
  timestamp: number;
  clientToken?: string;
}

/** `jobs/{jobId}/get` (DescribeJobExecution); `includeJobDocument` defaults to true. */
export interface DescribeJobExecutionRequest {
  executionNumber?: number;
  includeJobDocument?: boolean;
  clientToken?: string;
}

/** `jobs/{jobId}/update`. */
export interface UpdateJobExecutionRequest {
  status: DeviceJobStatus;
  /** Replaces the stored details when given. */
  statusDetails?: StatusDetails;
  /** Rejected with `VersionMismatch` unless the execution has this version. */
  expectedVersion?: number;
  executionNumber?: number;
  includeJobExecutionState?: boolean;
  includeJobDocument?: boolean;
  stepTimeoutInMinutes?: number;
  clientToken?: string;
}
export interface UpdateJobExecutionResponse<D = Record<string, unknown>> {
  executionState?: JobExecutionState;
  jobDocument?: D;
  timestamp: number;
  clientToken?: string;
}

/** `jobs/notify`: pending executions changed (`jobs` is `{}` when none are pending). */
export interface JobExecutionsChangedEvent {
  jobs: Partial<Record<'IN_PROGRESS' | 'QUEUED', JobExecutionSummary[]>>;
  timestamp: number;
}

/** `jobs/notify-next`: the next execution changed (no `execution` when the queue is empty). */
export interface NextJobExecutionChangedEvent<D = Record<string, unknown>> {
  execution?: JobExecution<D>;
  timestamp: number;
}

export type JobsErrorCode =
  | 'InvalidTopic'
  | 'InvalidJson'
  | 'InvalidRequest'
  | 'InvalidStateTransition'
  | 'ResourceNotFound'
  | 'VersionMismatch'
  | 'InternalError'
  | 'RequestThrottled'
  | 'TerminalStateReached';

/** `.../rejected`; `executionState` only with `InvalidStateTransition` and `VersionMismatch`. */
export interface JobsErrorResponse {
  code: JobsErrorCode | string;
  message: string;
  clientToken?: string;
  timestamp?: number;
  executionState?: JobExecutionState;
}

/** `stepTimeoutInMinutes` range accepted by AWS. */
export const STEP_TIMEOUT_MINUTES = { min: 1, max: 10080 } as const;
/** AWS limits status detail values to this many characters. */
export const MAX_STATUS_DETAIL_CHARS = 1024;
