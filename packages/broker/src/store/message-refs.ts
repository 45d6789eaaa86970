/**
 * How many stored queue entries reference each stored message row: the row is deleted with its last
 * reference. Kept per broker by message id rather than on Message objects, because a queue entry
 * paged back in from the store (see Session) gets a Message object of its own while other sessions
 * may still hold the original: only the id is shared.
 */
import type { Message } from '../message.js';
import { toStored } from './stored-message.js';
import type { BrokerStore } from './types.js';

let lastMessageId = 0;
/** Message ids are handed out in memory (no round trip to the store); seeded from the store at start. */
export function nextMessageId(): number {
  return ++lastMessageId;
}
export function seedMessageId(maxId: number): void {
  lastMessageId = Math.max(lastMessageId, maxId);
}

export class MessageRefs {
  private readonly counts = new Map<number, number>();

  constructor(private readonly store: BrokerStore) {}

  /** Takes a reference on the message's row, writing the row first if it is not (or no longer) stored. */
  acquire(msg: Message): number {
    let n = msg.id === 0 ? undefined : this.counts.get(msg.id);
    if (n === undefined) {
      // A Message may carry the id of a row deleted meanwhile (its last reference went through another object).
      msg.id = nextMessageId();
      this.store.putMessage(toStored(msg, msg.id));
      n = 0;
    }
    this.counts.set(msg.id, n + 1);
    return msg.id;
  }

  /** A reference read back from the store (restore or paging) that is already counted or is being counted now. */
  adopt(id: number): void {
    this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
  }

  /** Drops a reference; the row goes with the last one. */
  release(id: number): void {
    const n = this.counts.get(id);
    if (n === undefined) return;
    if (n > 1) this.counts.set(id, n - 1);
    else {
      this.counts.delete(id);
      this.store.deleteMessage(id);
    }
  }

  has(id: number): boolean {
    return this.counts.has(id);
  }

  clear(): void {
    this.counts.clear();
  }
}
