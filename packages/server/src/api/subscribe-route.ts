/**
 * Thicket's own watch API: `GET /_thicket/subscribe?topic=<filter>` streams the messages published
 * in the caller's namespace as server-sent events, for operators and tools (`thicket shadow get
 * --watch`) that hold an access key rather than a device identity. SigV4 like the rest; read-only
 * keys may watch.
 */
import { parseFilter, type Broker, type Message } from '@thicket/broker';
import { mountOf } from '../accounts/namespace.js';
import { invalidRequest } from '../aws/errors.js';
import { StreamReply, type ApiRoute } from './aws-api.js';

/** Idle streams get a comment line this often, so proxies and clients see the stream alive. */
const HEARTBEAT_MS = 15_000;

/** One event: the topic, the payload as text when it is UTF-8 JSON or text, else base64. */
function event(msg: Message): string {
  const text = msg.payload.toString('utf8');
  const isText = Buffer.byteLength(text) === msg.payload.length && !text.includes('\uFFFD');
  const data = {
    topic: msg.topic,
    qos: msg.qos,
    retain: msg.retain,
    timestamp: Date.now(),
    ...(isText ? { payload: text } : { payloadBase64: msg.payload.toString('base64') }),
  };
  return `event: message\ndata: ${JSON.stringify(data)}\n\n`;
}

export function subscribeRoutes(broker: () => Broker | undefined): ApiRoute[] {
  return [
    {
      method: 'GET',
      path: '/_thicket/subscribe',
      service: 'iot',
      operation: 'Subscribe',
      readOnly: true,
      handler: (r) => {
        const b = broker();
        const filter = r.query.topic;
        if (!filter) throw invalidRequest('topic is required: the topic filter to watch, e.g. $aws/things/lamp/shadow/update/delta');
        if (!b) throw invalidRequest('the broker is not running');
        const parsed = parseFilter(filter, b.config);
        if (typeof parsed === 'string') throw invalidRequest(parsed);
        if (parsed.group !== undefined) throw invalidRequest('shared subscriptions cannot be watched');
        const mount = mountOf(r.ctx.ns);
        return new StreamReply((write) => {
          write(`: watching ${filter}\n\n`);
          const unsubscribe = b.subscribeService(parsed.filter, (msg) => write(event(msg)), mount);
          const heartbeat = setInterval(() => write(': heartbeat\n\n'), HEARTBEAT_MS);
          heartbeat.unref();
          return () => {
            clearInterval(heartbeat);
            unsubscribe();
          };
        });
      },
    },
  ];
}
