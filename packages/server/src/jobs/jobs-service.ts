/**
 * The Jobs control plane (reference controlplane §5.1): jobs and their targets, timers,
 * cancellation and deletion, job templates, and continuous jobs following thing group membership.
 * Device-side operations are in device-jobs.ts; what follows a change of an execution
 * (notifications, events, retries, abort, completion) in job-lifecycle.ts; the paced rollout in
 * job-rollout.ts; executions as administrators see them in job-executions.ts.
 *
 * Every change is a conditional write on what was read, retried on what is there now when another
 * writer (a request, the timers, another node) changed it first (`untilApplied`). The timers run
 * on every node; their writes being conditional, two nodes never do the same step twice.
 */
import type { Logger } from 'pino';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { pageOf } from '../api/pagination.js';
import { alreadyExists, invalidRequest, limitExceeded, notFound } from '../aws/errors.js';
import type { RegistryEvents } from '../registry/events.js';
import type { RegistryStore } from '../registry/registry-store.js';
import type { ThingGroups } from '../registry/thing-groups.js';
import { keyOf } from '../store/held-rows.js';
import {
  applyParameters,
  checkDocument,
  checkDocumentParameters,
  checkJobId,
  checkTargets,
  checkTargetSelection,
  MAX_TARGETS,
  optionalConfig,
  optionalText,
} from './job-config.js';
import { ExecutionAdmin, invalidTransition } from './job-executions.js';
import { JobLifecycle, withOutbox, type JobPublish, type Outbox, type PendingSnapshot } from './job-lifecycle.js';
import { JobRollout } from './job-rollout.js';
import { untilApplied, type JobStore } from './job-store.js';
import { JobTemplates } from './job-templates.js';
import { JOB_STATUSES, deadlineOf, type ExecutionRecord, type JobConfig, type JobRecord } from './job-types.js';
import { jobSummary, jobView } from './job-views.js';
import { checkSchedulingConfig } from './job-schedule.js';
import { JobScheduler } from './job-scheduler.js';
import { expandTargets, targetsThing } from './job-targets.js';
import type { TemplateWindows } from './job-templates.js';
import { KeyedSerial } from './in-order.js';
import { ParsedDocuments } from './parsed-documents.js';
import { fileReferences } from '../files/placeholders.js';

/** What the Jobs service needs from the file store (OTA payloads and documents kept as files). */
export interface JobFiles {
  /** Rejects with InvalidRequestException when the document names a file that does not exist. */
  checkReferences(ns: Namespace, documentText: string): Promise<void>;
  /** The document with its file placeholders replaced by presigned URLs and digests. */
  substitute(ns: Namespace, documentText: string, expiresInSec: number): Promise<string>;
  /** The text of a stored file used as a job document (`documentSource`). */
  readText(ns: Namespace, fileName: string, maxBytes: number): Promise<string>;
}

export interface JobsDeps {
  store: JobStore;
  registry: Pick<RegistryStore, 'thing' | 'group'>;
  groups: Pick<ThingGroups, 'members' | 'groupsReaching'>;
  events: RegistryEvents;
  publish: JobPublish;
  files?: JobFiles;
  clock?: () => number;
  log?: Pick<Logger, 'error'>;
  /** Whether this node runs the timers now (in a cluster, the node holding the jobs lease; else always). */
  leader?: () => boolean;
}

const MAX_RESULTS = 250;
const TICK_MS = 1000;
/** `documentSource` naming a Thicket file instead of an S3 object. */
const FILE_SOURCE = /^thicket:files\/([a-zA-Z0-9._-]{1,128})$/;

export class JobsService {
  readonly lifecycle: JobLifecycle;
  readonly templates: JobTemplates;
  readonly scheduler: JobScheduler;
  readonly executions: ExecutionAdmin;
  /** One thing's device requests and registry changes, in arrival order on this node. */
  readonly things = new KeyedSerial();
  private readonly store: JobStore;
  private readonly clock: () => number;
  private readonly rollout: JobRollout;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  /** Parsed job documents without placeholders, by their text. */
  private readonly staticDocuments = new ParsedDocuments(64);
  /** Work started by registry changes, not yet finished. */
  private readonly background = new Set<Promise<void>>();

  constructor(private readonly d: JobsDeps) {
    this.store = d.store;
    this.clock = d.clock ?? Date.now;
    this.lifecycle = new JobLifecycle({
      store: d.store,
      events: d.events,
      publish: d.publish,
      clock: this.clock,
      documentFor: (ns, job) => this.deviceDocument(ns, job),
    });
    this.scheduler = new JobScheduler({
      store: d.store,
      lifecycle: this.lifecycle,
      clock: this.clock,
      expandTargets: (ns, job) => this.expandTargets(ns, job.targets, true),
      rollOut: (ns, jobId, out) => this.rollout.rollOut(ns, jobId, out),
    });
    this.rollout = new JobRollout({ ...d, lifecycle: this.lifecycle, scheduler: this.scheduler, clock: this.clock });
    this.executions = new ExecutionAdmin({ store: d.store, lifecycle: this.lifecycle, registry: d.registry, clock: this.clock });
    this.templates = new JobTemplates(d.store, this.clock, (ns, source) => this.sourceDocument(ns, source));
  }

  /** Starts the timers (execution timeouts, schedules, rollouts); they pick up where the store left off. */
  start(): void {
    this.timer ??= setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
  }

  /** Stops the timers; returns once a tick and the work of registry changes in progress have ended. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.ticking;
    await this.settled();
  }

  /** Returns once the work that registry changes started (continuous jobs, deleted things) has ended. */
  async settled(): Promise<void> {
    while (this.background.size > 0) await Promise.all(this.background);
  }

  /**
   * Times out executions whose timer ran out, starts and ends scheduled jobs, and lets rollouts
   * notify their next things. One tick at a time: a tick asked for while one runs is that one.
   */
  tick(): Promise<void> {
    this.ticking ??= this.runTimers()
      // A bad record must not take the server down (and again at every restart): log and go on.
      .catch((err: unknown) => this.d.log?.error({ err }, 'jobs timer tick failed'))
      .finally(() => (this.ticking = undefined));
    return this.ticking;
  }

  private async runTimers(): Promise<void> {
    // Timeouts, schedules and rollouts run once in a cluster, on the lease holder (at their pace).
    if (this.d.leader && !this.d.leader()) return;
    await this.expireDue();
    await withOutbox(async (out) => {
      await this.scheduler.runDue(out);
      for (const { ns, jobId } of await this.store.rollingOut()) await this.rollout.rollOut(ns, jobId, out);
    });
  }

  /**
   * Times out IN_PROGRESS executions whose timer ran out. The tick calls it every second, and the
   * device API before each request, so a device never gets an update accepted after its deadline.
   */
  async expireDue(): Promise<void> {
    const now = this.clock();
    const due = await this.store.dueExecutions(now);
    if (due.length === 0) return;
    await withOutbox(async (out) => {
      for (const d of due) {
        await untilApplied('The job execution', async () => {
          const e = await this.store.execution(d.ns, d.jobId, d.thingName, d.executionNumber);
          // Ended, or given a new step timer, since the query.
          if (!e || e.status !== 'IN_PROGRESS' || (deadlineOf(e) ?? Infinity) > now) return true;
          const before = await this.lifecycle.snapshot(d.ns, e.thingName);
          e.status = 'TIMED_OUT';
          e.versionNumber++;
          e.lastUpdatedAt = now;
          e.stepDeadline = undefined;
          e.inProgressDeadline = undefined;
          return this.lifecycle.changed(d.ns, e, before, out);
        });
      }
    });
  }

  // ---- documents

  /** The document as devices receive it: parameters filled, file placeholders signed, parsed. */
  async deviceDocument(ns: Namespace, job: JobRecord): Promise<unknown> {
    let text = applyParameters(job.document, job.documentParameters);
    // Without a placeholder the document is the same for every device: parsed once, shared frozen
    // (a rollout to a thousand things parsed it a thousand times).
    if (!text.includes('${')) return this.staticDocuments.get(text);
    if (this.d.files) text = await this.d.files.substitute(ns, text, job.presignedUrlConfig?.expiresInSec ?? 3600);
    return JSON.parse(text) as unknown;
  }

  /** A job that is not over and whose document names the file, described for an error message. */
  async fileUser(ns: Namespace, fileName: string): Promise<string | undefined> {
    for (const job of this.store.jobs(ns)) {
      if (!fileReferences(applyParametersLoosely(job)).includes(fileName)) continue;
      if (job.status === 'IN_PROGRESS' || job.status === 'SCHEDULED') return `job ${job.jobId} (${job.status})`;
      // A canceled job's started executions may still download it.
      const counts = await this.store.countLatest(ns, job.jobId);
      if (counts.QUEUED + counts.IN_PROGRESS > 0) return `job ${job.jobId} (${job.status})`;
    }
    return undefined;
  }

  private async sourceDocument(ns: Namespace, source: unknown): Promise<string> {
    if (typeof source !== 'string') throw invalidRequest('documentSource must be a string');
    const m = FILE_SOURCE.exec(source);
    if (!m) {
      throw invalidRequest(
        `documentSource ${JSON.stringify(source)} is not available here: Thicket reads job documents from its own files, as thicket:files/<fileName>, or inline in document`,
      );
    }
    if (!this.d.files) throw invalidRequest('This server keeps no files; pass the job document inline in document');
    return checkDocument('documentSource', await this.d.files.readText(ns, m[1]!, 32_768 * 4));
  }

  // ---- targets and the registry's changes

  private expandTargets(ns: Namespace, targets: string[], lenient = false): string[] {
    return expandTargets(this.d, ns, targets, lenient);
  }

  /**
   * Runs work a registry change asks for after that change (its transaction, if any, has ended),
   * in the thing's order; a failure is logged (the registry's change stands).
   */
  private afterRegistryChange(ns: Namespace, thingName: string, what: string, fn: () => Promise<void>): Promise<void> {
    const work = this.things.run(keyOf(ns, thingName), fn).catch((err: unknown) => this.d.log?.error({ err, thingName }, what));
    this.background.add(work);
    void work.finally(() => this.background.delete(work));
    return work;
  }

  /**
   * Thing group membership changed: continuous jobs targeting the group (or an ancestor) queue an
   * execution for a thing that joined, and mark a thing that left no longer targeted REMOVED if its
   * execution had not started. Decided on the membership as it is when it runs (a change that
   * rolled back changes nothing).
   */
  membershipChanged(ns: Namespace, thingName: string): Promise<void> {
    return this.afterRegistryChange(ns, thingName, 'continuous jobs did not follow a membership change', () =>
      withOutbox(async (out) => {
        for (const { jobId } of this.store.liveContinuousJobs(ns)) {
          await untilApplied(`Job ${jobId}`, async () => {
            const job = this.store.job(ns, jobId);
            if (job?.status !== 'IN_PROGRESS') return true;
            const latest = await this.store.execution(ns, jobId, thingName);
            if (!targetsThing(this.d, ns, job, thingName)) return latest?.status !== 'QUEUED' || this.remove(ns, latest, out);
            if ((latest && latest.status !== 'REMOVED') || job.rolloutStopped) return true;
            if (!(await this.store.changeJob(ns, job, { enqueue: [thingName] }))) return false;
            await this.rollout.rollOut(ns, jobId, out);
            return true;
          });
        }
      }),
    );
  }

  private async remove(ns: Namespace, e: ExecutionRecord, out: Outbox): Promise<boolean> {
    const before: PendingSnapshot = await this.lifecycle.snapshot(ns, e.thingName);
    e.status = 'REMOVED';
    e.versionNumber++;
    e.lastUpdatedAt = this.clock();
    e.stepDeadline = undefined;
    e.inProgressDeadline = undefined;
    return this.lifecycle.changed(ns, e, before, out);
  }

  /**
   * A deleted thing will never report: its pending executions become REMOVED, so that snapshot
   * jobs can still complete (AWS is silent on this; removal is what its state machine offers).
   */
  thingDeleted(ns: Namespace, thingName: string): Promise<void> {
    return this.afterRegistryChange(ns, thingName, 'the executions of a deleted thing were not removed', async () => {
      // Back (or its deletion rolled back): nothing to do.
      if (this.d.registry.thing(ns, thingName)) return;
      await withOutbox((out) =>
        untilApplied(`The executions of ${thingName}`, async () => {
          for (const e of await this.store.pendingOfThing(ns, thingName)) if (!(await this.remove(ns, e, out))) return false;
          return true;
        }),
      );
    });
  }

  // ---- jobs

  private job(ns: Namespace, jobId: string): JobRecord {
    const job = this.store.job(ns, jobId);
    if (!job) throw notFound(`Job ${jobId} cannot be found.`);
    return job;
  }

  async createJob(ns: Namespace, jobIdParam: string | undefined, body: Record<string, unknown>) {
    const jobId = checkJobId('jobId', jobIdParam);
    const schedule = body.schedulingConfig === undefined ? undefined : checkSchedulingConfig(body.schedulingConfig, this.clock());
    const targets = checkTargets(body.targets);
    const given = [body.document, body.documentSource, body.jobTemplateArn].filter((v) => v !== undefined).length;
    if (given !== 1) throw invalidRequest('Exactly one of document, documentSource and jobTemplateArn must be given');
    const template = body.jobTemplateArn !== undefined ? this.templates.byArn(ns, body.jobTemplateArn) : undefined;
    const document =
      body.document !== undefined
        ? checkDocument('document', body.document)
        : body.documentSource !== undefined
          ? await this.sourceDocument(ns, body.documentSource)
          : template!.document;
    const documentParameters = checkDocumentParameters(body.documentParameters);
    // Every parameter must be given and every referenced file must exist before anything is created.
    const substituted = applyParameters(document, documentParameters);
    await this.d.files?.checkReferences(ns, substituted);
    // A template's maintenance windows apply unless the job brings its own schedule's windows.
    const { maintenanceWindows, ...fromTemplate } = (template?.config ?? {}) as Partial<JobConfig> & TemplateWindows;
    let schedulingConfig = schedule?.config;
    if (maintenanceWindows?.length && !schedulingConfig?.maintenanceWindows) schedulingConfig = { ...schedulingConfig, maintenanceWindows };
    const config: JobConfig = {
      ...fromTemplate,
      ...optionalConfig(body),
      document,
      documentSource: typeof body.documentSource === 'string' ? body.documentSource : undefined,
      targets,
      targetSelection: checkTargetSelection(body.targetSelection),
      documentParameters,
      jobTemplateArn: template ? iotArn(ns, `jobtemplate/${template.jobTemplateId}`) : undefined,
      namespaceId: optionalText('namespaceId', body.namespaceId, 64),
      schedulingConfig,
    };
    if (config.description === undefined && template) config.description = template.description;
    const exists = () => alreadyExists(`Job ${jobId} already exists.`, jobId, iotArn(ns, `job/${jobId}`));
    if (this.store.job(ns, jobId)) throw exists();
    const things = this.expandTargets(ns, targets);
    const now = this.clock();
    const job: JobRecord = { ...config, jobId, status: 'IN_PROGRESS', createdAt: now, lastUpdatedAt: now, notified: 0 };
    job.startAt = schedule?.startAt;
    job.endAt = schedule?.endAt;
    // A scheduled job gets its executions at startTime, from its targets' members then.
    job.status = this.scheduler.initialStatus(job);
    const due = this.scheduler.nextDue(job) ?? undefined;
    // Only the database knows of a job another node created meanwhile.
    if (!(await this.store.insertJob(ns, job, { due, enqueue: job.status === 'SCHEDULED' ? [] : things }))) throw exists();
    if (job.status !== 'SCHEDULED') {
      await withOutbox(async (out) => {
        await this.rollout.rollOut(ns, jobId, out);
        await this.lifecycle.checkCompleted(ns, jobId, out);
      });
    }
    return { jobArn: iotArn(ns, `job/${jobId}`), jobId, description: job.description };
  }

  private async view(ns: Namespace, job: JobRecord) {
    const counts = await this.store.countLatest(ns, job.jobId);
    return jobView(ns, job, counts, (await this.store.queuedTargets(ns, job.jobId)) > 0, this.scheduler.rollouts(job));
  }

  async describeJob(ns: Namespace, jobId: string) {
    const job = this.job(ns, jobId);
    return { documentSource: job.documentSource, job: await this.view(ns, job) };
  }

  /** The document as stored (parameters filled unless `beforeSubstitution`); presigned URLs are only made for devices. */
  getJobDocument(ns: Namespace, jobId: string, beforeSubstitution: boolean) {
    const job = this.job(ns, jobId);
    return { document: beforeSubstitution ? job.document : applyParameters(job.document, job.documentParameters) };
  }

  async listJobs(
    ns: Namespace,
    q: { status?: string; targetSelection?: string; thingGroupName?: string; maxResults: number; nextToken?: string },
  ) {
    if (q.status !== undefined && !(JOB_STATUSES as readonly string[]).includes(q.status)) {
      throw invalidRequest(`status must be one of ${JOB_STATUSES.join(', ')}, not '${q.status}'`);
    }
    if (q.targetSelection !== undefined) checkTargetSelection(q.targetSelection);
    if (q.thingGroupName !== undefined && !this.d.registry.group(ns, q.thingGroupName)) {
      throw notFound(`Thing Group ${q.thingGroupName} cannot be found.`);
    }
    const groupArn = q.thingGroupName !== undefined ? iotArn(ns, `thinggroup/${q.thingGroupName}`) : undefined;
    const jobs = this.store
      .jobs(ns)
      .filter((j) => q.status === undefined || j.status === q.status)
      .filter((j) => q.targetSelection === undefined || j.targetSelection === q.targetSelection)
      .filter((j) => groupArn === undefined || j.targets.includes(groupArn))
      .sort((a, b) => b.createdAt - a.createdAt || (a.jobId < b.jobId ? -1 : 1));
    const page = pageOf(jobs, Math.min(q.maxResults, MAX_RESULTS), q.nextToken);
    const rollingOut = await this.store.rollingOutIn(ns);
    return { jobs: page.items.map((j) => jobSummary(ns, j, rollingOut.has(j.jobId))), nextToken: page.next };
  }

  async updateJob(ns: Namespace, jobId: string, body: Record<string, unknown>): Promise<Record<string, never>> {
    const changes = optionalConfig(body);
    await untilApplied(`Job ${jobId}`, async () => {
      const job = this.job(ns, jobId);
      if (job.status !== 'IN_PROGRESS' && job.status !== 'SCHEDULED')
        throw invalidRequest(`Job ${jobId} is ${job.status}; only an IN_PROGRESS job can be updated`);
      Object.assign(job, changes, { lastUpdatedAt: this.clock() });
      return (await this.store.changeJob(ns, job)) !== false;
    });
    return {};
  }

  async cancelJob(ns: Namespace, jobId: string, force: boolean, body: Record<string, unknown>) {
    const reasonCode = optionalText('reasonCode', body.reasonCode, 128);
    const comment = optionalText('comment', body.comment, 2028);
    const job = await withOutbox((out) =>
      untilApplied(`Job ${jobId}`, async () => {
        const job = this.job(ns, jobId);
        const upgrade = job.status === 'CANCELED' && force && !job.forceCanceled;
        if (job.status !== 'IN_PROGRESS' && job.status !== 'SCHEDULED' && !upgrade) {
          // The CancelJob model lists no InvalidStateTransitionException (only InvalidRequest,
          // ResourceNotFound, Throttling, ServiceUnavailable, LimitExceeded): SDKs that catch the
          // modeled exception must catch this refusal too.
          throw invalidRequest(
            `Job ${jobId} is ${job.status}${job.status === 'CANCELED' ? ' already' : ''}; it cannot be canceled${job.status === 'CANCELED' ? ' again unless with force' : ''}`,
          );
        }
        const opts = { force, reasonCode: reasonCode ?? job.reasonCode, comment: comment ?? job.comment };
        return (await this.lifecycle.cancelJob(ns, job, opts, out)) && job;
      }),
    );
    return { jobArn: iotArn(ns, `job/${jobId}`), jobId, description: job.description };
  }

  async deleteJob(ns: Namespace, jobId: string, force: boolean): Promise<Record<string, never>> {
    await withOutbox((out) =>
      untilApplied(`Job ${jobId}`, async () => {
        const job = this.job(ns, jobId);
        if (!force && job.status !== 'COMPLETED' && job.status !== 'CANCELED') {
          throw invalidTransition(`Job ${jobId} is ${job.status}; delete it with force, or cancel it first`);
        }
        const executions = await this.store.executionsOfJob(ns, jobId);
        const before = new Map<string, PendingSnapshot>();
        for (const e of executions) if (!before.has(e.thingName)) before.set(e.thingName, await this.lifecycle.snapshot(ns, e.thingName));
        // The job event reports the job as it was deleted: its counters are read before the
        // executions go (afterwards they would all be 0); it is still sent after the execution events.
        job.status = 'DELETION_IN_PROGRESS';
        const jobDeleted = await this.lifecycle.jobEvent(ns, job, 'deleted');
        if (!(await this.store.deleteJob(ns, job))) return false;
        this.rollout.forget(ns, jobId);
        for (const e of executions) this.lifecycle.executionEvent(ns, e, 'deleted', out);
        for (const [thing, snapshot] of before) await this.lifecycle.notifyIfChanged(ns, thing, snapshot, out);
        out.add(jobDeleted);
        return true;
      }),
    );
    return {};
  }

  async associateTargets(ns: Namespace, jobId: string, body: Record<string, unknown>) {
    const targets = checkTargets(body.targets);
    optionalText('comment', body.comment, 2028);
    const job = await untilApplied(`Job ${jobId}`, async () => {
      const job = this.job(ns, jobId);
      if (job.status !== 'IN_PROGRESS' && job.status !== 'SCHEDULED')
        throw invalidRequest(`Job ${jobId} is ${job.status}; targets can only be added to an IN_PROGRESS or SCHEDULED job`);
      // AWS: "The job must have been created with the targetSelection field set to CONTINUOUS"
      // (AssociateTargetsWithJob API reference); a snapshot job's target set is fixed.
      if (job.targetSelection !== 'CONTINUOUS')
        throw invalidRequest(`Job ${jobId} is a SNAPSHOT job; targets can only be added to a CONTINUOUS job`);
      const things: string[] = [];
      for (const t of this.expandTargets(ns, targets)) {
        const e = await this.store.execution(ns, jobId, t);
        if (!e || e.status === 'REMOVED') things.push(t);
      }
      job.targets = [...new Set([...job.targets, ...targets])];
      if (job.targets.length > MAX_TARGETS) {
        throw limitExceeded(`A job may have at most ${MAX_TARGETS} targets; ${jobId} would have ${job.targets.length}`);
      }
      job.lastUpdatedAt = this.clock();
      // A SCHEDULED job expands its targets, these among them, when it starts.
      const enqueue = job.status === 'SCHEDULED' || job.rolloutStopped ? [] : things;
      return (await this.store.changeJob(ns, job, { enqueue })) && job;
    });
    if (job.status !== 'SCHEDULED') await withOutbox((out) => this.rollout.rollOut(ns, jobId, out));
    return { jobArn: iotArn(ns, `job/${jobId}`), jobId, description: job.description };
  }

  // ---- executions, as administrators see them (job-executions.ts)

  describeExecution(ns: Namespace, jobId: string, thingName: string, executionNumber: number | undefined) {
    return this.executions.describe(ns, jobId, thingName, executionNumber);
  }

  listExecutionsForJob(ns: Namespace, jobId: string, q: { status?: string; maxResults: number; nextToken?: string }) {
    return this.executions.listForJob(ns, jobId, q);
  }

  listExecutionsForThing(ns: Namespace, thingName: string, q: { status?: string; jobId?: string; maxResults: number; nextToken?: string }) {
    return this.executions.listForThing(ns, thingName, q);
  }

  cancelExecution(ns: Namespace, jobId: string, thingName: string, force: boolean, body: Record<string, unknown>) {
    return this.executions.cancel(ns, jobId, thingName, force, body);
  }

  deleteExecution(ns: Namespace, jobId: string, thingName: string, executionNumber: number, force: boolean) {
    return this.executions.delete(ns, jobId, thingName, executionNumber, force);
  }

  /** Test-mode reset: every row (the statements are issued at the call) and every rollout's pace. */
  clear(): Promise<unknown> {
    this.rollout.clear();
    return this.store.clear();
  }
}

/** The document with its parameters filled where they can be (a file may be named through one). */
function applyParametersLoosely(job: JobRecord): string {
  try {
    return applyParameters(job.document, job.documentParameters);
  } catch {
    return job.document;
  }
}
