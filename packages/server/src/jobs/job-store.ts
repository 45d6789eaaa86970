/**
 * SQLite tables of the Jobs service: jobs, executions (one row per thing and attempt, with the
 * earlier of its two timers as a column so that timers survive restarts and are found by an
 * index), targets still waiting for the rollout to reach them, the next scheduled start or end of
 * each scheduled job (so that schedules survive restarts), and job templates.
 */
import type { Namespace } from '../accounts/namespace.js';
import { afterCommit, inTransaction, type Db } from '../store/database.js';
import { deadlineOf, type ExecutionRecord, type ExecutionStatus, type JobRecord } from './job-types.js';
import { emptyCounts, type StatusCounts } from './job-views.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  account_id TEXT NOT NULL, region TEXT NOT NULL, job_id TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (account_id, region, job_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_executions (
  account_id TEXT NOT NULL, region TEXT NOT NULL, job_id TEXT NOT NULL, thing_name TEXT NOT NULL,
  execution_number INTEGER NOT NULL,
  status TEXT NOT NULL,
  seq INTEGER NOT NULL,
  deadline INTEGER,                    -- epoch ms of the earlier timer while IN_PROGRESS
  record TEXT NOT NULL,
  PRIMARY KEY (account_id, region, job_id, thing_name, execution_number)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_executions_thing ON job_executions (account_id, region, thing_name, seq);
CREATE INDEX IF NOT EXISTS job_executions_status ON job_executions (account_id, region, job_id, status);
CREATE INDEX IF NOT EXISTS job_executions_deadline ON job_executions (deadline) WHERE deadline IS NOT NULL;
CREATE TABLE IF NOT EXISTS job_rollout_queue (
  account_id TEXT NOT NULL, region TEXT NOT NULL, job_id TEXT NOT NULL, position INTEGER NOT NULL,
  thing_name TEXT NOT NULL,
  PRIMARY KEY (account_id, region, job_id, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS job_schedule (
  account_id TEXT NOT NULL, region TEXT NOT NULL, job_id TEXT NOT NULL,
  due_at INTEGER NOT NULL,             -- epoch ms of the job's next scheduled start or end
  PRIMARY KEY (account_id, region, job_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS job_schedule_due ON job_schedule (due_at);
CREATE TABLE IF NOT EXISTS job_templates (
  account_id TEXT NOT NULL, region TEXT NOT NULL, template_id TEXT NOT NULL,
  record TEXT NOT NULL,
  PRIMARY KEY (account_id, region, template_id)) WITHOUT ROWID;
`;

export interface TemplateRecord {
  jobTemplateId: string;
  createdAt: number;
  description: string;
  document: string;
  config: Record<string, unknown>;
}

export interface DueExecution {
  ns: Namespace;
  jobId: string;
  thingName: string;
  executionNumber: number;
}

type Key = [string, string];
const key = (ns: Namespace): Key => [ns.accountId, ns.region];

export class JobStore {
  private readonly s;
  private seq: number;

  constructor(private readonly db: Db) {
    db.exec(SCHEMA);
    const q = <P extends unknown[], R = unknown>(sql: string) => db.prepare<P, R>(sql);
    this.s = {
      job: q<[string, string, string], { record: string }>('SELECT record FROM jobs WHERE account_id = ? AND region = ? AND job_id = ?'),
      putJob: q<[string, string, string, string]>(
        'INSERT INTO jobs VALUES (?, ?, ?, ?) ON CONFLICT (account_id, region, job_id) DO UPDATE SET record = excluded.record',
      ),
      deleteJob: q<[string, string, string]>('DELETE FROM jobs WHERE account_id = ? AND region = ? AND job_id = ?'),
      liveContinuous: q<[string, string], { record: string }>(
        `SELECT record FROM jobs WHERE account_id = ? AND region = ?
         AND json_extract(record, '$.targetSelection') = 'CONTINUOUS' AND json_extract(record, '$.status') = 'IN_PROGRESS'`,
      ),
      jobs: q<[string, string], { record: string }>('SELECT record FROM jobs WHERE account_id = ? AND region = ? ORDER BY job_id'),
      exec: q<[string, string, string, string, number], { record: string }>(
        'SELECT record FROM job_executions WHERE account_id = ? AND region = ? AND job_id = ? AND thing_name = ? AND execution_number = ?',
      ),
      latestExec: q<[string, string, string, string], { record: string }>(
        `SELECT record FROM job_executions WHERE account_id = ? AND region = ? AND job_id = ? AND thing_name = ?
         ORDER BY execution_number DESC LIMIT 1`,
      ),
      putExec: q<[string, string, string, string, number, string, number, number | null, string]>(
        `INSERT INTO job_executions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (account_id, region, job_id, thing_name, execution_number)
         DO UPDATE SET status = excluded.status, deadline = excluded.deadline, record = excluded.record`,
      ),
      deleteExec: q<[string, string, string, string, number]>(
        'DELETE FROM job_executions WHERE account_id = ? AND region = ? AND job_id = ? AND thing_name = ? AND execution_number = ?',
      ),
      deleteExecsOfJob: q<[string, string, string]>('DELETE FROM job_executions WHERE account_id = ? AND region = ? AND job_id = ?'),
      execsOfJob: q<[string, string, string], { record: string }>(
        'SELECT record FROM job_executions WHERE account_id = ? AND region = ? AND job_id = ? ORDER BY thing_name, execution_number',
      ),
      countLatest: q<[string, string, string], { status: ExecutionStatus; n: number }>(
        `SELECT e.status AS status, count(*) AS n FROM job_executions e
         WHERE e.account_id = ? AND e.region = ? AND e.job_id = ?
         AND e.execution_number = (SELECT max(x.execution_number) FROM job_executions x
           WHERE x.account_id = e.account_id AND x.region = e.region AND x.job_id = e.job_id AND x.thing_name = e.thing_name)
         GROUP BY e.status`,
      ),
      hasPending: q<[string, string, string], { one: number }>(
        `SELECT 1 AS one FROM job_executions WHERE account_id = ? AND region = ? AND job_id = ?
         AND status IN ('QUEUED', 'IN_PROGRESS') LIMIT 1`,
      ),
      attempts: q<[string, string, string, string], { record: string }>(
        `SELECT record FROM job_executions WHERE account_id = ? AND region = ? AND job_id = ? AND thing_name = ?
         ORDER BY execution_number`,
      ),
      execsOfThing: q<[string, string, string], { record: string }>(
        'SELECT record FROM job_executions WHERE account_id = ? AND region = ? AND thing_name = ? ORDER BY seq',
      ),
      pendingOfThing: q<[string, string, string], { record: string }>(
        `SELECT record FROM job_executions WHERE account_id = ? AND region = ? AND thing_name = ?
         AND status IN ('QUEUED', 'IN_PROGRESS') ORDER BY seq`,
      ),
      due: q<[number], { account_id: string; region: string; job_id: string; thing_name: string; execution_number: number }>(
        `SELECT account_id, region, job_id, thing_name, execution_number FROM job_executions
         WHERE deadline IS NOT NULL AND deadline <= ? ORDER BY deadline`,
      ),
      nextDeadline: q<[], { d: number | null }>('SELECT min(deadline) AS d FROM job_executions WHERE deadline IS NOT NULL'),
      maxSeq: q<[], { m: number | null }>('SELECT max(seq) AS m FROM job_executions'),
      enqueue: q<[string, string, string, number, string]>('INSERT INTO job_rollout_queue VALUES (?, ?, ?, ?, ?)'),
      queued: q<[string, string, string, number], { position: number; thing_name: string }>(
        'SELECT position, thing_name FROM job_rollout_queue WHERE account_id = ? AND region = ? AND job_id = ? ORDER BY position LIMIT ?',
      ),
      queuedCount: q<[string, string, string], { n: number }>(
        'SELECT count(*) AS n FROM job_rollout_queue WHERE account_id = ? AND region = ? AND job_id = ?',
      ),
      maxPosition: q<[string, string, string], { m: number | null }>(
        'SELECT max(position) AS m FROM job_rollout_queue WHERE account_id = ? AND region = ? AND job_id = ?',
      ),
      dequeue: q<[string, string, string, number]>(
        'DELETE FROM job_rollout_queue WHERE account_id = ? AND region = ? AND job_id = ? AND position = ?',
      ),
      rollingOut: q<[], { account_id: string; region: string; job_id: string }>(
        'SELECT DISTINCT account_id, region, job_id FROM job_rollout_queue',
      ),
      clearQueue: q<[string, string, string]>('DELETE FROM job_rollout_queue WHERE account_id = ? AND region = ? AND job_id = ?'),
      setDue: q<[string, string, string, number]>(
        `INSERT INTO job_schedule VALUES (?, ?, ?, ?)
         ON CONFLICT (account_id, region, job_id) DO UPDATE SET due_at = excluded.due_at`,
      ),
      clearDue: q<[string, string, string]>('DELETE FROM job_schedule WHERE account_id = ? AND region = ? AND job_id = ?'),
      dueSchedules: q<[number], { account_id: string; region: string; job_id: string }>(
        'SELECT account_id, region, job_id FROM job_schedule WHERE due_at <= ? ORDER BY due_at',
      ),
      template: q<[string, string, string], { record: string }>(
        'SELECT record FROM job_templates WHERE account_id = ? AND region = ? AND template_id = ?',
      ),
      putTemplate: q<[string, string, string, string]>('INSERT INTO job_templates VALUES (?, ?, ?, ?)'),
      deleteTemplate: q<[string, string, string]>('DELETE FROM job_templates WHERE account_id = ? AND region = ? AND template_id = ?'),
      templates: q<[string, string], { record: string }>(
        'SELECT record FROM job_templates WHERE account_id = ? AND region = ? ORDER BY template_id',
      ),
    };
    this.seq = this.s.maxSeq.get()?.m ?? 0;
  }

  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  /** Runs `fn` once the open transaction commits (the caller's, when a registry change called in). */
  afterCommit(fn: () => void): void {
    afterCommit(this.db, fn);
  }

  // ---- jobs

  job(ns: Namespace, jobId: string): JobRecord | undefined {
    const row = this.s.job.get(...key(ns), jobId);
    return row && (JSON.parse(row.record) as JobRecord);
  }

  putJob(ns: Namespace, job: JobRecord): void {
    this.s.putJob.run(...key(ns), job.jobId, JSON.stringify(job));
  }

  deleteJob(ns: Namespace, jobId: string): void {
    this.s.deleteJob.run(...key(ns), jobId);
    this.s.deleteExecsOfJob.run(...key(ns), jobId);
    this.s.clearQueue.run(...key(ns), jobId);
    this.s.clearDue.run(...key(ns), jobId);
  }

  /** Continuous jobs still in progress: the ones a change of group membership concerns. */
  liveContinuousJobs(ns: Namespace): JobRecord[] {
    return this.s.liveContinuous.all(...key(ns)).map((r) => JSON.parse(r.record) as JobRecord);
  }

  jobs(ns: Namespace): JobRecord[] {
    return this.s.jobs.all(...key(ns)).map((r) => JSON.parse(r.record) as JobRecord);
  }

  /** Jobs with targets still waiting for their rollout, in every namespace. */
  rollingOut(): Array<{ ns: Namespace; jobId: string }> {
    return this.s.rollingOut.all().map((r) => ({ ns: { accountId: r.account_id, region: r.region }, jobId: r.job_id }));
  }

  // ---- executions

  /** One attempt, or the latest attempt when `executionNumber` is undefined. */
  execution(ns: Namespace, jobId: string, thingName: string, executionNumber?: number): ExecutionRecord | undefined {
    const row =
      executionNumber === undefined
        ? this.s.latestExec.get(...key(ns), jobId, thingName)
        : this.s.exec.get(...key(ns), jobId, thingName, executionNumber);
    return row && (JSON.parse(row.record) as ExecutionRecord);
  }

  putExecution(ns: Namespace, e: ExecutionRecord): void {
    const deadline = e.status === 'IN_PROGRESS' ? (deadlineOf(e) ?? null) : null;
    this.s.putExec.run(...key(ns), e.jobId, e.thingName, e.executionNumber, e.status, e.seq, deadline, JSON.stringify(e));
  }

  nextSeq(): number {
    return ++this.seq;
  }

  deleteExecution(ns: Namespace, jobId: string, thingName: string, executionNumber: number): void {
    this.s.deleteExec.run(...key(ns), jobId, thingName, executionNumber);
  }

  executionsOfJob(ns: Namespace, jobId: string): ExecutionRecord[] {
    return this.s.execsOfJob.all(...key(ns), jobId).map((r) => JSON.parse(r.record) as ExecutionRecord);
  }

  /**
   * The latest attempt of each thing counted by status, in SQL: a job's counters are read on every
   * execution that ends, and parsing ten thousand records each time would make a large job quadratic.
   */
  countLatest(ns: Namespace, jobId: string): StatusCounts {
    const counts = emptyCounts();
    for (const r of this.s.countLatest.all(...key(ns), jobId)) counts[r.status] = r.n;
    return counts;
  }

  /** Whether any execution of the job is QUEUED or IN_PROGRESS (only a latest attempt can be), by index. */
  hasPending(ns: Namespace, jobId: string): boolean {
    return this.s.hasPending.get(...key(ns), jobId) !== undefined;
  }

  /** Every attempt of one thing at one job, first to last. */
  attempts(ns: Namespace, jobId: string, thingName: string): ExecutionRecord[] {
    return this.s.attempts.all(...key(ns), jobId, thingName).map((r) => JSON.parse(r.record) as ExecutionRecord);
  }

  executionsOfThing(ns: Namespace, thingName: string): ExecutionRecord[] {
    return this.s.execsOfThing.all(...key(ns), thingName).map((r) => JSON.parse(r.record) as ExecutionRecord);
  }

  /** QUEUED and IN_PROGRESS executions of a thing, oldest first. */
  pendingOfThing(ns: Namespace, thingName: string): ExecutionRecord[] {
    return this.s.pendingOfThing.all(...key(ns), thingName).map((r) => JSON.parse(r.record) as ExecutionRecord);
  }

  dueExecutions(now: number): DueExecution[] {
    return this.s.due.all(now).map((r) => ({
      ns: { accountId: r.account_id, region: r.region },
      jobId: r.job_id,
      thingName: r.thing_name,
      executionNumber: r.execution_number,
    }));
  }

  nextDeadline(): number | undefined {
    return this.s.nextDeadline.get()?.d ?? undefined;
  }

  // ---- rollout queue

  enqueue(ns: Namespace, jobId: string, things: string[]): void {
    let pos = this.s.maxPosition.get(...key(ns), jobId)?.m ?? 0;
    for (const t of things) this.s.enqueue.run(...key(ns), jobId, ++pos, t);
  }

  /** Takes up to `n` things off the job's rollout queue, in order. */
  dequeue(ns: Namespace, jobId: string, n: number): string[] {
    const rows = this.s.queued.all(...key(ns), jobId, n);
    for (const r of rows) this.s.dequeue.run(...key(ns), jobId, r.position);
    return rows.map((r) => r.thing_name);
  }

  queuedTargets(ns: Namespace, jobId: string): number {
    return this.s.queuedCount.get(...key(ns), jobId)!.n;
  }

  clearQueue(ns: Namespace, jobId: string): void {
    this.s.clearQueue.run(...key(ns), jobId);
  }

  // ---- schedules

  /** Sets (or with undefined, clears) when the scheduler must next look at the job. */
  setDue(ns: Namespace, jobId: string, at: number | undefined): void {
    if (at === undefined) this.s.clearDue.run(...key(ns), jobId);
    else this.s.setDue.run(...key(ns), jobId, at);
  }

  /** Jobs whose scheduled start or end has come, in every namespace, earliest first. */
  dueSchedules(now: number): Array<{ ns: Namespace; jobId: string }> {
    return this.s.dueSchedules.all(now).map((r) => ({ ns: { accountId: r.account_id, region: r.region }, jobId: r.job_id }));
  }

  // ---- templates

  template(ns: Namespace, id: string): TemplateRecord | undefined {
    const row = this.s.template.get(...key(ns), id);
    return row && (JSON.parse(row.record) as TemplateRecord);
  }

  putTemplate(ns: Namespace, t: TemplateRecord): void {
    this.s.putTemplate.run(...key(ns), t.jobTemplateId, JSON.stringify(t));
  }

  deleteTemplate(ns: Namespace, id: string): boolean {
    return this.s.deleteTemplate.run(...key(ns), id).changes > 0;
  }

  templates(ns: Namespace): TemplateRecord[] {
    return this.s.templates.all(...key(ns)).map((r) => JSON.parse(r.record) as TemplateRecord);
  }

  clear(): void {
    this.db.exec(
      'DELETE FROM jobs; DELETE FROM job_executions; DELETE FROM job_rollout_queue; DELETE FROM job_schedule; DELETE FROM job_templates;',
    );
  }
}
