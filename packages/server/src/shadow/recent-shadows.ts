/**
 * The shadows a node used lately, as it last read or wrote them: a bounded cache (least recently
 * used out first, by count and by document size). It is only ever a guess: other nodes write the
 * same rows, so an update based on it is a write conditional on what it holds, and a write that
 * finds the row changed drops the entry and reads the database.
 */
export interface CacheLimits {
  /** Shadows held at most. */
  entries: number;
  /** Characters of stored documents held at most. */
  chars: number;
}

export const DEFAULT_CACHE_LIMITS: CacheLimits = { entries: 10_000, chars: 16 << 20 };

interface Entry<R> {
  rec: R;
  chars: number;
}

/** `R`: what the store holds for one shadow name (ShadowRecord). */
export class RecentShadows<R> {
  private readonly entries = new Map<string, Entry<R>>();
  private chars = 0;

  constructor(private readonly limits: CacheLimits = DEFAULT_CACHE_LIMITS) {}

  /** What is held for the key , or undefined when nothing is. */
  get(key: string): { rec: R } | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    // Most recently used last: Map keeps insertion order.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e;
  }

  /** Holds `rec` for the key; `chars` is the size of its stored document. */
  set(key: string, rec: R, chars: number): void {
    this.delete(key);
    if (this.limits.entries <= 0 || chars > this.limits.chars) return;
    this.entries.set(key, { rec, chars });
    this.chars += chars;
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.limits.entries && this.chars <= this.limits.chars) break;
      this.entries.delete(k);
      this.chars -= e.chars;
    }
  }

  delete(key: string): void {
    const e = this.entries.get(key);
    if (e === undefined) return;
    this.entries.delete(key);
    this.chars -= e.chars;
  }

  clear(): void {
    this.entries.clear();
    this.chars = 0;
  }

  get size(): number {
    return this.entries.size;
  }
}
