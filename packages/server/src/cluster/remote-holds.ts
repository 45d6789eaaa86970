/**
 * Back-pressure across nodes. On one node a QoS 1/2 publisher's acknowledgement waits while a
 * subscriber it publishes to has a congested queue (Session.onUncongested). A session congested by
 * messages from other nodes announces a hold on its filters (`_hold`), and each node that sees it
 * makes its own publishers of matching topics wait the same way, until the session is relieved.
 * Without it a node whose publishers are acknowledged at once floods the subscriber's node, which
 * queues (and beyond its bounds drops) while its own publishers wait, and on shared cores the
 * flooding node takes the CPU the subscriber's node needs to deliver.
 *
 * A hold is advice, not a guarantee: one lost on NATS only means no back-pressure; one whose release
 * is lost, or whose node died, ends by itself after HOLD_MAX_MS (longer than the broker's own limit
 * on a congestion wait, after which the holding node releases it anyway).
 */
import { RemoteConfirmation, TopicTree } from '@thicket/broker';

export const HOLD_MAX_MS = 6000;

/** A hold announced on the `_hold` subject: with `f` the session's filters (held), without them released. */
export interface HoldNote {
  o: string;
  m: string;
  c: string;
  f?: string[];
}

interface Hold {
  key: string;
  origin: string;
  mount: string;
  filters: string[];
  since: number;
  waiting: Array<() => void>;
}

export class RemoteHolds {
  private readonly holds = new Map<string, Hold>();
  private readonly trees = new Map<string, TopicTree<Hold>>();

  get size(): number {
    return this.holds.size;
  }

  /** Applies a note from another node; false when it is malformed. */
  apply(note: HoldNote, now = Date.now()): boolean {
    if (typeof note.o !== 'string' || typeof note.m !== 'string' || typeof note.c !== 'string') return false;
    const key = `${note.o}\u0000${note.m}\u0000${note.c}`;
    if (note.f === undefined) {
      this.release(key);
      return true;
    }
    if (!Array.isArray(note.f) || !note.f.every((f) => typeof f === 'string')) return false;
    const old = this.holds.get(key);
    if (old) this.untree(old);
    const hold: Hold = { key, origin: note.o, mount: note.m, filters: note.f, since: now, waiting: old?.waiting ?? [] };
    this.holds.set(key, hold);
    let tree = this.trees.get(note.m);
    if (!tree) this.trees.set(note.m, (tree = new TopicTree<Hold>()));
    for (const f of hold.filters) tree.add(f, hold);
    return true;
  }

  /**
   * What a publisher of `topic` in `mount` waits for: a confirmation that settles once every hold
   * matching it is released; undefined when none matches.
   */
  wait(mount: string, topic: string): RemoteConfirmation | undefined {
    const tree = this.trees.get(mount);
    if (tree === undefined || tree.size === 0) return undefined;
    const found = new Set<Hold>();
    tree.match(topic, {
      onSubscription(h) {
        found.add(h);
      },
      onSharedGroup() {},
    });
    if (found.size === 0) return undefined;
    const done = new RemoteConfirmation();
    let left = found.size;
    for (const h of found) h.waiting.push(() => --left === 0 && done.settle(true));
    return done;
  }

  /** Ends holds older than HOLD_MAX_MS. */
  sweep(now = Date.now()): void {
    for (const h of this.holds.values()) if (now - h.since > HOLD_MAX_MS) this.release(h.key);
  }

  /** Ends the holds of one boot of a node (it left), or of every boot of `node` (it died). */
  dropOrigin(origin: string): void {
    for (const h of this.holds.values()) if (h.origin === origin) this.release(h.key);
  }

  dropNode(node: string): void {
    for (const h of this.holds.values()) if (h.origin.slice(0, h.origin.lastIndexOf('/')) === node) this.release(h.key);
  }

  /** Ends every hold (NATS went away: releases may have been lost). */
  clear(): void {
    for (const key of [...this.holds.keys()]) this.release(key);
  }

  private release(key: string): void {
    const h = this.holds.get(key);
    if (!h) return;
    this.holds.delete(key);
    this.untree(h);
    for (const w of h.waiting) w();
  }

  private untree(h: Hold): void {
    const tree = this.trees.get(h.mount);
    if (!tree) return;
    for (const f of h.filters) tree.remove(f, h);
    if (tree.size === 0) this.trees.delete(h.mount);
  }
}

/** Settles true once both have, false as soon as one fails. */
export function bothConfirmed(a: RemoteConfirmation, b: RemoteConfirmation): RemoteConfirmation {
  const out = new RemoteConfirmation();
  let left = 2;
  const on = (ok: boolean): void => {
    if (!ok) out.settle(false);
    else if (--left === 0) out.settle(true);
  };
  a.then(on);
  b.then(on);
  return out;
}
