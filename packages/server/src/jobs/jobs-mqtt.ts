/**
 * Jobs over MQTT (reference dataplane §3.1): requests published under `$aws/things/{thing}/jobs/`;
 * answers go to the requesting client alone, whether or not it subscribed, on `.../accepted` or
 * `.../rejected` with its clientToken. `notify` and `notify-next` go through the broker (the
 * lifecycle publishes them). Topic-level authorization is the broker's, as for every publish.
 */
import type { Broker, Message } from '@thicket/broker';
import { isThingName, jobsTopicThing, parseJobsTopic } from '@thicket/sdk/protocol';
import type { Logger } from 'pino';
import { mountOf, namespaceOfMount, type Namespace } from '../accounts/namespace.js';
import { JOB_ID } from './job-config.js';
import { JobError } from './job-errors.js';
import type { DeviceJobs } from './device-jobs.js';

type Request =
  | { op: 'get' | 'start-next' }
  | { op: 'describe' | 'update'; jobId: string }
  /** A topic under jobs/ that names no operation. */
  | { op: 'invalid' };

/** What a topic under `jobs/` asks for; undefined for topics the service itself publishes or answers on. */
function parse(topic: string): Request | undefined {
  const t = parseJobsTopic(topic);
  if (t) {
    if ('jobId' in t) return t.response ? undefined : { op: t.op, jobId: t.jobId };
    if (t.op === 'get' || t.op === 'start-next') return 'response' in t && t.response ? undefined : { op: t.op };
    return undefined;
  }
  const last = topic.slice(topic.lastIndexOf('/') + 1);
  if (last === 'accepted' || last === 'rejected' || last.startsWith('notify-namespace-')) return undefined;
  return { op: 'invalid' };
}

/** The request object, or the InvalidJson error to answer with (parsed once: the clientToken is echoed either way). */
function body(payload: Buffer): Record<string, unknown> | JobError {
  if (payload.length === 0) return {};
  let v: unknown;
  try {
    v = JSON.parse(payload.toString('utf8'));
  } catch {
    return new JobError('InvalidJson', 'The request is not valid UTF-8 JSON');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return new JobError('InvalidJson', 'The request must be a JSON object');
  return v as Record<string, unknown>;
}

/** Serves Jobs requests published to the broker; returns the function that stops it. */
export function serveJobsOverMqtt(broker: Broker, jobs: DeviceJobs, log: Logger): () => void {
  const reply = (ns: Namespace, origin: string | undefined, topic: string, doc: Record<string, unknown>): void => {
    const input = { mount: mountOf(ns), topic, payload: JSON.stringify(doc), qos: 1 as const };
    // Only the requester may see an answer (it may carry presigned URLs): with no session to
    // deliver to (a request published from inside the server), there is nobody to answer.
    if (origin !== undefined) broker.deliverTo(input.mount, origin, input);
  };

  const answer = async (msg: Message, ns: Namespace, thingName: string, request: Request): Promise<void> => {
    const b = body(msg.payload);
    const token = b instanceof JobError || typeof b.clientToken !== 'string' ? undefined : b.clientToken;
    try {
      if (request.op === 'invalid') throw new JobError('InvalidTopic', `${msg.topic} is not a Jobs API topic`);
      if (!isThingName(thingName)) throw new JobError('InvalidRequest', `${thingName} is not a valid thing name`);
      if (b instanceof JobError) throw b;
      let answer: Record<string, unknown>;
      switch (request.op) {
        case 'get':
          answer = await jobs.getPending(ns, thingName);
          break;
        case 'start-next':
          answer = await jobs.startNext(ns, thingName, b);
          break;
        case 'describe':
          if (request.jobId !== '$next' && !JOB_ID.test(request.jobId))
            throw new JobError('InvalidRequest', `${request.jobId} is not a valid job id`);
          answer = await jobs.describe(ns, thingName, request.jobId, b);
          break;
        case 'update':
          if (!JOB_ID.test(request.jobId)) throw new JobError('InvalidRequest', `${request.jobId} is not a valid job id`);
          answer = await jobs.update(ns, thingName, request.jobId, b);
          break;
      }
      if (token !== undefined) answer.clientToken = token;
      reply(ns, msg.origin, `${msg.topic}/accepted`, answer);
    } catch (err) {
      let e = err;
      if (!(err instanceof JobError)) {
        log.error({ err, topic: msg.topic }, 'jobs request failed');
        e = new JobError('InternalError', 'Internal error');
      }
      const je = e as JobError;
      const doc: Record<string, unknown> = { code: je.code, message: je.message, timestamp: Math.floor(jobs.now() / 1000) };
      if (token !== undefined) doc.clientToken = token;
      if (je.executionState) doc.executionState = je.executionState;
      reply(ns, msg.origin, `${msg.topic}/rejected`, doc);
    }
  };

  const handle = (msg: Message, mount: string): Promise<void> | undefined => {
    const thingName = jobsTopicThing(msg.topic);
    const ns = namespaceOfMount(mount);
    if (thingName === undefined || !ns) return undefined;
    const request = parse(msg.topic);
    if (!request) return undefined;
    // Each request waits for the database; a thing's requests are still applied and answered in the
    // order they came. The PUBACK waits for the answer: an acknowledged status update is stored.
    return jobs.inOrder(ns, thingName, () => answer(msg, ns, thingName, request));
  };
  const stop = broker.subscribeService('$aws/things/+/jobs/#', handle);
  return stop;
}
