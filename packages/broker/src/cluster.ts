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
import type { MovedSession } from './store/types.js';

export interface ClusterLink {
  /** A message this node routed (its clients', its services', a will): for the other nodes and the cluster's shared groups. */
  forward(mount: string, msg: Message): void;
  /**
   * This node's sessions need what `filter` matches in `mount` (as members of shared group `group`
   * when given): the first such subscription appeared (`present`), or the last one went.
   */
  interest(mount: string, filter: string, group: string | undefined, present: boolean): void;
  /**
   * Before a CONNECT binds to a session this node does not hold: the persistent session another node
   * held for the client, moved here with its queue (message ids from `newMessageId`), or null. With
   * `clean` the client starts anew and the other nodes drop what they had of it.
   */
  claim?(mount: string, clientId: string, clean: boolean, newMessageId: () => number): Promise<MovedSession | null>;
}

/** Counts this node's subscriptions per (mount, group, filter), telling the link when one starts or stops being needed. */
export class ClusterInterest {
  private readonly counts = new Map<string, number>();

  constructor(readonly link: ClusterLink) {}

  add(mount: string, filter: string, group: string | undefined): void {
    const key = interestKey(mount, filter, group);
    const n = this.counts.get(key) ?? 0;
    this.counts.set(key, n + 1);
    if (n === 0) this.link.interest(mount, filter, group, true);
  }

  remove(mount: string, filter: string, group: string | undefined): void {
    const key = interestKey(mount, filter, group);
    const n = this.counts.get(key);
    if (n === undefined) return;
    if (n > 1) return void this.counts.set(key, n - 1);
    this.counts.delete(key);
    this.link.interest(mount, filter, group, false);
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
