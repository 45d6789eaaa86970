/**
 * Roles (per account, as IAM roles are) and role aliases (per account and region, as IoT resources
 * are), on the stores' SQL engine. A role's name is unique within its account whatever its case
 * (IAM's rule): SQLite's key compares it without case, PostgreSQL has a unique index on lower(name).
 *
 * Both are configuration (a thousand roles and a hundred aliases per account at most) read on
 * every credentials request and every request signed with temporary credentials: every row is kept
 * in memory, read at open, written through on change, and read again by `reload` (another node
 * sharing the database changed them). The database decides every write: a create inserts (a taken
 * key fails it), an update or delete changes the row only while it holds what this store read (a
 * write that finds it changed re-reads the row and says so, so the caller can decide again).
 *
 * The temporary credentials the credentials provider issues are in credential-store.ts.
 */
import { sql } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import { unchanged } from '../store/sql/conditional-writes.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { byCodeUnit, keyOf, prefixOf } from '../store/held-rows.js';
import { countInNamespace } from '../store/sql/count-in-namespace.js';

export interface RoleRow {
  accountId: string;
  name: string;
  /** `AROA...`: a role deleted and created again under the same name is another role. */
  roleId: string;
  description: string;
  /** The policy document as the caller wrote it. */
  policy: string;
  maxSessionDuration: number;
  /** Milliseconds since the epoch. */
  createdAt: number;
  updatedAt: number;
}

export interface RoleAliasRow {
  alias: string;
  roleArn: string;
  credentialDurationSeconds: number;
  createdAt: number;
  lastModified: number;
}

interface RoleDbRow {
  account_id: string;
  name: string;
  role_id: string;
  description: string;
  policy: string;
  max_session_duration: number;
  created_at: number;
  updated_at: number;
}

interface AliasDbRow {
  account_id: string;
  region: string;
  alias: string;
  role_arn: string;
  credential_duration: number;
  created_at: number;
  last_modified: number;
}

export const roleMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have these tables from the store's former schema.
  '0001_roles_and_aliases': {
    async up(db, dialect) {
      let roles = db.schema
        .createTable('roles')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        // IAM role names are unique without regard to case.
        .addColumn('name', 'text', (c) => (dialect === 'sqlite' ? c.notNull().modifyEnd(sql`collate nocase`) : c.notNull()))
        .addColumn('role_id', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull())
        .addColumn('policy', 'text', (c) => c.notNull())
        .addColumn('max_session_duration', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('roles_pkey', ['account_id', 'name']);
      let aliases = db.schema
        .createTable('role_aliases')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('alias', 'text', (c) => c.notNull())
        .addColumn('role_arn', 'text', (c) => c.notNull())
        .addColumn('credential_duration', 'integer', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_modified', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('role_aliases_pkey', ['account_id', 'region', 'alias']);
      if (dialect === 'sqlite') {
        roles = roles.modifyEnd(sql`without rowid`);
        aliases = aliases.modifyEnd(sql`without rowid`);
      }
      await roles.execute();
      await aliases.execute();
      if (dialect === 'postgres') await sql`create unique index if not exists roles_name_ci on roles (account_id, lower(name))`.execute(db);
    },
  },
};

const roleOf = (r: RoleDbRow): RoleRow => ({
  accountId: r.account_id,
  name: r.name,
  roleId: r.role_id,
  description: r.description,
  policy: r.policy,
  maxSessionDuration: r.max_session_duration,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

const roleDbRow = (r: RoleRow): RoleDbRow => ({
  account_id: r.accountId,
  name: r.name,
  role_id: r.roleId,
  description: r.description,
  policy: r.policy,
  max_session_duration: r.maxSessionDuration,
  created_at: r.createdAt,
  updated_at: r.updatedAt,
});

const aliasOf = (r: AliasDbRow): RoleAliasRow => ({
  alias: r.alias,
  roleArn: r.role_arn,
  credentialDurationSeconds: r.credential_duration,
  createdAt: r.created_at,
  lastModified: r.last_modified,
});

const aliasDbRow = (ns: Namespace, a: RoleAliasRow): AliasDbRow => ({
  account_id: ns.accountId,
  region: ns.region,
  alias: a.alias,
  role_arn: a.roleArn,
  credential_duration: a.credentialDurationSeconds,
  created_at: a.createdAt,
  last_modified: a.lastModified,
});

// Role names and aliases are ASCII: lower() folds them on both engines as SQLite's NOCASE does.
const roleKey = (accountId: string, name: string): string => `${accountId}\u0000${name.toLowerCase()}`;

export { untilApplied } from '../store/sql/conditional-writes.js';

export class RoleStore {
  private roleRows = new Map<string, RoleRow>();
  private aliasRows = new Map<string, RoleAliasRow>();

  private constructor(readonly sql: SqlEngine) {}

  /** The store with every role and alias the database holds loaded. */
  static async open(engine: SqlEngine): Promise<RoleStore> {
    const store = new RoleStore(engine);
    await store.reload();
    return store;
  }

  /** Reads every role and alias again (another node may have changed them). */
  async reload(): Promise<void> {
    const { db } = this.sql;
    const [roles, aliases] = await Promise.all([
      this.sql.all<RoleDbRow>(db.selectFrom('roles').selectAll()),
      this.sql.all<AliasDbRow>(db.selectFrom('role_aliases').selectAll()),
    ]);
    this.roleRows = new Map(roles.map((r) => [roleKey(r.account_id, r.name), roleOf(r)]));
    this.aliasRows = new Map(aliases.map((r) => [keyOf({ accountId: r.account_id, region: r.region }, r.alias), aliasOf(r)]));
  }

  /** Removes every role and alias of every account (test-mode reset). */
  clear(): Promise<unknown> {
    this.roleRows.clear();
    this.aliasRows.clear();
    return this.sql.batch([this.sql.db.deleteFrom('roles'), this.sql.db.deleteFrom('role_aliases')]);
  }

  // ---- roles

  /** The role of that name in any case. */
  role(accountId: string, name: string): RoleRow | undefined {
    return this.roleRows.get(roleKey(accountId, name));
  }

  /** The account's roles by name, without regard to case. */
  roles(accountId: string): RoleRow[] {
    const prefix = `${accountId}\u0000`;
    const out: Array<[string, RoleRow]> = [];
    for (const [key, r] of this.roleRows) if (key.startsWith(prefix)) out.push([key, r]);
    return out.sort(([a], [b]) => byCodeUnit(a, b)).map(([, r]) => r);
  }

  /** How many roles the account has, as the database says. */
  async countRoles(accountId: string): Promise<number> {
    const r = await this.sql.first<{ n: number | string }>(
      this.sql.db
        .selectFrom('roles')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('account_id', '=', accountId),
    );
    return Number(r?.n ?? 0);
  }

  /** Stores a new role; false, storing nothing, when the account has a role of that name (in any case) already. */
  async insertRole(r: RoleRow): Promise<boolean> {
    try {
      await this.sql.run(this.sql.db.insertInto('roles').values(roleDbRow(r)));
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshRole(r.accountId, r.name);
      return false;
    }
    this.roleRows.set(roleKey(r.accountId, r.name), r);
    return true;
  }

  /** Replaces `current` by `next` (same account and name); false when the row no longer holds `current` (then read again). */
  async updateRole(current: RoleRow, next: RoleRow): Promise<boolean> {
    const { changes } = await this.sql.run(
      this.sql.db
        .updateTable('roles')
        .set(roleDbRow(next))
        .where(unchanged(roleDbRow(current))),
    );
    if (changes === 0) {
      await this.refreshRole(current.accountId, current.name);
      return false;
    }
    this.roleRows.set(roleKey(next.accountId, next.name), next);
    return true;
  }

  /** Deletes the role of that name (in any case); false when there was none. */
  async deleteRole(accountId: string, name: string): Promise<boolean> {
    const { changes } = await this.sql.run(
      this.sql.db
        .deleteFrom('roles')
        .where('account_id', '=', accountId)
        .where(sql`lower(name)`, '=', name.toLowerCase()),
    );
    this.roleRows.delete(roleKey(accountId, name));
    return changes > 0;
  }

  private async refreshRole(accountId: string, name: string): Promise<void> {
    const r = await this.sql.first<RoleDbRow>(
      this.sql.db
        .selectFrom('roles')
        .selectAll()
        .where('account_id', '=', accountId)
        .where(sql`lower(name)`, '=', name.toLowerCase()),
    );
    if (r) this.roleRows.set(roleKey(accountId, name), roleOf(r));
    else this.roleRows.delete(roleKey(accountId, name));
  }

  // ---- role aliases

  alias(ns: Namespace, name: string): RoleAliasRow | undefined {
    return this.aliasRows.get(keyOf(ns, name));
  }

  /** Aliases after `after` (exclusive), in name order or its reverse. */
  aliases(ns: Namespace, opts: { after?: string; ascending: boolean; limit: number }): RoleAliasRow[] {
    const prefix = prefixOf(ns);
    const { after, ascending } = opts;
    const out: RoleAliasRow[] = [];
    for (const [key, a] of this.aliasRows) {
      if (!key.startsWith(prefix)) continue;
      if (after !== undefined && (ascending ? a.alias <= after : a.alias >= after)) continue;
      out.push(a);
    }
    out.sort((a, b) => (ascending ? byCodeUnit(a.alias, b.alias) : byCodeUnit(b.alias, a.alias)));
    return out.slice(0, opts.limit);
  }

  /** How many aliases the namespace has, as the database says. */
  async countAliases(ns: Namespace): Promise<number> {
    return countInNamespace(this.sql, 'role_aliases', ns);
  }

  /**
   * Stores a new alias with `also` (its tags) in the same transaction; false, storing neither, when
   * the namespace has an alias of that name already.
   */
  async insertAlias(ns: Namespace, a: RoleAliasRow, also: readonly Statement[] = []): Promise<boolean> {
    try {
      await this.sql.batch([this.sql.db.insertInto('role_aliases').values(aliasDbRow(ns, a)), ...also]);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshAlias(ns, a.alias);
      return false;
    }
    this.aliasRows.set(keyOf(ns, a.alias), a);
    return true;
  }

  /** Replaces `current` by `next` (same name); false when the row no longer holds `current` (then read again). */
  async updateAlias(ns: Namespace, current: RoleAliasRow, next: RoleAliasRow): Promise<boolean> {
    const { changes } = await this.sql.run(
      this.sql.db
        .updateTable('role_aliases')
        .set(aliasDbRow(ns, next))
        .where(unchanged(aliasDbRow(ns, current))),
    );
    if (changes === 0) {
      await this.refreshAlias(ns, current.alias);
      return false;
    }
    this.aliasRows.set(keyOf(ns, next.alias), next);
    return true;
  }

  /** Deletes an alias with `also` (removing its tags) in the same transaction; false when there was none. */
  async deleteAlias(ns: Namespace, name: string, also: readonly Statement[] = []): Promise<boolean> {
    const [deleted] = await this.sql.batch([
      this.sql.db
        .deleteFrom('role_aliases')
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('alias', '=', name),
      ...also,
    ]);
    this.aliasRows.delete(keyOf(ns, name));
    return (deleted?.changes ?? 0) > 0;
  }

  private async refreshAlias(ns: Namespace, name: string): Promise<void> {
    const r = await this.sql.first<AliasDbRow>(
      this.sql.db
        .selectFrom('role_aliases')
        .selectAll()
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('alias', '=', name),
    );
    if (r) this.aliasRows.set(keyOf(ns, name), aliasOf(r));
    else this.aliasRows.delete(keyOf(ns, name));
  }
}
