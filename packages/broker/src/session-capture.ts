/**
 * What a persistent session moving to this node from another one is sent while it moves. Until the
 * other node lets go, it stores what matches the session; from then until the session is built here
 * from the copied rows, nothing would. So before the other node is asked to let go, a capture takes
 * the session's plain subscriptions here (in the topic tree, and announced to the cluster as durable
 * interest, so publishers elsewhere wait for this node's confirmation), and keeps what they match in
 * memory. Once the session is installed, what the other node had not seen when it let go (its
 * `seen` numbers, per forwarding node: ClusterLink.forward numbers what it sends) goes to the session
 * in arrival order; what it had seen is already in the copied rows.
 *
 * Nothing the capture holds is acknowledged meanwhile: a publisher on this node waits as for a
 * congested subscriber, and this node's confirmations to the others wait (ClusterLink.holdConfirmations)
 * until what was drained is stored.
 */
import type { QoS } from './codec/packets.js';
import type { Message } from './message.js';
import { Delivered, Session, type SessionContext, type SessionNamespace, type Subscription } from './session.js';
import { parseFilter } from './topics.js';
import type { BrokerConfig } from './options.js';
import type { StoredSession } from './store/types.js';

interface Caught {
  msg: Message;
  qos: QoS;
  retain: boolean;
  subscriptionIds: number[] | undefined;
}

export class SessionCapture extends Session {
  private caught: Caught[] = [];

  constructor(ns: SessionNamespace, stored: StoredSession, ctx: SessionContext, config: BrokerConfig) {
    super(ns, stored.clientId, ctx);
    // Persistent, so that its QoS 1/2 filters count as durable interest across the cluster.
    this.expiryInterval = stored.expiryInterval;
    for (const st of stored.subscriptions) {
      const parsed = parseFilter(st.key, config);
      // Shared subscriptions are served across the cluster by whichever node holds a member.
      if (typeof parsed === 'string' || parsed.group !== undefined) continue;
      const sub: Subscription = {
        session: this,
        key: st.key,
        filter: parsed.filter,
        group: undefined,
        qos: st.qos,
        noLocal: st.noLocal,
        retainAsPublished: st.retainAsPublished,
        retainHandling: st.retainHandling,
        subscriptionId: st.subscriptionId,
      };
      this.subscriptions.set(st.key, sub);
    }
  }

  override deliver(msg: Message, qos: QoS, retain: boolean, subscriptionIds: number[] | undefined): Delivered {
    this.caught.push({ msg, qos, retain, subscriptionIds });
    return qos === 0 ? Delivered.Taken : Delivered.Congested;
  }

  get size(): number {
    return this.caught.length;
  }

  /**
   * Hands `session` what the node that held it had not seen when it let go; everything when that
   * node did not say (it did not answer: a duplicate is better than a loss). Returns how many went.
   */
  drainInto(session: Session, seen: Readonly<Record<string, number>> | undefined): number {
    let n = 0;
    for (const c of this.caught) {
      const origin = c.msg.clusterOrigin;
      if (seen !== undefined && origin !== undefined && c.msg.clusterSeq <= (seen[origin] ?? 0)) continue;
      session.deliver(c.msg, c.qos, c.retain, c.subscriptionIds);
      n++;
    }
    this.caught = [];
    return n;
  }
}
