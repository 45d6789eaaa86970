/**
 * Tags of every resource, by ARN: the one table that AWS's TagResource, UntagResource and
 * ListTagsForResource reach, whichever capability owns the resource. A capability writes a new
 * resource's tags in the same batch as the resource (`putting`, `removing`), so both or neither
 * are stored.
 */
import type { Tag } from '../registry/validation.js';
import type { SqlEngine, Statement } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';

interface TagRow {
  resource_arn: string;
  key: string;
  value: string | null;
}

export const tagMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have this table from the registry's schema.
  '0001_tags': {
    async up(db) {
      await db.schema
        .createTable('tags')
        .ifNotExists()
        .addColumn('resource_arn', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'text')
        .addPrimaryKeyConstraint('tags_pkey', ['resource_arn', 'key'])
        .execute();
    },
  },
};

export class TagStore {
  constructor(private readonly sql: SqlEngine) {}

  /** The statements that set these tags on a resource: each key's value is replaced, other keys stay. */
  putting(arn: string, tags: readonly Tag[]): Statement[] {
    // One key once per statement (PostgreSQL refuses to update a row twice in one upsert); the last value wins, as AWS does.
    const byKey = new Map(tags.map((t) => [t.Key, t.Value ?? null]));
    if (byKey.size === 0) return [];
    const rows = [...byKey].map(([key, value]) => ({ resource_arn: arn, key, value }));
    return [
      this.sql.db
        .insertInto('tags')
        .values(rows)
        .onConflict((c) => c.columns(['resource_arn', 'key']).doUpdateSet((eb) => ({ value: eb.ref('excluded.value') }))),
    ];
  }

  /** The statements that remove the resource's tags: these keys, or every key when none are named. */
  removing(arn: string, keys?: readonly string[]): Statement[] {
    if (keys?.length === 0) return [];
    let q = this.sql.db.deleteFrom('tags').where('resource_arn', '=', arn);
    if (keys) q = q.where('key', 'in', [...keys]);
    return [q];
  }

  async put(arn: string, tags: readonly Tag[]): Promise<void> {
    const statements = this.putting(arn, tags);
    if (statements.length > 0) await this.sql.batch(statements);
  }

  async remove(arn: string, keys?: readonly string[]): Promise<void> {
    const statements = this.removing(arn, keys);
    if (statements.length > 0) await this.sql.batch(statements);
  }

  /** The resource's tags by key. */
  async list(arn: string): Promise<Tag[]> {
    const rows = await this.sql.all<TagRow>(
      this.sql.db.selectFrom('tags').select(['key', 'value']).where('resource_arn', '=', arn).orderBy('key'),
    );
    return rows.map((r) => (r.value === null ? { Key: r.key } : { Key: r.key, Value: r.value }));
  }

  /** Every tag of every resource (test-mode reset). */
  clear(): Promise<unknown> {
    return this.sql.run(this.sql.db.deleteFrom('tags'));
  }
}
