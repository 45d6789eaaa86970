/**
 * What one capability re-reads of what other nodes wrote: whole (its tables) or row by row (keys
 * its stores marked), one re-read at a time and in the order heard, so an older read never lands
 * over a newer one. Requests heard while one runs are served by the next run; a whole re-read
 * serves the rows asked for with it. A row re-read that fails turns into a whole one.
 */
import type { ChangedKey } from '../store/sql/changed-keys.js';

/** Beyond this many rows in one run, reading the capability whole is cheaper. */
const MOST_ROWS = 500;

export interface ReloadHandlers {
  whole(): Promise<void>;
  row(key: ChangedKey): Promise<void>;
  failed(err: Error): void;
}

export class ReloadQueue {
  private whole = false;
  private rows = new Map<string, ChangedKey>();
  private waiters: Array<() => void> = [];
  private running = false;

  constructor(private readonly handlers: ReloadHandlers) {}

  /** Resolves once what is asked for was re-read by a run that started after this call. */
  request(work: { whole: true } | { keys: readonly ChangedKey[] }): Promise<void> {
    if ('whole' in work) this.whole = true;
    else for (const k of work.keys) this.rows.set(`${k.kind}\n${k.ns.accountId}\n${k.ns.region}\n${k.key}`, k);
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    if (!this.running) void this.drain();
    return done;
  }

  private async drain(): Promise<void> {
    this.running = true;
    while (this.whole || this.rows.size > 0) {
      const whole = this.whole || this.rows.size > MOST_ROWS;
      const rows = [...this.rows.values()];
      const waiters = this.waiters;
      this.whole = false;
      this.rows = new Map();
      this.waiters = [];
      try {
        if (whole) await this.handlers.whole();
        else await Promise.all(rows.map((k) => this.handlers.row(k)));
      } catch (err) {
        this.handlers.failed(err as Error);
        // Rows that could not be read are read whole next, and their waiters wait for that; a whole
        // read that failed waits for the next announcement or catch-up.
        if (!whole) {
          this.whole = true;
          this.waiters.unshift(...waiters);
          continue;
        }
      }
      for (const w of waiters) w();
    }
    this.running = false;
  }
}
