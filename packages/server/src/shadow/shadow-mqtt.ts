/**
 * Shadow requests over MQTT: the service subscribes in-process to the request topics of every
 * namespace; answers and errors are ordinary publishes on the `/accepted` and `/rejected` topics, so
 * any authorized subscriber (and later the rules engine) sees them (reference dataplane §2.1).
 * Topic-level authorization (iot:Publish on the request, iot:Receive on the answers) is the
 * broker's, decided by the policy hooks before a request reaches this module.
 */
import type { Broker, Message } from '@thicket/broker';
import { clientTokenOf, errorDocument, parseTokenRequest, ShadowError } from '@thicket/shadow';
import type { Logger } from 'pino';
import { namespaceOfMount } from '../accounts/namespace.js';
import type { ShadowService } from './shadow-service.js';
import { parseRequestTopic, SHADOW_REQUEST_FILTERS, shadowTopicPrefix } from './shadow-topics.js';

/** Serves shadow requests published to the broker; returns the function that stops it. */
export function serveShadowsOverMqtt(broker: Broker, service: ShadowService, log: Logger): () => void {
  const publish = service.publish;
  const handle = (msg: Message, mount: string): void => {
    const request = parseRequestTopic(msg.topic);
    const ns = namespaceOfMount(mount);
    if (!request || !ns) return;
    const prefix = shadowTopicPrefix(request);
    try {
      switch (request.operation) {
        case 'get': {
          const { clientToken } = parseTokenRequest(msg.payload, service.settings);
          publish(ns, `${prefix}/get/accepted`, service.get(ns, request, clientToken));
          break;
        }
        case 'update':
          service.update(ns, request, msg.payload);
          break;
        case 'delete':
          // AWS ignores the content of a delete request apart from its clientToken.
          service.delete(ns, request, clientTokenOf(msg.payload, service.settings));
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
  const stops = SHADOW_REQUEST_FILTERS.map((f) => broker.subscribeService(f, handle));
  return () => {
    for (const stop of stops) stop();
  };
}
