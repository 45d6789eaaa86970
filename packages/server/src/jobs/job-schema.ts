/**
 * The Jobs tables, on either engine, with the names and columns the store's former SQLite schema
 * had (a database made before migrations opens with its rows): jobs, executions (one row per thing
 * and attempt, with the earlier of its two timers as a column so that timers survive restarts and
 * are found by an index), targets still waiting for the rollout to reach them, the next scheduled
 * start or end of each scheduled job, and job templates.
 */
import { sql } from 'kysely';
import type { StoreMigration } from '../store/sql/migrations.js';

export const jobMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have these tables from the store's former schema.
  '0001_jobs': {
    async up(db, dialect) {
      const rowid = <T extends { modifyEnd(s: ReturnType<typeof sql>): T }>(t: T): T =>
        dialect === 'sqlite' ? t.modifyEnd(sql`without rowid`) : t;
      await rowid(
        db.schema
          .createTable('jobs')
          .ifNotExists()
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('job_id', 'text', (c) => c.notNull())
          // The JobRecord as JSON.
          .addColumn('record', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('jobs_pkey', ['account_id', 'region', 'job_id']),
      ).execute();
      await rowid(
        db.schema
          .createTable('job_executions')
          .ifNotExists()
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('job_id', 'text', (c) => c.notNull())
          .addColumn('thing_name', 'text', (c) => c.notNull())
          .addColumn('execution_number', 'integer', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          // Creation order among the thing's executions (its pending list is ordered by it).
          .addColumn('seq', 'bigint', (c) => c.notNull())
          // Epoch ms of the earlier timer while IN_PROGRESS.
          .addColumn('deadline', 'bigint')
          // The ExecutionRecord as JSON.
          .addColumn('record', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('job_executions_pkey', ['account_id', 'region', 'job_id', 'thing_name', 'execution_number']),
      ).execute();
      await db.schema
        .createIndex('job_executions_thing')
        .ifNotExists()
        .on('job_executions')
        .columns(['account_id', 'region', 'thing_name', 'seq'])
        .execute();
      await db.schema
        .createIndex('job_executions_status')
        .ifNotExists()
        .on('job_executions')
        .columns(['account_id', 'region', 'job_id', 'status'])
        .execute();
      await db.schema
        .createIndex('job_executions_deadline')
        .ifNotExists()
        .on('job_executions')
        .column('deadline')
        .where(sql.ref('deadline'), 'is not', null)
        .execute();
      await rowid(
        db.schema
          .createTable('job_rollout_queue')
          .ifNotExists()
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('job_id', 'text', (c) => c.notNull())
          .addColumn('position', 'integer', (c) => c.notNull())
          .addColumn('thing_name', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('job_rollout_queue_pkey', ['account_id', 'region', 'job_id', 'position']),
      ).execute();
      await rowid(
        db.schema
          .createTable('job_schedule')
          .ifNotExists()
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('job_id', 'text', (c) => c.notNull())
          // Epoch ms of the job's next scheduled start or end.
          .addColumn('due_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('job_schedule_pkey', ['account_id', 'region', 'job_id']),
      ).execute();
      await db.schema.createIndex('job_schedule_due').ifNotExists().on('job_schedule').column('due_at').execute();
      await rowid(
        db.schema
          .createTable('job_templates')
          .ifNotExists()
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull())
          .addColumn('template_id', 'text', (c) => c.notNull())
          // The TemplateRecord as JSON.
          .addColumn('record', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('job_templates_pkey', ['account_id', 'region', 'template_id']),
      ).execute();
    },
  },
};

export interface JobRow {
  account_id: string;
  region: string;
  job_id: string;
  record: string;
}

export interface ExecutionRow {
  account_id: string;
  region: string;
  job_id: string;
  thing_name: string;
  execution_number: number;
  status: string;
  seq: number;
  deadline: number | null;
  record: string;
}

export interface TemplateRow {
  account_id: string;
  region: string;
  template_id: string;
  record: string;
}
