/**
 * When the other nodes have applied what this node announced. Announcements are numbered; each other
 * node answers with the highest number it applied (cumulative). A waiter resolves once every known
 * node answered up to the latest announcement at its start. A node that does not answer in time is
 * not waited for again until it answers: a dead one must not slow every caller of the cluster until
 * it is declared gone.
 *
 * Used for filters (a SUBACK waits until every node routes the new filter here) and for table
 * changes (an API write answers once every node re-read what it wrote).
 */

interface Waiter {
  seq: number;
  resolve: () => void;
  timer: NodeJS.Timeout;
}

export class Settlement {
  /** Per other node's boot: the highest of this node's announcements it has applied. */
  private readonly heard = new Map<string, number>();
  private readonly lagging = new Set<string>();
  private waiters: Waiter[] = [];

  constructor(
    /** This node's latest announcement number. */
    private readonly latest: () => number,
    /** The other nodes' boots known now. */
    private readonly others: () => Iterable<string>,
    private readonly timeoutMs: number,
  ) {}

  /** `origin` has applied this node's announcements up to `seq`. */
  heardBy(origin: string, seq: number): void {
    if (seq > (this.heard.get(origin) ?? -1)) this.heard.set(origin, seq);
    this.lagging.delete(origin);
    this.check();
  }

  /** `origin` left the cluster: nothing is waited for from it. */
  forget(origin: string): void {
    this.heard.delete(origin);
    this.lagging.delete(origin);
    this.check();
  }

  /** Resolves once every other node has heard everything announced so far; undefined when they have. */
  wait(): Promise<void> | undefined {
    const seq = this.latest();
    if (this.settled(seq)) return undefined;
    return new Promise((resolve) => {
      const w: Waiter = {
        seq,
        resolve,
        timer: setTimeout(() => {
          for (const o of this.others()) if ((this.heard.get(o) ?? -1) < seq) this.lagging.add(o);
          this.waiters = this.waiters.filter((x) => x !== w);
          resolve();
        }, this.timeoutMs),
      };
      this.waiters.push(w);
    });
  }

  /** Lets every waiter go (the link closes). */
  close(): void {
    for (const w of this.waiters) {
      clearTimeout(w.timer);
      w.resolve();
    }
    this.waiters = [];
  }

  private settled(seq: number): boolean {
    for (const o of this.others()) if (!this.lagging.has(o) && (this.heard.get(o) ?? -1) < seq) return false;
    return true;
  }

  private check(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => {
      if (!this.settled(w.seq)) return true;
      clearTimeout(w.timer);
      w.resolve();
      return false;
    });
  }
}
