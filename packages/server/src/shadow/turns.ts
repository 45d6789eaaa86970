/**
 * Work in arrival order per key: a promise chain per key, dropped when the key's last task is
 * done, so idle keys cost nothing. A task whose key is idle starts at once, in the caller's turn of
 * the event loop (on SQLite a shadow update then writes before the broker acknowledges the request);
 * one whose key is busy starts when the task before it has settled, whether it failed or not.
 */
export class Turns {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Runs `task` after every task given for `key` before it; settles as the task does. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key);
    const result = before === undefined ? start(task) : before.then(() => start(task));
    // Dropped in the same step that settles the tail: a caller awaiting `result` finds the key idle.
    const done = (): void => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
    const tail: Promise<void> = result.then(done, done);
    this.tails.set(key, tail);
    return result;
  }

  /** Keys with work queued or running. */
  get busy(): number {
    return this.tails.size;
  }
}

/** Calls the task, turning a synchronous throw into a rejection. */
function start<T>(task: () => Promise<T>): Promise<T> {
  try {
    return task();
  } catch (err) {
    return Promise.reject(err as Error);
  }
}
