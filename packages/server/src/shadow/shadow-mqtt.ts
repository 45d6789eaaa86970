/**
 * Shadow requests over MQTT: the service subscribes in-process to the request topics of every
 * namespace; answers and errors are ordinary publishes on the `/accepted` and `/rejected` topics, so
 * any authorized subscriber (and later the rules engine) sees them (reference dataplane §2.1).
 * Topic-level authorization (iot:Publish on the request, iot:Receive on the answers) is the
 * broker's, decided by the policy hooks before a request reaches this module.
 *
 * The broker hands a request over synchronously and acknowledges it (PUBACK) without waiting for
 * its answer; the answer follows once the shadow is written. On SQLite, an update to a shadow this
 * node used lately whose thing has no request waiting writes before the handler returns.
 */
import type { Broker, Message } from '@thicket/broker';
import { clientTokenOf, errorDocument, parseTokenRequest, ShadowError } from '@thicket/shadow';
import type { Logger } from 'pino';
import { namespaceOfMount } from '../accounts/namespace.js';
import type { ShadowOperations, ShadowService } from './shadow-service.js';
import { parseRequestTopic, SHADOW_REQUEST_FILTERS, shadowTopicPrefix } from './shadow-topics.js';

/** Serves shadow requests published to the broker; returns the function that stops it. */
export function serveShadowsOverMqtt(broker: Broker, service: ShadowService, log: Logger): () => void {
  const publish = service.publish;
  const handle = (msg: Message, mount: string): Promise<void> | undefined => {
    const request = parseRequestTopic(msg.topic);
    const ns = namespaceOfMount(mount);
    if (!request || !ns) return undefined;
    const prefix = shadowTopicPrefix(request);
    // A `/get` is parsed on arrival, before its names and rate are checked: a malformed one does not count against the rate.
    let malformed: unknown;
    let clientToken: string | undefined;
    if (request.operation === 'get') {
      try {
        ({ clientToken } = parseTokenRequest(msg.payload, service.settings));
      } catch (err) {
        malformed = err;
      }
    }
    // Answered in the request's turn: after every earlier request for the thing, before any later one.
    const answer = async (op: ShadowOperations): Promise<void> => {
      try {
        switch (request.operation) {
          case 'get':
            publish(ns, `${prefix}/get/accepted`, await op.get(clientToken));
            break;
          case 'update':
            await op.update(msg.payload);
            break;
          case 'delete':
            // AWS ignores the content of a delete request apart from its clientToken.
            await op.delete(clientTokenOf(msg.payload, service.settings));
            break;
        }
      } catch (err) {
        let error = err;
        if (!(err instanceof ShadowError)) {
          log.error({ err, topic: msg.topic }, 'shadow request failed');
          error = new ShadowError(500, 'Internal service failure');
        }
        const document = errorDocument(error as ShadowError, Math.floor(Date.now() / 1000), clientTokenOf(msg.payload, service.settings));
        publish(ns, `${prefix}/${request.operation}/rejected`, document);
      }
    };
    const turn = malformed === undefined ? service.inTurn(ns, request, answer) : service.refusedInTurn(ns, request, malformed, answer);
    // The publisher's PUBACK waits for the answer, and so for an update's commit: acknowledged is durable.
    return turn.catch((err: unknown) => log.error({ err, topic: msg.topic }, 'shadow answer failed'));
  };
  const stops = SHADOW_REQUEST_FILTERS.map((f) => broker.subscribeService(f, handle));
  return () => {
    for (const stop of stops) stop();
  };
}
