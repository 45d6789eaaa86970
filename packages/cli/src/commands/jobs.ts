/** `thicket jobs`: AWS IoT Jobs over the control-plane API, and a live view of a rollout. */
import type { Command } from 'commander';
import {
  CancelJobCommand,
  CreateJobCommand,
  DeleteJobCommand,
  DescribeJobCommand,
  DescribeJobExecutionCommand,
  GetJobDocumentCommand,
  ListJobExecutionsForJobCommand,
  ListJobExecutionsForThingCommand,
  ListJobsCommand,
  type IoTClient,
  type Job,
  type JobExecution,
  type JobExecutionStatus,
  type JobExecutionSummary,
  type JobStatus,
} from '@aws-sdk/client-iot';
import { apiOptions, withClient, type ApiOptions } from '../api-client.js';
import { fields, print, table } from '../output.js';
import { TARGETS_HELP, createJobRequest, type CreateOptions } from './jobs-create.js';
import { countsText, jobCounts } from './jobs-progress.js';
import { watchJob } from './jobs-watch.js';
import { all } from './registry.js';

const WATCH_HELP = `
The line shows a bar (# succeeded, ! failed/rejected/timed out, > in progress, . queued,
- canceled/removed), the count of each execution status and the job status. On a terminal it is
redrawn in place; otherwise a line is printed whenever it changes (with --json, a JSON line).
It ends when the job is COMPLETED, CANCELED or deleted. Exit status: 0, 1 if any execution
failed, was rejected or timed out, 130 on Ctrl-C.`;

/** Runs `fn` on each item, at most `limit` at a time, keeping the order. */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** A job's schedule as `jobs describe` prints it: windows as `cron(…)/minutes`, the next openings. */
function scheduleFields(job: Job | undefined) {
  const s = job?.schedulingConfig;
  return {
    startTime: s?.startTime,
    endTime: s?.endTime,
    endBehavior: s?.endTime !== undefined ? (s.endBehavior ?? 'STOP_ROLLOUT') : s?.endBehavior,
    maintenanceWindows: s?.maintenanceWindows?.map((w) => `${w.startTime}/${w.durationInMinutes}`).join(', ') || undefined,
    nextWindows: job?.scheduledJobRollouts?.map((r) => r.startTime).join(', ') || undefined,
  };
}

const nameOf = (arn: string | undefined): string => arn?.slice(arn.lastIndexOf('/') + 1) ?? '';

/** An execution that `jobs executions` lists: its latest attempt, or the one of the summary. */
interface Listed {
  jobId: string;
  thingName: string;
  summary: JobExecutionSummary | undefined;
}

/** A row of `jobs executions`: the listed attempt, described for its version number (gone since: without). */
async function executionRow(iot: IoTClient, x: Listed) {
  const s = x.summary;
  let e: JobExecution | undefined;
  try {
    ({ execution: e } = await iot.send(
      new DescribeJobExecutionCommand({ jobId: x.jobId, thingName: x.thingName, executionNumber: s?.executionNumber }),
    ));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ResourceNotFoundException') throw err;
  }
  return {
    status: e?.status ?? s?.status,
    execution: e?.executionNumber ?? s?.executionNumber,
    version: e?.versionNumber,
    updated: e?.lastUpdatedAt ?? s?.lastUpdatedAt,
  };
}

/** The API's summaries with --json, else a table of the executions named by thing or by job. */
async function printExecutions(iot: IoTClient, json: boolean | undefined, summaries: object[], listed: Listed[], by: 'thing' | 'job') {
  if (json) return print(true, { executionSummaries: summaries }, () => '');
  const rows = await mapLimited(listed, 8, async (x) => ({
    [by]: by === 'thing' ? x.thingName : x.jobId,
    ...(await executionRow(iot, x)),
  }));
  process.stdout.write(table(rows, [by, 'status', 'execution', 'version', 'updated']));
}

async function runWatch(iot: IoTClient, jobId: string, json: boolean | undefined): Promise<void> {
  const code = await watchJob(iot, jobId, { json });
  if (code !== 0) process.exitCode = code;
}

export function registerJobs(program: Command): void {
  const jobs = program.command('jobs').description('jobs: documents rolled out to things, and their executions');

  apiOptions(jobs.command('create <jobId>').description('create a job for things and thing groups'))
    .requiredOption('--targets <target...>', 'things and thing groups (see Targets below)')
    .option('--document <json>', 'the job document (JSON, @file or - for standard input)')
    .option('--template <id>', 'a job template (its id or ARN) giving the document and configuration')
    .option('--description <text>', 'description')
    .option('--continuous', 'also run on things that join a target group later')
    .option('--max-per-minute <n>', 'notify at most n things a minute')
    .option('--timeout-minutes <n>', 'an execution IN_PROGRESS this long times out')
    .option('--retries <n>', 'retry failed and timed-out executions up to n times')
    .option('--abort-threshold <pct>', 'cancel the job when this percentage of executions failed…')
    .option('--abort-min <n>', '…once at least n executions ended')
    .option('--param <name=value...>', 'values for ${aws:iot:parameter:name} in the document')
    .option('--start-time <time>', 'start the rollout then (UTC, YYYY-MM-DDTHH:MM); the job is SCHEDULED until then')
    .option('--end-time <time>', 'apply --end-behavior then (UTC, YYYY-MM-DDTHH:MM)')
    .option('--end-behavior <behavior>', 'at --end-time: STOP_ROLLOUT, CANCEL or FORCE_CANCEL')
    .option('--maintenance-window <cron/minutes...>', "notify things only inside these windows: 'cron(…)/minutes'")
    .option('--watch', 'then show the progress, as `jobs watch` does')
    .addHelpText('after', TARGETS_HELP)
    .action((jobId: string, o: CreateOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new CreateJobCommand(await createJobRequest(iot, jobId, o)));
        print(o.json, r, () => `created job ${r.jobId} (${r.jobArn})\n`);
        if (o.watch) await runWatch(iot, jobId, o.json);
      }),
    );

  apiOptions(jobs.command('describe <jobId>').description('show a job and how many executions are in each status')).action(
    (jobId: string, o: ApiOptions) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new DescribeJobCommand({ jobId }));
        print(o.json, r, () => {
          const job = {
            ...r.job,
            ...scheduleFields(r.job),
            documentSource: r.documentSource,
            executions: countsText(jobCounts(r.job?.jobProcessDetails)),
          };
          const keys = ['jobId', 'jobArn', 'status', 'targetSelection', 'description', 'targets', 'documentSource', 'jobTemplateArn'];
          const schedule = ['startTime', 'endTime', 'endBehavior', 'maintenanceWindows', 'nextWindows'];
          const more = ['forceCanceled', 'reasonCode', 'comment', 'createdAt', 'lastUpdatedAt', 'completedAt', 'executions'];
          return fields(
            job,
            [...keys, ...schedule, ...more].filter((k) => (job as Record<string, unknown>)[k] !== undefined),
          );
        });
      }),
  );

  apiOptions(jobs.command('list').description('list jobs, newest first'))
    .option('--status <status>', 'only jobs in this status (IN_PROGRESS, COMPLETED, CANCELED, DELETION_IN_PROGRESS, SCHEDULED)')
    .option('--group <name>', 'only jobs targeting this thing group')
    .action((o: ApiOptions & { status?: string; group?: string }) =>
      withClient(o, async (iot) => {
        const list = await all(async (nextToken) => {
          const r = await iot.send(new ListJobsCommand({ nextToken, status: o.status as JobStatus, thingGroupName: o.group }));
          return { items: r.jobs, next: r.nextToken };
        });
        if (o.json) return print(true, { jobs: list }, () => '');
        // ListJobs has no schedule: a SCHEDULED job is described for when it starts.
        const rows = await mapLimited(list, 8, async (j) => ({
          ...j,
          startTime:
            j.status === 'SCHEDULED'
              ? (await iot.send(new DescribeJobCommand({ jobId: j.jobId }))).job?.schedulingConfig?.startTime
              : undefined,
        }));
        const columns = ['jobId', 'status', 'targetSelection', 'createdAt', 'completedAt'];
        if (rows.some((r) => r.startTime !== undefined)) columns.splice(2, 0, 'startTime');
        process.stdout.write(table(rows, columns));
      }),
    );

  apiOptions(jobs.command('cancel <jobId>').description('cancel a job: its queued executions, with --force its in-progress ones too'))
    .option('--force', 'also cancel executions that are IN_PROGRESS')
    .option('--reason-code <code>', 'reason code to record')
    .option('--comment <text>', 'comment to record')
    .action((jobId: string, o: ApiOptions & { force?: boolean; reasonCode?: string; comment?: string }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new CancelJobCommand({ jobId, force: o.force, reasonCode: o.reasonCode, comment: o.comment }));
        print(o.json, r, () => `canceled job ${jobId}${o.force ? ' (in-progress executions too)' : ''}\n`);
      }),
    );

  apiOptions(jobs.command('delete <jobId>').description('delete a completed or canceled job and its executions'))
    .option('--force', 'also a job that is still in progress')
    .action((jobId: string, o: ApiOptions & { force?: boolean }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new DeleteJobCommand({ jobId, force: o.force }));
        print(o.json, r, () => `deleted job ${jobId}\n`);
      }),
    );

  apiOptions(
    jobs
      .command('executions [jobId]')
      .description("a job's executions (one per thing), a thing's executions with --thing, or one execution with both"),
  )
    .option('--thing <thingName>', "the thing's executions")
    .option('--status <status>', 'only executions in this status (QUEUED, IN_PROGRESS, SUCCEEDED, FAILED, …)')
    .action((jobId: string | undefined, o: ApiOptions & { thing?: string; status?: string }) =>
      withClient(o, async (iot) => {
        const status = o.status as JobExecutionStatus | undefined;
        if (jobId !== undefined && o.thing !== undefined) {
          const r = await iot.send(new DescribeJobExecutionCommand({ jobId, thingName: o.thing }));
          print(o.json, r, () => fields({ ...r.execution, statusDetails: r.execution?.statusDetails?.detailsMap }));
        } else if (jobId !== undefined) {
          const list = await all(async (nextToken) => {
            const r = await iot.send(new ListJobExecutionsForJobCommand({ jobId, status, nextToken }));
            return { items: r.executionSummaries, next: r.nextToken };
          });
          const listed = list.map((s) => ({ jobId, thingName: nameOf(s.thingArn), summary: s.jobExecutionSummary }));
          await printExecutions(iot, o.json, list, listed, 'thing');
        } else if (o.thing !== undefined) {
          const thingName = o.thing;
          const list = await all(async (nextToken) => {
            const r = await iot.send(new ListJobExecutionsForThingCommand({ thingName, status, nextToken }));
            return { items: r.executionSummaries, next: r.nextToken };
          });
          const listed = list.map((s) => ({ jobId: s.jobId!, thingName, summary: s.jobExecutionSummary }));
          await printExecutions(iot, o.json, list, listed, 'job');
        } else {
          throw new Error('give a job id, --thing, or both');
        }
      }),
    );

  apiOptions(jobs.command('document <jobId>').description("print a job's document"))
    .option('--before-substitution', 'with the ${aws:iot:parameter:…} placeholders as written')
    .action((jobId: string, o: ApiOptions & { beforeSubstitution?: boolean }) =>
      withClient(o, async (iot) => {
        const r = await iot.send(new GetJobDocumentCommand({ jobId, beforeSubstitution: o.beforeSubstitution }));
        print(o.json, r, () => {
          const text = r.document ?? '';
          try {
            return JSON.stringify(JSON.parse(text), null, 2) + '\n';
          } catch {
            return text.endsWith('\n') ? text : text + '\n';
          }
        });
      }),
    );

  apiOptions(jobs.command('watch <jobId>').description("show a rollout's progress live until the job ends"))
    .addHelpText('after', WATCH_HELP)
    .action((jobId: string, o: ApiOptions) => withClient(o, (iot) => runWatch(iot, jobId, o.json)));
}
