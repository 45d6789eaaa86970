/**
 * What the other nodes' sessions subscribed to, as each node announces it, in two parts:
 * - every filter its sessions hold (plain or in a shared group): a publisher's node sends a message
 *   to NATS only when another node needs it, instead of every message it routes;
 * - the plain filters its persistent sessions hold at QoS 1/2: a publisher's node then knows which
 *   nodes must confirm storing a QoS 1/2 message before the publisher is acknowledged
 *   (cluster/confirmations.ts).
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
  /**
   * A filter started (a = 1) or stopped (a = 0) being needed: durable (for shared group `g`, when
   * given), or with `r` by any session.
   */
  | { o: string; n: string; s: number; a: 0 | 1; m: string; f: string; r?: 1; g?: string }
  /**
   * Everything the origin needs now, as of its announcement `s`: durable (`all`: mount, filter and,
   * for a shared group, its name) and by any session (`any`).
   */
  | { o: string; n: string; s: number; all: Array<DurableEntry>; any?: Array<[string, string]> }
  /** A node joined and asks for everyone's snapshot. */
  | { o: string; n: string; hello: 1 }
  /** The origin leaves; `p`: it left persistent sessions behind (they wait for the cluster to take them). */
  | { o: string; n: string; bye: 1; p: boolean }
  /** Node `n` died and its sessions were taken over: its interest goes. */
  | { gone: string };

/** A durable filter: mount, filter, and the shared group it is held for (absent for plain subscriptions). */
type DurableEntry = [string, string] | [string, string, string];

interface Remote {
  node: string;
  seq: number;
  /** Durable filters per mount. */
  trees: Map<string, TopicTree<string>>;
  /** Durable filters of shared groups per mount (a group's confirmation comes from whichever node NATS gives it to). */
  shared: Map<string, TopicTree<string>>;
  /** Every filter per mount; undefined for a node that does not announce them (it gets everything). */
  routes: Map<string, TopicTree<string>> | undefined;
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
      else {
        // Its connected clients are gone; its persistent sessions wait to be taken over.
        const remote = this.remotes.get(note.o);
        if (remote) remote.routes = new Map();
      }
      return 'ok';
    }
    if ('all' in note) {
      const current = this.remotes.get(note.o);
      if (current && current.seq > note.s) return 'ok';
      // A newer boot of the node replaces the older one: its own sessions came back with it.
      for (const [origin, r] of this.remotes) if (r.node === note.n && origin !== note.o) this.drop(origin);
      const remote: Remote = { node: note.n, seq: note.s, trees: new Map(), shared: new Map(), routes: note.any ? new Map() : undefined };
      for (const [mount, filter, group] of note.all)
        if (group === undefined) treeOf(remote.trees, mount).add(filter, note.o);
        else treeOf(remote.shared, mount).add(filter, note.o, group);
      if (remote.routes) for (const [mount, filter] of note.any!) treeOf(remote.routes, mount).add(filter, note.o);
      this.remotes.set(note.o, remote);
      return 'ok';
    }
    const remote = this.remotes.get(note.o);
    if (!remote) return 'resync';
    if (note.s <= remote.seq) return 'ok';
    if (note.s !== remote.seq + 1) return 'resync';
    remote.seq = note.s;
    const group = note.r === 1 ? undefined : note.g;
    const trees = note.r === 1 ? remote.routes : group === undefined ? remote.trees : remote.shared;
    if (trees === undefined) return 'ok';
    if (note.a === 1) treeOf(trees, note.m).add(note.f, note.o, group);
    else trees.get(note.m)?.remove(note.f, note.o, group);
    return 'ok';
  }

  /** Whether another node's sessions need what is published on `topic` in `mount`. */
  needed(mount: string, topic: string): boolean {
    for (const r of this.remotes.values()) if (r.routes === undefined || matches(r.routes.get(mount), topic)) return true;
    return false;
  }

  /** The origins whose sessions subscribed to what `topic` in `mount` matches. */
  matching(mount: string, topic: string): string[] {
    const out: string[] = [];
    for (const [origin, r] of this.remotes) if (matches(r.trees.get(mount), topic)) out.push(origin);
    return out;
  }

  /** Adds to `out` the shared groups that match `topic` in `mount` and have persistent members on another node (groupKey). */
  durableGroups(mount: string, topic: string, out: Set<string>): void {
    for (const r of this.remotes.values()) addGroups(r.shared.get(mount), mount, topic, out);
  }

  /** Whether any other node's interest is known (nothing to match against otherwise). */
  get empty(): boolean {
    return this.remotes.size === 0;
  }

  /** The other nodes' boots whose interest is known. */
  origins(): Iterable<string> {
    return this.remotes.keys();
  }

  /** The last announcement of `origin` applied here; undefined for an unknown origin. */
  seqOf(origin: string): number | undefined {
    return this.remotes.get(origin)?.seq;
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

function treeOf<T>(trees: Map<string, TopicTree<T>>, mount: string): TopicTree<T> {
  let tree = trees.get(mount);
  if (!tree) trees.set(mount, (tree = new TopicTree<T>()));
  return tree;
}

function matches(tree: TopicTree<unknown> | undefined, topic: string): boolean {
  if (tree === undefined || tree.size === 0) return false;
  let found = false;
  tree.match(topic, {
    onSubscription() {
      found = true;
    },
    onSharedGroup() {
      found = true;
    },
  });
  return found;
}

/** A shared group across the cluster: the same on every node, whichever holds its members. */
export const groupKey = (mount: string, group: string, filter: string): string => `${mount}\u0000${group}\u0000${filter}`;

function addGroups(tree: TopicTree<unknown> | undefined, mount: string, topic: string, out: Set<string>): void {
  if (tree === undefined || tree.size === 0) return;
  tree.match(topic, {
    onSubscription() {},
    onSharedGroup(g) {
      out.add(groupKey(mount, g.name, g.filter));
    },
  });
}

// NUL cannot occur in a mount or a filter (MQTT forbids U+0000 in strings).
const key = (mount: string, filter: string): string => `${mount}\u0000${filter}`;
const unkey = (k: string): [string, string] => k.split('\u0000') as [string, string];

/** This node's own filters, numbered as they change, for its announcements and snapshots. */
export class LocalInterest {
  seq = 0;
  /** Filters of persistent sessions at QoS 1/2 (with the shared group, for group members). */
  private readonly durable = new Map<string, DurableEntry>();
  /** The shared groups among them, per mount: their messages come back through NATS, so this node confirms them too. */
  private readonly durableShared = new Map<string, TopicTree<string>>();
  /** Every filter, with how many of (plain, each shared group) hold it. */
  private readonly routes = new Map<string, number>();
  /** Filters of shared groups with members here, per mount: what goes through NATS even from this node. */
  private readonly shared = new Map<string, TopicTree<string>>();

  constructor(
    private readonly origin: string,
    private readonly node: string,
  ) {}

  /** A durable filter came or went (of shared group `group`, when given). */
  change(mount: string, filter: string, present: boolean, group?: string): InterestNote {
    const k = group === undefined ? key(mount, filter) : groupKey(mount, group, filter);
    if (present) this.durable.set(k, group === undefined ? [mount, filter] : [mount, filter, group]);
    else this.durable.delete(k);
    if (group === undefined) return this.note(mount, filter, present);
    if (present) treeOf(this.durableShared, mount).add(filter, this.origin, group);
    else this.durableShared.get(mount)?.remove(filter, this.origin, group);
    return { ...this.note(mount, filter, present), g: group };
  }

  /** Adds to `out` the shared groups matching `topic` in `mount` that have persistent members here. */
  durableGroups(mount: string, topic: string, out: Set<string>): void {
    addGroups(this.durableShared.get(mount), mount, topic, out);
  }

  /**
   * A filter came or went for plain subscriptions (`group` undefined) or for one shared group; the
   * note to announce when the filter itself starts or stops being needed here.
   */
  route(mount: string, filter: string, group: string | undefined, present: boolean): InterestNote | undefined {
    if (group !== undefined) {
      if (present) treeOf(this.shared, mount).add(filter, group);
      else this.shared.get(mount)?.remove(filter, group);
    }
    const k = key(mount, filter);
    const n = (this.routes.get(k) ?? 0) + (present ? 1 : -1);
    if (n > 0) this.routes.set(k, n);
    else this.routes.delete(k);
    if (present ? n !== 1 : n !== 0) return undefined;
    return { ...this.note(mount, filter, present), r: 1 };
  }

  /** Whether a shared group with members here takes what is published on `topic` in `mount`. */
  sharedMatch(mount: string, topic: string): boolean {
    return matches(this.shared.get(mount), topic);
  }

  snapshot(): InterestNote {
    return { o: this.origin, n: this.node, s: this.seq, all: [...this.durable.values()], any: [...this.routes.keys()].map(unkey) };
  }

  /** How many durable filters this node holds. */
  get size(): number {
    return this.durable.size;
  }

  private note(mount: string, filter: string, present: boolean): { o: string; n: string; s: number; a: 0 | 1; m: string; f: string } {
    return { o: this.origin, n: this.node, s: ++this.seq, a: present ? 1 : 0, m: mount, f: filter };
  }
}
