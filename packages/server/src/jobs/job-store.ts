/**
 * The Jobs service's rows on the stores' SQL engine (tables in job-schema.ts).
 *
 * Jobs and job templates are configuration (a job is read on every device request for its
 * document and timers): every row is held in memory, read at open, written through on change, read
 * again by `reload` and, one at a time, by `refreshJob` / `refreshTemplate` (another node sharing
 * the database changed it). Executions (one per thing, job and attempt), the rollout queue and the
 * schedule are read from the database when needed; nothing of them is cached, so any node may
 * change them.
 *
 * The database decides every write. A new job or template inserts (a taken key fails it); a job's
 * change, an execution's change or deletion is conditional on the row still holding the record text
 * this store handed out (`job()`, `execution()` ...): a write that finds it changed writes nothing
 * and answers false, and the caller reads again and decides anew (`untilApplied`). What goes with a
 * job's change (its rollout queue, schedule, executions created or changed) is in the same batch
 * and applies only if the job's write did.
 */
import type { ExpressionBuilder } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import { byCodeUnit, keyOf, prefixOf } from '../store/held-rows.js';
import { changedKey, refreshedBy } from '../store/sql/changed-keys.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import { dueBy, jobUnfinished, latestExecution, numberedExecution, pendingExecutions, queueLength } from './job-queries.js';
import type { ExecutionRow, JobRow, TemplateRow } from './job-schema.js';
import {
  always,
  executionHolds,
  executionInsert,
  executionInserts,
  chunks,
  EXECUTIONS_PER_STATEMENT,
  executionUpdate,
  executionChange,
  executionWhere,
  jobGone,
  jobHolds,
  jobWhere,
  nsWhere,
  related,
  type JobChange,
} from './job-statements.js';
import type { ExecutionRecord, ExecutionStatus, JobRecord } from './job-types.js';
import { emptyCounts, type StatusCounts } from './job-views.js';

export { jobMigrations } from './job-schema.js';
export type { JobChange } from './job-statements.js';
export { untilApplied } from '../store/sql/conditional-writes.js';

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

/** A job as held: the record text the database holds, and that text parsed (never handed out). */
interface Held {
  text: string;
  record: JobRecord;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Eb = ExpressionBuilder<any, any>;

/** The kinds of rows the store's writes are marked with: other nodes re-read one job or template. */
export const JOB = 'job';
export const JOB_TEMPLATE = 'jobTemplate';

const nsOf = (r: { account_id: string; region: string }): Namespace => ({ accountId: r.account_id, region: r.region });
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const templateWhere = <Q extends { where(...args: any[]): Q }>(q: Q, ns: Namespace, id: string): Q =>
  nsWhere(q, ns).where('template_id', '=', id);

function executionOf(r: Pick<ExecutionRow, 'record' | 'seq'>): ExecutionRecord {
  const e = JSON.parse(r.record) as ExecutionRecord;
  // The column is the truth: a new execution's seq is given by the database as it is inserted.
  e.seq = Number(r.seq);
  return e;
}

export class JobStore {
  private jobRows = new Map<string, Held>();
  private templateRows = new Map<string, TemplateRecord>();
  /** The record text each job and execution this store handed out was read or written as: what a conditional write compares. */
  private readonly seen = readAs;

  private constructor(private readonly sql: SqlEngine) {}

  /** The store with every job and template the database holds loaded. */
  static async open(engine: SqlEngine): Promise<JobStore> {
    const store = new JobStore(engine);
    await store.reload();
    return store;
  }

  /** Reads every job and template again (another node may have changed them). */
  async reload(): Promise<void> {
    const { db } = this.sql;
    const [jobs, templates] = await Promise.all([
      this.sql.all<JobRow>(db.selectFrom('jobs').selectAll()),
      this.sql.all<TemplateRow>(db.selectFrom('job_templates').selectAll()),
    ]);
    this.jobRows = new Map(jobs.map((r) => [keyOf(nsOf(r), r.job_id), held(r.record)]));
    this.templateRows = new Map(templates.map((r) => [keyOf(nsOf(r), r.template_id), JSON.parse(r.record) as TemplateRecord]));
  }

  /** Reads one job again into memory (gone from memory when it is gone from the database). */
  async refreshJob(ns: Namespace, jobId: string): Promise<void> {
    const r = await this.sql.first<JobRow>(jobWhere(this.sql.db.selectFrom('jobs').selectAll(), ns, jobId));
    if (r) this.jobRows.set(keyOf(ns, jobId), held(r.record));
    else this.jobRows.delete(keyOf(ns, jobId));
  }

  /** Reads one template again into memory. */
  async refreshTemplate(ns: Namespace, id: string): Promise<void> {
    const r = await this.sql.first<TemplateRow>(templateWhere(this.sql.db.selectFrom('job_templates').selectAll(), ns, id));
    if (r) this.templateRows.set(keyOf(ns, id), JSON.parse(r.record) as TemplateRecord);
    else this.templateRows.delete(keyOf(ns, id));
  }

  /** Removes every row of every table (test-mode reset). */
  clear(): Promise<unknown> {
    this.jobRows.clear();
    this.templateRows.clear();
    const { db } = this.sql;
    return this.sql.batch(['jobs', 'job_executions', 'job_rollout_queue', 'job_schedule', 'job_templates'].map((t) => db.deleteFrom(t)));
  }

  // ---- jobs (held in memory)

  /** The job, as a copy the caller may change and hand to `changeJob`. */
  job(ns: Namespace, jobId: string): JobRecord | undefined {
    const h = this.jobRows.get(keyOf(ns, jobId));
    return h && this.copy(h.text);
  }

  /**
   * The held job itself, for reading only (a device request reads its job's configuration three
   * or four times; `job()` parses a copy each time). It cannot be written back: a change needs `job()`.
   */
  peekJob(ns: Namespace, jobId: string): Readonly<JobRecord> | undefined {
    return this.jobRows.get(keyOf(ns, jobId))?.record;
  }

  /** The namespace's jobs by id, as copies. */
  jobs(ns: Namespace): JobRecord[] {
    return this.heldOf(ns)
      .sort((a, b) => byCodeUnit(a.record.jobId, b.record.jobId))
      .map((h) => this.copy(h.text));
  }

  /** Continuous jobs still in progress: the ones a change of group membership concerns. */
  liveContinuousJobs(ns: Namespace): JobRecord[] {
    return this.heldOf(ns)
      .filter((h) => h.record.targetSelection === 'CONTINUOUS' && h.record.status === 'IN_PROGRESS')
      .sort((a, b) => byCodeUnit(a.record.jobId, b.record.jobId))
      .map((h) => this.copy(h.text));
  }

  /** Stores a new job with its schedule and rollout queue; false, storing nothing, when the id is taken. */
  async insertJob(ns: Namespace, job: JobRecord, with_: Pick<JobChange, 'due' | 'enqueue'> = {}): Promise<boolean> {
    const text = JSON.stringify(job);
    const statements: Statement[] = [
      this.sql.db.insertInto('jobs').values({ account_id: ns.accountId, region: ns.region, job_id: job.jobId, record: text }),
      ...related(this.sql.db, ns, job.jobId, with_, always),
    ];
    try {
      await this.sql.batch(refreshedBy(statements, changedKey(JOB, ns, job.jobId)));
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshJob(ns, job.jobId);
      return false;
    }
    this.jobRows.set(keyOf(ns, job.jobId), held(text));
    this.seen.set(job, text);
    return true;
  }

  /**
   * Writes `job` (read from this store and changed, or not) with what goes with it, in one batch.
   * False, writing nothing, when the job's row no longer holds what was read (the store has read it
   * again), or when an execution to create was created meanwhile; else whether each of
   * `change.update` applied.
   */
  async changeJob(ns: Namespace, job: JobRecord, change: JobChange = {}): Promise<false | { updated: boolean[] }> {
    const { db } = this.sql;
    const before = this.textOf(job);
    const text = JSON.stringify(job);
    const holds = jobHolds(db, ns, job.jobId, text);
    const creates = change.create ?? [];
    const updates = change.update ?? [];
    const statements: Statement[] = [
      jobWhere(db.updateTable('jobs').set({ record: text }), ns, job.jobId).where('record', '=', before),
      ...related(db, ns, job.jobId, change, holds),
      ...executionInserts(this.sql, ns, creates, text),
      ...updates.map((e) => executionUpdate(db, ns, e, this.textOf(e), holds)),
    ];
    let results;
    try {
      results = await this.sql.batch(refreshedBy(statements, changedKey(JOB, ns, job.jobId)));
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return false;
    }
    if (results[0]!.changes !== 1) {
      await this.refreshJob(ns, job.jobId);
      return false;
    }
    this.jobRows.set(keyOf(ns, job.jobId), held(text));
    this.seen.set(job, text);
    const inserts = Math.ceil(creates.length / EXECUTIONS_PER_STATEMENT);
    const stored = new Map<string, Record<string, unknown>>();
    for (const r of results.slice(statements.length - inserts - updates.length, statements.length - updates.length))
      for (const row of r.rows) stored.set(`${String(row.thing_name)}\u0000${Number(row.execution_number)}`, row);
    for (const e of creates)
      this.inserted(
        e,
        [stored.get(`${e.thingName}\u0000${e.executionNumber}`)].filter((x) => x !== undefined),
      );
    const updated = results.slice(statements.length - updates.length).map((r, i) => {
      if (r.changes === 1) this.seen.set(updates[i]!, JSON.stringify(updates[i]));
      return r.changes === 1;
    });
    return { updated };
  }

  /**
   * Deletes the job (if its row still holds what was read) with its executions, rollout queue and
   * schedule; false, deleting nothing, when the row changed or is gone (the store has read it again).
   */
  async deleteJob(ns: Namespace, job: JobRecord): Promise<boolean> {
    const { db } = this.sql;
    const gone = jobGone(db, ns, job.jobId);
    const [deleted] = await this.sql.batch(
      refreshedBy(
        [
          jobWhere(db.deleteFrom('jobs'), ns, job.jobId).where('record', '=', this.textOf(job)),
          ...['job_executions', 'job_rollout_queue', 'job_schedule'].map((t) => jobWhere(db.deleteFrom(t), ns, job.jobId).where(gone)),
        ],
        changedKey(JOB, ns, job.jobId),
      ),
    );
    if (deleted!.changes !== 1) {
      await this.refreshJob(ns, job.jobId);
      return false;
    }
    this.jobRows.delete(keyOf(ns, job.jobId));
    return true;
  }

  // ---- rollout queue and schedule (read from the database)

  /** Jobs with targets still waiting for their rollout, in every namespace. */
  async rollingOut(): Promise<Array<{ ns: Namespace; jobId: string }>> {
    const rows = await this.sql.all<{ account_id: string; region: string; job_id: string }>(
      this.sql.db.selectFrom('job_rollout_queue').select(['account_id', 'region', 'job_id']).distinct(),
    );
    return rows.map((r) => ({ ns: nsOf(r), jobId: r.job_id }));
  }

  /** The namespace's jobs with targets still waiting for their rollout. */
  async rollingOutIn(ns: Namespace): Promise<Set<string>> {
    const rows = await this.sql.all<{ job_id: string }>(
      nsWhere(this.sql.db.selectFrom('job_rollout_queue').select('job_id').distinct(), ns),
    );
    return new Set(rows.map((r) => r.job_id));
  }

  /** The first `n` things of the job's rollout queue, with their positions. */
  async queued(ns: Namespace, jobId: string, n: number): Promise<Array<{ position: number; thingName: string }>> {
    const rows = await this.sql.all<{ position: number; thing_name: string }>(
      jobWhere(this.sql.db.selectFrom('job_rollout_queue').select(['position', 'thing_name']), ns, jobId)
        .orderBy('position')
        .limit(n),
    );
    return rows.map((r) => ({ position: Number(r.position), thingName: r.thing_name }));
  }

  async queuedTargets(ns: Namespace, jobId: string): Promise<number> {
    const r = await this.sql.first<{ n: number | string }>(queueLength(this.sql, ns.accountId, ns.region, jobId));
    return Number(r?.n ?? 0);
  }

  /** Jobs whose scheduled start or end has come, in every namespace, earliest first. */
  async dueSchedules(now: number): Promise<Array<{ ns: Namespace; jobId: string }>> {
    const rows = await this.sql.all<{ account_id: string; region: string; job_id: string }>(
      this.sql.db.selectFrom('job_schedule').select(['account_id', 'region', 'job_id']).where('due_at', '<=', now).orderBy('due_at'),
    );
    return rows.map((r) => ({ ns: nsOf(r), jobId: r.job_id }));
  }

  /** Forgets a schedule whose job is gone. */
  async clearDue(ns: Namespace, jobId: string): Promise<void> {
    await this.sql.run(jobWhere(this.sql.db.deleteFrom('job_schedule'), ns, jobId));
  }

  // ---- executions (read from the database)

  /** One attempt, or the latest attempt when `executionNumber` is undefined. */
  async execution(ns: Namespace, jobId: string, thingName: string, executionNumber?: number): Promise<ExecutionRecord | undefined> {
    const r = await this.sql.first<ExecutionRow>(
      executionNumber === undefined
        ? latestExecution(this.sql, ns.accountId, ns.region, jobId, thingName)
        : numberedExecution(this.sql, ns.accountId, ns.region, jobId, thingName, executionNumber),
    );
    return r && this.execRecord(r);
  }

  /** Every attempt of every thing of the job, by thing name (code unit order) and attempt. */
  async executionsOfJob(ns: Namespace, jobId: string): Promise<ExecutionRecord[]> {
    const rows = await this.sql.all<ExecutionRow>(this.executions(ns).where('job_id', '=', jobId));
    return rows
      .map((r) => this.execRecord(r))
      .sort((a, b) => byCodeUnit(a.thingName, b.thingName) || a.executionNumber - b.executionNumber);
  }

  /**
   * The latest attempt of each thing counted by status, in SQL: a job's counters are read on every
   * execution that ends, and parsing ten thousand records each time would make a large job quadratic.
   */
  async countLatest(ns: Namespace, jobId: string): Promise<StatusCounts> {
    const { db } = this.sql;
    const rows = await this.sql.all<{ status: ExecutionStatus; n: number | string }>(
      db
        .selectFrom('job_executions as e')
        .select(['e.status', (eb) => eb.fn.countAll().as('n')])
        .where('e.account_id', '=', ns.accountId)
        .where('e.region', '=', ns.region)
        .where('e.job_id', '=', jobId)
        .where('e.execution_number', '=', (eb: Eb) =>
          eb
            .selectFrom('job_executions as x')
            .select((x: Eb) => x.fn.max('x.execution_number').as('m'))
            .whereRef('x.account_id', '=', 'e.account_id')
            .whereRef('x.region', '=', 'e.region')
            .whereRef('x.job_id', '=', 'e.job_id')
            .whereRef('x.thing_name', '=', 'e.thing_name'),
        )
        .groupBy('e.status'),
    );
    const counts = emptyCounts();
    for (const r of rows) counts[r.status] = Number(r.n);
    return counts;
  }

  /**
   * Whether the job still has work: targets waiting for the rollout, or an execution QUEUED or
   * IN_PROGRESS (only a latest attempt can be). One statement, asked whenever an execution ends.
   */
  async unfinished(ns: Namespace, jobId: string): Promise<boolean> {
    const r = await this.sql.first(jobUnfinished(this.sql, ns.accountId, ns.region, jobId));
    return Boolean(Number(r?.queued)) || Boolean(Number(r?.pending));
  }

  /** Every attempt of one thing at one job, first to last. */
  async attempts(ns: Namespace, jobId: string, thingName: string): Promise<ExecutionRecord[]> {
    const rows = await this.sql.all<ExecutionRow>(
      this.executions(ns).where('job_id', '=', jobId).where('thing_name', '=', thingName).orderBy('execution_number'),
    );
    return rows.map((r) => this.execRecord(r));
  }

  /** Every attempt of every job of the thing, in creation order. */
  async executionsOfThing(ns: Namespace, thingName: string): Promise<ExecutionRecord[]> {
    const rows = await this.sql.all<ExecutionRow>(this.executions(ns).where('thing_name', '=', thingName).orderBy('seq'));
    return rows.map((r) => this.execRecord(r));
  }

  /** QUEUED and IN_PROGRESS executions of a thing, oldest first. */
  async pendingOfThing(ns: Namespace, thingName: string): Promise<ExecutionRecord[]> {
    const rows = await this.sql.all<ExecutionRow>(pendingExecutions(this.sql, ns.accountId, ns.region, thingName));
    return rows.map((r) => this.execRecord(r));
  }

  /**
   * The latest attempt of each of `thingNames` in the job (none for a thing without one): a rollout
   * round reads them for all its things at once rather than a query per thing.
   */
  async latestOfThings(ns: Namespace, jobId: string, thingNames: readonly string[]): Promise<Map<string, ExecutionRecord>> {
    const out = new Map<string, ExecutionRecord>();
    for (const names of chunks(thingNames)) {
      const rows = await this.sql.all<ExecutionRow>(this.executions(ns).where('job_id', '=', jobId).where('thing_name', 'in', names));
      for (const r of rows) {
        const e = this.execRecord(r);
        const seen = out.get(e.thingName);
        if (!seen || seen.executionNumber < e.executionNumber) out.set(e.thingName, e);
      }
    }
    return out;
  }

  /** pendingOfThing for many things at once (each list in seq order; empty for a thing with none). */
  async pendingOfThings(ns: Namespace, thingNames: readonly string[]): Promise<Map<string, ExecutionRecord[]>> {
    const out = new Map<string, ExecutionRecord[]>(thingNames.map((t) => [t, []]));
    for (const names of chunks(thingNames)) {
      const rows = await this.sql.all<ExecutionRow>(
        this.executions(ns).where('thing_name', 'in', names).where('status', 'in', ['QUEUED', 'IN_PROGRESS']).orderBy('seq'),
      );
      for (const r of rows) {
        const e = this.execRecord(r);
        out.get(e.thingName)?.push(e);
      }
    }
    return out;
  }

  /** IN_PROGRESS executions whose timer ran out by `now`, in every namespace, earliest first. */
  async dueExecutions(now: number): Promise<DueExecution[]> {
    const rows = await this.sql.all<ExecutionRow>(dueBy(this.sql, now));
    return rows.map((r) => ({ ns: nsOf(r), jobId: r.job_id, thingName: r.thing_name, executionNumber: Number(r.execution_number) }));
  }

  /**
   * Writes an execution read from this store and changed, and `retry` (a new attempt) with it; false,
   * writing nothing, when its row no longer holds what was read or the retry's number was taken.
   */
  async updateExecution(ns: Namespace, e: ExecutionRecord, retry?: ExecutionRecord): Promise<boolean> {
    const { db } = this.sql;
    const text = JSON.stringify(e);
    const change = executionChange(this.sql, ns, e, text, this.textOf(e));
    let results;
    try {
      // One statement needs no transaction of its own (a device's every update is one).
      results = retry
        ? await this.sql.batch([change, executionInsert(db, ns, retry, executionHolds(db, ns, e, text))])
        : [await this.sql.run(change)];
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      return false;
    }
    if (results[0]!.changes !== 1) return false;
    this.seen.set(e, text);
    if (retry) this.inserted(retry, results[1]!.rows);
    return true;
  }

  /** Deletes an execution read from this store; false when its row changed or is gone. */
  async deleteExecution(ns: Namespace, e: ExecutionRecord): Promise<boolean> {
    const { changes } = await this.sql.run(
      executionWhere(this.sql.db.deleteFrom('job_executions'), ns, e).where('record', '=', this.textOf(e)),
    );
    return changes === 1;
  }

  // ---- templates (held in memory)

  template(ns: Namespace, id: string): TemplateRecord | undefined {
    return this.templateRows.get(keyOf(ns, id));
  }

  /** The namespace's templates by id. */
  templates(ns: Namespace): TemplateRecord[] {
    const prefix = prefixOf(ns);
    const out: TemplateRecord[] = [];
    for (const [key, t] of this.templateRows) if (key.startsWith(prefix)) out.push(t);
    return out.sort((a, b) => byCodeUnit(a.jobTemplateId, b.jobTemplateId));
  }

  /** Stores a new template; false, storing nothing, when the id is taken. */
  async insertTemplate(ns: Namespace, t: TemplateRecord): Promise<boolean> {
    try {
      await this.sql.run(
        refreshedBy(
          this.sql.db
            .insertInto('job_templates')
            .values({ account_id: ns.accountId, region: ns.region, template_id: t.jobTemplateId, record: JSON.stringify(t) }),
          changedKey(JOB_TEMPLATE, ns, t.jobTemplateId),
        ),
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshTemplate(ns, t.jobTemplateId);
      return false;
    }
    this.templateRows.set(keyOf(ns, t.jobTemplateId), t);
    return true;
  }

  /** Deletes a template; false when there was none. */
  async deleteTemplate(ns: Namespace, id: string): Promise<boolean> {
    const { changes } = await this.sql.run(
      refreshedBy(templateWhere(this.sql.db.deleteFrom('job_templates'), ns, id), changedKey(JOB_TEMPLATE, ns, id)),
    );
    this.templateRows.delete(keyOf(ns, id));
    return changes > 0;
  }

  private executions(ns: Namespace) {
    return nsWhere(this.sql.db.selectFrom('job_executions').select(['seq', 'record']), ns);
  }

  /** Takes the seq the database gave a new execution, and its text. */
  private inserted(e: ExecutionRecord, rows: Array<Record<string, unknown>>): void {
    const r = rows[0] as { seq: number; record: string } | undefined;
    if (!r) return;
    e.seq = Number(r.seq);
    this.seen.set(e, r.record);
  }

  private execRecord(r: Pick<ExecutionRow, 'record' | 'seq'>): ExecutionRecord {
    const e = executionOf(r);
    this.seen.set(e, r.record);
    return e;
  }

  private copy(text: string): JobRecord {
    const job = JSON.parse(text) as JobRecord;
    this.seen.set(job, text);
    return job;
  }

  private heldOf(ns: Namespace): Held[] {
    const prefix = prefixOf(ns);
    const out: Held[] = [];
    for (const [key, h] of this.jobRows) if (key.startsWith(prefix)) out.push(h);
    return out;
  }

  private textOf(o: JobRecord | ExecutionRecord): string {
    const text = this.seen.get(o);
    if (text === undefined) throw new Error('a conditional write needs a record read from the store');
    return text;
  }
}

/**
 * The text each record was read (or written) as, the condition of its next write. Kept on the
 * record itself under a symbol, not enumerable (JSON, spreads and deep comparisons skip it): a
 * WeakMap of every record handed out made the collector trace thousands of short-lived entries,
 * which cost more than the device requests themselves.
 */
const READ_AS = Symbol('read as');
type Remembered = { [READ_AS]?: string };
const readAs = {
  set(o: object, text: string): void {
    Object.defineProperty(o, READ_AS, { value: text, writable: true, configurable: true, enumerable: false });
  },
  get(o: object): string | undefined {
    return (o as Remembered)[READ_AS];
  },
};

function held(text: string): Held {
  return { text, record: JSON.parse(text) as JobRecord };
}
