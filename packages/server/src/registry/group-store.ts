/**
 * Static thing groups and their members, on the stores' SQL engine, held in memory like the rest of
 * the registry (registry-store.ts): policies inherit through a thing's groups and jobs target them,
 * both without waiting for the database.
 *
 * The database decides every write: a group is created only under a parent that is still there,
 * updated or deleted only while it holds what this store read (and deleted only without child
 * groups), and a thing joins a group only while both exist. A write that finds otherwise changes
 * nothing, reads again what it depended on and says so, so that the caller decides again.
 */
import type { Namespace } from '../accounts/namespace.js';
import { changedKey, refreshedBy } from '../store/sql/changed-keys.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import { Links, NsMap } from './held.js';
import { MAX_GROUPS_PER_THING } from './validation.js';
import {
  THING,
  THING_GROUP,
  existsIn,
  failIfPresent,
  groupDbRow,
  groupOf,
  keyed,
  named,
  nsOf,
  type GroupMemberDbRow,
  type ThingGroupDbRow,
  type ThingGroupRow,
} from './registry-schema.js';

export interface MembershipChange {
  /** Groups to leave (leaving one the thing is not in changes nothing). */
  remove?: readonly string[];
  /** Groups to join (the thing must not be in them yet). */
  add?: readonly string[];
}

export class ThingGroupStore {
  private rows = new NsMap<ThingGroupRow>();
  /** Group → its things. */
  private readonly members = new Links<true>();

  constructor(
    private readonly sql: SqlEngine,
    /** Reads a thing (row, memberships, principals) again: a write found it changed. */
    private readonly refreshThing: (ns: Namespace, name: string) => Promise<void>,
  ) {}

  /** Holds what a reload read (everything). */
  load(groups: readonly ThingGroupDbRow[], members: readonly GroupMemberDbRow[]): void {
    this.rows.clear();
    this.members.clear();
    for (const r of groups) this.rows.set(nsOf(r), r.name, groupOf(r));
    for (const m of members) this.members.link(nsOf(m), m.group_name, m.thing_name, true);
  }

  /** The statements that delete every group and membership, forgetting them (test-mode reset). */
  clearing(): Statement[] {
    this.rows.clear();
    this.members.clear();
    return [this.sql.db.deleteFrom('thing_groups'), this.sql.db.deleteFrom('thing_group_members')];
  }

  group(ns: Namespace, name: string): ThingGroupRow | undefined {
    return this.rows.get(ns, name);
  }

  /** The namespace's groups by name. */
  groups(ns: Namespace): ThingGroupRow[] {
    return this.rows.sorted(ns, (g) => g.name);
  }

  /** The direct children of a group, by name. */
  children(ns: Namespace, parent: string): ThingGroupRow[] {
    return this.groups(ns).filter((g) => g.parentName === parent);
  }

  /** The things directly in a group, by name. */
  membersOf(ns: Namespace, groupName: string): string[] {
    return this.members.from(ns, groupName).map(([thing]) => thing);
  }

  /** The groups a thing is directly in, by name. */
  groupsOfThing(ns: Namespace, thingName: string): string[] {
    return this.members.to(ns, thingName).map(([group]) => group);
  }

  /**
   * Stores a new group with `also` (its tags) in the same transaction; false, storing nothing, when
   * the name is taken or the parent is gone (both read again).
   */
  async insertGroup(ns: Namespace, g: ThingGroupRow, also: readonly Statement[] = []): Promise<boolean> {
    const { db } = this.sql;
    const guard =
      g.parentName === null
        ? []
        : [
            failIfPresent(db, 'thing_groups', (eb) =>
              eb.and([named(ns, 'name', g.name, 'c')(eb), eb.not(existsIn(db, eb, 'thing_groups', 'name', 'c.parent_name'))]),
            ),
          ];
    try {
      await this.sql.batch(
        refreshedBy([db.insertInto('thing_groups').values(groupDbRow(ns, g)), ...guard, ...also], changedKey(THING_GROUP, ns, g.name)),
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await Promise.all([this.refreshRow(ns, g.name), g.parentName === null ? undefined : this.refreshRow(ns, g.parentName)]);
      return false;
    }
    this.rows.set(ns, g.name, g);
    return true;
  }

  /** Replaces `current` by `next` (same name and parent); false when the row no longer holds `current` (then read again). */
  async updateGroup(ns: Namespace, current: ThingGroupRow, next: ThingGroupRow): Promise<boolean> {
    const { changes } = await this.sql.run(
      refreshedBy(
        this.sql.db
          .updateTable('thing_groups')
          .set(groupDbRow(ns, next))
          .where(named(ns, 'name', current.name))
          .where('id', '=', current.id)
          .where('version', '=', current.version),
        changedKey(THING_GROUP, ns, current.name),
      ),
    );
    if (changes === 0) {
      await this.refreshRow(ns, current.name);
      return false;
    }
    this.rows.set(ns, next.name, next);
    return true;
  }

  /**
   * Deletes `current` and its memberships with `also` (removing its tags) in the same transaction,
   * answering the things that were in it. False, deleting nothing, when the row no longer holds
   * `current` or the group has child groups (read again), or when it is gone.
   */
  async deleteGroup(ns: Namespace, current: ThingGroupRow, also: readonly Statement[] = []): Promise<string[] | false> {
    const { db } = this.sql;
    let results;
    try {
      results = await this.sql.batch(
        refreshedBy(
          [
            db
              .deleteFrom('thing_groups as g')
              .where(named(ns, 'name', current.name, 'g'))
              .where('g.id', '=', current.id)
              .where('g.version', '=', current.version)
              .where((eb) =>
                eb.not(
                  eb.exists(
                    db
                      .selectFrom('thing_groups as k')
                      .select('k.name')
                      .whereRef('k.account_id', '=', 'g.account_id')
                      .whereRef('k.region', '=', 'g.region')
                      .whereRef('k.parent_name', '=', 'g.name'),
                  ),
                ),
              ),
            // The memberships and tags go only with the group: should it still be there, this copy of it fails the batch.
            failIfPresent(db, 'thing_groups', named(ns, 'name', current.name, 'c')),
            db
              .deleteFrom('thing_group_members')
              .where(named(ns, 'group_name', current.name))
              .returning('thing_name'),
            ...also,
          ],
          changedKey(THING_GROUP, ns, current.name),
        ),
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshGroup(ns, current.name);
      return false;
    }
    const members = (results[2]?.rows ?? []).map((r) => r.thing_name as string);
    this.rows.delete(ns, current.name);
    this.members.setFrom(ns, current.name, []);
    // Deleted by another writer first: the caller finds it gone.
    return (results[0]?.changes ?? 0) > 0 ? members.sort() : false;
  }

  /**
   * Takes a thing out of groups and puts it in others, in one transaction; answers the groups it
   * actually left. False, changing nothing, when it is already in a group it should join, or the
   * thing or such a group is gone (read again).
   */
  async changeMemberships(ns: Namespace, thingName: string, change: MembershipChange): Promise<{ removed: string[] } | false> {
    const { db } = this.sql;
    const remove = change.remove ?? [];
    const add = change.add ?? [];
    const member = (group: string) => ({ account_id: ns.accountId, region: ns.region, group_name: group, thing_name: thingName });
    // Membership changes of one thing take turns (the thing's row locked), so that the limit
    // check at the end of each sees the others' rows.
    const lock =
      this.sql.dialect === 'postgres' && add.length > 0
        ? [
            db
              .selectFrom('things')
              .select('thing_name')
              .where(named(ns, 'thing_name', thingName))
              .forUpdate(),
          ]
        : [];
    // More groups than a thing may be in once added (memberships other nodes added meanwhile): undone.
    const overLimit = add.slice(0, 1).map((g) =>
      failIfPresent(db, 'thing_group_members', (eb) =>
        eb.and([
          keyed(member(g), 'c')(eb),
          eb(
            db
              .selectFrom('thing_group_members as x')
              .select((x) => x.fn.countAll().as('n'))
              .whereRef('x.account_id', '=', 'c.account_id')
              .whereRef('x.region', '=', 'c.region')
              .whereRef('x.thing_name', '=', 'c.thing_name'),
            '>',
            MAX_GROUPS_PER_THING,
          ),
        ]),
      ),
    );
    let results;
    try {
      results = await this.sql.batch(
        refreshedBy(
          [
            ...lock,
            ...remove.map((g) => db.deleteFrom('thing_group_members').where(keyed(member(g)))),
            ...add.map((g) => db.insertInto('thing_group_members').values(member(g))),
            // A membership of a thing or group that is gone would outlive them: undone.
            ...add.map((g) =>
              failIfPresent(db, 'thing_group_members', (eb) =>
                eb.and([
                  keyed(member(g), 'c')(eb),
                  eb.or([
                    eb.not(existsIn(db, eb, 'things', 'thing_name', 'c.thing_name')),
                    eb.not(existsIn(db, eb, 'thing_groups', 'name', 'c.group_name')),
                  ]),
                ]),
              ),
            ),
            ...overLimit,
          ],
          changedKey(THING, ns, thingName),
        ),
      );
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await Promise.all([this.refreshThing(ns, thingName), ...add.map((g) => this.refreshRow(ns, g))]);
      return false;
    }
    const removed = remove.filter((_, i) => (results[lock.length + i]?.changes ?? 0) > 0);
    for (const g of remove) this.members.unlink(ns, g, thingName);
    for (const g of add) this.members.link(ns, g, thingName, true);
    return { removed };
  }

  /** The statements that take a thing being deleted out of every group. */
  removingThing(ns: Namespace, thingName: string): Statement[] {
    return [this.sql.db.deleteFrom('thing_group_members').where(named(ns, 'thing_name', thingName))];
  }

  /** Holds the groups a thing is in as the database has them now. */
  holdGroupsOfThing(ns: Namespace, thingName: string, groups: readonly string[]): void {
    this.members.setTo(
      ns,
      thingName,
      groups.map((g) => [g, true] as const),
    );
  }

  /** The groups a thing is in, read from the database. */
  async readGroupsOfThing(ns: Namespace, thingName: string): Promise<string[]> {
    const rows = await this.sql.all<{ group_name: string }>(
      this.sql.db
        .selectFrom('thing_group_members')
        .select('group_name')
        .where(named(ns, 'thing_name', thingName)),
    );
    return rows.map((r) => r.group_name);
  }

  /** Reads a group again: its row, its members and its child groups (another node may have changed them). */
  async refreshGroup(ns: Namespace, name: string): Promise<void> {
    const { db } = this.sql;
    const [, members, children] = await Promise.all([
      this.refreshRow(ns, name),
      this.sql.all<{ thing_name: string }>(
        db
          .selectFrom('thing_group_members')
          .select('thing_name')
          .where(named(ns, 'group_name', name)),
      ),
      this.sql.all<ThingGroupDbRow>(
        db
          .selectFrom('thing_groups')
          .selectAll()
          .where('account_id', '=', ns.accountId)
          .where('region', '=', ns.region)
          .where('parent_name', '=', name),
      ),
    ]);
    this.members.setFrom(
      ns,
      name,
      members.map((m) => [m.thing_name, true] as const),
    );
    const there = new Set(children.map((c) => c.name));
    for (const held of this.children(ns, name)) if (!there.has(held.name)) this.rows.delete(ns, held.name);
    for (const c of children) this.rows.set(ns, c.name, groupOf(c));
  }

  private async refreshRow(ns: Namespace, name: string): Promise<void> {
    const r = await this.sql.first<ThingGroupDbRow>(
      this.sql.db
        .selectFrom('thing_groups')
        .selectAll()
        .where(named(ns, 'name', name)),
    );
    if (r) this.rows.set(ns, name, groupOf(r));
    else this.rows.delete(ns, name);
  }
}
