/** The message an error action receives (reference controlplane §4.10), field for field as AWS sends it. */
import type { SqlMessage } from '@thicket/iot-sql';

export interface Failure {
  /** As AWS names actions: `RepublishAction`, `HttpAction`, ... (`SQL` for a function that failed while evaluating). */
  failedAction: string;
  failedResource: string;
  errorMessage: string;
}

export interface ErrorDocument {
  ruleName: string;
  topic: string;
  cloudwatchTraceId: string;
  clientId: string;
  base64OriginalPayload: string;
  failures: Failure[];
}

export function errorDocument(ruleName: string, topic: string, message: SqlMessage, payload: Buffer, failures: Failure[]): ErrorDocument {
  return {
    ruleName,
    topic,
    cloudwatchTraceId: message.traceId ?? '',
    clientId: message.clientId ?? '',
    base64OriginalPayload: payload.toString('base64'),
    failures,
  };
}
