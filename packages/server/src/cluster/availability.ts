/**
 * What a node refuses while a part it depends on is down, instead of promising what it cannot keep:
 *
 * - PostgreSQL (the broker store cannot commit): new clients are refused with 0x88 (Server
 *   unavailable); clients already connected stay, and their QoS 1/2 acknowledgements wait for the
 *   commit, so nothing is acknowledged that is not durable.
 * - NATS (the cluster link is down): new clients are refused with 0x88, and QoS 1/2 PUBLISH gets
 *   0x97 (MQTT 5; an MQTT 3.1.1 client, which has no negative PUBACK, is disconnected): the message
 *   could not reach the other nodes' subscribers. QoS 0 goes on, at most once as it always is.
 *
 * Both recover by themselves: the checks read the parts' state on every CONNECT and PUBLISH.
 */
import { RC, type AuthResult, type BrokerHooks, type ClientInfo, type ConnectRequest, type QoS } from '@thicket/broker';

export interface Dependencies {
  /** The broker store commits (PostgresStore.healthy). */
  storeUp?(): boolean;
  /** The cluster link is connected (a single node has none). */
  linkUp?(): boolean;
}

/** `hooks` with authenticate and authorizePublish refusing while a dependency is down (changed in place). */
export function refusingWhileDown<H extends BrokerHooks>(hooks: H, deps: Dependencies): H {
  const authenticate = hooks.authenticate.bind(hooks);
  hooks.authenticate = (req: ConnectRequest): AuthResult | Promise<AuthResult> => {
    if (deps.storeUp && !deps.storeUp())
      return { reasonCode: RC.SERVER_UNAVAILABLE, reasonString: 'the database is unreachable; try again later' };
    if (deps.linkUp && !deps.linkUp())
      return { reasonCode: RC.SERVER_UNAVAILABLE, reasonString: 'this node lost its cluster link; try another node or later' };
    return authenticate(req);
  };
  const linkUp = deps.linkUp;
  if (linkUp) {
    const authorize = hooks.authorizePublish?.bind(hooks);
    hooks.authorizePublish = (client: ClientInfo, topic: string, qos: QoS, retain: boolean): number =>
      qos > 0 && !linkUp() ? RC.QUOTA_EXCEEDED : authorize ? authorize(client, topic, qos, retain) : RC.SUCCESS;
  }
  return hooks;
}
