/** The one-line progress view of a job rollout (`thicket jobs watch`): pure rendering, no I/O. */
import type { JobProcessDetails } from '@aws-sdk/client-iot';

/** How many things' latest executions are in each status. */
export interface JobCounts {
  queued: number;
  inProgress: number;
  succeeded: number;
  failed: number;
  rejected: number;
  timedOut: number;
  canceled: number;
  removed: number;
}

/** The counts in the order and with the words the progress line prints them. */
const LABELS: ReadonlyArray<readonly [keyof JobCounts, string]> = [
  ['queued', 'queued'],
  ['inProgress', 'in progress'],
  ['succeeded', 'succeeded'],
  ['failed', 'failed'],
  ['rejected', 'rejected'],
  ['timedOut', 'timed out'],
  ['canceled', 'canceled'],
  ['removed', 'removed'],
];

export function jobCounts(d: JobProcessDetails | undefined): JobCounts {
  return {
    queued: d?.numberOfQueuedThings ?? 0,
    inProgress: d?.numberOfInProgressThings ?? 0,
    succeeded: d?.numberOfSucceededThings ?? 0,
    failed: d?.numberOfFailedThings ?? 0,
    rejected: d?.numberOfRejectedThings ?? 0,
    timedOut: d?.numberOfTimedOutThings ?? 0,
    canceled: d?.numberOfCanceledThings ?? 0,
    removed: d?.numberOfRemovedThings ?? 0,
  };
}

/** Executions that ended badly: a watch that saw any exits 1. */
export function failures(c: JobCounts): number {
  return c.failed + c.rejected + c.timedOut;
}

/** `queued 3  in progress 2  succeeded 10  …`: every count, or with `nonZero` only those above 0. */
export function countsText(c: JobCounts, nonZero = false): string {
  const parts = LABELS.filter(([k]) => !nonZero || c[k] > 0).map(([k, label]) => `${label} ${c[k]}`);
  return parts.length ? parts.join('  ') : 'no executions';
}

/**
 * Splits `width` cells among `values` in proportion (largest remainders), so that the cells add up
 * to `width` exactly; a value above 0 gets at least one cell while the widest part can spare one.
 * All zero (or no room) gives no cells at all.
 */
export function apportion(values: readonly number[], width: number): number[] {
  const total = values.reduce((a, b) => a + b, 0);
  if (total <= 0 || width <= 0) return values.map(() => 0);
  const exact = values.map((v) => (v * width) / total);
  const cells = exact.map(Math.floor);
  let left = width - cells.reduce((a, b) => a + b, 0);
  const byRemainder = exact.map((_, i) => i).sort((a, b) => exact[b]! - cells[b]! - (exact[a]! - cells[a]!) || a - b);
  for (const i of byRemainder) {
    if (left === 0) break;
    cells[i]!++;
    left--;
  }
  values.forEach((v, i) => {
    if (v <= 0 || cells[i]! > 0) return;
    const widest = cells.indexOf(Math.max(...cells));
    if (cells[widest]! > 1) {
      cells[widest]!--;
      cells[i] = 1;
    }
  });
  return cells;
}

/** The bar's parts, left to right: character and ANSI colour of each. */
const PARTS = [
  { char: '#', color: 32 }, // succeeded: green
  { char: '!', color: 31 }, // failed, rejected, timed out: red
  { char: '>', color: 33 }, // in progress: yellow
  { char: '.', color: 2 }, // queued: dim
  { char: '-', color: 2 }, // canceled, removed: dim
] as const;

/**
 * The bar, exactly `width` characters: succeeded `#`, failed/rejected/timed out `!`, in progress `>`,
 * queued `.`, canceled/removed `-`; blank while there are no executions.
 */
export function progressBar(c: JobCounts, width: number, color = false): string {
  const cells = apportion([c.succeeded, failures(c), c.inProgress, c.queued, c.canceled + c.removed], width);
  const used = cells.reduce((a, b) => a + b, 0);
  const drawn = PARTS.map((p, i) => {
    const s = p.char.repeat(cells[i]!);
    return color && s ? `\x1b[${p.color}m${s}\x1b[0m` : s;
  });
  return drawn.join('') + ' '.repeat(Math.max(0, width - used));
}

export interface RenderOptions {
  /** Terminal columns: the line stays shorter than this. Without it (not a terminal), the full line with a bar of 20. */
  columns?: number;
  /** ANSI colours in the bar. */
  color?: boolean;
}

export const BAR_WIDTH = 20;
const MAX_BAR = 40;

/**
 * One line: `[bar] queued 3  in progress 2  succeeded 10  failed 1  …  STATUS`. On a terminal it is
 * at most `columns - 1` characters (so redrawing it in place never wraps): the bar shrinks, then
 * only the counts above 0 are written, then the bar goes, and last the text is cut.
 */
export function renderProgress(c: JobCounts, status: string, opts: RenderOptions = {}): string {
  const full = `${countsText(c)}  ${status}`;
  const line = (bar: number, text: string): string => `[${progressBar(c, bar, opts.color)}] ${text}`;
  if (opts.columns === undefined) return line(BAR_WIDTH, full);
  const limit = opts.columns - 1;
  if (limit <= 0) return '';
  const short = `${countsText(c, true)}  ${status}`;
  // The full counts with a bar of at least 10, else the counts above 0 with a bar of at least 5.
  for (const [text, minBar] of [
    [full, 10],
    [short, 5],
  ] as const) {
    const room = limit - text.length - 3;
    if (room >= minBar) return line(Math.min(room, MAX_BAR), text);
  }
  return short.length <= limit ? short : short.slice(0, limit - 1) + '…';
}
