/**
 * What the other nodes' persistent sessions subscribed to at QoS 1/2 (plain subscriptions), as each
 * node announces it: a publisher's node then knows which nodes must confirm storing a QoS 1/2
 * message before the publisher is acknowledged (cluster/confirmations.ts).
 *
 * Each node (each boot, its "origin") numbers its announcements. A node that joins asks for
 * everyone's snapshot; an announcement out of sequence (one was lost) asks for that node's snapshot
 * again. A node's interest is dropped when a newer boot of it announces itself, when it leaves
 * without persistent sessions, or when the cluster has taken over its sessions after it died
 * (`gone`): until then its persistent sessions still need what they subscribed to, and a publish
 * for them is refused rather than acknowledged without them.
 */
import { TopicTree } from '@thicket/broker';

/** An announcement on the `_interest` subject. */
export type InterestNote =
  /** A filter started (a = 1) or stopped (a = 0) being needed. */
  | { o: string; n: string; s: number; a: 0 | 1; m: string; f: string }
  /** Everything the origin needs now, as of its announcement `s`. */
  | { o: string; n: string; s: number; all: Array<[string, string]> }
  /** A node joined and asks for everyone's snapshot. */
  | { o: string; n: string; hello: 1 }
  /** The origin leaves; `p`: it left persistent sessions behind (they wait for the cluster to take them). */
  | { o: string; n: string; bye: 1; p: boolean }
  /** Node `n` died and its sessions were taken over: its interest goes. */
  | { gone: string };

interface Remote {
  node: string;
  seq: number;
  /** Plain filters per mount. */
  trees: Map<string, TopicTree<string>>;
}

export class RemoteInterest {
  private readonly remotes = new Map<string, Remote>();

  /** `dropped` hears of each origin whose interest goes. */
  constructor(
    private readonly self: string,
    private readonly dropped: (origin: string) => void = () => {},
  ) {}

  /** Applies an announcement; returns 'resync' when a snapshot of that origin is needed (it was out of sequence or unknown). */
  apply(note: InterestNote): 'ok' | 'resync' {
    if ('gone' in note) {
      this.dropNode(note.gone);
      return 'ok';
    }
    if (note.o === this.self) return 'ok';
    if ('hello' in note) return 'ok';
    if ('bye' in note) {
      if (!note.p) this.drop(note.o);
      return 'ok';
    }
    if ('all' in note) {
      const current = this.remotes.get(note.o);
      if (current && current.seq > note.s) return 'ok';
      // A newer boot of the node replaces the older one: its own sessions came back with it.
      for (const [origin, r] of this.remotes) if (r.node === note.n && origin !== note.o) this.drop(origin);
      const remote: Remote = { node: note.n, seq: note.s, trees: new Map() };
      for (const [mount, filter] of note.all) treeOf(remote, mount).add(filter, note.o);
      this.remotes.set(note.o, remote);
      return 'ok';
    }
    const remote = this.remotes.get(note.o);
    if (!remote) return 'resync';
    if (note.s <= remote.seq) return 'ok';
    if (note.s !== remote.seq + 1) return 'resync';
    remote.seq = note.s;
    if (note.a === 1) treeOf(remote, note.m).add(note.f, note.o);
    else remote.trees.get(note.m)?.remove(note.f, note.o);
    return 'ok';
  }

  /** The origins whose sessions subscribed to what `topic` in `mount` matches. */
  matching(mount: string, topic: string): string[] {
    const out: string[] = [];
    for (const [origin, r] of this.remotes) {
      const tree = r.trees.get(mount);
      if (tree === undefined || tree.size === 0) continue;
      let found = false;
      tree.match(topic, {
        onSubscription() {
          found = true;
        },
        onSharedGroup() {},
      });
      if (found) out.push(origin);
    }
    return out;
  }

  /** Whether any other node's interest is known (nothing to match against otherwise). */
  get empty(): boolean {
    return this.remotes.size === 0;
  }

  /** The node of an origin (`node/boot`). */
  nodeOf(origin: string): string | undefined {
    return this.remotes.get(origin)?.node;
  }

  private dropNode(node: string): void {
    for (const [origin, r] of this.remotes) if (r.node === node) this.drop(origin);
  }

  private drop(origin: string): void {
    if (this.remotes.delete(origin)) this.dropped(origin);
  }
}

function treeOf(remote: Remote, mount: string): TopicTree<string> {
  let tree = remote.trees.get(mount);
  if (!tree) remote.trees.set(mount, (tree = new TopicTree<string>()));
  return tree;
}

/** This node's own plain filters, numbered as they change, for its announcements and snapshots. */
export class LocalInterest {
  seq = 0;
  private readonly filters = new Set<string>();

  constructor(
    private readonly origin: string,
    private readonly node: string,
  ) {}

  change(mount: string, filter: string, present: boolean): InterestNote {
    const key = `${mount}\u0000${filter}`;
    if (present) this.filters.add(key);
    else this.filters.delete(key);
    return { o: this.origin, n: this.node, s: ++this.seq, a: present ? 1 : 0, m: mount, f: filter };
  }

  snapshot(): InterestNote {
    const all = [...this.filters].map((k) => k.split('\u0000') as [string, string]);
    return { o: this.origin, n: this.node, s: this.seq, all };
  }

  get size(): number {
    return this.filters.size;
  }
}
