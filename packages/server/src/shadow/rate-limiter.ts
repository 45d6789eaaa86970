/**
 * Requests per second per thing (AWS's Device Shadow quota): a token bucket per key that holds one
 * second's worth of requests, so a burst after a quiet second passes and a sustained excess does not.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private sweepAt = 0;

  /** `perSecond` 0 disables the limit. */
  constructor(
    readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Takes a token for `key`; false when the key is over its rate. */
  take(key: string): boolean {
    if (this.perSecond <= 0) return true;
    const t = this.now();
    let b = this.buckets.get(key);
    if (!b) {
      this.maybeSweep(t);
      this.buckets.set(key, (b = { tokens: this.perSecond, at: t }));
    } else {
      b.tokens = Math.min(this.perSecond, b.tokens + ((t - b.at) / 1000) * this.perSecond);
      b.at = t;
    }
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Buckets idle for a second are full again: dropping them changes nothing and bounds the map. */
  private maybeSweep(t: number): void {
    if (this.buckets.size < 10_000 || t < this.sweepAt) return;
    this.sweepAt = t + 1000;
    for (const [k, b] of this.buckets) if (t - b.at >= 1000) this.buckets.delete(k);
  }

  clear(): void {
    this.buckets.clear();
  }
}
