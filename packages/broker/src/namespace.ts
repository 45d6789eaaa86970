/**
 * One topic space (a mount point): its sessions, subscription index and retained messages. Generic
 * in what it holds, so that sessions can name their namespace without this module naming them.
 */
import { RetainedIndex } from './retained.js';
import { TopicTree } from './topic-tree.js';

export class Namespace<S, Sub> {
  readonly sessions = new Map<string, S>();
  readonly tree: TopicTree<Sub>;
  readonly retained: RetainedIndex;

  constructor(
    readonly mount: string,
    hashMatchesParent: boolean,
  ) {
    this.tree = new TopicTree(hashMatchesParent);
    this.retained = new RetainedIndex(hashMatchesParent);
  }
}
