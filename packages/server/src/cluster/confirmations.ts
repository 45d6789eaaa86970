/**
 * Confirmations between nodes that a QoS 1/2 message is stored: a node acknowledges a publish only
 * once every other node whose sessions subscribed to it has stored it for them (its broker store
 * committed), so that `kill -9` of any node loses nothing a publisher was told was received.
 *
 * The publisher's node numbers what it forwards; a receiving node confirms cumulatively ("all your
 * messages up to n that reached me are stored"), which holds because NATS keeps one connection's
 * order and the receiver's store commits in order. A node that does not confirm within `timeoutMs`
 * fails the waits on it (the publisher is told, and sends again); one that does not answer a probe
 * fails new waits at once for a while, then is waited for and probed again, until the cluster has
 * taken over its sessions and dropped its interest (remote-interest.ts).
 */
import { RemoteConfirmation } from '@thicket/broker';

interface Waiting {
  seq: number;
  since: number;
  pending: Pending;
}

interface Pending {
  left: number;
  confirmation: RemoteConfirmation;
}

export interface ConfirmationOptions {
  /** How long a node has to confirm before the publish is refused. */
  timeoutMs: number;
  /** How long a wait may last before the node is asked whether it is there at all. */
  probeAfterMs: number;
  /** How long new waits on a node that did not answer fail at once (then it is waited for, and asked, again). */
  unresponsiveMs?: number;
  clock?: () => number;
}

export class Confirmations {
  /** Per confirming origin, the waits on it in sequence order. */
  private readonly waiting = new Map<string, Waiting[]>();
  /**
   * Waits on shared groups, by sequence and group key, in the order they began. Any node may
   * confirm one: NATS gives each message of a group to one of the nodes holding members.
   */
  private readonly groups = new Map<string, { since: number; pending: Pending }>();
  /** Origins that did not answer a probe, since when. */
  private readonly unresponsive = new Map<string, number>();
  private readonly clock: () => number;
  /** Waits failed for want of a confirmation, for metrics and tests. */
  failed = 0;

  constructor(private readonly opts: ConfirmationOptions) {
    this.clock = opts.clock ?? Date.now;
  }

  /** A confirmation that `origins` all stored message `seq`, and that a node did for each of `groups`. */
  expect(origins: readonly string[], seq: number, groups?: ReadonlySet<string>): RemoteConfirmation {
    const confirmation = new RemoteConfirmation();
    const pending: Pending = { left: origins.length + (groups?.size ?? 0), confirmation };
    const now = this.clock();
    for (const g of groups ?? []) this.groups.set(`${seq}\u0000${g}`, { since: now, pending });
    for (const origin of origins) {
      const since = this.unresponsive.get(origin);
      if (since !== undefined) {
        if (now - since < (this.opts.unresponsiveMs ?? 2000)) {
          this.fail(pending);
          continue;
        }
        this.unresponsive.delete(origin);
      }
      let list = this.waiting.get(origin);
      if (!list) this.waiting.set(origin, (list = []));
      list.push({ seq, since: now, pending });
    }
    return confirmation;
  }

  /** `origin` stored every message up to `seq` that reached it. */
  confirmed(origin: string, seq: number): void {
    this.unresponsive.delete(origin);
    const list = this.waiting.get(origin);
    if (!list) return;
    let i = 0;
    while (i < list.length && list[i]!.seq <= seq) {
      const p = list[i++]!.pending;
      if (--p.left === 0) p.confirmation.settle(true);
    }
    if (i === list.length) this.waiting.delete(origin);
    else list.splice(0, i);
  }

  /** A node took message `seq` for shared group `group` and stored it (`ok`), or no member of the group there took it. */
  groupConfirmed(seq: number, group: string, ok: boolean): void {
    const k = `${seq}\u0000${group}`;
    const w = this.groups.get(k);
    if (!w) return;
    this.groups.delete(k);
    if (!ok) this.fail(w.pending);
    else if (--w.pending.left === 0) w.pending.confirmation.settle(true);
  }

  /** Fails every wait on `origin` and, until it answers again, new ones at once. */
  unanswered(origin: string): void {
    this.unresponsive.set(origin, this.clock());
    this.failAll(origin);
  }

  /** The origin is no longer expected to confirm anything (its interest was dropped). */
  forget(origin: string): void {
    this.unresponsive.delete(origin);
    this.failAll(origin);
  }

  /**
   * Fails the waits that lasted `timeoutMs`; returns the origins with a wait older than
   * `probeAfterMs`, to ask whether they are there.
   */
  sweep(): string[] {
    const now = this.clock();
    for (const [k, w] of this.groups) {
      if (now - w.since < this.opts.timeoutMs) break;
      this.groups.delete(k);
      this.fail(w.pending);
    }
    const probe: string[] = [];
    for (const [origin, list] of this.waiting) {
      let i = 0;
      while (i < list.length && now - list[i]!.since >= this.opts.timeoutMs) this.fail(list[i++]!.pending);
      if (i === list.length) {
        this.waiting.delete(origin);
        continue;
      }
      if (i > 0) list.splice(0, i);
      if (now - list[0]!.since >= this.opts.probeAfterMs) probe.push(origin);
    }
    return probe;
  }

  waitingOn(origin: string): boolean {
    return this.waiting.has(origin);
  }

  /** Waits not yet confirmed, across origins (a wait on two origins counts twice). */
  get size(): number {
    let n = this.groups.size;
    for (const list of this.waiting.values()) n += list.length;
    return n;
  }

  private failAll(origin: string): void {
    const list = this.waiting.get(origin);
    this.waiting.delete(origin);
    for (const w of list ?? []) this.fail(w.pending);
  }

  private fail(p: Pending): void {
    if (p.left <= 0) return;
    p.left = 0;
    this.failed++;
    p.confirmation.settle(false);
  }
}

/**
 * The receiving side: confirmations owed to each origin, sent together at the end of the event
 * loop's turn (one message per origin for a whole batch of its messages).
 */
export class OwedConfirmations {
  private readonly owed = new Map<string, number>();
  private scheduled = false;

  constructor(private readonly send: (origin: string, seq: number) => void) {}

  add(origin: string, seq: number): void {
    if ((this.owed.get(origin) ?? 0) < seq) this.owed.set(origin, seq);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      for (const [o, s] of this.owed) this.send(o, s);
      this.owed.clear();
    });
  }
}
