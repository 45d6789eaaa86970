/**
 * Runs async work one piece at a time, in the order it was asked for: a store's writes and the
 * in-memory state that follows them (installed rules, held destinations) then change in the order
 * the database saw them, whichever connection finished first.
 */
export class Serial {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const next = this.tail.then(fn);
    // One failure does not stop what was queued after it.
    this.tail = next.catch(() => undefined);
    return next;
  }
}
