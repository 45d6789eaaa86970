/**
 * The Jobs service's records (reference controlplane §5, dataplane §3): a job with its
 * configuration, and one execution per target thing and attempt. Times are epoch milliseconds
 * inside Thicket; each API converts them (control plane: fractional seconds, devices: whole seconds).
 */

export const EXECUTION_STATUSES = ['QUEUED', 'IN_PROGRESS', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export const TERMINAL: ReadonlySet<ExecutionStatus> = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'REJECTED', 'REMOVED', 'CANCELED']);
export const isTerminal = (s: ExecutionStatus): boolean => TERMINAL.has(s);

export const JOB_STATUSES = ['IN_PROGRESS', 'CANCELED', 'COMPLETED', 'DELETION_IN_PROGRESS', 'SCHEDULED'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export type TargetSelection = 'SNAPSHOT' | 'CONTINUOUS';

export interface RateIncreaseCriteria {
  numberOfNotifiedThings?: number;
  numberOfSucceededThings?: number;
}

export interface RolloutConfig {
  maximumPerMinute?: number;
  exponentialRate?: { baseRatePerMinute: number; incrementFactor: number; rateIncreaseCriteria: RateIncreaseCriteria };
}

export type AbortFailureType = 'FAILED' | 'REJECTED' | 'TIMED_OUT' | 'ALL';
export interface AbortCriteria {
  failureType: AbortFailureType;
  action: 'CANCEL';
  thresholdPercentage: number;
  minNumberOfExecutedThings: number;
}

export type RetryFailureType = 'FAILED' | 'TIMED_OUT' | 'ALL';
export interface RetryCriteria {
  failureType: RetryFailureType;
  numberOfRetries: number;
}

export const END_BEHAVIORS = ['STOP_ROLLOUT', 'CANCEL', 'FORCE_CANCEL'] as const;
export type JobEndBehavior = (typeof END_BEHAVIORS)[number];

/** A recurring window, `startTime` an AWS cron expression (UTC), in which the rollout may notify things. */
export interface MaintenanceWindow {
  startTime: string;
  durationInMinutes: number;
}

/** As CreateJob gives it: times are the strings given (`YYYY-MM-DDTHH:MM`, UTC), echoed by DescribeJob. */
export interface SchedulingConfig {
  startTime?: string;
  endTime?: string;
  endBehavior?: JobEndBehavior;
  maintenanceWindows?: MaintenanceWindow[];
}

/** What CreateJob (or a template) configures; UpdateJob may change the optional parts. */
export interface JobConfig {
  description?: string;
  /** The job document as given (JSON text), before any substitution. */
  document: string;
  documentSource?: string;
  targets: string[];
  targetSelection: TargetSelection;
  presignedUrlConfig?: { roleArn?: string; expiresInSec?: number };
  jobExecutionsRolloutConfig?: RolloutConfig;
  abortConfig?: { criteriaList: AbortCriteria[] };
  timeoutConfig?: { inProgressTimeoutInMinutes?: number };
  jobExecutionsRetryConfig?: { criteriaList: RetryCriteria[] };
  documentParameters?: Record<string, string>;
  jobTemplateArn?: string;
  namespaceId?: string;
  schedulingConfig?: SchedulingConfig;
}

export interface JobRecord extends JobConfig {
  jobId: string;
  status: JobStatus;
  createdAt: number;
  lastUpdatedAt: number;
  completedAt?: number;
  forceCanceled?: boolean;
  reasonCode?: string;
  comment?: string;
  /** Executions created so far (the rollout counts them for its rate increases). */
  notified: number;
  /** schedulingConfig's startTime and endTime in epoch ms. */
  startAt?: number;
  endAt?: number;
  /** The endTime passed with endBehavior STOP_ROLLOUT: no thing gets a new execution. */
  rolloutStopped?: boolean;
}

export interface ExecutionRecord {
  jobId: string;
  thingName: string;
  executionNumber: number;
  status: ExecutionStatus;
  statusDetails: Record<string, string>;
  versionNumber: number;
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  /** Retries of this thing's execution so far (0 for the first attempt). */
  retryAttempt: number;
  forceCanceled?: boolean;
  /** When the step timer (stepTimeoutInMinutes) runs out; undefined without one. */
  stepDeadline?: number;
  /** When the job's inProgressTimeoutInMinutes runs out; undefined without one. */
  inProgressDeadline?: number;
  /** Creation order across the thing's executions (pending lists are ordered by it). */
  seq: number;
}

/** The earlier of the two timers, when the execution has any. */
export function deadlineOf(e: Pick<ExecutionRecord, 'stepDeadline' | 'inProgressDeadline'>): number | undefined {
  const { stepDeadline: s, inProgressDeadline: p } = e;
  if (s === undefined) return p;
  if (p === undefined) return s;
  return Math.min(s, p);
}
