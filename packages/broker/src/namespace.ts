/** One topic space (a mount point): its sessions, subscription index and retained messages. */
import { RetainedIndex } from './retained.js';
import type { Session, Subscription } from './session.js';
import { TopicTree } from './topic-tree.js';

export class Namespace {
  readonly sessions = new Map<string, Session>();
  readonly tree: TopicTree<Subscription>;
  readonly retained: RetainedIndex;

  constructor(
    readonly mount: string,
    hashMatchesParent: boolean,
  ) {
    this.tree = new TopicTree(hashMatchesParent);
    this.retained = new RetainedIndex(hashMatchesParent);
  }
}
