/** The policy tables (their schema and migration) and how their rows map to what the policy store holds. */
import { sql } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import type { StoreMigration } from '../store/sql/migrations.js';

export interface PolicyRow {
  name: string;
  defaultVersion: number;
  nextVersion: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  lastModified: number;
  generationId: string;
}

export interface PolicyVersionRow {
  version: number;
  document: string;
  createdAt: number;
}

export interface PolicyDbRow {
  account_id: string;
  region: string;
  name: string;
  default_version: number;
  next_version: number;
  created_at: number;
  last_modified: number;
  generation_id: string;
}

/** A policy with one of its versions (none when it has none: a left join). */
export interface PolicyWithVersionDbRow extends PolicyDbRow {
  v_version: number | null;
  v_document: string | null;
  v_created_at: number | null;
}

export interface TargetDbRow {
  account_id: string;
  region: string;
  policy_name: string;
  target: string;
  attached_at: number;
}

export const policyMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have these tables from the store's former schema.
  '0001_policies': {
    async up(db, dialect) {
      let policies = db.schema
        .createTable('policies')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('default_version', 'integer', (c) => c.notNull())
        .addColumn('next_version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_modified', 'bigint', (c) => c.notNull())
        .addColumn('generation_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('policies_pkey', ['account_id', 'region', 'name']);
      let versions = db.schema
        .createTable('policy_versions')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('document', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('policy_versions_pkey', ['account_id', 'region', 'name', 'version']);
      let targets = db.schema
        .createTable('policy_targets')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('policy_name', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('attached_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('policy_targets_pkey', ['account_id', 'region', 'policy_name', 'target']);
      if (dialect === 'sqlite') {
        policies = policies.modifyEnd(sql`without rowid`);
        versions = versions.modifyEnd(sql`without rowid`);
        targets = targets.modifyEnd(sql`without rowid`);
      }
      await policies.execute();
      await versions.execute();
      await targets.execute();
      await db.schema
        .createIndex('policy_targets_by_target')
        .ifNotExists()
        .on('policy_targets')
        .columns(['account_id', 'region', 'target'])
        .execute();
    },
  },
};

export const policyOf = (r: PolicyDbRow): PolicyRow => ({
  name: r.name,
  defaultVersion: r.default_version,
  nextVersion: r.next_version,
  createdAt: r.created_at,
  lastModified: r.last_modified,
  generationId: r.generation_id,
});

export const policyDbRow = (ns: Namespace, p: PolicyRow): PolicyDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  name: p.name,
  default_version: p.defaultVersion,
  next_version: p.nextVersion,
  created_at: p.createdAt,
  last_modified: p.lastModified,
  generation_id: p.generationId,
});
