/**
 * The registry's tables on the stores' SQL engine: their migration (the same tables and columns the
 * registry's former SQLite schema had, so a database made before migrations opens with its rows),
 * the rows as the database holds them and as the services see them, and the SQL pieces the
 * registry's stores share.
 */
import { sql, type ExpressionBuilder, type Expression, type Kysely, type SqlBool } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import type { Statement } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';

export interface ThingRow {
  thingName: string;
  thingId: string;
  thingTypeName: string | null;
  attributes: Record<string, string>;
  version: number;
  createdAt: number;
}

export interface ThingTypeRow {
  name: string;
  id: string;
  description: string | null;
  searchableAttributes: string[];
  mqtt5Configuration: unknown;
  deprecated: boolean;
  deprecatedAt: number | null;
  createdAt: number;
}

export interface ThingGroupRow {
  name: string;
  id: string;
  parentName: string | null;
  description: string | null;
  attributes: Record<string, string>;
  version: number;
  createdAt: number;
}

export interface BillingGroupRow {
  name: string;
  id: string;
  description: string | null;
  version: number;
  createdAt: number;
}

export interface EventConfiguration {
  type: string;
  enabled: boolean;
  updatedAt: number;
}

interface Keyed {
  account_id: string;
  region: string;
}

export interface ThingDbRow extends Keyed {
  thing_name: string;
  thing_id: string;
  thing_type_name: string | null;
  attributes: string;
  version: number;
  created_at: number;
}

export interface ThingTypeDbRow extends Keyed {
  name: string;
  id: string;
  description: string | null;
  searchable_attributes: string;
  mqtt5_configuration: string | null;
  deprecated: number;
  deprecated_at: number | null;
  created_at: number;
}

export interface ThingGroupDbRow extends Keyed {
  name: string;
  id: string;
  parent_name: string | null;
  description: string | null;
  attributes: string;
  version: number;
  created_at: number;
}

export interface GroupMemberDbRow extends Keyed {
  group_name: string;
  thing_name: string;
}

export interface BillingGroupDbRow extends Keyed {
  name: string;
  id: string;
  description: string | null;
  version: number;
  created_at: number;
}

export interface BillingMemberDbRow extends Keyed {
  thing_name: string;
  group_name: string;
}

export interface ThingPrincipalDbRow extends Keyed {
  thing_name: string;
  principal: string;
  exclusive: number;
}

export interface EventConfigurationDbRow extends Keyed {
  event_type: string;
  enabled: number;
  updated_at: number;
}

/** The namespace a row belongs to. */
export const nsOf = (r: Keyed): Namespace => ({ accountId: r.account_id, region: r.region });

export const registryMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have these tables from the registry's former schema.
  '0001_registry': {
    async up(db, dialect) {
      // Epoch milliseconds are 64-bit; SQLite tables of the former schema have no rowid.
      const table = (name: string) => db.schema.createTable(name).ifNotExists();
      const keyed = (name: string) =>
        table(name)
          .addColumn('account_id', 'text', (c) => c.notNull())
          .addColumn('region', 'text', (c) => c.notNull());
      const tables = [
        keyed('things')
          .addColumn('thing_name', 'text', (c) => c.notNull())
          .addColumn('thing_id', 'text', (c) => c.notNull())
          .addColumn('thing_type_name', 'text')
          .addColumn('attributes', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('things_pkey', ['account_id', 'region', 'thing_name']),
        keyed('thing_types')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('searchable_attributes', 'text', (c) => c.notNull())
          .addColumn('mqtt5_configuration', 'text')
          .addColumn('deprecated', 'integer', (c) => c.notNull())
          .addColumn('deprecated_at', 'bigint')
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('thing_types_pkey', ['account_id', 'region', 'name']),
        keyed('thing_groups')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('parent_name', 'text')
          .addColumn('description', 'text')
          .addColumn('attributes', 'text', (c) => c.notNull())
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('thing_groups_pkey', ['account_id', 'region', 'name']),
        keyed('thing_group_members')
          .addColumn('group_name', 'text', (c) => c.notNull())
          .addColumn('thing_name', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('thing_group_members_pkey', ['account_id', 'region', 'group_name', 'thing_name']),
        keyed('billing_groups')
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('id', 'text', (c) => c.notNull())
          .addColumn('description', 'text')
          .addColumn('version', 'integer', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('billing_groups_pkey', ['account_id', 'region', 'name']),
        keyed('billing_group_members')
          .addColumn('thing_name', 'text', (c) => c.notNull())
          .addColumn('group_name', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('billing_group_members_pkey', ['account_id', 'region', 'thing_name']),
        keyed('thing_principals')
          .addColumn('thing_name', 'text', (c) => c.notNull())
          .addColumn('principal', 'text', (c) => c.notNull())
          .addColumn('exclusive', 'integer', (c) => c.notNull())
          .addPrimaryKeyConstraint('thing_principals_pkey', ['account_id', 'region', 'thing_name', 'principal']),
        keyed('event_configurations')
          .addColumn('event_type', 'text', (c) => c.notNull())
          .addColumn('enabled', 'integer', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addPrimaryKeyConstraint('event_configurations_pkey', ['account_id', 'region', 'event_type']),
      ];
      for (const t of tables) await (dialect === 'sqlite' ? t.modifyEnd(sql`without rowid`) : t).execute();
      const index = (name: string, on: string, columns: string[]) => db.schema.createIndex(name).ifNotExists().on(on).columns(columns);
      await index('things_by_type', 'things', ['account_id', 'region', 'thing_type_name']).execute();
      await index('group_members_by_thing', 'thing_group_members', ['account_id', 'region', 'thing_name']).execute();
      await index('billing_members_by_group', 'billing_group_members', ['account_id', 'region', 'group_name', 'thing_name']).execute();
      await index('thing_principals_by_principal', 'thing_principals', ['account_id', 'region', 'principal']).execute();
    },
  },
};

export const thingOf = (r: ThingDbRow): ThingRow => ({
  thingName: r.thing_name,
  thingId: r.thing_id,
  thingTypeName: r.thing_type_name ?? null,
  attributes: JSON.parse(r.attributes) as Record<string, string>,
  version: r.version,
  createdAt: r.created_at,
});

export const thingDbRow = (ns: Namespace, t: ThingRow): ThingDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  thing_name: t.thingName,
  thing_id: t.thingId,
  thing_type_name: t.thingTypeName,
  attributes: JSON.stringify(t.attributes),
  version: t.version,
  created_at: t.createdAt,
});

export const thingTypeOf = (r: ThingTypeDbRow): ThingTypeRow => ({
  name: r.name,
  id: r.id,
  description: r.description ?? null,
  searchableAttributes: JSON.parse(r.searchable_attributes) as string[],
  mqtt5Configuration: r.mqtt5_configuration ? (JSON.parse(r.mqtt5_configuration) as unknown) : undefined,
  deprecated: r.deprecated === 1,
  deprecatedAt: r.deprecated_at ?? null,
  createdAt: r.created_at,
});

export const thingTypeDbRow = (ns: Namespace, t: ThingTypeRow): ThingTypeDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  name: t.name,
  id: t.id,
  description: t.description,
  searchable_attributes: JSON.stringify(t.searchableAttributes),
  mqtt5_configuration: t.mqtt5Configuration === undefined ? null : JSON.stringify(t.mqtt5Configuration),
  deprecated: t.deprecated ? 1 : 0,
  deprecated_at: t.deprecatedAt,
  created_at: t.createdAt,
});

export const groupOf = (r: ThingGroupDbRow): ThingGroupRow => ({
  name: r.name,
  id: r.id,
  parentName: r.parent_name ?? null,
  description: r.description ?? null,
  attributes: JSON.parse(r.attributes) as Record<string, string>,
  version: r.version,
  createdAt: r.created_at,
});

export const groupDbRow = (ns: Namespace, g: ThingGroupRow): ThingGroupDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  name: g.name,
  id: g.id,
  parent_name: g.parentName,
  description: g.description,
  attributes: JSON.stringify(g.attributes),
  version: g.version,
  created_at: g.createdAt,
});

export const billingGroupOf = (r: BillingGroupDbRow): BillingGroupRow => ({
  name: r.name,
  id: r.id,
  description: r.description ?? null,
  version: r.version,
  createdAt: r.created_at,
});

export const billingGroupDbRow = (ns: Namespace, g: BillingGroupRow): BillingGroupDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  name: g.name,
  id: g.id,
  description: g.description,
  version: g.version,
  created_at: g.createdAt,
});

// ---- SQL pieces

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Db = Kysely<any>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Eb = ExpressionBuilder<any, any>;
export type Condition = (eb: Eb) => Expression<SqlBool>;

/**
 * The kinds of rows the registry's writes are marked with (`refreshedBy`): the other nodes of a
 * cluster re-read a thing (with its groups, billing group and principals), the things a principal
 * is attached to, or a thing group (with its members and child groups).
 */
export const THING = 'thing';
export const THING_PRINCIPAL = 'thingPrincipal';
export const THING_GROUP = 'thingGroup';

/** The row whose `column` is `name` in the namespace; `alias.` before each column when given. */
export const named =
  (ns: Namespace, column: string, name: string, alias?: string): Condition =>
  (eb) => {
    const c = (col: string): string => (alias ? `${alias}.${col}` : col);
    return eb.and([eb(c('account_id'), '=', ns.accountId), eb(c('region'), '=', ns.region), eb(c(column), '=', name)]);
  };

/** The whole key of a row: each column equal (the namespace's columns included in `columns`). */
export const keyed =
  (columns: Record<string, string>, alias?: string): Condition =>
  (eb) =>
    eb.and(Object.entries(columns).map(([col, value]) => eb(alias ? `${alias}.${col}` : col, '=', value)));

/**
 * A statement that fails its batch (on the table's key) when the row `where` selects (in the table
 * aliased `c`) is there: it copies the row onto itself. Placed after a conditional delete, it makes
 * what the batch does beside the delete (memberships, tags) happen only with it; placed after an
 * insert, with `where` also asking that something the new row needs is missing, it undoes the insert.
 */
export const failIfPresent = (db: Db, table: string, where: Condition): Statement =>
  db.insertInto(table).expression(db.selectFrom(`${table} as c`).selectAll().where(where));

/** Whether the row `column = ref` of `table` exists in the namespace of the copied row `c`. */
export const existsIn = (db: Db, eb: Eb, table: string, column: string, ref: string): Expression<SqlBool> =>
  eb.exists(
    db
      .selectFrom(`${table} as x`)
      .select(sql<number>`1`.as('one'))
      .whereRef('x.account_id', '=', 'c.account_id')
      .whereRef('x.region', '=', 'c.region')
      .whereRef(`x.${column}`, '=', ref),
  );
