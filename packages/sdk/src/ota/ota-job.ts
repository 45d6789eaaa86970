/**
 * Runs an OTA job execution: reads the files from the job document, downloads each (resuming
 * partial files), verifies them, reports progress as IN_PROGRESS statusDetails `{progress: "42%"}`,
 * lets the device install them, and ends the execution SUCCEEDED — or FAILED with the reason.
 */
import { OtaError } from '../errors.js';
import type { JobsClient } from '../jobs/jobs-client.js';
import { MAX_STATUS_DETAIL_CHARS, OtaDocumentError, parseOtaDocument, type JobExecution, type OtaFile } from '../protocol/index.js';
import { downloadFile, type DownloadedFile, type DownloadOptions } from './download.js';

export interface OtaJobOptions extends Omit<DownloadOptions, 'onProgress'> {
  /** Progress is reported each time it passes another multiple of this many percent; default 10. */
  progressStepPercent?: number;
  /** Network failures are retried (resuming) this many times per file; default 3. */
  retries?: number;
  /** Passed with every IN_PROGRESS update: the execution times out unless updated within it. */
  stepTimeoutInMinutes?: number;
  /** Installs the verified files; a throw fails the job with reason `install-failed`. */
  install?: (files: DownloadedFile[], execution: JobExecution) => void | Promise<void>;
  /** Called with every progress report (also when reporting to the job fails). */
  onProgress?: (percent: number, fileName: string) => void;
}

export interface OtaJobResult {
  status: 'SUCCEEDED' | 'FAILED';
  files: DownloadedFile[];
  /** Why it failed. */
  error?: OtaError;
}

const clip = (s: string): string => (s.length > MAX_STATUS_DETAIL_CHARS ? `${s.slice(0, MAX_STATUS_DETAIL_CHARS - 1)}…` : s);

/**
 * Runs the execution to its end. Aborting through `signal` stops without touching the execution
 * (as if the process had stopped): running it again later resumes the download.
 */
export async function runOtaJob(jobs: JobsClient, execution: JobExecution, o: OtaJobOptions): Promise<OtaJobResult> {
  const step = o.progressStepPercent ?? 10;
  const inProgress = (statusDetails: Record<string, string>) =>
    jobs.update(execution.jobId, {
      status: 'IN_PROGRESS',
      statusDetails,
      ...(o.stepTimeoutInMinutes !== undefined ? { stepTimeoutInMinutes: o.stepTimeoutInMinutes } : {}),
    });
  const fail = async (error: OtaError, files: DownloadedFile[]): Promise<OtaJobResult> => {
    await jobs.update(execution.jobId, { status: 'FAILED', statusDetails: { reason: error.reason, message: clip(error.message) } });
    return { status: 'FAILED', files, error };
  };

  let files: OtaFile[];
  try {
    files = parseOtaDocument(execution.jobDocument);
  } catch (err) {
    if (err instanceof OtaDocumentError) return fail(new OtaError('invalid-document', err.message), []);
    throw err;
  }

  // Progress over all files by bytes when every size is known, else by file count and the current file.
  const sizes = files.map((f) => f.size);
  const known = sizes.every((s) => s !== undefined) ? sizes.reduce<number>((a, s) => a + s!, 0) : undefined;
  let reported = -1;
  let reporting: Promise<unknown> = Promise.resolve();
  const progress = (percent: number, fileName: string): void => {
    const p = Math.min(100, Math.floor(percent));
    if (p < 100 && reported >= 0 && Math.floor(p / step) === Math.floor(reported / step)) return;
    if (p === reported) return;
    reported = p;
    o.onProgress?.(p, fileName);
    // One update at a time, in order; a failed progress report does not stop the download.
    reporting = reporting.then(() => inProgress({ progress: `${p}%`, file: fileName }).catch(() => undefined));
  };

  const downloaded: DownloadedFile[] = [];
  let before = 0;
  for (const [i, file] of files.entries()) {
    const onProgress = ({ received, total }: { received: number; total: number | undefined }): void => {
      if (known !== undefined && known > 0) progress(((before + received) / known) * 100, file.fileName);
      else if (total) progress(((i + received / total) / files.length) * 100, file.fileName);
    };
    let result: DownloadedFile | undefined;
    for (let attempt = 0; !result; attempt++) {
      try {
        result = await downloadFile(file, { ...o, onProgress });
      } catch (err) {
        if (o.signal?.aborted) {
          await reporting;
          throw err;
        }
        if (err instanceof OtaError) {
          await reporting;
          return fail(err, downloaded);
        }
        if (attempt >= (o.retries ?? 3)) {
          await reporting;
          return fail(new OtaError('download-failed', `${file.fileName}: ${(err as Error).message}`), downloaded);
        }
      }
    }
    downloaded.push(result);
    before += result.bytes;
  }
  progress(100, files[files.length - 1]!.fileName);
  await reporting;

  if (o.install) {
    try {
      await o.install(downloaded, execution);
    } catch (err) {
      return fail(new OtaError('install-failed', (err as Error).message), downloaded);
    }
  }
  await jobs.update(execution.jobId, { status: 'SUCCEEDED', statusDetails: { progress: '100%' } });
  return { status: 'SUCCEEDED', files: downloaded };
}
