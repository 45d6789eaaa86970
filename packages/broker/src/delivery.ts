/**
 * Hands one routed message to the sessions of a namespace whose subscriptions match it: one copy
 * per session whatever the overlapping filters (highest QoS, every subscription identifier), the
 * receive authorization checked per session, and one member per shared group.
 */
import type { RouteOutcome } from './broker-types.js';
import type { QoS } from './codec/packets.js';
import type { BrokerHooks } from './hooks.js';
import type { Message } from './message.js';
import { Delivered, type Session, type SessionNamespace, type Subscription } from './session.js';
import type { BrokerStats } from './stats.js';
import type { SharedGroup } from './topic-tree.js';

export class Delivery {
  private stamp = 0;
  /** Collects what the topic tree matches, without allocating a visitor per publish. */
  private readonly collector = {
    subs: [] as Subscription[],
    groups: [] as Array<SharedGroup<Subscription>>,
    onSubscription(sub: Subscription): void {
      this.subs.push(sub);
    },
    onSharedGroup(group: SharedGroup<Subscription>): void {
      this.groups.push(group);
    },
  };
  /** How many sessions the last toMatching offered the message to, and how many refused it (a field: it runs per message). */
  readonly tally = { offered: 0, refused: 0 };

  constructor(
    private readonly hooks: BrokerHooks,
    private readonly stats: BrokerStats,
  ) {}

  /** Delivers to the matching sessions of the namespace, and to its shared groups when `groups`. */
  toMatching(ns: SessionNamespace, msg: Message, outcome: RouteOutcome | undefined, groups: boolean): void {
    const tally = this.tally;
    tally.offered = 0;
    tally.refused = 0;
    const stamp = ++this.stamp;
    const subs: Subscription[] = [];
    const shared: Array<SharedGroup<Subscription>> = [];
    const collector = this.collector;
    collector.subs = subs;
    collector.groups = shared;
    ns.tree.match(msg.topic, collector);
    const matched: Session[] = [];
    const origin = msg.origin;
    for (let i = 0; i < subs.length; i++) {
      const sub = subs[i]!;
      const s = sub.session;
      if (sub.noLocal && origin === s.clientId) continue;
      const qos = (sub.qos < msg.qos ? sub.qos : msg.qos) as QoS;
      const retain = sub.retainAsPublished && msg.retain;
      if (s.matchStamp !== stamp) {
        s.matchStamp = stamp;
        s.matchQos = qos;
        s.matchRetain = retain;
        s.matchIds = sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined;
        matched.push(s);
      } else {
        // Overlapping subscriptions of one session: one copy, highest QoS, every identifier (§3.3.4).
        if (qos > s.matchQos) s.matchQos = qos;
        s.matchRetain ||= retain;
        if (sub.subscriptionId !== undefined) (s.matchIds ??= []).push(sub.subscriptionId);
      }
    }
    const hooks = this.hooks;
    for (let i = 0; i < matched.length; i++) {
      const s = matched[i]!;
      if (hooks.authorizeReceive && s.client && !hooks.authorizeReceive(s.client, msg.topic)) {
        this.stats.dropped.not_authorized++;
        continue;
      }
      tally.offered++;
      const r = s.deliver(msg, s.matchQos, s.matchRetain, s.matchIds);
      if (r === Delivered.Congested) outcome?.congested.push(s);
      else if (r === Delivered.Refused) tally.refused++;
    }
    if (!groups) return;
    for (const g of shared) {
      const r = this.toGroup(g, msg, outcome);
      if (r === undefined) continue;
      tally.offered++;
      if (r === Delivered.Refused) tally.refused++;
    }
  }

  /** One member of a shared group gets the message: the next online one, else a persistent offline one. */
  toGroup(g: SharedGroup<Subscription>, msg: Message, outcome: RouteOutcome | undefined): Delivered | undefined {
    const n = g.members.length;
    const hooks = this.hooks;
    let chosen: Subscription | undefined;
    for (let pass = 0; pass < 2 && !chosen; pass++) {
      for (let k = 0; k < n; k++) {
        const idx = (g.next + k) % n;
        const sub = g.members[idx]!;
        const s = sub.session;
        if (pass === 0 ? !s.link : !s.persistent) continue;
        if (hooks.authorizeReceive && s.client && !hooks.authorizeReceive(s.client, msg.topic)) continue;
        chosen = sub;
        g.next = (idx + 1) % n;
        break;
      }
    }
    if (!chosen) return undefined;
    const qos = (chosen.qos < msg.qos ? chosen.qos : msg.qos) as QoS;
    const ids = chosen.subscriptionId !== undefined ? [chosen.subscriptionId] : undefined;
    const r = chosen.session.deliver(msg, qos, chosen.retainAsPublished && msg.retain, ids);
    if (r === Delivered.Congested) outcome?.congested.push(chosen.session);
    return r;
  }
}
