/**
 * The statements of the job store's writes that go together in one batch: a job's change with its
 * rollout queue, schedule and executions, each of the others applying only while a guard holds
 * (the job's row holds what the batch's first statement wrote), and executions created with the
 * seq the database gives them.
 */
import { sql, type Expression, type ExpressionBuilder, type Kysely, type SqlBool } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import type { SqlEngine, Statement } from '../store/sql/engine.js';
import { template, type Template } from '../store/sql/query-templates.js';
import { deadlineOf, type ExecutionRecord } from './job-types.js';

/** What is written with a job's change, in the same batch, only if the job's write applies. */
export interface JobChange {
  /** Things added at the end of the job's rollout queue, in order. */
  enqueue?: string[];
  /** Queue positions taken off the rollout queue. */
  dequeue?: number[];
  /** Empties the rollout queue. */
  clearQueue?: boolean;
  /** When the scheduler must next look at the job; null: never. */
  due?: number | null;
  /** New executions; a number another writer took fails the whole change. */
  create?: ExecutionRecord[];
  /** Executions read from the store and changed: each applies only if its row still holds what was read. */
  update?: ExecutionRecord[];
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Db = Kysely<any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Guard = (eb: ExpressionBuilder<any, any>) => Expression<SqlBool>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Filterable<Q> = { where(...args: any[]): Q };

export const always: Guard = () => sql<SqlBool>`1 = 1`;
/** A number in a SELECT without FROM: PostgreSQL types an untyped parameter there as text. */
const int = (v: number | null) => sql<number>`cast(${v} as bigint)`;

export const nsWhere = <Q extends Filterable<Q>>(q: Q, ns: Namespace): Q =>
  q.where('account_id', '=', ns.accountId).where('region', '=', ns.region);

export const jobWhere = <Q extends Filterable<Q>>(q: Q, ns: Namespace, jobId: string): Q => nsWhere(q, ns).where('job_id', '=', jobId);

export const executionWhere = <Q extends Filterable<Q>>(q: Q, ns: Namespace, e: ExecutionRecord): Q =>
  jobWhere(q, ns, e.jobId).where('thing_name', '=', e.thingName).where('execution_number', '=', e.executionNumber);

/** Holds while the job's row holds `text`. */
export const jobHolds =
  (db: Db, ns: Namespace, jobId: string, text: string): Guard =>
  (eb) =>
    eb.exists(jobWhere(db.selectFrom('jobs').select('job_id'), ns, jobId).where('record', '=', text));

/** Holds while the job has no row. */
export const jobGone =
  (db: Db, ns: Namespace, jobId: string): Guard =>
  (eb) =>
    eb.not(eb.exists(jobWhere(db.selectFrom('jobs').select('job_id'), ns, jobId)));

/** Holds while the execution's row holds `text`. */
export const executionHolds =
  (db: Db, ns: Namespace, e: ExecutionRecord, text: string): Guard =>
  (eb) =>
    eb.exists(executionWhere(db.selectFrom('job_executions').select('seq'), ns, e).where('record', '=', text));

/** The queue and schedule changes that go with a job's write, each applying only while `guard` holds. */
export function related(db: Db, ns: Namespace, jobId: string, change: JobChange, guard: Guard): Statement[] {
  const out: Statement[] = [];
  if (change.clearQueue) out.push(jobWhere(db.deleteFrom('job_rollout_queue'), ns, jobId).where(guard));
  if (change.dequeue?.length)
    out.push(jobWhere(db.deleteFrom('job_rollout_queue'), ns, jobId).where('position', 'in', change.dequeue).where(guard));
  if (change.due === null) out.push(jobWhere(db.deleteFrom('job_schedule'), ns, jobId).where(guard));
  else if (change.due !== undefined) {
    out.push(
      db
        .insertInto('job_schedule')
        .columns(['account_id', 'region', 'job_id', 'due_at'])
        .expression(
          db
            .selectNoFrom([sql.val(ns.accountId).as('a'), sql.val(ns.region).as('r'), sql.val(jobId).as('j'), int(change.due).as('d')])
            .where(guard),
        )
        .onConflict((oc) => oc.columns(['account_id', 'region', 'job_id']).doUpdateSet((eb) => ({ due_at: eb.ref('excluded.due_at') }))),
    );
  }
  // The things at the end of the queue as it is then (a batch sees its own rows; two writers at once
  // fail on a position), a few hundred per statement: positions follow the queue's last one in order.
  for (const things of chunks(change.enqueue ?? [])) {
    const v = sql.join(things.map((t, i) => sql`(${sql.lit(i + 1)}, ${t})`));
    out.push(
      db
        .insertInto('job_rollout_queue')
        .columns(['account_id', 'region', 'job_id', 'position', 'thing_name'])
        .expression(
          db
            .selectFrom(sql`(values ${v})`.as('v'))
            .select([
              sql.val(ns.accountId).as('a'),
              sql.val(ns.region).as('r'),
              sql.val(jobId).as('j'),
              sql<number>`(${jobWhere(db.selectFrom('job_rollout_queue'), ns, jobId).select(sql`coalesce(max(position), 0)`.as('m'))}) + v.column1`.as(
                'p',
              ),
              sql<string>`v.column2`.as('t'),
            ])
            .where(guard),
        ),
    );
  }
  return out;
}

const deadlineColumn = (e: ExecutionRecord): number | null => (e.status === 'IN_PROGRESS' ? (deadlineOf(e) ?? null) : null);

/** How many executions one statement of executionInserts creates at most. */
export const EXECUTIONS_PER_STATEMENT = 200;

/** Values bound per row of executionInserts. */
const PER_ROW = 5;

/**
 * The insert of `rows` executions while the job's row holds a text, compiled once per row count
 * (building and compiling a 200-row insert took longer than SQLite takes to run it). Arguments: the
 * account, region, job id and job text, then each row's thing, number, status, deadline and record.
 */
const insertsOf = new Map<number, Template<unknown[], unknown>>();
function insertTemplate(rows: number): Template<unknown[], unknown> {
  let t = insertsOf.get(rows);
  if (!t)
    insertsOf.set(
      rows,
      (t = template((db, accountId, region, jobId, jobText, ...flat: unknown[]) => {
        const v = sql.join(
          Array.from({ length: rows }, (_, i) => {
            const [thing, n, status, deadline, record] = flat.slice(i * PER_ROW, (i + 1) * PER_ROW);
            return sql`(${thing}, cast(${n} as bigint), ${status}, cast(${deadline} as bigint), ${record})`;
          }),
        );
        return db
          .insertInto('job_executions')
          .columns(['account_id', 'region', 'job_id', 'thing_name', 'execution_number', 'status', 'seq', 'deadline', 'record'])
          .expression(
            db
              .selectFrom(sql`(values ${v})`.as('v'))
              .select((eb) => [
                sql.val(accountId).as('a'),
                sql.val(region).as('r'),
                sql.val(jobId).as('j'),
                sql<string>`v.column1`.as('t'),
                sql<number>`v.column2`.as('n'),
                sql<string>`v.column3`.as('s'),
                eb
                  .selectFrom('job_executions as x')
                  .select(sql<number>`coalesce(max(x.seq), 0) + 1`.as('q'))
                  .where('x.account_id', '=', accountId)
                  .where('x.region', '=', region)
                  .whereRef('x.thing_name', '=', sql.ref('v.column1'))
                  .as('q'),
                sql<number>`v.column4`.as('d'),
                sql<string>`v.column5`.as('record'),
              ])
              .where(jobHolds(db, { accountId: accountId as string, region: region as string }, jobId as string, jobText as string)),
          )
          .returning(['thing_name', 'execution_number', 'seq', 'record']);
      })),
    );
  return t;
}

/**
 * New executions of distinct things of one job (each number must be free) while the job's row holds
 * `jobText`, a few hundred per statement; each seq follows its thing's latest, given by the
 * database. Each statement returns the thing, number, seq and record text of the rows it stored.
 */
export function executionInserts(engine: SqlEngine, ns: Namespace, es: readonly ExecutionRecord[], jobText: string): Statement[] {
  return [...chunks(es, EXECUTIONS_PER_STATEMENT)].map((part) =>
    insertTemplate(part.length)(
      engine,
      ns.accountId,
      ns.region,
      part[0]!.jobId,
      jobText,
      ...part.flatMap((e) => [e.thingName, e.executionNumber, e.status, deadlineColumn(e), JSON.stringify(e)]),
    ),
  );
}

/** Items in groups small enough for one statement (or an IN list) on either engine. */
export function* chunks<T>(items: readonly T[], size = 500): Iterable<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * A new execution (its number must be free) while `guard` holds; its seq follows the thing's
 * latest, given by the database (every node then orders a thing's executions alike). Returns the
 * seq and the record text stored.
 */
export function executionInsert(db: Db, ns: Namespace, e: ExecutionRecord, guard: Guard): Statement {
  return db
    .insertInto('job_executions')
    .columns(['account_id', 'region', 'job_id', 'thing_name', 'execution_number', 'status', 'seq', 'deadline', 'record'])
    .expression(
      db
        .selectNoFrom((eb) => [
          sql.val(ns.accountId).as('a'),
          sql.val(ns.region).as('r'),
          sql.val(e.jobId).as('j'),
          sql.val(e.thingName).as('t'),
          int(e.executionNumber).as('n'),
          sql.val(e.status).as('s'),
          eb
            .selectFrom('job_executions as x')
            .select(sql<number>`coalesce(max(x.seq), 0) + 1`.as('q'))
            .where('x.account_id', '=', ns.accountId)
            .where('x.region', '=', ns.region)
            .where('x.thing_name', '=', e.thingName)
            .as('q'),
          int(deadlineColumn(e)).as('d'),
          sql.val(JSON.stringify(e)).as('record'),
        ])
        .where(guard),
    )
    .returning(['seq', 'record']);
}

const changeTemplate = template(
  (
    db,
    status: string,
    deadline: number | null,
    record: string,
    accountId: string,
    region: string,
    jobId: string,
    thingName: string,
    n: number,
    before: string,
  ) =>
    db
      .updateTable('job_executions')
      .set({ status, deadline, record })
      .where('account_id', '=', accountId)
      .where('region', '=', region)
      .where('job_id', '=', jobId)
      .where('thing_name', '=', thingName)
      .where('execution_number', '=', n)
      .where('record', '=', before),
);

/** executionUpdate without a guard (a device's request), compiled once; `text` is the record as JSON. */
export function executionChange(engine: SqlEngine, ns: Namespace, e: ExecutionRecord, text: string, before: string): Statement {
  return changeTemplate(
    engine,
    e.status,
    deadlineColumn(e),
    text,
    ns.accountId,
    ns.region,
    e.jobId,
    e.thingName,
    e.executionNumber,
    before,
  );
}

/** An execution's change, conditional on its row holding `before` (the text it was read as) and on `guard`. */
export function executionUpdate(db: Db, ns: Namespace, e: ExecutionRecord, before: string, guard: Guard = always): Statement {
  return executionWhere(
    db.updateTable('job_executions').set({ status: e.status, deadline: deadlineColumn(e), record: JSON.stringify(e) }),
    ns,
    e,
  )
    .where('record', '=', before)
    .where(guard);
}
