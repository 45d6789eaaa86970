/**
 * The iot-data message operations (reference controlplane §6, dataplane §1.7 and §5.5): Publish,
 * ListRetainedMessages and GetRetainedMessage, for SigV4 callers and for devices presenting their
 * certificate over HTTPS (policy actions iot:Publish + iot:RetainPublish on `topic/<topic>`,
 * iot:GetRetainedMessage on `topic/<topic>`, iot:ListRetainedMessages on `*`).
 *
 * The topic is one percent-encoded path label for the AWS SDKs (`/topics/a%2Fb`); AWS's own HTTPS
 * examples send it with plain slashes (`/topics/a/b`), so the path is taken whole (`*`) and both
 * arrive as `a/b`. Everything after that decoding is checked as an MQTT topic name, so `%23`/`%2B`
 * (wildcards) and `%00` are refused like `#`, `+` and U+0000 would be.
 */
import type { Broker, Message } from '@thicket/broker';
import { iotArn, mountOf } from '../accounts/namespace.js';
import type { ApiRequest, ApiRoute } from '../api/aws-api.js';
import { decodeToken, encodeToken, pageSize } from '../api/pagination.js';
import { invalidRequest, notFound } from '../aws/errors.js';
import { userPropertiesJson } from './mqtt5-fields.js';
import { publish, publishTopicError } from './publish.js';

/** ListRetainedMessages `maxResults`: 1..200 (API reference). */
const MAX_RESULTS = 200;

function running(broker: () => Broker | undefined): Broker {
  const b = broker();
  if (!b) throw invalidRequest('the broker is not running');
  return b;
}

/** The topic of a `/retainedMessage/{topic}` request, checked as a topic name. */
function retainedTopic(r: ApiRequest, b: Broker): string {
  const topic = r.params['*'] ?? '';
  const err = publishTopicError(topic, b.config);
  if (err) throw invalidRequest(err);
  return topic;
}

/** Index of the first topic after `after` in a topic-sorted list. */
function firstAfter(messages: Message[], after: string): number {
  let lo = 0;
  let hi = messages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (messages[mid]!.topic <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function dataplaneRoutes(broker: () => Broker | undefined): ApiRoute[] {
  return [
    {
      method: 'POST',
      path: '/topics/*',
      service: 'iotdata',
      operation: 'Publish',
      rawBody: true,
      device: true,
      handler: (r) => publish(r, running(broker)),
    },
    {
      method: 'GET',
      path: '/retainedMessage',
      service: 'iotdata',
      operation: 'ListRetainedMessages',
      readOnly: true,
      device: true,
      handler: (r) => {
        r.ctx.authorize('iot:ListRetainedMessages', '*');
        const b = running(broker);
        const size = pageSize(r.query.maxResults, 'maxResults', MAX_RESULTS);
        // The token is the last topic of the previous page: stable while messages come and go.
        const after = decodeToken<string>(r.query.nextToken, 'nextToken');
        if (after !== undefined && typeof after !== 'string') throw invalidRequest('The nextToken is not valid');
        const all = b.retainedMessages(mountOf(r.ctx.ns));
        const start = after === undefined ? 0 : firstAfter(all, after);
        const page = all.slice(start, start + size);
        return {
          retainedTopics: page.map((m) => ({ topic: m.topic, payloadSize: m.payload.length, qos: m.qos, lastModifiedTime: m.createdAt })),
          nextToken: start + size < all.length ? encodeToken(page[page.length - 1]!.topic) : undefined,
        };
      },
    },
    {
      method: 'GET',
      path: '/retainedMessage/*',
      service: 'iotdata',
      operation: 'GetRetainedMessage',
      readOnly: true,
      device: true,
      handler: (r) => {
        const b = running(broker);
        const topic = retainedTopic(r, b);
        r.ctx.authorize('iot:GetRetainedMessage', iotArn(r.ctx.ns, `topic/${topic}`));
        const m = b.retained(mountOf(r.ctx.ns), topic);
        if (!m) throw notFound(`No retained message exists for topic: '${topic}'`);
        return {
          topic: m.topic,
          payload: m.payload.toString('base64'),
          qos: m.qos,
          lastModifiedTime: m.createdAt,
          userProperties: userPropertiesJson(m.properties.userProperties)?.toString('base64'),
        };
      },
    },
  ];
}
