/**
 * What a simulation counts, and how it shows it: on a terminal one block redrawn in place, else a
 * plain line now and then; a summary at the end (JSON with `--json`).
 */
export interface Counts {
  devices: number;
  provisioned: number;
  connected: number;
  messages: number;
  shadowUpdates: number;
  deltasApplied: number;
  jobsSucceeded: number;
  jobsFailed: number;
  otaDownloads: number;
  disconnects: number;
  errors: number;
}

export class Stats {
  readonly counts: Counts;
  readonly startedAt = Date.now();
  /** Errors by message, so a thousand devices failing alike make one line. */
  readonly errorsByKind = new Map<string, number>();
  private lastMessages = 0;
  private lastAt = Date.now();
  /** Messages per second over the last interval shown. */
  rate = 0;

  constructor(devices: number) {
    this.counts = {
      devices,
      provisioned: 0,
      connected: 0,
      messages: 0,
      shadowUpdates: 0,
      deltasApplied: 0,
      jobsSucceeded: 0,
      jobsFailed: 0,
      otaDownloads: 0,
      disconnects: 0,
      errors: 0,
    };
  }

  error(err: unknown): void {
    this.counts.errors++;
    const kind = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 160);
    this.errorsByKind.set(kind, (this.errorsByKind.get(kind) ?? 0) + 1);
  }

  /** Takes the message rate since the last call. */
  sample(now = Date.now()): void {
    const seconds = (now - this.lastAt) / 1000;
    if (seconds > 0) this.rate = (this.counts.messages - this.lastMessages) / seconds;
    this.lastMessages = this.counts.messages;
    this.lastAt = now;
  }

  line(now = Date.now()): string {
    const c = this.counts;
    return (
      `${clock(now - this.startedAt)} connected ${c.connected}/${c.devices}  provisioned ${c.provisioned}  ` +
      `msgs/s ${this.rate.toFixed(0)}  msgs ${c.messages}  shadow ${c.shadowUpdates}  ` +
      `jobs ${c.jobsSucceeded} ok ${c.jobsFailed} failed  disconnects ${c.disconnects}  errors ${c.errors}`
    );
  }

  summary(now = Date.now()): Record<string, unknown> {
    const seconds = (now - this.startedAt) / 1000;
    return {
      ...this.counts,
      seconds: Math.round(seconds * 10) / 10,
      messagesPerSecond: Math.round((this.counts.messages / Math.max(seconds, 0.001)) * 10) / 10,
      errorsByKind: Object.fromEntries([...this.errorsByKind].sort((a, b) => b[1] - a[1]).slice(0, 10)),
    };
  }
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** Shows the counts while the simulation runs; returns what stops it. */
export function showProgress(stats: Stats, out: NodeJS.WriteStream, opts: { json: boolean; intervalMs: number }): () => void {
  if (opts.json) return () => undefined;
  const tty = out.isTTY === true;
  let shown = false;
  const draw = () => {
    stats.sample();
    const text = stats.line();
    const kinds = [...stats.errorsByKind].sort((a, b) => b[1] - a[1]).slice(0, 3);
    if (tty) {
      // Up to the block's start, clear to the end of the screen, draw again.
      if (shown) out.write('\x1b[4F\x1b[J');
      out.write(`${text}\n`);
      for (let i = 0; i < 3; i++) out.write(kinds[i] ? `  ${kinds[i]![1]}× ${kinds[i]![0]}\n` : '\n');
      shown = true;
    } else {
      out.write(`${text}\n`);
    }
  };
  const timer = setInterval(draw, tty ? Math.min(opts.intervalMs, 500) : opts.intervalMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    draw();
  };
}

/** The end of a run, for people. */
export function summaryText(s: Record<string, unknown>): string {
  const errors = s.errorsByKind as Record<string, number>;
  const lines = [
    `simulated ${String(s.devices)} devices for ${String(s.seconds)} s: ${String(s.provisioned)} provisioned, ${String(s.messages)} messages (${String(s.messagesPerSecond)}/s), ` +
      `${String(s.shadowUpdates)} shadow updates, ${String(s.deltasApplied)} deltas applied, jobs ${String(s.jobsSucceeded)} succeeded / ${String(s.jobsFailed)} failed, ` +
      `${String(s.otaDownloads)} OTA downloads, ${String(s.disconnects)} disconnects, ${String(s.errors)} errors`,
  ];
  for (const [k, n] of Object.entries(errors)) lines.push(`  ${n}× ${k}`);
  return `${lines.join('\n')}\n`;
}
