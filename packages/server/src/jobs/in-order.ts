/**
 * Async work run one piece at a time per key, in the order it was asked for: the MQTT requests of
 * one thing (and the registry's changes to it) are applied in arrival order on a node, though each
 * awaits the database, while other things' requests go on beside them.
 */
export class KeyedSerial {
  private readonly tails = new Map<string, Promise<void>>();

  run<T>(key: string, fn: () => Promise<T> | T): Promise<T> {
    // Even with nothing queued, `fn` starts after the caller's synchronous work (a registry transaction) has ended.
    const next = (this.tails.get(key) ?? Promise.resolve()).then(fn);
    // One failure does not stop what was queued after it.
    const tail = next.then(
      () => undefined,
      () => undefined,
    );
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return next;
  }
}
