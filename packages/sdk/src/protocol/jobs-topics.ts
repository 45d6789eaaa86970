/**
 * Jobs topics, all under `$aws/things/{thing}/jobs/` (reference dataplane §3.1): the thing-wide
 * requests `get` and `start-next`, the per-execution requests `{jobId}/get` (DescribeJobExecution,
 * `$next` allowed) and `{jobId}/update`, each answered on `/accepted` or `/rejected`, and the
 * notifications `notify` and `notify-next`.
 */
import type { ResponseKind } from './names.js';

/** Requests that address the thing's executions as a whole, and the notifications. */
export type JobsThingOp = 'get' | 'start-next' | 'notify' | 'notify-next';
/** Requests about one execution: `{jobId}/get` is DescribeJobExecution. */
export type JobExecutionOp = 'get' | 'update';

/** What a jobs topic says; `op: 'describe'` is `{jobId}/get`. */
export type JobsTopic =
  | { thingName: string; op: 'get' | 'start-next'; response?: ResponseKind }
  | { thingName: string; op: 'notify' | 'notify-next' }
  | { thingName: string; op: 'describe' | 'update'; jobId: string; response?: ResponseKind };

export const jobsTopicPrefix = (thingName: string): string => `$aws/things/${thingName}/jobs`;

/** `get`, `start-next` (optionally `/accepted|rejected`), `notify`, `notify-next`. */
export function jobsTopic(thingName: string, op: JobsThingOp, response?: ResponseKind): string {
  const base = `${jobsTopicPrefix(thingName)}/${op}`;
  return response && (op === 'get' || op === 'start-next') ? `${base}/${response}` : base;
}

/** `{jobId}/get` or `{jobId}/update`, optionally `/accepted|rejected`; `jobId` may be `$next` for get. */
export function jobExecutionTopic(thingName: string, jobId: string, op: JobExecutionOp, response?: ResponseKind): string {
  const base = `${jobsTopicPrefix(thingName)}/${jobId}/${op}`;
  return response ? `${base}/${response}` : base;
}

/** Filters a jobs service subscribes to for requests (the answers are on the same topics plus a suffix). */
export const JOBS_REQUEST_FILTERS: readonly string[] = [
  '$aws/things/+/jobs/get',
  '$aws/things/+/jobs/start-next',
  '$aws/things/+/jobs/+/get',
  '$aws/things/+/jobs/+/update',
];

/** The thing of any topic under `$aws/things/{thing}/jobs/`, valid operation or not. */
export function jobsTopicThing(topic: string): string | undefined {
  const parts = topic.split('/');
  return parts[0] === '$aws' && parts[1] === 'things' && parts[3] === 'jobs' && parts[2] && parts.length > 4 ? parts[2] : undefined;
}

const isResponse = (s: string | undefined): s is ResponseKind => s === 'accepted' || s === 'rejected';

/**
 * Parses a jobs API topic; undefined for anything else, including topics under `jobs/` that name no
 * operation (a service answers those with `InvalidTopic`; `jobsTopicThing` still finds their thing).
 */
export function parseJobsTopic(topic: string): JobsTopic | undefined {
  const thingName = jobsTopicThing(topic);
  if (thingName === undefined) return undefined;
  const rest = topic.split('/').slice(4);
  const [a, b, c] = rest;
  if (rest.length === 1 && (a === 'notify' || a === 'notify-next')) return { thingName, op: a };
  if ((a === 'get' || a === 'start-next') && (rest.length === 1 || (rest.length === 2 && isResponse(b)))) {
    return rest.length === 1 ? { thingName, op: a } : { thingName, op: a, response: b as ResponseKind };
  }
  if (a && (b === 'get' || b === 'update') && (rest.length === 2 || (rest.length === 3 && isResponse(c)))) {
    const op = b === 'get' ? 'describe' : 'update';
    return rest.length === 2 ? { thingName, op, jobId: a } : { thingName, op, jobId: a, response: c as ResponseKind };
  }
  return undefined;
}
