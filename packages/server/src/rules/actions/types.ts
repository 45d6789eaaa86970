/**
 * What a rule action is to the engine. Each action type (republish, http, lambda, ...) is one
 * ActionKind in its own file, listed once in actions/index.ts: it checks its fields as AWS does and
 * builds the runner that performs it for each message.
 */
import type { Broker, MessageProperties, PublishInput } from '@thicket/broker';
import type { CompiledTemplate, EvaluationResult, SqlMessage } from '@thicket/iot-sql';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Namespace } from '../../accounts/namespace.js';
import { invalidRequest } from '../../aws/errors.js';
import type { HttpDestinations } from '../destinations/destinations.js';
import type { MetricSeries } from './metric-series.js';
import type { NatsServers } from './nats-servers.js';
import type { TableWriter } from '../../telemetry/index.js';

/** Temporary credentials of a role (`expiresAt` in epoch milliseconds). */
export interface RoleCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiresAt: number;
}

/** One message for one action: the rule's output, and what templates need to render. */
export interface ActionMessage {
  ns: Namespace;
  mount: string;
  ruleName: string;
  /** The incoming message as the SQL saw it (for Basic Ingest, `topic` is the part after `$aws/rules/<rule>/`). */
  message: SqlMessage;
  /** The topic the message was published to. */
  publishedTopic: string;
  /** The incoming MQTT 5 properties. */
  properties: MessageProperties;
  /** What the action sends: the SELECT result (JSON text or raw bytes), or the error document for an error action. */
  payload: Buffer;
  /** Whether `payload` is JSON text (an HTTP action's default content type depends on it). */
  json: boolean;
  /** The evaluation; undefined for an error action. */
  result: EvaluationResult | undefined;
  /** Renders a substitution template against the incoming message and the SET variables. */
  render(template: CompiledTemplate): string | Promise<string>;
  /** How many rule actions published the messages that led here (a republish loop is cut off). */
  hops: number;
}

export { ActionError } from './action-error.js';

export interface ActionRunner {
  /** What the action acts on (topic, URL, table, ...), for `failedResource` when the failure does not say. */
  readonly resource: string;
  /** Performs the action; throws (ActionError or any Error) when it failed after its own retries. */
  run(m: ActionMessage): void | Promise<void>;
  /** Releases what the runner holds (connections, timers) when its rule is replaced or deleted. */
  close?(): void;
}

/**
 * The platform services actions use. Each capability an action needs is added here as a field, and
 * given by the rules module (rules/index.ts).
 */
export interface ActionServices {
  broker(): Broker | undefined;
  /**
   * Publishes a message an action produces (republish) so that the rules it reaches know how many
   * rule hops led to it. Returns whether a store commit is pending for it; throws when no broker runs.
   */
  publish(from: ActionMessage, input: PublishInput): boolean;
  /** Topic rule destinations: an http action delivers only under an ENABLED one (none: nothing delivers). */
  destinations?: HttpDestinations;
  /** Temporary credentials acting as `roleArn` when it is a role of the namespace's account (http SigV4). */
  roleCredentials?(ns: Namespace, roleArn: string): RoleCredentials | undefined;
  /** The NATS servers the operator configured (nats action). */
  nats?: NatsServers;
  /** Thicket's file store (s3 action); `replace` overwrites a file of the same name. */
  files?: {
    upload(ns: Namespace, fileName: string, body: Readable, o: { contentType: string; length: number; replace: boolean }): Promise<unknown>;
  };
  /** The series of the cloudwatchMetric action on /metrics. */
  metricSeries?: MetricSeries;
  /** Rule tables: rows of the dynamoDBv2 and timestream actions. */
  tables?: TableWriter;
  /** Invokes a registered function of the namespace (lambda action); resolves to its result, throws why it failed. */
  invokeFunction?(ns: Namespace, functionArn: string, event: unknown): Promise<unknown>;
  log: Logger;
}

/** What building one configured action gets. */
export interface ActionBuild {
  ns: Namespace;
  ruleName: string;
  /** The action's fields, as the caller wrote them. */
  config: Record<string, unknown>;
  /** `topicRulePayload.actions.<n>.member.<key>` (or `...errorAction.<key>`), for validation messages. */
  path: string;
  /** True for the rule's errorAction (its templates may not call external functions). */
  errorAction: boolean;
  /** Compiles a substitution template in the rule's SQL version; throws InvalidRequestException naming the field. */
  template(text: string, field: string): CompiledTemplate;
  services: ActionServices;
}

export interface ActionKind {
  /** The key in the Action object (`republish`). */
  readonly key: string;
  /** The name AWS gives it in error messages' `failedAction` (`RepublishAction`). */
  readonly awsName: string;
  /** Checks the fields (InvalidRequestException naming the field) and builds the runner. Must have no side effect. */
  build(b: ActionBuild): ActionRunner;
  /** Runs once after a rule with this action was created or replaced (an http action creates its destination); must not reject. */
  saved?(b: ActionBuild): void | Promise<void>;
}

// ---- field checks with AWS's validation wording ----

function violation(path: string, value: unknown, constraint: string): never {
  const shown = value === undefined || value === null ? 'null' : `'${typeof value === 'string' ? value : JSON.stringify(value)}'`;
  throw invalidRequest(`1 validation error detected: Value ${shown} at '${path}' failed to satisfy constraint: ${constraint}`);
}

export function requiredString(b: ActionBuild, field: string, max = 2048): string {
  const v = b.config[field];
  if (v === undefined || v === null) violation(`${b.path}.${field}`, v, 'Member must not be null');
  if (typeof v !== 'string') violation(`${b.path}.${field}`, v, 'Member must be a string');
  if (v.length > max) violation(`${b.path}.${field}`, v, `Member must have length less than or equal to ${max}`);
  return v;
}

export function optionalString(b: ActionBuild, field: string, max = 2048): string | undefined {
  const v = b.config[field];
  if (v === undefined || v === null) return undefined;
  return requiredString(b, field, max);
}

export function optionalInteger(b: ActionBuild, field: string, min: number, max: number): number | undefined {
  const v = b.config[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) violation(`${b.path}.${field}`, v, 'Member must be an integer');
  if (v < min) violation(`${b.path}.${field}`, v, `Member must have value greater than or equal to ${min}`);
  if (v > max) violation(`${b.path}.${field}`, v, `Member must have value less than or equal to ${max}`);
  return v;
}

export function optionalBoolean(b: ActionBuild, field: string): boolean | undefined {
  const v = b.config[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') violation(`${b.path}.${field}`, v, 'Member must be a boolean');
  return v;
}

export function optionalObject(b: ActionBuild, field: string): Record<string, unknown> | undefined {
  const v = b.config[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) violation(`${b.path}.${field}`, v, 'Member must be a structure');
  return v as Record<string, unknown>;
}

export function optionalList(b: ActionBuild, field: string, max: number): unknown[] | undefined {
  const v = b.config[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) violation(`${b.path}.${field}`, v, 'Member must be a list');
  if (v.length > max) violation(`${b.path}.${field}`, v, `Member must have length less than or equal to ${max}`);
  return v;
}

/** Fails with AWS's wording for a value outside an enumeration. */
export function oneOf<T extends string>(b: ActionBuild, field: string, allowed: readonly T[]): T | undefined {
  const v = optionalString(b, field);
  if (v === undefined) return undefined;
  if (!allowed.includes(v as T)) violation(`${b.path}.${field}`, v, `Member must satisfy enum value set: [${allowed.join(', ')}]`);
  return v as T;
}

/** A field nested in a structure, checked with the same wording (`headers.userProperties`). */
export function nested(b: ActionBuild, field: string, config: Record<string, unknown>): ActionBuild {
  return { ...b, config, path: `${b.path}.${field}` };
}

export { violation };
