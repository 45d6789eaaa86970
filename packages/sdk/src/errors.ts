/** The errors the SDK rejects with; each carries what a caller needs to decide what to do next. */
import type { JobExecutionState, ShadowErrorDocument, JobsErrorResponse, ProvisioningErrorResponse } from './protocol/index.js';

export class ThicketSdkError extends Error {
  override name = 'ThicketSdkError';
}

/** A QoS 0 publish or a request was made while the client is not connected. */
export class NotConnectedError extends ThicketSdkError {
  override name = 'NotConnectedError';
}

/** The client was closed before the operation finished. Queued messages stay in the queue file. */
export class ClientClosedError extends ThicketSdkError {
  override name = 'ClientClosedError';
}

/** The offline queue is full and its drop policy is `reject` (or the message alone exceeds the byte bound). */
export class QueueFullError extends ThicketSdkError {
  override name = 'QueueFullError';
}

/** A queued message was dropped by the drop policy (`drop-oldest` evicted it, or `drop-newest` refused it). */
export class MessageDroppedError extends ThicketSdkError {
  override name = 'MessageDroppedError';
  constructor(
    message: string,
    readonly policy: 'drop-oldest' | 'drop-newest',
  ) {
    super(message);
  }
}

/** The broker refused a publish (MQTT 5 PUBACK reason code ≥ 0x80, such as 0x87 not authorized). */
export class PublishRejectedError extends ThicketSdkError {
  override name = 'PublishRejectedError';
  constructor(
    message: string,
    readonly reasonCode: number,
  ) {
    super(message);
  }
}

/** The broker refused a subscription (SUBACK 0x80 or an MQTT 5 reason code ≥ 0x80). */
export class SubscribeRejectedError extends ThicketSdkError {
  override name = 'SubscribeRejectedError';
  constructor(
    readonly filter: string,
    readonly reasonCode: number,
  ) {
    super(`subscription to ${filter} refused with reason code 0x${reasonCode.toString(16)}`);
  }
}

/** No answer with the request's clientToken arrived in time. */
export class RequestTimeoutError extends ThicketSdkError {
  override name = 'RequestTimeoutError';
  constructor(
    readonly topic: string,
    readonly clientToken: string | undefined,
    readonly timeoutMs: number,
  ) {
    super(`no answer to ${topic}${clientToken ? ` (clientToken ${clientToken})` : ''} within ${timeoutMs} ms`);
  }
}

/** A shadow request answered on `/rejected`: AWS's error document. */
export class ShadowRejectedError extends ThicketSdkError implements ShadowErrorDocument {
  override name = 'ShadowRejectedError';
  readonly code: number;
  readonly clientToken?: string;
  readonly timestamp?: number;
  constructor(readonly document: ShadowErrorDocument) {
    super(`${document.code}: ${document.message}`);
    this.code = document.code;
    this.message = document.message;
    this.clientToken = document.clientToken;
    this.timestamp = document.timestamp;
  }
}

/** A jobs request answered on `/rejected`. */
export class JobsRejectedError extends ThicketSdkError {
  override name = 'JobsRejectedError';
  readonly code: string;
  readonly clientToken?: string;
  readonly executionState?: JobExecutionState;
  constructor(readonly document: JobsErrorResponse) {
    super(`${document.code}: ${document.message}`);
    this.code = document.code;
    this.message = document.message;
    this.clientToken = document.clientToken;
    this.executionState = document.executionState;
  }
}

/** A fleet provisioning request answered on `/rejected`. */
export class ProvisioningRejectedError extends ThicketSdkError implements ProvisioningErrorResponse {
  override name = 'ProvisioningRejectedError';
  readonly statusCode: number;
  readonly errorCode: string;
  readonly errorMessage: string;
  constructor(document: ProvisioningErrorResponse) {
    super(`${document.statusCode} ${document.errorCode}: ${document.errorMessage}`);
    this.statusCode = document.statusCode;
    this.errorCode = document.errorCode;
    this.errorMessage = document.errorMessage;
  }
}

export type OtaFailure = 'invalid-document' | 'download-failed' | 'size-mismatch' | 'sha256-mismatch' | 'install-failed';

/** An OTA job failed; the job's statusDetails carry `reason` (this code) and the message. */
export class OtaError extends ThicketSdkError {
  override name = 'OtaError';
  constructor(
    readonly reason: OtaFailure,
    message: string,
  ) {
    super(message);
  }
}
