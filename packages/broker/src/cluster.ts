/**
 * How a broker takes part in a cluster of nodes. The broker knows nothing of the transport between
 * nodes (the server links it over NATS); it forwards what it routes, says which filters its sessions
 * need, and takes what other nodes forward.
 *
 * Plain subscriptions are served where their session lives: each node delivers its own publishers'
 * messages to its own sessions and forwards them; the nodes whose sessions subscribed deliver the
 * forwarded copy. Shared subscriptions are balanced across the cluster: no node serves its groups
 * from its own router; every message goes through the link, which hands it to one node holding
 * members of the group (`deliverShared` there picks the member).
 */
import type { Message } from './message.js';
import type { Session, Subscription } from './session.js';
import type { MovedSession, StoredSession } from './store/types.js';

export interface ClusterLink {
  /**
   * A message this node routed (its clients', its services', a will): for the other nodes and the
   * cluster's shared groups. With `confirm` (a publisher waits to be acknowledged), the
   * confirmation that every other node whose sessions subscribed stored it for them; undefined
   * when no other node's confirmation is needed. What it sends it numbers, and stamps on `msg`
   * (clusterOrigin, clusterSeq); a message from another node comes stamped with that node's numbers.
   */
  forward(mount: string, msg: Message, confirm?: boolean): RemoteConfirmation | undefined;
  /**
   * This node's sessions need what `filter` matches in `mount` (as members of shared group `group`
   * when given): the first such subscription appeared (`present`), or the last one went.
   */
  interest(mount: string, filter: string, group: string | undefined, present: boolean): void;
  /**
   * This node's persistent sessions subscribed to `filter` in `mount` with QoS 1 or 2 (as members
   * of shared group `group`, when given): the first such subscription appeared (`present`), or the
   * last one went. Messages they take must be confirmed stored before their publisher is
   * acknowledged (on any node, for a shared group: its messages go through the link).
   */
  durableInterest?(mount: string, filter: string, present: boolean, group?: string): void;
  /**
   * Before a CONNECT binds to a session this node does not hold: the persistent session another node
   * held for the client, moved here with its queue (message ids from `newMessageId`), or null. With
   * `clean` the client starts anew and the other nodes drop what they had of it.
   */
  claim?(mount: string, clientId: string, clean: boolean, newMessageId: () => number): Promise<ClaimedSession | null>;
  /** The persistent session of the client that another node holds, as stored (what claim would move), or null. */
  sessionElsewhere?(mount: string, clientId: string): Promise<StoredSession | null>;
  /**
   * Holds this node's confirmations to the other nodes until the returned function is called (a
   * session moving here catches messages in memory: SessionCapture). Confirmations are cumulative,
   * so all of them wait.
   */
  holdConfirmations?(): () => void;
  /**
   * A session of this node is congested by messages from other nodes: their publishers of what
   * `filters` (its plain filters) match should wait, as a publisher on this node waits, until
   * `relieved` (its queue drained, its client left, or the wait was too long).
   */
  congested?(mount: string, clientId: string, filters: string[]): void;
  /**
   * Resolves once every other node has heard of every filter this node announced so far (a SUBACK
   * waits for it); undefined when they have.
   */
  settled?(): Promise<void> | undefined;
  relieved?(mount: string, clientId: string): void;
}

/** A session moved here from another node, with what that node had seen, per forwarding node, when it let go. */
export interface ClaimedSession extends MovedSession {
  /** Per origin (ClusterLink.forward's numbering), the last message the old node had taken; undefined when it did not answer. */
  seen?: Readonly<Record<string, number>>;
}

/**
 * Whether the other nodes a message went to have stored it for their sessions (true), or one of
 * them did not say so in time (false). Settled once; a listener added later hears at once.
 */
export class RemoteConfirmation {
  private result: boolean | undefined;
  private listener: ((ok: boolean) => void) | undefined;

  settle(ok: boolean): void {
    if (this.result !== undefined) return;
    this.result = ok;
    this.listener?.(ok);
    this.listener = undefined;
  }

  /** One listener (the publisher's connection). */
  then(listener: (ok: boolean) => void): void {
    if (this.result !== undefined) listener(this.result);
    else this.listener = listener;
  }
}

/**
 * Counts this node's subscriptions per (mount, group, filter), telling the link when one starts or
 * stops being needed; and, apart, those of persistent sessions at QoS 1/2 (durableInterest).
 */
export class ClusterInterest {
  private readonly counts = new Map<string, number>();
  private readonly durableCounts = new Map<string, number>();
  /** Subscriptions counted as durable, as they were counted (their session's persistence may change later). */
  private readonly durable = new WeakSet<Subscription>();
  /** Sessions whose congestion the link was told of, until relieved. */
  private readonly holding = new Set<Session>();

  constructor(readonly link: ClusterLink) {}

  add(mount: string, sub: Subscription): void {
    const { filter, group } = sub;
    const key = interestKey(mount, filter, group);
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    if (n === 0) this.link.interest(mount, filter, group, true);
    this.updated(mount, sub);
  }

  remove(mount: string, sub: Subscription): void {
    const { filter, group } = sub;
    if (this.durable.delete(sub)) this.countDurable(mount, filter, group, -1);
    const key = interestKey(mount, filter, group);
    const n = this.counts.get(key);
    if (n === undefined) return;
    if (n > 1) return void this.counts.set(key, n - 1);
    this.counts.delete(key);
    this.link.interest(mount, filter, group, false);
  }

  /** A subscription changed (its QoS): whether it counts as durable follows. */
  updated(mount: string, sub: Subscription): void {
    const now = sub.qos > 0 && sub.session.persistent;
    if (now === this.durable.has(sub)) return;
    if (now) this.durable.add(sub);
    else this.durable.delete(sub);
    this.countDurable(mount, sub.filter, sub.group, now ? 1 : -1);
  }

  private countDurable(mount: string, filter: string, group: string | undefined, by: 1 | -1): void {
    if (!this.link.durableInterest) return;
    const key = interestKey(mount, filter, group);
    const n = (this.durableCounts.get(key) ?? 0) + by;
    if (n > 0) this.durableCounts.set(key, n);
    else this.durableCounts.delete(key);
    if (n === 1 && by === 1) this.link.durableInterest(mount, filter, true, group);
    else if (n === 0) this.link.durableInterest(mount, filter, false, group);
  }

  /**
   * Sessions a message from another node congested: the link hears of each once, and again after it
   * was relieved (Session.onUncongested, which also ends a wait that lasted too long).
   */
  congested(mount: string, sessions: Session[]): void {
    const link = this.link;
    if (!link.congested) return;
    for (const s of sessions) {
      if (this.holding.has(s)) continue;
      this.holding.add(s);
      const filters: string[] = [];
      for (const sub of s.subscriptions.values()) if (sub.group === undefined) filters.push(sub.filter);
      link.congested(mount, s.clientId, filters);
      s.onUncongested(() => {
        this.holding.delete(s);
        link.relieved?.(mount, s.clientId);
      });
    }
  }

  /** Every (mount, filter, group) needed now; for a link that reconnected. */
  *needed(): Iterable<{ mount: string; filter: string; group: string | undefined }> {
    for (const key of this.counts.keys()) {
      const [mount, group, filter] = key.split('\u0000') as [string, string, string];
      yield { mount, filter, group: group === '' ? undefined : group };
    }
  }
}

// NUL cannot occur in a mount, a share name or a filter (MQTT forbids U+0000 in strings).
const interestKey = (mount: string, filter: string, group: string | undefined): string => `${mount}\u0000${group ?? ''}\u0000${filter}`;
