/**
 * Provisioning templates and their versions, on the stores' SQL engine. They are configuration (a
 * few hundred per account at most, five versions each) read when a device provisions: every row is
 * kept in memory, read at open, written through on change and read again by `reload` (another node
 * changed them). A template's row carries the version counter: a new version is inserted only while
 * the counter is what this store read, so two nodes cannot hand out one number twice.
 */
import { sql, type ExpressionBuilder } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import { unchanged } from '../store/sql/conditional-writes.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { keyOf, prefixOf } from '../store/held-rows.js';
import type { TemplateType } from './template-body.js';

export interface PreProvisioningHook {
  targetArn: string;
  payloadVersion: string;
}

export interface TemplateRow {
  name: string;
  description: string;
  enabled: boolean;
  roleArn: string;
  hook: PreProvisioningHook | null;
  type: TemplateType;
  defaultVersion: number;
  /** The number the next version gets. */
  nextVersion: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
  /** New at every write: what the rows a write adds or removes with it are conditional on. */
  generation: string;
}

export interface TemplateVersionRow {
  versionId: number;
  body: string;
  createdAt: number;
}

interface TemplateDbRow {
  account_id: string;
  region: string;
  name: string;
  description: string;
  enabled: number;
  role_arn: string;
  hook: string | null;
  type: string;
  default_version: number;
  next_version: number;
  created_at: number;
  updated_at: number;
  generation: string;
}

interface VersionDbRow {
  account_id: string;
  region: string;
  name: string;
  version_id: number;
  body: string;
  created_at: number;
}

export const templateMigrations: Record<string, StoreMigration> = {
  '0001_provisioning_templates': {
    async up(db, dialect) {
      let templates = db.schema
        .createTable('provisioning_templates')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('enabled', 'integer', (c) => c.notNull())
        .addColumn('role_arn', 'text', (c) => c.notNull())
        .addColumn('hook', 'text')
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('default_version', 'integer', (c) => c.notNull())
        .addColumn('next_version', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('generation', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('provisioning_templates_pkey', ['account_id', 'region', 'name']);
      let versions = db.schema
        .createTable('provisioning_template_versions')
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('version_id', 'integer', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('provisioning_template_versions_pkey', ['account_id', 'region', 'name', 'version_id']);
      if (dialect === 'sqlite') {
        templates = templates.modifyEnd(sql`without rowid`);
        versions = versions.modifyEnd(sql`without rowid`);
      }
      await templates.execute();
      await versions.execute();
    },
  },
};

const templateOf = (r: TemplateDbRow): TemplateRow => ({
  name: r.name,
  description: r.description,
  enabled: Number(r.enabled) === 1,
  roleArn: r.role_arn,
  hook: r.hook === null ? null : (JSON.parse(r.hook) as PreProvisioningHook),
  type: r.type as TemplateType,
  defaultVersion: Number(r.default_version),
  nextVersion: Number(r.next_version),
  createdAt: Number(r.created_at),
  updatedAt: Number(r.updated_at),
  generation: r.generation,
});

const templateDbRow = (ns: Namespace, t: TemplateRow): TemplateDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  name: t.name,
  description: t.description,
  enabled: t.enabled ? 1 : 0,
  role_arn: t.roleArn,
  hook: t.hook === null ? null : JSON.stringify(t.hook),
  type: t.type,
  default_version: t.defaultVersion,
  next_version: t.nextVersion,
  created_at: t.createdAt,
  updated_at: t.updatedAt,
  generation: t.generation,
});

const versionDbRow = (ns: Namespace, name: string, v: TemplateVersionRow): VersionDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  name,
  version_id: v.versionId,
  body: v.body,
  created_at: v.createdAt,
});

interface Held {
  row: TemplateRow;
  /** By version id, ascending. */
  versions: TemplateVersionRow[];
}

export class TemplateStore {
  private rows = new Map<string, Held>();

  private constructor(readonly sql: SqlEngine) {}

  static async open(engine: SqlEngine): Promise<TemplateStore> {
    const store = new TemplateStore(engine);
    await store.reload();
    return store;
  }

  /** Reads every template and version again (another node may have changed them). */
  async reload(): Promise<void> {
    const { db } = this.sql;
    const [templates, versions] = await Promise.all([
      this.sql.all<TemplateDbRow>(db.selectFrom('provisioning_templates').selectAll()),
      this.sql.all<VersionDbRow>(db.selectFrom('provisioning_template_versions').selectAll().orderBy('version_id')),
    ]);
    const rows = new Map<string, Held>();
    for (const t of templates) rows.set(keyOf({ accountId: t.account_id, region: t.region }, t.name), { row: templateOf(t), versions: [] });
    for (const v of versions) {
      rows
        .get(keyOf({ accountId: v.account_id, region: v.region }, v.name))
        ?.versions.push({ versionId: Number(v.version_id), body: v.body, createdAt: Number(v.created_at) });
    }
    this.rows = rows;
  }

  clear(): Promise<unknown> {
    this.rows.clear();
    return this.sql.batch([this.sql.db.deleteFrom('provisioning_template_versions'), this.sql.db.deleteFrom('provisioning_templates')]);
  }

  template(ns: Namespace, name: string): TemplateRow | undefined {
    return this.rows.get(keyOf(ns, name))?.row;
  }

  versions(ns: Namespace, name: string): TemplateVersionRow[] {
    return this.rows.get(keyOf(ns, name))?.versions ?? [];
  }

  /** The namespace's templates in name order. */
  templates(ns: Namespace): TemplateRow[] {
    const prefix = prefixOf(ns);
    const out: TemplateRow[] = [];
    for (const [key, h] of this.rows) if (key.startsWith(prefix)) out.push(h.row);
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** A new template and its first version (and `also`: its tags) in one transaction; false when the name is taken. */
  async insert(ns: Namespace, t: TemplateRow, first: TemplateVersionRow, also: readonly Statement[]): Promise<boolean> {
    const { db } = this.sql;
    try {
      await this.sql.batch([
        db.insertInto('provisioning_templates').values(templateDbRow(ns, t)),
        db.insertInto('provisioning_template_versions').values(versionDbRow(ns, t.name, first)),
        ...also,
      ]);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refresh(ns, t.name);
      return false;
    }
    this.rows.set(keyOf(ns, t.name), { row: t, versions: [first] });
    return true;
  }

  /**
   * Replaces `current` by `next`, adding the `added` version or deleting the `removed` one in the
   * same transaction; false (nothing written, the template read again) when the row no longer holds
   * `current`. The version rows change only if the template row did: they are guarded by the new
   * row's generation, which only this write can have put there.
   */
  async update(
    ns: Namespace,
    current: TemplateRow,
    next: TemplateRow,
    changes: { added?: TemplateVersionRow; removed?: number } = {},
  ): Promise<boolean> {
    const { db } = this.sql;
    const name = next.name;
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const written = (eb: ExpressionBuilder<any, any>) =>
      eb.exists(
        db
          .selectFrom('provisioning_templates as t')
          .select('t.name')
          .where('t.account_id', '=', ns.accountId)
          .where('t.region', '=', ns.region)
          .where('t.name', '=', name)
          .where('t.generation', '=', next.generation),
      );
    const statements: Statement[] = [
      db
        .updateTable('provisioning_templates')
        .set(templateDbRow(ns, next))
        .where(unchanged(templateDbRow(ns, current))),
    ];
    if (changes.added) {
      const v = changes.added;
      statements.push(
        db
          .insertInto('provisioning_template_versions')
          .columns(['account_id', 'region', 'name', 'version_id', 'body', 'created_at'])
          .expression(
            db
              .selectFrom('provisioning_templates as t')
              .select([
                't.account_id',
                't.region',
                't.name',
                sql<number>`cast(${v.versionId} as integer)`.as('version_id'),
                sql<string>`cast(${v.body} as text)`.as('body'),
                sql<number>`cast(${v.createdAt} as bigint)`.as('created_at'),
              ])
              .where('t.account_id', '=', ns.accountId)
              .where('t.region', '=', ns.region)
              .where('t.name', '=', name)
              .where('t.generation', '=', next.generation),
          ),
      );
    }
    if (changes.removed !== undefined) {
      statements.push(
        db
          .deleteFrom('provisioning_template_versions')
          .where('account_id', '=', ns.accountId)
          .where('region', '=', ns.region)
          .where('name', '=', name)
          .where('version_id', '=', changes.removed)
          .where(written),
      );
    }
    let applied: boolean;
    try {
      const [first] = await this.sql.batch(statements);
      applied = (first?.changes ?? 0) > 0;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      applied = false;
    }
    if (!applied) {
      await this.refresh(ns, current.name);
      return false;
    }
    const held = this.rows.get(keyOf(ns, name));
    let versions = held?.versions ?? [];
    if (changes.removed !== undefined) versions = versions.filter((v) => v.versionId !== changes.removed);
    if (changes.added) versions = [...versions, changes.added];
    this.rows.set(keyOf(ns, name), { row: next, versions });
    return true;
  }

  /** Deletes a template, its versions and (`also`) its tags; false when there was none. */
  async delete(ns: Namespace, name: string, also: readonly Statement[]): Promise<boolean> {
    const { db } = this.sql;
    const [deleted] = await this.sql.batch([
      db
        .deleteFrom('provisioning_templates')
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('name', '=', name),
      db
        .deleteFrom('provisioning_template_versions')
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('name', '=', name),
      ...also,
    ]);
    this.rows.delete(keyOf(ns, name));
    return (deleted?.changes ?? 0) > 0;
  }

  private async refresh(ns: Namespace, name: string): Promise<void> {
    const { db } = this.sql;
    const [t, versions] = await Promise.all([
      this.sql.first<TemplateDbRow>(
        db
          .selectFrom('provisioning_templates')
          .selectAll()
          .where('account_id', '=', ns.accountId)
          .where('region', '=', ns.region)
          .where('name', '=', name),
      ),
      this.sql.all<VersionDbRow>(
        db
          .selectFrom('provisioning_template_versions')
          .selectAll()
          .where('account_id', '=', ns.accountId)
          .where('region', '=', ns.region)
          .where('name', '=', name)
          .orderBy('version_id'),
      ),
    ]);
    if (!t) this.rows.delete(keyOf(ns, name));
    else {
      this.rows.set(keyOf(ns, name), {
        row: templateOf(t),
        versions: versions.map((v) => ({ versionId: Number(v.version_id), body: v.body, createdAt: Number(v.created_at) })),
      });
    }
  }
}
