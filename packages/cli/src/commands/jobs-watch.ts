/** `thicket jobs watch`: polls DescribeJob and shows the rollout's progress until the job ends. */
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeJobCommand, type IoTClient, type Job } from '@aws-sdk/client-iot';
import { failures, jobCounts, renderProgress, type JobCounts } from './jobs-progress.js';

/** Job statuses after which nothing changes any more (the job is gone after DELETION_IN_PROGRESS). */
const FINAL = new Set(['COMPLETED', 'CANCELED', 'DELETION_IN_PROGRESS']);
/** Exit status when Ctrl-C ends the watch before the job did. */
export const INTERRUPTED = 130;

export interface WatchOptions {
  /** One JSON line per change (`{"status","jobProcessDetails"}`) instead of the progress line. */
  json?: boolean;
  intervalMs?: number;
}

const isAbort = (err: unknown): boolean => (err as { name?: string }).name === 'AbortError';
const isNotFound = (err: unknown): boolean => (err as { name?: string }).name === 'ResourceNotFoundException';

/**
 * Draws the progress of `jobId` until the job is COMPLETED, CANCELED or deleted, or Ctrl-C. On a
 * terminal one line is redrawn in place; otherwise a line is printed each time the counts or the
 * status change. Resolves to the exit status: 0, 1 when an execution failed, was rejected or timed
 * out, or INTERRUPTED.
 */
export async function watchJob(iot: IoTClient, jobId: string, o: WatchOptions = {}): Promise<number> {
  const out = process.stdout;
  const tty = !o.json && out.isTTY === true;
  const abort = new AbortController();
  const stop = (): void => abort.abort();
  process.once('SIGINT', stop);
  let last: { counts: JobCounts; status: string } | undefined;
  let drawn = false;
  let printedKey = '';
  const show = (counts: JobCounts, status: string, details: Job['jobProcessDetails']): void => {
    last = { counts, status };
    if (tty) {
      out.write(`\r${renderProgress(counts, status, { columns: out.columns, color: !process.env.NO_COLOR })}\x1b[K`);
      drawn = true;
      return;
    }
    const key = JSON.stringify([counts, status]);
    if (key === printedKey) return;
    printedKey = key;
    out.write((o.json ? JSON.stringify({ jobId, status, jobProcessDetails: details }) : renderProgress(counts, status)) + '\n');
  };
  try {
    for (;;) {
      let job: Job | undefined;
      try {
        job = (await iot.send(new DescribeJobCommand({ jobId }), { abortSignal: abort.signal })).job;
      } catch (err) {
        if (abort.signal.aborted) return INTERRUPTED;
        // Deleted while watched: the last counts stand.
        if (!isNotFound(err) || !last) throw err;
        show(last.counts, 'DELETED', undefined);
        return failures(last.counts) > 0 ? 1 : 0;
      }
      const counts = jobCounts(job?.jobProcessDetails);
      const status = job?.status ?? 'UNKNOWN';
      const start = job?.schedulingConfig?.startTime;
      // A scheduled job has nothing to count yet: the line says when it starts.
      show(counts, status === 'SCHEDULED' && start && !o.json ? `SCHEDULED (starts ${start} UTC)` : status, job?.jobProcessDetails);
      if (FINAL.has(status)) return failures(counts) > 0 ? 1 : 0;
      try {
        await sleep(o.intervalMs ?? 500, undefined, { signal: abort.signal });
      } catch (err) {
        if (isAbort(err)) return INTERRUPTED;
        throw err;
      }
    }
  } finally {
    process.off('SIGINT', stop);
    if (drawn) out.write('\n');
  }
}
