// The public shapes of the evaluation API: what the engine passes in and gets back.
import type { SqlFunctionError } from './errors.js';

/** One incoming message, as the rules engine sees it. */
export interface SqlMessage {
  /** The topic `topic()` works on (for Basic Ingest, already without `$aws/rules/<rule>/`). */
  topic: string;
  /** The payload bytes (a string is taken as its UTF-8 bytes). */
  payload: Uint8Array | string;
  clientId?: string;
  principal?: string;
  accountId?: string;
  sourceIp?: string;
  traceId?: string;
  /** Epoch milliseconds for `timestamp()`; the evaluation time when absent. */
  timestamp?: number;
  /** MQTT 5 PUBLISH properties. */
  properties?: MqttProperties;
}

export interface MqttProperties {
  payloadFormatIndicator?: number | boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array | string;
  /** mqtt.js shape: key -> value or values; pairs are accepted too. */
  userProperties?: Record<string, string | string[]> | [string, string][];
}

/** Resolves the external functions (get_thing_shadow, aws_lambda, get_dynamodb, get_secret, ...). */
export interface SqlHost {
  /** `name` is lower case; `args` are the evaluated arguments as JSON-like values. Throw to fail the call. */
  call(name: string, args: unknown[], message: SqlMessage): unknown;
}

export interface EvaluationResult {
  /** WHERE evaluated to Boolean true (or there is no WHERE). Actions run only then. */
  matched: boolean;
  /**
   * 'object' for a SELECT list, 'value' for SELECT VALUE, 'binary' for SELECT * over a non-JSON payload,
   * 'undefined' when SELECT VALUE (or a non-matching statement) produced nothing.
   */
  kind: 'object' | 'value' | 'binary' | 'undefined';
  /** The outgoing JSON value (undefined when not matched or Undefined). */
  output: unknown;
  /** The raw payload bytes for kind 'binary'. */
  binary: Uint8Array | undefined;
  /** Runtime function failures; the engine should trigger the rule's error action when non-empty. */
  errors: SqlFunctionError[];
  /** SET variables, visible to substitution templates. */
  variables: Record<string, unknown>;
}
