/**
 * Subscription index: a trie over topic levels. Plain subscriptions hang on the node of their
 * filter; shared subscriptions hang there too, grouped by share name, and the router picks one
 * member per group.
 */

export interface SharedGroup<T> {
  readonly name: string;
  readonly filter: string;
  members: T[];
  /** Round-robin cursor. */
  next: number;
}

interface Node<T> {
  children: Map<string, Node<T>> | null;
  subs: T[];
  shared: Map<string, SharedGroup<T>> | null;
}

function newNode<T>(): Node<T> {
  return { children: null, subs: [], shared: null };
}

export interface MatchVisitor<T> {
  onSubscription(sub: T): void;
  onSharedGroup(group: SharedGroup<T>): void;
}

export class TopicTree<T> {
  private readonly root: Node<T> = newNode();
  private count = 0;

  /** @param hashMatchesParent MQTT: `a/#` matches `a`. AWS IoT: it does not. */
  constructor(private readonly hashMatchesParent = true) {}

  get size(): number {
    return this.count;
  }

  add(filter: string, sub: T, group?: string): void {
    let node = this.root;
    for (const level of filter.split('/')) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (!child) {
        child = newNode();
        node.children.set(level, child);
      }
      node = child;
    }
    if (group === undefined) {
      node.subs.push(sub);
    } else {
      node.shared ??= new Map();
      let g = node.shared.get(group);
      if (!g) {
        g = { name: group, filter, members: [], next: 0 };
        node.shared.set(group, g);
      }
      g.members.push(sub);
    }
    this.count++;
  }

  /** The shared group `name` on exactly `filter`, if it has members. */
  sharedGroup(filter: string, name: string): SharedGroup<T> | undefined {
    let node: Node<T> | undefined = this.root;
    for (const level of filter.split('/')) {
      node = node.children?.get(level);
      if (node === undefined) return undefined;
    }
    return node.shared?.get(name);
  }

  /** Removes `sub` from `filter`; returns whether it was there. */
  remove(filter: string, sub: T, group?: string): boolean {
    const path: Array<[Node<T>, string]> = [];
    let node = this.root;
    for (const level of filter.split('/')) {
      const child = node.children?.get(level);
      if (!child) return false;
      path.push([node, level]);
      node = child;
    }
    let removed = false;
    if (group === undefined) {
      const i = node.subs.indexOf(sub);
      if (i >= 0) {
        node.subs.splice(i, 1);
        removed = true;
      }
    } else {
      const g = node.shared?.get(group);
      const i = g ? g.members.indexOf(sub) : -1;
      if (g && i >= 0) {
        g.members.splice(i, 1);
        if (g.next > i) g.next--;
        if (g.members.length === 0) node.shared!.delete(group);
        removed = true;
      }
    }
    if (!removed) return false;
    this.count--;
    // Prune nodes left empty, from the leaf up.
    for (let i = path.length - 1; i >= 0; i--) {
      const [parent, level] = path[i]!;
      const child = parent.children!.get(level)!;
      if (child.subs.length || child.shared?.size || child.children?.size) break;
      parent.children!.delete(level);
    }
    return true;
  }

  /** Calls the visitor for every subscription and shared group whose filter matches `topic`. */
  match(topic: string, visitor: MatchVisitor<T>): void {
    const levels = topic.split('/');
    this.walk(this.root, levels, 0, topic.charCodeAt(0) === 36, visitor);
  }

  private walk(node: Node<T>, levels: string[], i: number, dollar: boolean, v: MatchVisitor<T>): void {
    const children = node.children;
    if (i === levels.length) {
      this.emit(node, v);
      if (this.hashMatchesParent && children) {
        const hash = children.get('#');
        if (hash) this.emit(hash, v);
      }
      return;
    }
    if (!children) return;
    if (!(dollar && i === 0)) {
      const hash = children.get('#');
      if (hash) this.emit(hash, v);
      const plus = children.get('+');
      if (plus) this.walk(plus, levels, i + 1, dollar, v);
    }
    const exact = children.get(levels[i]!);
    if (exact) this.walk(exact, levels, i + 1, dollar, v);
  }

  private emit(node: Node<T>, v: MatchVisitor<T>): void {
    const subs = node.subs;
    for (let i = 0; i < subs.length; i++) v.onSubscription(subs[i]!);
    if (node.shared) for (const g of node.shared.values()) v.onSharedGroup(g);
  }
}
