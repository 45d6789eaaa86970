/**
 * Fleet provisioning over MQTT (reference dataplane §6): requests on `$aws/certificates/create/{fmt}`,
 * `$aws/certificates/create-from-csr/{fmt}` and `$aws/provisioning-templates/{name}/provision/{fmt}`
 * in JSON or CBOR; the answer, in the request's format, on `.../accepted` or `.../rejected`
 * (`{statusCode, errorCode, errorMessage}`) to the requesting client alone: it carries a private key
 * and an ownership token. Whether the client may publish the request and receive the answer is
 * its policy's decision, as for every topic.
 */
import type { Broker, Message, Publisher } from '@thicket/broker';
import {
  parseProvisioningTopic,
  PROVISIONING_REQUEST_FILTERS,
  type PayloadFormat,
  type ProvisioningErrorResponse,
} from '@thicket/sdk/protocol';
import { decode as decodeCbor, encode as encodeCbor } from 'cbor2';
import type { Logger } from 'pino';
import { mountOf, namespaceOfMount, type Namespace } from '../accounts/namespace.js';
import type { ConnectionAuth } from '../authz/device-authorizer.js';
import type { FleetProvisioning } from './fleet-provisioning.js';
import { ProvisioningError } from './provisioner.js';

type Format = PayloadFormat;

function decode(payload: Buffer, format: Format): Record<string, unknown> {
  if (payload.length === 0) return {};
  let v: unknown;
  try {
    v = format === 'json' ? JSON.parse(payload.toString('utf8')) : decodeCbor(payload);
  } catch {
    throw new ProvisioningError('InvalidPayload', 400, `The request is not valid ${format === 'json' ? 'JSON' : 'CBOR'}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw new ProvisioningError('InvalidPayload', 400, 'The request must be an object');
  return v as Record<string, unknown>;
}

function encode(doc: object, format: Format): Buffer {
  return format === 'json' ? Buffer.from(JSON.stringify(doc)) : Buffer.from(encodeCbor(doc));
}

/** Certificate requests one client may make per minute (a device needs one; a retry loop gets told). */
export const CREATES_PER_MINUTE = 10;

/** Requests per client in the current minute, by mount and client id. */
class PerMinute {
  private minute = 0;
  private counts = new Map<string, number>();

  /** Counts a request; false when the client is over the limit. */
  take(key: string, now = Date.now()): boolean {
    const m = Math.floor(now / 60_000);
    if (m !== this.minute) {
      this.minute = m;
      this.counts = new Map();
    }
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    return n <= CREATES_PER_MINUTE;
  }
}

/** Serves the fleet provisioning topics; returns the function that stops it. */
export function serveProvisioningOverMqtt(broker: Broker, fleet: FleetProvisioning, log: Logger): () => void {
  const answer = async (
    msg: Message,
    ns: Namespace,
    format: Format,
    publisher: Publisher | undefined,
    run: (body: Record<string, unknown>) => Promise<object>,
  ): Promise<void> => {
    const mount = mountOf(ns);
    const reply = (suffix: string, doc: object) => {
      if (msg.origin !== undefined)
        broker.deliverTo(mount, msg.origin, { topic: `${msg.topic}/${suffix}`, payload: encode(doc, format), qos: 1 });
    };
    try {
      reply('accepted', await run(decode(msg.payload, format)));
    } catch (err) {
      let e: ProvisioningError;
      if (err instanceof ProvisioningError) e = err;
      else {
        log.error({ err, topic: msg.topic, clientId: publisher?.clientId }, 'fleet provisioning request failed');
        e = new ProvisioningError('InternalFailure', 500, 'Internal error');
      }
      const rejected: ProvisioningErrorResponse = { statusCode: e.statusCode, errorCode: e.errorCode, errorMessage: e.message };
      reply('rejected', rejected);
    }
  };

  const requester = (publisher: Publisher | undefined, origin: string | undefined) => ({
    clientId: origin ?? '',
    certificateId: (publisher?.context as ConnectionAuth | undefined)?.certificateId,
  });

  const creates = new PerMinute();
  // The PUBACK of a QoS 1 request waits for its answer.
  const onRequest = (msg: Message, mount: string, publisher: Publisher | undefined): Promise<void> | undefined => {
    const t = parseProvisioningTopic(msg.topic);
    const ns = namespaceOfMount(mount);
    if (!t || t.response || !ns) return undefined;
    if (t.op === 'provision') {
      return answer(msg, ns, t.format, publisher, (body) =>
        fleet.registerThing(ns, t.templateName, body, requester(publisher, msg.origin)),
      );
    }
    return answer(msg, ns, t.format, publisher, (body) => {
      if (!creates.take(`${mount}\u0000${msg.origin ?? ''}`)) {
        throw new ProvisioningError('ThrottlingException', 429, `At most ${CREATES_PER_MINUTE} certificate requests per client per minute`);
      }
      return t.op === 'create' ? fleet.createKeysAndCertificate(ns) : fleet.createCertificateFromCsr(ns, body);
    });
  };
  const stops = PROVISIONING_REQUEST_FILTERS.map((filter) => broker.subscribeService(filter, onRequest));
  return () => stops.forEach((s) => s());
}
