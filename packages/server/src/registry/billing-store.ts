/**
 * Billing groups and the billing group of each thing (at most one), on the stores' SQL engine,
 * held in memory like the rest of the registry (registry-store.ts). The database decides every
 * write: a group is updated or deleted only while it holds what this store read, and a thing is put
 * in a group only while both exist; a write that finds otherwise changes nothing and reads again.
 */
import type { Namespace } from '../accounts/namespace.js';
import { changedKey, refreshedBy } from '../store/sql/changed-keys.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import { Links, NsMap } from './held.js';
import {
  THING,
  billingGroupDbRow,
  billingGroupOf,
  existsIn,
  failIfPresent,
  named,
  nsOf,
  type BillingGroupDbRow,
  type BillingGroupRow,
  type BillingMemberDbRow,
} from './registry-schema.js';

export class BillingGroupStore {
  private rows = new NsMap<BillingGroupRow>();
  /** Billing group → its things (a thing is in one at most). */
  private readonly members = new Links<true>();

  constructor(
    private readonly sql: SqlEngine,
    /** Reads a thing (row, memberships, principals) again: a write found it changed. */
    private readonly refreshThing: (ns: Namespace, name: string) => Promise<void>,
  ) {}

  /** Holds what a reload read (everything). */
  load(groups: readonly BillingGroupDbRow[], members: readonly BillingMemberDbRow[]): void {
    this.rows.clear();
    this.members.clear();
    for (const r of groups) this.rows.set(nsOf(r), r.name, billingGroupOf(r));
    for (const m of members) this.members.link(nsOf(m), m.group_name, m.thing_name, true);
  }

  /** The statements that delete every billing group and membership, forgetting them (test-mode reset). */
  clearing(): Statement[] {
    this.rows.clear();
    this.members.clear();
    return [this.sql.db.deleteFrom('billing_groups'), this.sql.db.deleteFrom('billing_group_members')];
  }

  billingGroup(ns: Namespace, name: string): BillingGroupRow | undefined {
    return this.rows.get(ns, name);
  }

  /** The namespace's billing groups by name. */
  billingGroups(ns: Namespace): BillingGroupRow[] {
    return this.rows.sorted(ns, (g) => g.name);
  }

  /** The billing group a thing is in. */
  billingGroupOf(ns: Namespace, thingName: string): string | undefined {
    return this.members.to(ns, thingName)[0]?.[0];
  }

  /** The things of a billing group, by name. */
  billingGroupMembers(ns: Namespace, groupName: string): string[] {
    return this.members.from(ns, groupName).map(([thing]) => thing);
  }

  /** Stores a new billing group with `also` (its tags) in the same transaction; false, storing nothing, when the name is taken. */
  async insertBillingGroup(ns: Namespace, g: BillingGroupRow, also: readonly Statement[] = []): Promise<boolean> {
    try {
      await this.sql.batch([this.sql.db.insertInto('billing_groups').values(billingGroupDbRow(ns, g)), ...also]);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshBillingGroupRow(ns, g.name);
      return false;
    }
    this.rows.set(ns, g.name, g);
    return true;
  }

  /** Replaces `current` by `next` (same name); false when the row no longer holds `current` (then read again). */
  async updateBillingGroup(ns: Namespace, current: BillingGroupRow, next: BillingGroupRow): Promise<boolean> {
    const { changes } = await this.sql.run(
      this.sql.db
        .updateTable('billing_groups')
        .set(billingGroupDbRow(ns, next))
        .where(named(ns, 'name', current.name))
        .where('id', '=', current.id)
        .where('version', '=', current.version),
    );
    if (changes === 0) {
      await this.refreshBillingGroupRow(ns, current.name);
      return false;
    }
    this.rows.set(ns, next.name, next);
    return true;
  }

  /**
   * Deletes `current` with `also` (removing its tags) in the same transaction; its things stay, in
   * no billing group. False, deleting nothing, when the row no longer holds `current` (read again)
   * or it is gone.
   */
  async deleteBillingGroup(ns: Namespace, current: BillingGroupRow, also: readonly Statement[] = []): Promise<boolean> {
    const { db } = this.sql;
    let deleted: number;
    try {
      const [r] = await this.sql.batch([
        db
          .deleteFrom('billing_groups')
          .where(named(ns, 'name', current.name))
          .where('id', '=', current.id)
          .where('version', '=', current.version),
        // The memberships and tags go only with the group: should it still be there, this copy of it fails the batch.
        failIfPresent(db, 'billing_groups', named(ns, 'name', current.name, 'c')),
        db.deleteFrom('billing_group_members').where(named(ns, 'group_name', current.name)),
        ...also,
      ]);
      deleted = r?.changes ?? 0;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refreshBillingGroup(ns, current.name);
      return false;
    }
    this.rows.delete(ns, current.name);
    this.members.setFrom(ns, current.name, []);
    return deleted > 0;
  }

  /**
   * The statements that put a thing in a billing group (leaving the one it was in), and undo that
   * should the thing or the group not be there once they ran.
   */
  putting(ns: Namespace, thingName: string, groupName: string): Statement[] {
    const { db } = this.sql;
    return [
      db
        .insertInto('billing_group_members')
        .values({ account_id: ns.accountId, region: ns.region, thing_name: thingName, group_name: groupName })
        .onConflict((c) =>
          c.columns(['account_id', 'region', 'thing_name']).doUpdateSet((eb) => ({ group_name: eb.ref('excluded.group_name') })),
        ),
      failIfPresent(db, 'billing_group_members', (eb) =>
        eb.and([
          named(ns, 'thing_name', thingName, 'c')(eb),
          eb.or([
            eb.not(existsIn(db, eb, 'things', 'thing_name', 'c.thing_name')),
            eb.not(existsIn(db, eb, 'billing_groups', 'name', 'c.group_name')),
          ]),
        ]),
      ),
    ];
  }

  /** Holds a thing's billing group once `putting`'s statements ran. */
  holdBillingGroupOf(ns: Namespace, thingName: string, groupName: string | undefined): void {
    this.members.setTo(ns, thingName, groupName === undefined ? [] : [[groupName, true]]);
  }

  /** Puts a thing in a billing group, leaving the one it was in; false, changing nothing, when the thing or group is gone (read again). */
  async setBillingGroupOf(ns: Namespace, thingName: string, groupName: string): Promise<boolean> {
    try {
      await this.sql.batch(refreshedBy(this.putting(ns, thingName, groupName), changedKey(THING, ns, thingName)));
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await Promise.all([this.refreshThing(ns, thingName), this.refreshBillingGroupRow(ns, groupName)]);
      return false;
    }
    this.holdBillingGroupOf(ns, thingName, groupName);
    return true;
  }

  /** Takes a thing out of a billing group; false when it was not in it. */
  async removeFromBillingGroup(ns: Namespace, thingName: string, groupName: string): Promise<boolean> {
    const { changes } = await this.sql.run(
      refreshedBy(
        this.sql.db
          .deleteFrom('billing_group_members')
          .where(named(ns, 'thing_name', thingName))
          .where('group_name', '=', groupName),
        changedKey(THING, ns, thingName),
      ),
    );
    this.members.unlink(ns, groupName, thingName);
    return changes > 0;
  }

  /** The statements that take a thing being deleted out of its billing group. */
  removingThing(ns: Namespace, thingName: string): Statement[] {
    return [this.sql.db.deleteFrom('billing_group_members').where(named(ns, 'thing_name', thingName))];
  }

  /** A thing's billing group, read from the database. */
  async readBillingGroupOf(ns: Namespace, thingName: string): Promise<string | undefined> {
    const r = await this.sql.first<{ group_name: string }>(
      this.sql.db
        .selectFrom('billing_group_members')
        .select('group_name')
        .where(named(ns, 'thing_name', thingName)),
    );
    return r?.group_name;
  }

  /** Reads a billing group again, with its things (another node may have changed them). */
  async refreshBillingGroup(ns: Namespace, name: string): Promise<void> {
    const [, members] = await Promise.all([
      this.refreshBillingGroupRow(ns, name),
      this.sql.all<{ thing_name: string }>(
        this.sql.db
          .selectFrom('billing_group_members')
          .select('thing_name')
          .where(named(ns, 'group_name', name)),
      ),
    ]);
    // A thing is in one billing group at most: joining this one took it out of any other.
    for (const m of members) this.holdBillingGroupOf(ns, m.thing_name, name);
    this.members.setFrom(
      ns,
      name,
      members.map((m) => [m.thing_name, true] as const),
    );
  }

  /** Reads a billing group's row again (not its things). */
  async refreshBillingGroupRow(ns: Namespace, name: string): Promise<void> {
    const r = await this.sql.first<BillingGroupDbRow>(
      this.sql.db
        .selectFrom('billing_groups')
        .selectAll()
        .where(named(ns, 'name', name)),
    );
    if (r) this.rows.set(ns, name, billingGroupOf(r));
    else this.rows.delete(ns, name);
  }
}
