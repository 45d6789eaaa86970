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

/**
 * A check per key that looks at the state as it is when it runs (is the job complete now?): asked
 * while one runs, it runs once more after it, for every caller that asked meanwhile. A thousand
 * devices ending their executions at once thus cause two checks rather than a thousand that each
 * find the job complete and race to write it so.
 */
export class KeyedRecheck {
  private readonly runs = new Map<string, { done: Promise<void>; next?: Promise<void> }>();

  run(key: string, fn: () => Promise<void>): Promise<void> {
    const current = this.runs.get(key);
    if (!current) return this.start(key, fn);
    // Started after this call, it sees whatever the caller wrote before asking.
    const again = (): Promise<void> => this.start(key, fn);
    return (current.next ??= current.done.then(again, again));
  }

  private start(key: string, fn: () => Promise<void>): Promise<void> {
    const run: { done: Promise<void>; next?: Promise<void> } = { done: Promise.resolve() };
    this.runs.set(key, run);
    run.done = (async () => {
      try {
        await fn();
      } finally {
        if (this.runs.get(key) === run && run.next === undefined) this.runs.delete(key);
      }
    })();
    return run.done;
  }
}

/**
 * At most `n` pieces of async work at once, the rest started in the order they were asked for.
 * On embedded SQLite a request never truly waits for the database (each statement runs
 * synchronously), so requests started together only interleave at their awaits: a thousand
 * devices' requests then each hold their state across all the others, and the last answer comes
 * no sooner. One at a time, each request finishes before the next begins.
 */
export class Limiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly n: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.running >= this.n) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.running++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next in line.
      if (next) next();
      else this.running--;
    }
  }
}
