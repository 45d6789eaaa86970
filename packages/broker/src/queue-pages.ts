/**
 * The part of a persistent session's queue that lives only in the store. Past QUEUE_MEMORY_WINDOW
 * queued messages, later ones stay in the store ("spilled") and come back a page at a time as the
 * client takes the earlier ones: synchronously from a store that can (SQLite), in the background
 * from one that cannot (PostgreSQL), the session sending what it holds meanwhile. Only the message
 * ids of spilled entries stay in memory, so a session that ends releases their references without
 * reading them back.
 */
import type { BrokerStore, StoredQueueItem } from './store/types.js';

/**
 * Queued messages a persistent session keeps in memory when its store can page; later ones are only
 * in the store until the client has taken the earlier ones.
 */
export const QUEUE_MEMORY_WINDOW = 1000;

/** How long a page that failed (the database unreachable) waits before it is asked for again. */
const RETRY_PAGE_MS = 1000;

export class QueuePages {
  /** Message ids of the spilled entries, in seq order, from `head` on. */
  private ids: number[] = [];
  private head = 0;
  /** Highest queue seq held in memory; spilled entries come after it. */
  memorySeq = 0;
  private reading: Promise<void> | undefined;
  private retry: NodeJS.Timeout | undefined;
  /** Bumped when the session ends: a page arriving after it is dropped. */
  private generation = 0;

  constructor(
    private readonly store: BrokerStore,
    private readonly mount: string,
    private readonly clientId: string,
  ) {}

  /** Whether the store can page at all (a memory store cannot: queues stay in memory). */
  get pages(): boolean {
    return this.store.pageQueue !== undefined || this.store.pageQueueAsync !== undefined;
  }

  get spilled(): number {
    return this.ids.length - this.head;
  }

  /** Whether a new entry, with `inMemory` entries queued in memory, stays in the store only. */
  spills(inMemory: number): boolean {
    return this.spilled > 0 || (inMemory >= QUEUE_MEMORY_WINDOW && this.pages);
  }

  /** An entry (its row written) stays in the store only. */
  spill(messageId: number): void {
    this.ids.push(messageId);
  }

  /**
   * The next spilled entries (all of them with `all`), read now when the store reads synchronously.
   * Otherwise undefined, and a read in the background hands them to `later` (in order, once), unless
   * one is under way already.
   */
  next(all: boolean, later: (items: StoredQueueItem[]) => void): StoredQueueItem[] | undefined {
    if (this.spilled === 0) return undefined;
    const limit = all ? this.spilled : Math.min(this.spilled, QUEUE_MEMORY_WINDOW);
    if (this.store.pageQueue) return this.took(this.store.pageQueue(this.mount, this.clientId, this.memorySeq, limit), limit);
    this.readLater(limit, later);
    return undefined;
  }

  /** Resolves once every spilled entry was handed to `later` (the session stops using the store). */
  async all(later: (items: StoredQueueItem[]) => void): Promise<void> {
    while (this.spilled > 0) {
      const now = this.next(true, later);
      if (now) later(now);
      else await (this.reading ?? new Promise((r) => setTimeout(r, RETRY_PAGE_MS)));
    }
  }

  /** The session ended: releases the spilled entries' references, and drops a page still on its way. */
  end(release: (messageId: number) => void): void {
    for (let i = this.head; i < this.ids.length; i++) release(this.ids[i]!);
    this.ids = [];
    this.head = 0;
    this.generation++;
    clearTimeout(this.retry);
  }

  private readLater(limit: number, later: (items: StoredQueueItem[]) => void): void {
    if (this.reading || this.retry || !this.store.pageQueueAsync) return;
    const generation = this.generation;
    const read = this.store.pageQueueAsync(this.mount, this.clientId, this.memorySeq, limit).then(
      (items) => {
        this.reading = undefined;
        if (generation !== this.generation) return;
        later(this.took(items, limit));
      },
      () => {
        this.reading = undefined;
        if (generation !== this.generation) return;
        // The store is down; the entries stay spilled and are asked for again.
        this.retry = setTimeout(() => {
          this.retry = undefined;
          this.readLater(limit, later);
        }, RETRY_PAGE_MS);
        this.retry.unref();
      },
    );
    this.reading = read;
  }

  /** Entries read back (`asked` were asked for, all spilled then): they leave the spilled ones. */
  private took(items: StoredQueueItem[], asked: number): StoredQueueItem[] {
    // Fewer rows than asked for means the counts were off; what the store holds is the truth.
    // (Entries spilled after the read was asked for are not among those asked.)
    this.head += asked;
    if (this.head > 1024 && this.head * 2 > this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.head = 0;
    }
    if (items.length > 0) this.memorySeq = items[items.length - 1]!.entry.seq;
    return items;
  }
}
