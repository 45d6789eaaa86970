/**
 * Errors of the device-side Jobs APIs: one code set (reference dataplane §3.5) that the MQTT API
 * publishes on `/rejected` and the iot-jobs-data HTTP API turns into its exceptions.
 */
import type { JobsErrorCode } from '@thicket/sdk/protocol';
import { AwsError } from '../aws/errors.js';

/** The codes are the protocol module's, shared with the device SDK. */
export type JobErrorCode = JobsErrorCode;

export interface ExecutionState {
  status: string;
  statusDetails: Record<string, string>;
  versionNumber: number;
}

export class JobError extends Error {
  constructor(
    readonly code: JobErrorCode,
    message: string,
    /** Sent with InvalidStateTransition and VersionMismatch, so the device sees where it stands. */
    readonly executionState?: ExecutionState,
  ) {
    super(message);
    this.name = 'JobError';
  }
}

/** The iot-jobs-data exception for each code (the HTTP model has no VersionMismatch: 409 is the closest). */
const HTTP: Record<JobErrorCode, [string, number]> = {
  InvalidTopic: ['InvalidRequestException', 400],
  InvalidJson: ['InvalidRequestException', 400],
  InvalidRequest: ['InvalidRequestException', 400],
  InvalidStateTransition: ['InvalidStateTransitionException', 409],
  VersionMismatch: ['InvalidStateTransitionException', 409],
  ResourceNotFound: ['ResourceNotFoundException', 404],
  // Not ServiceUnavailableException (503), which SDKs retry: a failed request may have done nothing or half.
  InternalError: ['InternalServerException', 500],
  RequestThrottled: ['ThrottlingException', 429],
  TerminalStateReached: ['TerminalStateException', 410],
};

export function toHttpError(err: unknown): unknown {
  if (!(err instanceof JobError)) return err;
  const [name, status] = HTTP[err.code];
  return new AwsError(name, status, err.message);
}
