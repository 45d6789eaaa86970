/** SQLite tables of the registry: things, thing types, static thing groups, billing groups, memberships, thing principals (tags are the tags capability's). */
import { inTransaction, type Db, prepared } from '../store/database.js';
import type { Namespace } from '../accounts/namespace.js';
import type { SyncTagWriter } from '../tags/tag-writer.js';
import type { Tag } from './validation.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS things (
  account_id TEXT NOT NULL, region TEXT NOT NULL, thing_name TEXT NOT NULL, thing_id TEXT NOT NULL,
  thing_type_name TEXT, attributes TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, thing_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS things_by_type ON things (account_id, region, thing_type_name);
CREATE TABLE IF NOT EXISTS thing_types (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL, description TEXT,
  searchable_attributes TEXT NOT NULL, mqtt5_configuration TEXT, deprecated INTEGER NOT NULL,
  deprecated_at INTEGER, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS thing_groups (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL, parent_name TEXT,
  description TEXT, attributes TEXT NOT NULL, version INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS thing_group_members (
  account_id TEXT NOT NULL, region TEXT NOT NULL, group_name TEXT NOT NULL, thing_name TEXT NOT NULL,
  PRIMARY KEY (account_id, region, group_name, thing_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS group_members_by_thing ON thing_group_members (account_id, region, thing_name);
CREATE TABLE IF NOT EXISTS billing_groups (
  account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL, id TEXT NOT NULL, description TEXT,
  version INTEGER NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS billing_group_members (
  account_id TEXT NOT NULL, region TEXT NOT NULL, thing_name TEXT NOT NULL, group_name TEXT NOT NULL,
  PRIMARY KEY (account_id, region, thing_name)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS billing_members_by_group ON billing_group_members (account_id, region, group_name, thing_name);
CREATE TABLE IF NOT EXISTS thing_principals (
  account_id TEXT NOT NULL, region TEXT NOT NULL, thing_name TEXT NOT NULL, principal TEXT NOT NULL,
  exclusive INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, thing_name, principal)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS thing_principals_by_principal ON thing_principals (account_id, region, principal);
CREATE TABLE IF NOT EXISTS event_configurations (
  account_id TEXT NOT NULL, region TEXT NOT NULL, event_type TEXT NOT NULL, enabled INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, region, event_type)) WITHOUT ROWID;
`;

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

type Row = Record<string, unknown>;

const thing = (r: Row): ThingRow => ({
  thingName: r.thing_name as string,
  thingId: r.thing_id as string,
  thingTypeName: (r.thing_type_name as string | null) ?? null,
  attributes: JSON.parse(r.attributes as string) as Record<string, string>,
  version: r.version as number,
  createdAt: r.created_at as number,
});

const thingType = (r: Row): ThingTypeRow => ({
  name: r.name as string,
  id: r.id as string,
  description: (r.description as string | null) ?? null,
  searchableAttributes: JSON.parse(r.searchable_attributes as string) as string[],
  mqtt5Configuration: r.mqtt5_configuration ? (JSON.parse(r.mqtt5_configuration as string) as unknown) : undefined,
  deprecated: r.deprecated === 1,
  deprecatedAt: (r.deprecated_at as number | null) ?? null,
  createdAt: r.created_at as number,
});

const group = (r: Row): ThingGroupRow => ({
  name: r.name as string,
  id: r.id as string,
  parentName: (r.parent_name as string | null) ?? null,
  description: (r.description as string | null) ?? null,
  attributes: JSON.parse(r.attributes as string) as Record<string, string>,
  version: r.version as number,
  createdAt: r.created_at as number,
});

const billingGroup = (r: Row): BillingGroupRow => ({
  name: r.name as string,
  id: r.id as string,
  description: (r.description as string | null) ?? null,
  version: r.version as number,
  createdAt: r.created_at as number,
});

export class RegistryStore {
  constructor(
    readonly db: Db,
    private readonly tagWriter: SyncTagWriter,
  ) {
    db.exec(SCHEMA);
  }

  /** Removes every registry resource of every namespace (test-mode reset). */
  clear(): void {
    this.db.exec(
      'DELETE FROM things; DELETE FROM thing_types; DELETE FROM thing_groups; DELETE FROM thing_group_members; DELETE FROM billing_groups; DELETE FROM billing_group_members; DELETE FROM thing_principals; DELETE FROM event_configurations;',
    );
  }

  /** Runs `fn` in one transaction (a check and the write it guards must not interleave). */
  tx<T>(fn: () => T): T {
    return inTransaction(this.db, fn);
  }

  // ---- things --------------------------------------------------------------------------------

  thing(ns: Namespace, name: string): ThingRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM things WHERE account_id = ? AND region = ? AND thing_name = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? thing(r) : undefined;
  }

  putThing(ns: Namespace, t: ThingRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO things (account_id, region, thing_name, thing_id, thing_type_name, attributes, version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, t.thingName, t.thingId, t.thingTypeName, JSON.stringify(t.attributes), t.version, t.createdAt);
  }

  deleteThing(ns: Namespace, name: string): void {
    prepared(this.db, 'DELETE FROM things WHERE account_id = ? AND region = ? AND thing_name = ?').run(ns.accountId, ns.region, name);
    prepared(this.db, 'DELETE FROM thing_group_members WHERE account_id = ? AND region = ? AND thing_name = ?').run(
      ns.accountId,
      ns.region,
      name,
    );
    this.setBillingGroupOf(ns, name, null);
  }

  /** Things ordered by name, after `after` (keyset paging). */
  things(ns: Namespace, opts: { after?: string; limit: number; thingTypeName?: string }): ThingRow[] {
    const args: unknown[] = [ns.accountId, ns.region, opts.after ?? ''];
    let sql = 'SELECT * FROM things WHERE account_id = ? AND region = ? AND thing_name > ?';
    if (opts.thingTypeName !== undefined) {
      sql += ' AND thing_type_name = ?';
      args.push(opts.thingTypeName);
    }
    sql += ' ORDER BY thing_name LIMIT ?';
    args.push(opts.limit);
    return (prepared(this.db, sql).all(...args) as Row[]).map(thing);
  }

  countThingsOfType(ns: Namespace, type: string): number {
    return (
      prepared(this.db, 'SELECT COUNT(*) AS n FROM things WHERE account_id = ? AND region = ? AND thing_type_name = ?').get(
        ns.accountId,
        ns.region,
        type,
      ) as {
        n: number;
      }
    ).n;
  }

  // ---- thing types ---------------------------------------------------------------------------

  thingType(ns: Namespace, name: string): ThingTypeRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM thing_types WHERE account_id = ? AND region = ? AND name = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? thingType(r) : undefined;
  }

  putThingType(ns: Namespace, t: ThingTypeRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO thing_types (account_id, region, name, id, description, searchable_attributes, mqtt5_configuration, deprecated, deprecated_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      ns.accountId,
      ns.region,
      t.name,
      t.id,
      t.description,
      JSON.stringify(t.searchableAttributes),
      t.mqtt5Configuration === undefined ? null : JSON.stringify(t.mqtt5Configuration),
      t.deprecated ? 1 : 0,
      t.deprecatedAt,
      t.createdAt,
    );
  }

  deleteThingType(ns: Namespace, name: string): void {
    prepared(this.db, 'DELETE FROM thing_types WHERE account_id = ? AND region = ? AND name = ?').run(ns.accountId, ns.region, name);
  }

  thingTypes(ns: Namespace): ThingTypeRow[] {
    return (
      prepared(this.db, 'SELECT * FROM thing_types WHERE account_id = ? AND region = ? ORDER BY name').all(ns.accountId, ns.region) as Row[]
    ).map(thingType);
  }

  // ---- thing groups --------------------------------------------------------------------------

  group(ns: Namespace, name: string): ThingGroupRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM thing_groups WHERE account_id = ? AND region = ? AND name = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? group(r) : undefined;
  }

  putGroup(ns: Namespace, g: ThingGroupRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO thing_groups (account_id, region, name, id, parent_name, description, attributes, version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, g.name, g.id, g.parentName, g.description, JSON.stringify(g.attributes), g.version, g.createdAt);
  }

  deleteGroup(ns: Namespace, name: string): void {
    prepared(this.db, 'DELETE FROM thing_groups WHERE account_id = ? AND region = ? AND name = ?').run(ns.accountId, ns.region, name);
    prepared(this.db, 'DELETE FROM thing_group_members WHERE account_id = ? AND region = ? AND group_name = ?').run(
      ns.accountId,
      ns.region,
      name,
    );
  }

  groups(ns: Namespace): ThingGroupRow[] {
    return (
      prepared(this.db, 'SELECT * FROM thing_groups WHERE account_id = ? AND region = ? ORDER BY name').all(
        ns.accountId,
        ns.region,
      ) as Row[]
    ).map(group);
  }

  children(ns: Namespace, parent: string): ThingGroupRow[] {
    return (
      prepared(this.db, 'SELECT * FROM thing_groups WHERE account_id = ? AND region = ? AND parent_name = ? ORDER BY name').all(
        ns.accountId,
        ns.region,
        parent,
      ) as Row[]
    ).map(group);
  }

  addMember(ns: Namespace, groupName: string, thingName: string): boolean {
    return (
      prepared(this.db, 'INSERT OR IGNORE INTO thing_group_members (account_id, region, group_name, thing_name) VALUES (?, ?, ?, ?)').run(
        ns.accountId,
        ns.region,
        groupName,
        thingName,
      ).changes > 0
    );
  }

  removeMember(ns: Namespace, groupName: string, thingName: string): boolean {
    return (
      prepared(this.db, 'DELETE FROM thing_group_members WHERE account_id = ? AND region = ? AND group_name = ? AND thing_name = ?').run(
        ns.accountId,
        ns.region,
        groupName,
        thingName,
      ).changes > 0
    );
  }

  groupsOfThing(ns: Namespace, thingName: string): string[] {
    return (
      prepared(
        this.db,
        'SELECT group_name FROM thing_group_members WHERE account_id = ? AND region = ? AND thing_name = ? ORDER BY group_name',
      ).all(ns.accountId, ns.region, thingName) as Row[]
    ).map((r) => r.group_name as string);
  }

  membersOf(ns: Namespace, groupName: string): string[] {
    return (
      prepared(
        this.db,
        'SELECT thing_name FROM thing_group_members WHERE account_id = ? AND region = ? AND group_name = ? ORDER BY thing_name',
      ).all(ns.accountId, ns.region, groupName) as Row[]
    ).map((r) => r.thing_name as string);
  }

  // ---- billing groups ------------------------------------------------------------------------

  billingGroup(ns: Namespace, name: string): BillingGroupRow | undefined {
    const r = prepared(this.db, 'SELECT * FROM billing_groups WHERE account_id = ? AND region = ? AND name = ?').get(
      ns.accountId,
      ns.region,
      name,
    ) as Row | undefined;
    return r ? billingGroup(r) : undefined;
  }

  putBillingGroup(ns: Namespace, g: BillingGroupRow): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO billing_groups (account_id, region, name, id, description, version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, g.name, g.id, g.description, g.version, g.createdAt);
  }

  /** Deletes a billing group; its things stay, in no billing group. */
  deleteBillingGroup(ns: Namespace, name: string): void {
    prepared(this.db, 'DELETE FROM billing_groups WHERE account_id = ? AND region = ? AND name = ?').run(ns.accountId, ns.region, name);
    prepared(this.db, 'DELETE FROM billing_group_members WHERE account_id = ? AND region = ? AND group_name = ?').run(
      ns.accountId,
      ns.region,
      name,
    );
  }

  billingGroups(ns: Namespace): BillingGroupRow[] {
    return (
      prepared(this.db, 'SELECT * FROM billing_groups WHERE account_id = ? AND region = ? ORDER BY name').all(
        ns.accountId,
        ns.region,
      ) as Row[]
    ).map(billingGroup);
  }

  /** The billing group a thing is in (a thing is in at most one). */
  billingGroupOf(ns: Namespace, thingName: string): string | undefined {
    const r = prepared(this.db, 'SELECT group_name FROM billing_group_members WHERE account_id = ? AND region = ? AND thing_name = ?').get(
      ns.accountId,
      ns.region,
      thingName,
    ) as Row | undefined;
    return r ? (r.group_name as string) : undefined;
  }

  /** Puts a thing in a billing group (leaving any other), or in none for null. */
  setBillingGroupOf(ns: Namespace, thingName: string, groupName: string | null): void {
    if (groupName === null) {
      prepared(this.db, 'DELETE FROM billing_group_members WHERE account_id = ? AND region = ? AND thing_name = ?').run(
        ns.accountId,
        ns.region,
        thingName,
      );
      return;
    }
    prepared(this.db, 'INSERT OR REPLACE INTO billing_group_members (account_id, region, thing_name, group_name) VALUES (?, ?, ?, ?)').run(
      ns.accountId,
      ns.region,
      thingName,
      groupName,
    );
  }

  billingGroupMembers(ns: Namespace, groupName: string): string[] {
    return (
      prepared(
        this.db,
        'SELECT thing_name FROM billing_group_members WHERE account_id = ? AND region = ? AND group_name = ? ORDER BY thing_name',
      ).all(ns.accountId, ns.region, groupName) as Row[]
    ).map((r) => r.thing_name as string);
  }

  // ---- thing principals ----------------------------------------------------------------------

  attachPrincipal(ns: Namespace, thingName: string, principal: string, exclusive: boolean): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO thing_principals (account_id, region, thing_name, principal, exclusive) VALUES (?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, thingName, principal, exclusive ? 1 : 0);
  }

  detachPrincipal(ns: Namespace, thingName: string, principal: string): boolean {
    return (
      prepared(this.db, 'DELETE FROM thing_principals WHERE account_id = ? AND region = ? AND thing_name = ? AND principal = ?').run(
        ns.accountId,
        ns.region,
        thingName,
        principal,
      ).changes > 0
    );
  }

  principalsOf(ns: Namespace, thingName: string): Array<{ principal: string; exclusive: boolean }> {
    return (
      prepared(
        this.db,
        'SELECT principal, exclusive FROM thing_principals WHERE account_id = ? AND region = ? AND thing_name = ? ORDER BY principal',
      ).all(ns.accountId, ns.region, thingName) as Row[]
    ).map((r) => ({ principal: r.principal as string, exclusive: r.exclusive === 1 }));
  }

  thingsOf(ns: Namespace, principal: string): Array<{ thingName: string; exclusive: boolean }> {
    return (
      prepared(
        this.db,
        'SELECT thing_name, exclusive FROM thing_principals WHERE account_id = ? AND region = ? AND principal = ? ORDER BY thing_name',
      ).all(ns.accountId, ns.region, principal) as Row[]
    ).map((r) => ({ thingName: r.thing_name as string, exclusive: r.exclusive === 1 }));
  }

  // ---- tags (the tags capability's table, written in the registry's transactions) ----------

  putTags(arn: string, tags: Tag[]): void {
    this.tagWriter.put(arn, tags);
  }

  deleteTags(arn: string): void {
    this.tagWriter.remove(arn);
  }

  // ---- event configurations ------------------------------------------------------------------

  eventConfigurations(ns: Namespace): Array<{ type: string; enabled: boolean; updatedAt: number }> {
    return (
      prepared(this.db, 'SELECT event_type, enabled, updated_at FROM event_configurations WHERE account_id = ? AND region = ?').all(
        ns.accountId,
        ns.region,
      ) as Row[]
    ).map((r) => ({ type: r.event_type as string, enabled: r.enabled === 1, updatedAt: r.updated_at as number }));
  }

  setEventConfiguration(ns: Namespace, type: string, enabled: boolean): void {
    prepared(
      this.db,
      'INSERT OR REPLACE INTO event_configurations (account_id, region, event_type, enabled, updated_at) VALUES (?, ?, ?, ?, ?)',
    ).run(ns.accountId, ns.region, type, enabled ? 1 : 0, Date.now());
  }
}
