/**
 * The Jobs store's queries that run on every device request and timer tick, compiled once
 * (query-templates.ts).
 */
import type { Kysely } from 'kysely';
import { template } from '../store/sql/query-templates.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const executionColumns = (db: Kysely<any>, accountId: string, region: string) =>
  db.selectFrom('job_executions').select(['seq', 'record']).where('account_id', '=', accountId).where('region', '=', region);

export const latestExecution = template((db, accountId: string, region: string, jobId: string, thingName: string) =>
  executionColumns(db, accountId, region)
    .where('job_id', '=', jobId)
    .where('thing_name', '=', thingName)
    .orderBy('execution_number', 'desc')
    .limit(1),
);

export const numberedExecution = template((db, accountId: string, region: string, jobId: string, thingName: string, n: number) =>
  executionColumns(db, accountId, region).where('job_id', '=', jobId).where('thing_name', '=', thingName).where('execution_number', '=', n),
);

export const pendingExecutions = template((db, accountId: string, region: string, thingName: string) =>
  executionColumns(db, accountId, region)
    .where('thing_name', '=', thingName)
    .where('status', 'in', ['QUEUED', 'IN_PROGRESS'])
    .orderBy('seq'),
);

export const queueLength = template((db, accountId: string, region: string, jobId: string) =>
  db
    .selectFrom('job_rollout_queue')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('account_id', '=', accountId)
    .where('region', '=', region)
    .where('job_id', '=', jobId),
);

// Each EXISTS stops at the first row. The executions' one selects only indexed columns, which makes
// SQLite take the status index: through the primary key it walked the job's every execution.
export const jobUnfinished = template((db, accountId: string, region: string, jobId: string) =>
  db.selectNoFrom((eb) => [
    eb
      .exists(
        eb
          .selectFrom('job_rollout_queue')
          .select('position')
          .where('account_id', '=', accountId)
          .where('region', '=', region)
          .where('job_id', '=', jobId),
      )
      .as('queued'),
    eb
      .exists(
        eb
          .selectFrom('job_executions')
          .select('status')
          .where('account_id', '=', accountId)
          .where('region', '=', region)
          .where('job_id', '=', jobId)
          .where('status', 'in', ['QUEUED', 'IN_PROGRESS']),
      )
      .as('pending'),
  ]),
);

// Asked by the timer every second.
export const dueBy = template((db, now: number) =>
  db
    .selectFrom('job_executions')
    .select(['account_id', 'region', 'job_id', 'thing_name', 'execution_number'])
    .where('deadline', 'is not', null)
    .where('deadline', '<=', now)
    .orderBy('deadline'),
);
