/**
 * The registry on the stores' SQL engine: things, thing types, the certificates (principals)
 * attached to things and the event configurations here; thing groups (group-store.ts) and billing
 * groups (billing-store.ts) beside them. Tags are the tags capability's: the services hand in its
 * statements, which run in the same transaction as the resource's own.
 *
 * Everything is held in memory: read at open, written through on change, read again by `reload`
 * (every row) or by `refreshThing`, `refreshGroup`, ... (one resource, when another node says it
 * changed it). The device authorizer binds a connection to its thing (`thingsOf`) and resolves its
 * policy variables synchronously, jobs and rules read things and groups synchronously: none of them
 * waits for the database. The database decides every write: a create inserts (a taken name fails
 * it), an update or delete applies only while the row holds what this store read (versions), and
 * what a row needs (its thing type, its thing, its group) must still be there when it is written.
 * A write that finds otherwise changes nothing, reads again what it depended on and answers false,
 * so that the caller decides again (`untilApplied`).
 */
import { sql } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import { byCodeUnit, nsKey } from '../store/held-rows.js';
import { unchanged } from '../store/sql/conditional-writes.js';
import { changedKey, refreshedBy } from '../store/sql/changed-keys.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import { BillingGroupStore } from './billing-store.js';
import { ThingGroupStore } from './group-store.js';
import { Links, NsMap } from './held.js';
import {
  THING,
  THING_PRINCIPAL,
  failIfPresent,
  named,
  nsOf,
  thingDbRow,
  thingOf,
  thingTypeDbRow,
  thingTypeOf,
  type BillingGroupDbRow,
  type BillingMemberDbRow,
  type Condition,
  type EventConfiguration,
  type EventConfigurationDbRow,
  type GroupMemberDbRow,
  type ThingDbRow,
  type ThingGroupDbRow,
  type ThingGroupRow,
  type ThingPrincipalDbRow,
  type ThingRow,
  type ThingTypeDbRow,
  type ThingTypeRow,
} from './registry-schema.js';

export type { BillingGroupRow, EventConfiguration, ThingGroupRow, ThingRow, ThingTypeRow } from './registry-schema.js';
export { registryMigrations } from './registry-schema.js';
export { untilApplied } from '../store/sql/conditional-writes.js';

export interface ThingPrincipal {
  principal: string;
  exclusive: boolean;
}

export interface PrincipalThing {
  thingName: string;
  exclusive: boolean;
}

export class RegistryStore {
  readonly groups: ThingGroupStore;
  readonly billing: BillingGroupStore;
  private things = new NsMap<ThingRow>();
  /** Thing types with the row the database holds (what a conditional write compares). */
  private types = new NsMap<{ row: ThingTypeRow; db: ThingTypeDbRow }>();
  /** Thing → its principals, each attached exclusively or not. */
  private readonly principals = new Links<boolean>();
  /** Event types by namespace key. */
  private events = new Map<string, Map<string, EventConfiguration>>();

  private constructor(private readonly sql: SqlEngine) {
    const refreshThing = (ns: Namespace, name: string) => this.refreshThing(ns, name);
    this.groups = new ThingGroupStore(sql, refreshThing);
    this.billing = new BillingGroupStore(sql, refreshThing);
  }

  /** The store with every registry row the database holds loaded. */
  static async open(engine: SqlEngine): Promise<RegistryStore> {
    const store = new RegistryStore(engine);
    await store.reload();
    return store;
  }

  /** Reads every row again (another node may have changed them). */
  async reload(): Promise<void> {
    const { db } = this.sql;
    const all = <R>(table: string) => this.sql.all<R>(db.selectFrom(table).selectAll());
    const [things, types, groups, members, billingGroups, billingMembers, principals, events] = await Promise.all([
      all<ThingDbRow>('things'),
      all<ThingTypeDbRow>('thing_types'),
      all<ThingGroupDbRow>('thing_groups'),
      all<GroupMemberDbRow>('thing_group_members'),
      all<BillingGroupDbRow>('billing_groups'),
      all<BillingMemberDbRow>('billing_group_members'),
      all<ThingPrincipalDbRow>('thing_principals'),
      all<EventConfigurationDbRow>('event_configurations'),
    ]);
    this.things = new NsMap();
    for (const r of things) this.things.set(nsOf(r), r.thing_name, thingOf(r));
    this.types = new NsMap();
    for (const r of types) this.types.set(nsOf(r), r.name, { row: thingTypeOf(r), db: r });
    this.groups.load(groups, members);
    this.billing.load(billingGroups, billingMembers);
    this.principals.clear();
    for (const p of principals) this.principals.link(nsOf(p), p.thing_name, p.principal, p.exclusive === 1);
    this.events = new Map();
    for (const e of events) this.holdEvent(nsOf(e), e);
  }

  /** Removes every registry resource of every namespace (test-mode reset). */
  clear(): Promise<unknown> {
    const { db } = this.sql;
    this.things.clear();
    this.types.clear();
    this.principals.clear();
    this.events.clear();
    return this.sql.batch([
      db.deleteFrom('things'),
      db.deleteFrom('thing_types'),
      db.deleteFrom('thing_principals'),
      db.deleteFrom('event_configurations'),
      ...this.groups.clearing(),
      ...this.billing.clearing(),
    ]);
  }

  // ---- things --------------------------------------------------------------------------------

  thing(ns: Namespace, name: string): ThingRow | undefined {
    return this.things.get(ns, name);
  }

  /** The namespace's things by name, after `after` (exclusive), optionally only those of one type. */
  thingsByName(ns: Namespace, opts: { after?: string; thingTypeName?: string } = {}): ThingRow[] {
    const { after, thingTypeName } = opts;
    const out: ThingRow[] = [];
    for (const t of this.things.values(ns)) {
      if (after !== undefined && t.thingName <= after) continue;
      if (thingTypeName !== undefined && t.thingTypeName !== thingTypeName) continue;
      out.push(t);
    }
    return out.sort((a, b) => byCodeUnit(a.thingName, b.thingName));
  }

  /** How many things have the type, as the database says. */
  async countThingsOfType(ns: Namespace, type: string): Promise<number> {
    const r = await this.sql.first<{ n: number | string }>(
      this.sql.db
        .selectFrom('things')
        .select((eb) => eb.fn.countAll().as('n'))
        .where(named(ns, 'thing_type_name', type)),
    );
    return Number(r?.n ?? 0);
  }

  /**
   * Stores a new thing, in `billingGroup` when named, in one transaction. False, storing nothing,
   * when the name is taken, its thing type is gone or deprecated, or the billing group is gone
   * (each read again).
   */
  async insertThing(ns: Namespace, t: ThingRow, billingGroup?: string): Promise<boolean> {
    try {
      await this.sql.batch(
        refreshedBy(
          [
            this.sql.db.insertInto('things').values(thingDbRow(ns, t)),
            ...this.typeGuard(ns, t),
            ...(billingGroup === undefined ? [] : this.billing.putting(ns, t.thingName, billingGroup)),
          ],
          changedKey(THING, ns, t.thingName),
        ),
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await Promise.all([
        this.refreshThing(ns, t.thingName),
        t.thingTypeName === null ? undefined : this.refreshThingType(ns, t.thingTypeName),
        billingGroup === undefined ? undefined : this.billing.refreshBillingGroupRow(ns, billingGroup),
      ]);
      return false;
    }
    this.things.set(ns, t.thingName, t);
    if (billingGroup !== undefined) this.billing.holdBillingGroupOf(ns, t.thingName, billingGroup);
    return true;
  }

  /**
   * Replaces `current` by `next` (same name, version one more). False, changing nothing, when the
   * row no longer holds `current`'s version or a newly named thing type is gone or deprecated (read again).
   */
  async updateThing(ns: Namespace, current: ThingRow, next: ThingRow): Promise<boolean> {
    let changes: number;
    try {
      const [r] = await this.sql.batch(
        refreshedBy(
          [
            this.sql.db.updateTable('things').set(thingDbRow(ns, next)).where(this.sameThing(ns, current)),
            ...(next.thingTypeName !== current.thingTypeName ? this.typeGuard(ns, next) : []),
          ],
          changedKey(THING, ns, current.thingName),
        ),
      );
      changes = r?.changes ?? 0;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      changes = 0;
    }
    if (changes === 0) {
      await Promise.all([
        this.refreshThing(ns, current.thingName),
        next.thingTypeName === null ? undefined : this.refreshThingType(ns, next.thingTypeName),
      ]);
      return false;
    }
    this.things.set(ns, next.thingName, next);
    return true;
  }

  /**
   * Deletes `current` with its group memberships, its billing group membership and `also`
   * (removing its tags) in one transaction. False, deleting nothing, when the row no longer holds
   * `current`'s version or a principal is attached to it (read again), or when it is gone.
   */
  async deleteThing(ns: Namespace, current: ThingRow, also: readonly Statement[] = []): Promise<boolean> {
    const { db } = this.sql;
    const name = current.thingName;
    let deleted: number;
    try {
      const [r] = await this.sql.batch(
        refreshedBy(
          [
            db
              .deleteFrom('things')
              .where(this.sameThing(ns, current))
              .where((eb) =>
                eb.not(
                  eb.exists(
                    db
                      .selectFrom('thing_principals')
                      .select('principal')
                      .where(named(ns, 'thing_name', name)),
                  ),
                ),
              ),
            // The memberships and tags go only with the thing: should it still be there, this copy of it fails the batch.
            failIfPresent(db, 'things', named(ns, 'thing_name', name, 'c')),
            ...this.groups.removingThing(ns, name),
            ...this.billing.removingThing(ns, name),
            ...also,
          ],
          changedKey(THING, ns, name),
        ),
      );
      deleted = r?.changes ?? 0;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshThing(ns, name);
      return false;
    }
    this.forgetThing(ns, name);
    // Deleted by another writer first: the caller finds it gone.
    return deleted > 0;
  }

  /** Reads a thing again: its row, its groups, its billing group and its principals (another node may have changed them). */
  async refreshThing(ns: Namespace, name: string): Promise<void> {
    const { db } = this.sql;
    const [row, groups, billingGroup, principals] = await Promise.all([
      this.sql.first<ThingDbRow>(
        db
          .selectFrom('things')
          .selectAll()
          .where(named(ns, 'thing_name', name)),
      ),
      this.groups.readGroupsOfThing(ns, name),
      this.billing.readBillingGroupOf(ns, name),
      this.sql.all<ThingPrincipalDbRow>(
        db
          .selectFrom('thing_principals')
          .selectAll()
          .where(named(ns, 'thing_name', name)),
      ),
    ]);
    if (row) this.things.set(ns, name, thingOf(row));
    else this.things.delete(ns, name);
    this.groups.holdGroupsOfThing(ns, name, groups);
    this.billing.holdBillingGroupOf(ns, name, billingGroup);
    this.principals.setFrom(
      ns,
      name,
      principals.map((p) => [p.principal, p.exclusive === 1] as const),
    );
  }

  private forgetThing(ns: Namespace, name: string): void {
    this.things.delete(ns, name);
    this.groups.holdGroupsOfThing(ns, name, []);
    this.billing.holdBillingGroupOf(ns, name, undefined);
    this.principals.setFrom(ns, name, []);
  }

  /** The thing `current` names, still at its version. */
  private sameThing(ns: Namespace, current: ThingRow): Condition {
    return (eb) =>
      eb.and([named(ns, 'thing_name', current.thingName)(eb), eb('thing_id', '=', current.thingId), eb('version', '=', current.version)]);
  }

  /** Undoes the write of a thing whose thing type is not there (or deprecated) once it ran. */
  private typeGuard(ns: Namespace, t: ThingRow): Statement[] {
    if (t.thingTypeName === null) return [];
    const { db } = this.sql;
    return [
      failIfPresent(db, 'things', (eb) =>
        eb.and([
          named(ns, 'thing_name', t.thingName, 'c')(eb),
          eb.not(
            eb.exists(
              db
                .selectFrom('thing_types as x')
                .select(sql<number>`1`.as('one'))
                .whereRef('x.account_id', '=', 'c.account_id')
                .whereRef('x.region', '=', 'c.region')
                .whereRef('x.name', '=', 'c.thing_type_name')
                .where('x.deprecated', '=', 0),
            ),
          ),
        ]),
      ),
    ];
  }

  // ---- thing types ---------------------------------------------------------------------------

  thingType(ns: Namespace, name: string): ThingTypeRow | undefined {
    return this.types.get(ns, name)?.row;
  }

  /** The namespace's thing types by name. */
  thingTypes(ns: Namespace): ThingTypeRow[] {
    return this.types.sorted(ns, (t) => t.row.name).map((t) => t.row);
  }

  /** Stores a new thing type with `also` (its tags) in the same transaction; false, storing nothing, when the name is taken. */
  async insertThingType(ns: Namespace, t: ThingTypeRow, also: readonly Statement[] = []): Promise<boolean> {
    const row = thingTypeDbRow(ns, t);
    try {
      await this.sql.batch([this.sql.db.insertInto('thing_types').values(row), ...also]);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshThingType(ns, t.name);
      return false;
    }
    this.types.set(ns, t.name, { row: t, db: row });
    return true;
  }

  /** Replaces `current` by `next` (same name); false when the row no longer holds `current` (then read again). */
  async updateThingType(ns: Namespace, current: ThingTypeRow, next: ThingTypeRow): Promise<boolean> {
    const row = thingTypeDbRow(ns, next);
    const { changes } = await this.sql.run(this.sql.db.updateTable('thing_types').set(row).where(this.sameType(ns, current)));
    if (changes === 0) {
      await this.refreshThingType(ns, current.name);
      return false;
    }
    this.types.set(ns, next.name, { row: next, db: row });
    return true;
  }

  /**
   * Deletes `current` with `also` (removing its tags) in one transaction. False, deleting nothing,
   * when the row no longer holds `current` (read again), a thing has the type, or it is gone.
   */
  async deleteThingType(ns: Namespace, current: ThingTypeRow, also: readonly Statement[] = []): Promise<boolean> {
    const { db } = this.sql;
    let deleted: number;
    try {
      const [r] = await this.sql.batch([
        db
          .deleteFrom('thing_types')
          .where(this.sameType(ns, current))
          .where((eb) =>
            eb.not(
              eb.exists(
                db
                  .selectFrom('things')
                  .select('thing_name')
                  .where(named(ns, 'thing_type_name', current.name)),
              ),
            ),
          ),
        // The tags go only with the type: should it still be there, this copy of it fails the batch.
        failIfPresent(db, 'thing_types', named(ns, 'name', current.name, 'c')),
        ...also,
      ]);
      deleted = r?.changes ?? 0;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshThingType(ns, current.name);
      return false;
    }
    this.types.delete(ns, current.name);
    return deleted > 0;
  }

  /** Reads a thing type again (another node may have changed it). */
  async refreshThingType(ns: Namespace, name: string): Promise<void> {
    const r = await this.sql.first<ThingTypeDbRow>(
      this.sql.db
        .selectFrom('thing_types')
        .selectAll()
        .where(named(ns, 'name', name)),
    );
    if (r) this.types.set(ns, name, { row: thingTypeOf(r), db: r });
    else this.types.delete(ns, name);
  }

  /** The row `current` was read from, unchanged. */
  private sameType(ns: Namespace, current: ThingTypeRow): Condition {
    const held = this.types.get(ns, current.name);
    const row = held?.row === current ? held.db : thingTypeDbRow(ns, current);
    return unchanged(row);
  }

  // ---- groups (held by `groups` and `billing`) ----------------------------------------------

  group(ns: Namespace, name: string): ThingGroupRow | undefined {
    return this.groups.group(ns, name);
  }

  /** Reads a thing group again, with its members and child groups. */
  refreshGroup(ns: Namespace, name: string): Promise<void> {
    return this.groups.refreshGroup(ns, name);
  }

  /** Reads a billing group again, with its things. */
  refreshBillingGroup(ns: Namespace, name: string): Promise<void> {
    return this.billing.refreshBillingGroup(ns, name);
  }

  // ---- thing principals ----------------------------------------------------------------------

  /** The principals attached to a thing, by principal. */
  principalsOf(ns: Namespace, thingName: string): ThingPrincipal[] {
    return this.principals.from(ns, thingName).map(([principal, exclusive]) => ({ principal, exclusive }));
  }

  /** The things a principal is attached to, by name (CONNECT binds a connection to its thing with this). */
  thingsOf(ns: Namespace, principal: string): PrincipalThing[] {
    return this.principals.to(ns, principal).map(([thingName, exclusive]) => ({ thingName, exclusive }));
  }

  /**
   * Attaches a principal to a thing (or changes whether exclusively). False, changing nothing, when
   * the thing is gone, or the principal is attached exclusively to another thing, or (for an
   * exclusive attachment) to any other thing: both read again.
   */
  async attachPrincipal(ns: Namespace, thingName: string, principal: string, exclusive: boolean): Promise<boolean> {
    const { db } = this.sql;
    const row = { account_id: ns.accountId, region: ns.region, thing_name: thingName, principal, exclusive: exclusive ? 1 : 0 };
    try {
      await this.sql.batch(
        refreshedBy(
          [
            db
              .insertInto('thing_principals')
              .values(row)
              .onConflict((c) =>
                c
                  .columns(['account_id', 'region', 'thing_name', 'principal'])
                  .doUpdateSet((eb) => ({ exclusive: eb.ref('excluded.exclusive') })),
              ),
            failIfPresent(db, 'thing_principals', (eb) => {
              let others = db
                .selectFrom('thing_principals as x')
                .select(sql<number>`1`.as('one'))
                .whereRef('x.account_id', '=', 'c.account_id')
                .whereRef('x.region', '=', 'c.region')
                .whereRef('x.principal', '=', 'c.principal')
                .whereRef('x.thing_name', '<>', 'c.thing_name');
              if (!exclusive) others = others.where('x.exclusive', '=', 1);
              const thing = db
                .selectFrom('things as t')
                .select(sql<number>`1`.as('one'))
                .whereRef('t.account_id', '=', 'c.account_id')
                .whereRef('t.region', '=', 'c.region')
                .whereRef('t.thing_name', '=', 'c.thing_name');
              return eb.and([
                eb('c.account_id', '=', ns.accountId),
                eb('c.region', '=', ns.region),
                eb('c.thing_name', '=', thingName),
                eb('c.principal', '=', principal),
                eb.or([eb.not(eb.exists(thing)), eb.exists(others)]),
              ]);
            }),
          ],
          changedKey(THING, ns, thingName),
          changedKey(THING_PRINCIPAL, ns, principal),
        ),
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await Promise.all([this.refreshThing(ns, thingName), this.refreshPrincipal(ns, principal)]);
      return false;
    }
    this.principals.link(ns, thingName, principal, exclusive);
    return true;
  }

  /** Detaches a principal from a thing; false when it was not attached. */
  async detachPrincipal(ns: Namespace, thingName: string, principal: string): Promise<boolean> {
    const { changes } = await this.sql.run(
      refreshedBy(
        this.sql.db
          .deleteFrom('thing_principals')
          .where(named(ns, 'thing_name', thingName))
          .where('principal', '=', principal),
        changedKey(THING, ns, thingName),
        changedKey(THING_PRINCIPAL, ns, principal),
      ),
    );
    this.principals.unlink(ns, thingName, principal);
    return changes > 0;
  }

  /** Reads the things a principal is attached to again (another node may have changed them). */
  async refreshPrincipal(ns: Namespace, principal: string): Promise<void> {
    const rows = await this.sql.all<ThingPrincipalDbRow>(
      this.sql.db
        .selectFrom('thing_principals')
        .selectAll()
        .where(named(ns, 'principal', principal)),
    );
    this.principals.setTo(
      ns,
      principal,
      rows.map((r) => [r.thing_name, r.exclusive === 1] as const),
    );
  }

  // ---- event configurations ------------------------------------------------------------------

  /** The event types the namespace configured (enabled or not). */
  eventConfigurations(ns: Namespace): EventConfiguration[] {
    return [...(this.events.get(nsKey(ns))?.values() ?? [])];
  }

  eventEnabled(ns: Namespace, type: string): boolean {
    return this.events.get(nsKey(ns))?.get(type)?.enabled ?? false;
  }

  /** Enables or disables event types, in one transaction. */
  async setEventConfigurations(ns: Namespace, changes: Record<string, boolean>): Promise<void> {
    const now = Date.now();
    const rows: EventConfigurationDbRow[] = Object.entries(changes).map(([type, enabled]) => ({
      account_id: ns.accountId,
      region: ns.region,
      event_type: type,
      enabled: enabled ? 1 : 0,
      updated_at: now,
    }));
    if (rows.length === 0) return;
    await this.sql.batch(
      rows.map((r) =>
        this.sql.db
          .insertInto('event_configurations')
          .values(r)
          .onConflict((c) =>
            c
              .columns(['account_id', 'region', 'event_type'])
              .doUpdateSet((eb) => ({ enabled: eb.ref('excluded.enabled'), updated_at: eb.ref('excluded.updated_at') })),
          ),
      ),
    );
    for (const r of rows) this.holdEvent(ns, r);
  }

  /** Reads the namespace's event configurations again. */
  async refreshEventConfigurations(ns: Namespace): Promise<void> {
    const rows = await this.sql.all<EventConfigurationDbRow>(
      this.sql.db.selectFrom('event_configurations').selectAll().where('account_id', '=', ns.accountId).where('region', '=', ns.region),
    );
    this.events.delete(nsKey(ns));
    for (const r of rows) this.holdEvent(ns, r);
  }

  private holdEvent(ns: Namespace, r: EventConfigurationDbRow): void {
    let types = this.events.get(nsKey(ns));
    if (!types) this.events.set(nsKey(ns), (types = new Map()));
    types.set(r.event_type, { type: r.event_type, enabled: r.enabled === 1, updatedAt: r.updated_at });
  }
}
