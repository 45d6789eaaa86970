/**
 * The Jobs control plane (reference controlplane §5.1): jobs and their targets, rollouts, timers,
 * cancellation and deletion, executions as administrators see them, job templates, and continuous
 * jobs following thing group membership. Device-side operations are in device-jobs.ts; what follows
 * a change of an execution (notifications, events, retries, abort, completion) in job-lifecycle.ts.
 */
import type { Logger } from 'pino';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { pageOf } from '../api/pagination.js';
import { AwsError, alreadyExists, invalidRequest, limitExceeded, notFound, versionConflict } from '../aws/errors.js';
import type { RegistryEvents } from '../registry/events.js';
import type { RegistryStore } from '../registry/registry-store.js';
import type { ThingGroups } from '../registry/thing-groups.js';
import {
  applyParameters,
  checkDocument,
  checkDocumentParameters,
  checkJobId,
  checkStatusDetails,
  checkTargets,
  checkTargetSelection,
  MAX_TARGETS,
  optionalConfig,
  optionalText,
} from './job-config.js';
import { JobLifecycle, Outbox, type JobPublish } from './job-lifecycle.js';
import type { JobStore } from './job-store.js';
import { JobTemplates } from './job-templates.js';
import { EXECUTION_STATUSES, JOB_STATUSES, isTerminal, type ExecutionRecord, type JobConfig, type JobRecord } from './job-types.js';
import { executionSummary, executionView, jobSummary, jobView, thingArn } from './job-views.js';
import { RolloutPacer } from './rollout.js';
import { checkSchedulingConfig } from './job-schedule.js';
import { JobScheduler } from './job-scheduler.js';
import { expandTargets, targetsThing } from './job-targets.js';
import type { TemplateWindows } from './job-templates.js';
import { fileReferences } from '../files/placeholders.js';

/** What the Jobs service needs from the file store (OTA payloads and documents kept as files). */
export interface JobFiles {
  /** Throws InvalidRequestException when the document names a file that does not exist. */
  checkReferences(ns: Namespace, documentText: string): void;
  /** The document with its file placeholders replaced by presigned URLs and digests. */
  substitute(ns: Namespace, documentText: string, expiresInSec: number): string;
  /** The text of a stored file used as a job document (`documentSource`). */
  readText(ns: Namespace, fileName: string, maxBytes: number): string;
}

export interface JobsDeps {
  store: JobStore;
  registry: RegistryStore;
  groups: Pick<ThingGroups, 'members' | 'groupsReaching'>;
  events: RegistryEvents;
  publish: JobPublish;
  files?: JobFiles;
  clock?: () => number;
  log?: Pick<Logger, 'error'>;
}

const invalidTransition = (message: string): AwsError => new AwsError('InvalidStateTransitionException', 409, message);
const MAX_RESULTS = 250;
const TICK_MS = 1000;
/** `documentSource` naming a Thicket file instead of an S3 object. */
const FILE_SOURCE = /^thicket:files\/([a-zA-Z0-9._-]{1,128})$/;

export class JobsService {
  readonly lifecycle: JobLifecycle;
  readonly templates: JobTemplates;
  readonly scheduler: JobScheduler;
  private readonly store: JobStore;
  private readonly clock: () => number;
  private readonly pacer: RolloutPacer;
  private timer: NodeJS.Timeout | undefined;

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
    this.pacer = new RolloutPacer(this.clock);
    this.scheduler = new JobScheduler({
      store: d.store,
      lifecycle: this.lifecycle,
      clock: this.clock,
      startRollout: (ns, job, out) => this.queueTargets(ns, job, this.expandTargets(ns, job.targets, true), out),
    });
    this.templates = new JobTemplates(d.store, this.clock, (ns, source) => this.sourceDocument(ns, source));
  }

  /** Starts the timers (execution timeouts, rollouts); they pick up where the store left off. */
  start(): void {
    this.timer ??= setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Times out executions whose timer ran out, starts and ends scheduled jobs, and lets rollouts notify their next things. */
  tick(): void {
    try {
      this.runTimers();
    } catch (err) {
      // A bad record must not take the server down (and again at every restart): log and go on.
      this.d.log?.error({ err }, 'jobs timer tick failed');
    }
  }

  private runTimers(): void {
    this.expireDue();
    const out = new Outbox(this.store);
    this.store.tx(() => {
      this.scheduler.runDue(out);
      for (const { ns, jobId } of this.store.rollingOut()) {
        const job = this.store.job(ns, jobId);
        if (job?.status === 'IN_PROGRESS') this.rollOut(ns, job, out);
      }
    });
    out.flush();
  }

  /**
   * Times out IN_PROGRESS executions whose timer ran out. The tick calls it every second, and the
   * device API before each request, so a device never gets an update accepted after its deadline.
   */
  expireDue(): void {
    const now = this.clock();
    const due = this.store.dueExecutions(now);
    if (due.length === 0) return;
    const out = new Outbox(this.store);
    this.store.tx(() => {
      for (const d of due) {
        const e = this.store.execution(d.ns, d.jobId, d.thingName, d.executionNumber);
        if (!e || e.status !== 'IN_PROGRESS') continue;
        const before = this.lifecycle.snapshot(d.ns, e.thingName);
        e.status = 'TIMED_OUT';
        e.versionNumber++;
        e.lastUpdatedAt = now;
        e.stepDeadline = undefined;
        e.inProgressDeadline = undefined;
        this.lifecycle.changed(d.ns, e, before, out);
      }
    });
    out.flush();
  }

  /** Creates executions for as many queued targets as the rollout rate allows now. */
  private rollOut(ns: Namespace, job: JobRecord, out: Outbox): void {
    if (!this.scheduler.mayRollOut(job)) return;
    const succeeded = () => this.store.countLatest(ns, job.jobId).SUCCEEDED;
    const allowed = this.pacer.allowance(ns, job, succeeded);
    if (allowed <= 0) return;
    let n = allowed;
    // Things that are no longer due are skipped without using the rate.
    while (n > 0) {
      const things = this.store.dequeue(ns, job.jobId, n);
      if (things.length === 0) break;
      for (const t of things) {
        if (!this.stillDue(ns, job, t)) continue;
        this.notifyThing(ns, job, t, out);
        n--;
      }
    }
    this.pacer.spend(ns, job.jobId, allowed - n);
    this.store.putJob(ns, job);
    // The last queued things may all have been skipped: nothing else would complete the job.
    if (this.store.queuedTargets(ns, job.jobId) === 0) this.lifecycle.checkCompleted(ns, job.jobId, out);
  }

  /**
   * Whether a thing the rollout queue reached is still to get an execution. A thing waits in the
   * queue for minutes or hours: it may have been deleted, left a continuous job's target groups
   * (it is no longer targeted), or been queued twice (it joined two target groups, or left and
   * joined again) and received its execution from the earlier entry.
   */
  private stillDue(ns: Namespace, job: JobRecord, thingName: string): boolean {
    if (!this.d.registry.thing(ns, thingName)) return false;
    const latest = this.store.execution(ns, job.jobId, thingName);
    if (latest && latest.status !== 'REMOVED') return false;
    return job.targetSelection !== 'CONTINUOUS' || this.targets(ns, job, thingName);
  }

  /**
   * Things get their executions through the rollout queue, paced by the job's rollout rate or by
   * AWS's default of 1,000 a minute: a job for a small fleet starts everywhere at once, and one
   * for a group of 100,000 does not publish 200,000 messages inside one request.
   */
  private queueTargets(ns: Namespace, job: JobRecord, things: string[], out: Outbox): void {
    if (job.rolloutStopped) return;
    this.store.enqueue(ns, job.jobId, things);
    this.rollOut(ns, job, out);
  }

  private notifyThing(ns: Namespace, job: JobRecord, thingName: string, out: Outbox): void {
    job.notified++;
    this.lifecycle.createExecution(ns, job, thingName, out);
  }

  // ---- documents

  /** The document as devices receive it: parameters filled, file placeholders signed, parsed. */
  deviceDocument(ns: Namespace, job: JobRecord): unknown {
    let text = applyParameters(job.document, job.documentParameters);
    if (this.d.files) text = this.d.files.substitute(ns, text, job.presignedUrlConfig?.expiresInSec ?? 3600);
    return JSON.parse(text) as unknown;
  }

  /** A job that is not over and whose document names the file, described for an error message. */
  fileUser(ns: Namespace, fileName: string): string | undefined {
    for (const job of this.store.jobs(ns)) {
      if (!fileReferences(applyParametersLoosely(job)).includes(fileName)) continue;
      // A canceled job's started executions may still download it.
      const counts = this.store.countLatest(ns, job.jobId);
      if (job.status === 'IN_PROGRESS' || job.status === 'SCHEDULED' || counts.QUEUED + counts.IN_PROGRESS > 0)
        return `job ${job.jobId} (${job.status})`;
    }
    return undefined;
  }

  private sourceDocument(ns: Namespace, source: unknown): string {
    if (typeof source !== 'string') throw invalidRequest('documentSource must be a string');
    const m = FILE_SOURCE.exec(source);
    if (!m) {
      throw invalidRequest(
        `documentSource ${JSON.stringify(source)} is not available here: Thicket reads job documents from its own files, as thicket:files/<fileName>, or inline in document`,
      );
    }
    if (!this.d.files) throw invalidRequest('This server keeps no files; pass the job document inline in document');
    return checkDocument('documentSource', this.d.files.readText(ns, m[1]!, 32_768 * 4));
  }

  // ---- targets

  private expandTargets(ns: Namespace, targets: string[], lenient = false): string[] {
    return expandTargets(this.d, ns, targets, lenient);
  }

  private targets(ns: Namespace, job: JobRecord, thingName: string): boolean {
    return targetsThing(this.d, ns, job, thingName);
  }

  /**
   * Thing group membership changed: continuous jobs targeting the group (or an ancestor) queue an
   * execution for a thing that joined, and mark a thing that left no longer targeted REMOVED if its
   * execution had not started.
   */
  membershipChanged(ns: Namespace, thingName: string): void {
    const out = new Outbox(this.store);
    this.store.tx(() => {
      for (const job of this.store.liveContinuousJobs(ns)) {
        const latest = this.store.execution(ns, job.jobId, thingName);
        if (this.targets(ns, job, thingName)) {
          if (latest && latest.status !== 'REMOVED') continue;
          this.queueTargets(ns, job, [thingName], out);
        } else if (latest?.status === 'QUEUED') {
          this.remove(ns, latest, out);
        }
      }
    });
    out.flush();
  }

  private remove(ns: Namespace, e: ExecutionRecord, out: Outbox): void {
    const before = this.lifecycle.snapshot(ns, e.thingName);
    e.status = 'REMOVED';
    e.versionNumber++;
    e.lastUpdatedAt = this.clock();
    e.stepDeadline = undefined;
    e.inProgressDeadline = undefined;
    this.lifecycle.changed(ns, e, before, out);
  }

  /**
   * A deleted thing will never report: its pending executions become REMOVED, so that snapshot
   * jobs can still complete (AWS is silent on this; removal is what its state machine offers).
   */
  thingDeleted(ns: Namespace, thingName: string): void {
    const out = new Outbox(this.store);
    this.store.tx(() => {
      for (const e of this.store.pendingOfThing(ns, thingName)) this.remove(ns, e, out);
    });
    out.flush();
  }

  // ---- jobs

  private job(ns: Namespace, jobId: string): JobRecord {
    const job = this.store.job(ns, jobId);
    if (!job) throw notFound(`Job ${jobId} cannot be found.`);
    return job;
  }

  createJob(ns: Namespace, jobIdParam: string | undefined, body: Record<string, unknown>) {
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
          ? this.sourceDocument(ns, body.documentSource)
          : template!.document;
    const documentParameters = checkDocumentParameters(body.documentParameters);
    // Every parameter must be given and every referenced file must exist before anything is created.
    const substituted = applyParameters(document, documentParameters);
    this.d.files?.checkReferences(ns, substituted);
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
    const out = new Outbox(this.store);
    const job = this.store.tx(() => {
      if (this.store.job(ns, jobId)) throw alreadyExists(`Job ${jobId} already exists.`, jobId, iotArn(ns, `job/${jobId}`));
      const things = this.expandTargets(ns, targets);
      const now = this.clock();
      const job: JobRecord = { ...config, jobId, status: 'IN_PROGRESS', createdAt: now, lastUpdatedAt: now, notified: 0 };
      job.startAt = schedule?.startAt;
      job.endAt = schedule?.endAt;
      // A scheduled job gets its executions at startTime, from its targets' members then.
      job.status = this.scheduler.initialStatus(job);
      this.store.putJob(ns, job);
      this.scheduler.track(ns, job);
      if (job.status === 'SCHEDULED') return job;
      this.queueTargets(ns, job, things, out);
      this.lifecycle.checkCompleted(ns, jobId, out);
      return job;
    });
    out.flush();
    return { jobArn: iotArn(ns, `job/${jobId}`), jobId, description: job.description };
  }

  private view(ns: Namespace, job: JobRecord) {
    const counts = this.store.countLatest(ns, job.jobId);
    return jobView(ns, job, counts, this.store.queuedTargets(ns, job.jobId) > 0, this.scheduler.rollouts(job));
  }

  describeJob(ns: Namespace, jobId: string) {
    const job = this.job(ns, jobId);
    return { documentSource: job.documentSource, job: this.view(ns, job) };
  }

  /** The document as stored (parameters filled unless `beforeSubstitution`); presigned URLs are only made for devices. */
  getJobDocument(ns: Namespace, jobId: string, beforeSubstitution: boolean) {
    const job = this.job(ns, jobId);
    return { document: beforeSubstitution ? job.document : applyParameters(job.document, job.documentParameters) };
  }

  listJobs(
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
    return { jobs: page.items.map((j) => jobSummary(ns, j, this.store.queuedTargets(ns, j.jobId) > 0)), nextToken: page.next };
  }

  updateJob(ns: Namespace, jobId: string, body: Record<string, unknown>): Record<string, never> {
    const changes = optionalConfig(body);
    this.store.tx(() => {
      const job = this.job(ns, jobId);
      if (job.status !== 'IN_PROGRESS' && job.status !== 'SCHEDULED')
        throw invalidRequest(`Job ${jobId} is ${job.status}; only an IN_PROGRESS job can be updated`);
      Object.assign(job, changes, { lastUpdatedAt: this.clock() });
      this.store.putJob(ns, job);
    });
    return {};
  }

  cancelJob(ns: Namespace, jobId: string, force: boolean, body: Record<string, unknown>) {
    const reasonCode = optionalText('reasonCode', body.reasonCode, 128);
    const comment = optionalText('comment', body.comment, 2028);
    const out = new Outbox(this.store);
    const job = this.store.tx(() => {
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
      this.lifecycle.cancelJob(ns, job, { force, reasonCode: reasonCode ?? job.reasonCode, comment: comment ?? job.comment }, out);
      return job;
    });
    out.flush();
    return { jobArn: iotArn(ns, `job/${jobId}`), jobId, description: job.description };
  }

  deleteJob(ns: Namespace, jobId: string, force: boolean): Record<string, never> {
    const out = new Outbox(this.store);
    this.store.tx(() => {
      const job = this.job(ns, jobId);
      if (!force && job.status !== 'COMPLETED' && job.status !== 'CANCELED') {
        throw invalidTransition(`Job ${jobId} is ${job.status}; delete it with force, or cancel it first`);
      }
      const executions = this.store.executionsOfJob(ns, jobId);
      const things = [...new Set(executions.map((e) => e.thingName))];
      const before = new Map(things.map((t) => [t, this.lifecycle.snapshot(ns, t)]));
      // The job event reports the job as it was deleted: its counters are read before the
      // executions go (afterwards they would all be 0); it is still sent after the execution events.
      job.status = 'DELETION_IN_PROGRESS';
      const jobDeleted = new Outbox(this.store);
      this.lifecycle.jobEvent(ns, job, 'deleted', jobDeleted);
      this.store.deleteJob(ns, jobId);
      this.pacer.forget(ns, jobId);
      for (const e of executions) this.lifecycle.executionEvent(ns, e, 'deleted', out);
      for (const t of things) this.lifecycle.notifyIfChanged(ns, t, before.get(t)!, out);
      out.add(() => jobDeleted.flush());
    });
    out.flush();
    return {};
  }

  associateTargets(ns: Namespace, jobId: string, body: Record<string, unknown>) {
    const targets = checkTargets(body.targets);
    optionalText('comment', body.comment, 2028);
    const out = new Outbox(this.store);
    const job = this.store.tx(() => {
      const job = this.job(ns, jobId);
      if (job.status !== 'IN_PROGRESS' && job.status !== 'SCHEDULED')
        throw invalidRequest(`Job ${jobId} is ${job.status}; targets can only be added to an IN_PROGRESS or SCHEDULED job`);
      // AWS: "The job must have been created with the targetSelection field set to CONTINUOUS"
      // (AssociateTargetsWithJob API reference); a snapshot job's target set is fixed.
      if (job.targetSelection !== 'CONTINUOUS')
        throw invalidRequest(`Job ${jobId} is a SNAPSHOT job; targets can only be added to a CONTINUOUS job`);
      const things = this.expandTargets(ns, targets).filter((t) => {
        const e = this.store.execution(ns, jobId, t);
        return !e || e.status === 'REMOVED';
      });
      job.targets = [...new Set([...job.targets, ...targets])];
      if (job.targets.length > MAX_TARGETS) {
        throw limitExceeded(`A job may have at most ${MAX_TARGETS} targets; ${jobId} would have ${job.targets.length}`);
      }
      job.lastUpdatedAt = this.clock();
      this.store.putJob(ns, job);
      // A SCHEDULED job expands its targets, these among them, when it starts.
      if (job.status !== 'SCHEDULED') this.queueTargets(ns, job, things, out);
      return job;
    });
    out.flush();
    return { jobArn: iotArn(ns, `job/${jobId}`), jobId, description: job.description };
  }

  // ---- executions, as administrators see them

  private execution(ns: Namespace, jobId: string, thingName: string, executionNumber?: number): ExecutionRecord {
    const e = this.store.execution(ns, jobId, thingName, executionNumber);
    if (!e) {
      const which = executionNumber === undefined ? '' : ` with executionNumber ${executionNumber}`;
      throw notFound(`Job execution of job ${jobId} on thing ${thingName}${which} cannot be found.`);
    }
    return e;
  }

  describeExecution(ns: Namespace, jobId: string, thingName: string, executionNumber: number | undefined) {
    return { execution: executionView(ns, this.execution(ns, jobId, thingName, executionNumber), this.clock()) };
  }

  private checkStatus(status: string | undefined): void {
    if (status !== undefined && !(EXECUTION_STATUSES as readonly string[]).includes(status)) {
      throw invalidRequest(`status must be one of ${EXECUTION_STATUSES.join(', ')}, not '${status}'`);
    }
  }

  listExecutionsForJob(ns: Namespace, jobId: string, q: { status?: string; maxResults: number; nextToken?: string }) {
    this.checkStatus(q.status);
    this.job(ns, jobId);
    const latest = new Map<string, ExecutionRecord>();
    for (const e of this.store.executionsOfJob(ns, jobId)) latest.set(e.thingName, e);
    const list = [...latest.values()].filter((e) => q.status === undefined || e.status === q.status);
    const page = pageOf(list, Math.min(q.maxResults, MAX_RESULTS), q.nextToken);
    return {
      executionSummaries: page.items.map((e) => ({ thingArn: thingArn(ns, e.thingName), jobExecutionSummary: executionSummary(e) })),
      nextToken: page.next,
    };
  }

  listExecutionsForThing(ns: Namespace, thingName: string, q: { status?: string; jobId?: string; maxResults: number; nextToken?: string }) {
    this.checkStatus(q.status);
    if (!this.d.registry.thing(ns, thingName) && this.store.executionsOfThing(ns, thingName).length === 0) {
      throw notFound(`Thing ${thingName} cannot be found.`);
    }
    const all = this.store.executionsOfThing(ns, thingName);
    let list: ExecutionRecord[];
    if (q.jobId !== undefined) list = all.filter((e) => e.jobId === q.jobId);
    else {
      const latest = new Map<string, ExecutionRecord>();
      for (const e of all) if ((latest.get(e.jobId)?.executionNumber ?? 0) < e.executionNumber) latest.set(e.jobId, e);
      list = [...latest.values()];
    }
    list = list.filter((e) => q.status === undefined || e.status === q.status).sort((a, b) => b.seq - a.seq);
    const page = pageOf(list, Math.min(q.maxResults, MAX_RESULTS), q.nextToken);
    return {
      executionSummaries: page.items.map((e) => ({ jobId: e.jobId, jobExecutionSummary: executionSummary(e) })),
      nextToken: page.next,
    };
  }

  cancelExecution(ns: Namespace, jobId: string, thingName: string, force: boolean, body: Record<string, unknown>): Record<string, never> {
    const details = body.statusDetails === undefined ? undefined : checkStatusDetails(body.statusDetails);
    const out = new Outbox(this.store);
    this.store.tx(() => {
      const e = this.execution(ns, jobId, thingName);
      if (body.expectedVersion !== undefined && body.expectedVersion !== e.versionNumber) {
        throw versionConflict(`The job execution is at version ${e.versionNumber}, not ${String(body.expectedVersion)}`);
      }
      if (isTerminal(e.status)) throw invalidTransition(`The job execution is ${e.status} already`);
      if (e.status === 'IN_PROGRESS' && !force) throw invalidTransition('The job execution is IN_PROGRESS; cancel it with force');
      this.lifecycle.cancelExecution(ns, e, force, out, details);
      this.lifecycle.checkCompleted(ns, jobId, out);
    });
    out.flush();
    return {};
  }

  deleteExecution(ns: Namespace, jobId: string, thingName: string, executionNumber: number, force: boolean): Record<string, never> {
    const out = new Outbox(this.store);
    this.store.tx(() => {
      const e = this.execution(ns, jobId, thingName, executionNumber);
      if (!isTerminal(e.status) && !force)
        throw invalidTransition(`The job execution is ${e.status}; delete it with force, or wait until it ends`);
      const before = this.lifecycle.snapshot(ns, thingName);
      this.store.deleteExecution(ns, jobId, thingName, executionNumber);
      this.lifecycle.executionEvent(ns, e, 'deleted', out);
      this.lifecycle.notifyIfChanged(ns, thingName, before, out);
      this.lifecycle.checkCompleted(ns, jobId, out);
    });
    out.flush();
    return {};
  }

  clear(): void {
    this.store.clear();
    this.pacer.clear();
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
