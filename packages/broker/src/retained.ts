/** Retained messages of one namespace, indexed by topic level so a wildcard subscribe finds its matches. */
import type { Message } from './message.js';

interface Node {
  children: Map<string, Node> | null;
  message: Message | null;
}

export class RetainedIndex {
  private readonly root: Node = { children: null, message: null };
  private count = 0;

  constructor(private readonly hashMatchesParent = true) {}

  get size(): number {
    return this.count;
  }

  get(topic: string): Message | null {
    let node: Node | undefined = this.root;
    for (const level of topic.split('/')) {
      node = node.children?.get(level);
      if (!node) return null;
    }
    return node.message;
  }

  /** Stores `message` under its topic, or removes the topic when `message` is null. */
  set(topic: string, message: Message | null): void {
    const levels = topic.split('/');
    if (message === null) {
      const path: Node[] = [this.root];
      let node: Node | undefined = this.root;
      for (const level of levels) {
        node = node.children?.get(level);
        if (!node) return;
        path.push(node);
      }
      if (!node.message) return;
      node.message = null;
      this.count--;
      for (let i = path.length - 1; i > 0; i--) {
        const n = path[i]!;
        if (n.message || n.children?.size) break;
        path[i - 1]!.children!.delete(levels[i - 1]!);
      }
      return;
    }
    let node = this.root;
    for (const level of levels) {
      node.children ??= new Map();
      let child = node.children.get(level);
      if (!child) {
        child = { children: null, message: null };
        node.children.set(level, child);
      }
      node = child;
    }
    if (!node.message) this.count++;
    node.message = message;
  }

  /** Retained messages whose topic matches `filter`. */
  match(filter: string): Message[] {
    const out: Message[] = [];
    const levels = filter.split('/');
    this.walk(this.root, levels, 0, out);
    return out;
  }

  *all(): Generator<Message> {
    const stack: Node[] = [this.root];
    while (stack.length) {
      const n = stack.pop()!;
      if (n.message) yield n.message;
      if (n.children) for (const c of n.children.values()) stack.push(c);
    }
  }

  clear(): void {
    this.root.children = null;
    this.root.message = null;
    this.count = 0;
  }

  private walk(node: Node, levels: string[], i: number, out: Message[]): void {
    if (i === levels.length) {
      if (node.message) out.push(node.message);
      return;
    }
    const level = levels[i]!;
    const children = node.children;
    if (level === '#') {
      if (this.hashMatchesParent && i > 0 && node.message) out.push(node.message);
      if (children) for (const [name, child] of children) if (!(i === 0 && name.startsWith('$'))) this.collect(child, out);
      return;
    }
    if (!children) return;
    if (level === '+') {
      for (const [name, child] of children) if (!(i === 0 && name.startsWith('$'))) this.walk(child, levels, i + 1, out);
      return;
    }
    const child = children.get(level);
    if (child) this.walk(child, levels, i + 1, out);
  }

  private collect(node: Node, out: Message[]): void {
    if (node.message) out.push(node.message);
    if (node.children) for (const c of node.children.values()) this.collect(c, out);
  }
}
