/**
 * IoT policies, their versions, and what they are attached to (certificates, thing groups), on the
 * stores' SQL engine.
 *
 * The device authorizer compiles a connection's policies from these synchronously (CONNECT,
 * PUBLISH, SUBSCRIBE, delivery never wait for the database): every row is kept in memory, read at
 * open, written through on change, and read again by `reload` (every row), `refresh` (one policy
 * with its versions and targets) or `refreshTarget` (one target's attachments) when another node
 * sharing the database changed them.
 *
 * The database decides every write. Each one that depends on a policy's state first takes the
 * policy's row (an update, or one that changes nothing), so writes to one policy happen one after
 * the other on PostgreSQL too, and what follows in the same batch reads what the one before
 * committed. A write whose condition no longer holds changes nothing (or fails its batch on a key,
 * which rolls it back); the store then reads the policy again and says so, and the caller decides
 * anew (`untilApplied`).
 */
import { sql, type ExpressionBuilder } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import { byCodeUnit, keyOf, prefixOf } from '../store/held-rows.js';
import { changedKey, refreshedBy } from '../store/sql/changed-keys.js';
import { unchanged } from '../store/sql/conditional-writes.js';
import { isUniqueViolation, type SqlEngine, type Statement } from '../store/sql/engine.js';
import {
  policyDbRow,
  policyOf,
  type PolicyRow,
  type PolicyVersionRow,
  type PolicyWithVersionDbRow,
  type TargetDbRow,
} from './policy-rows.js';

export { policyMigrations, type PolicyRow, type PolicyVersionRow } from './policy-rows.js';

/** A policy as held in memory: its row and its versions. */
interface Held {
  row: PolicyRow;
  versions: Map<number, PolicyVersionRow>;
}

/** Attachments by one side (a policy's targets, or a target's policies): the other side's name → when attached. */
type Attached = Map<string, number>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Eb = ExpressionBuilder<any, any>;

/** The rows of the namespace's policy `name`, in a table aliased `alias` whose name column is `column`. */
/** The kinds of rows the store's writes are marked with: other nodes re-read a policy (with its versions and targets) or a target's attachments. */
export const POLICY = 'policy';
export const POLICY_TARGET = 'policyTarget';

const sameKey =
  (alias: string, ns: Namespace, name: string, column = 'name') =>
  (eb: Eb) =>
    eb.and([eb(`${alias}.account_id`, '=', ns.accountId), eb(`${alias}.region`, '=', ns.region), eb(`${alias}.${column}`, '=', name)]);

const attachedOrder = (a: [string, number], b: [string, number]): number => a[1] - b[1] || byCodeUnit(a[0], b[0]);

export { untilApplied } from '../store/sql/conditional-writes.js';

export class PolicyStore {
  private rows = new Map<string, Held>();
  /** keyOf(ns, policy) → its targets. */
  private targetsOf = new Map<string, Attached>();
  /** keyOf(ns, target) → its policies. */
  private policiesAt = new Map<string, Attached>();

  private constructor(private readonly sql: SqlEngine) {}

  /** The store with every policy, version and attachment the database holds loaded. */
  static async open(engine: SqlEngine): Promise<PolicyStore> {
    const store = new PolicyStore(engine);
    await store.reload();
    return store;
  }

  // ---- reading the database into memory

  /** A policy with its versions, read in one statement (one snapshot: its default version is among them). */
  private withVersions() {
    return this.sql.db
      .selectFrom('policies as p')
      .leftJoin('policy_versions as v', (j) =>
        j.onRef('v.account_id', '=', 'p.account_id').onRef('v.region', '=', 'p.region').onRef('v.name', '=', 'p.name'),
      )
      .selectAll('p')
      .select(['v.version as v_version', 'v.document as v_document', 'v.created_at as v_created_at']);
  }

  /** Policies (with their versions) from joined rows, by key. */
  private static held(rows: PolicyWithVersionDbRow[]): Map<string, Held> {
    const out = new Map<string, Held>();
    for (const r of rows) {
      const key = keyOf({ accountId: r.account_id, region: r.region }, r.name);
      let h = out.get(key);
      if (!h) out.set(key, (h = { row: policyOf(r), versions: new Map() }));
      if (r.v_version !== null && r.v_version !== undefined) {
        h.versions.set(r.v_version, { version: r.v_version, document: r.v_document!, createdAt: r.v_created_at! });
      }
    }
    return out;
  }

  /** Reads every policy, version and attachment again (another node may have changed them). */
  async reload(): Promise<void> {
    const [policies, targets] = await Promise.all([
      this.sql.all<PolicyWithVersionDbRow>(this.withVersions()),
      this.sql.all<TargetDbRow>(this.sql.db.selectFrom('policy_targets').selectAll()),
    ]);
    this.rows = PolicyStore.held(policies);
    this.targetsOf = new Map();
    this.policiesAt = new Map();
    for (const t of targets) this.holdAttachment({ accountId: t.account_id, region: t.region }, t.policy_name, t.target, t.attached_at);
  }

  /** Reads one policy again: its row, its versions and its targets (another node changed it). */
  async refresh(ns: Namespace, name: string): Promise<void> {
    const [policy, targets] = await Promise.all([
      this.sql.all<PolicyWithVersionDbRow>(this.withVersions().where(sameKey('p', ns, name))),
      this.sql.all<TargetDbRow>(
        this.sql.db
          .selectFrom('policy_targets as t')
          .selectAll()
          .where(sameKey('t', ns, name, 'policy_name')),
      ),
    ]);
    const h = PolicyStore.held(policy).get(keyOf(ns, name));
    if (h) this.rows.set(keyOf(ns, name), h);
    else this.rows.delete(keyOf(ns, name));
    for (const target of [...(this.targetsOf.get(keyOf(ns, name))?.keys() ?? [])]) this.forgetAttachment(ns, name, target);
    for (const t of targets) this.holdAttachment(ns, name, t.target, t.attached_at);
  }

  /** Reads one target's attachments again (another node attached or detached a policy). */
  async refreshTarget(ns: Namespace, target: string): Promise<void> {
    const rows = await this.sql.all<TargetDbRow>(
      this.sql.db
        .selectFrom('policy_targets as t')
        .selectAll()
        .where(sameKey('t', ns, target, 'target')),
    );
    for (const name of [...(this.policiesAt.get(keyOf(ns, target))?.keys() ?? [])]) this.forgetAttachment(ns, name, target);
    for (const t of rows) this.holdAttachment(ns, t.policy_name, target, t.attached_at);
  }

  private holdAttachment(ns: Namespace, name: string, target: string, at: number): void {
    const byPolicy = keyOf(ns, name);
    const byTarget = keyOf(ns, target);
    let targets = this.targetsOf.get(byPolicy);
    if (!targets) this.targetsOf.set(byPolicy, (targets = new Map()));
    targets.set(target, at);
    let policies = this.policiesAt.get(byTarget);
    if (!policies) this.policiesAt.set(byTarget, (policies = new Map()));
    policies.set(name, at);
  }

  private forgetAttachment(ns: Namespace, name: string, target: string): void {
    const byPolicy = keyOf(ns, name);
    const byTarget = keyOf(ns, target);
    const targets = this.targetsOf.get(byPolicy);
    targets?.delete(target);
    if (targets?.size === 0) this.targetsOf.delete(byPolicy);
    const policies = this.policiesAt.get(byTarget);
    policies?.delete(name);
    if (policies?.size === 0) this.policiesAt.delete(byTarget);
  }

  /** Removes every policy, version and attachment (test-mode reset). */
  clear(): Promise<unknown> {
    this.rows.clear();
    this.targetsOf.clear();
    this.policiesAt.clear();
    const { db } = this.sql;
    return this.sql.batch([db.deleteFrom('policies'), db.deleteFrom('policy_versions'), db.deleteFrom('policy_targets')]);
  }

  // ---- reads (memory)

  policy(ns: Namespace, name: string): PolicyRow | undefined {
    return this.rows.get(keyOf(ns, name))?.row;
  }

  /** The namespace's policies by name. */
  policies(ns: Namespace): PolicyRow[] {
    const prefix = prefixOf(ns);
    const out: PolicyRow[] = [];
    for (const [key, h] of this.rows) if (key.startsWith(prefix)) out.push(h.row);
    return out.sort((a, b) => byCodeUnit(a.name, b.name));
  }

  version(ns: Namespace, name: string, version: number): PolicyVersionRow | undefined {
    return this.rows.get(keyOf(ns, name))?.versions.get(version);
  }

  /** A policy's versions, newest first. */
  versions(ns: Namespace, name: string): PolicyVersionRow[] {
    return [...(this.rows.get(keyOf(ns, name))?.versions.values() ?? [])].sort((a, b) => b.version - a.version);
  }

  /** What a policy is attached to, in the order they were attached. */
  targets(ns: Namespace, name: string): string[] {
    return [...(this.targetsOf.get(keyOf(ns, name)) ?? [])].sort(attachedOrder).map(([target]) => target);
  }

  /** The policies attached to a target, in the order they were attached. */
  policiesOf(ns: Namespace, target: string): string[] {
    return [...(this.policiesAt.get(keyOf(ns, target)) ?? [])].sort(attachedOrder).map(([name]) => name);
  }

  // ---- writes (the database decides)

  /** Takes the policy's row until the batch ends: writes to one policy wait for each other. */
  private lock(ns: Namespace, name: string): Statement {
    return this.sql.db
      .updateTable('policies as p')
      .set({ default_version: sql`default_version` })
      .where(sameKey('p', ns, name));
  }

  /**
   * Fails the batch (a duplicate key rolls it back) when the namespace's policy `name` exists and
   * `condition` holds of it: what a conditional write cannot express.
   */
  private refuseIf(ns: Namespace, name: string, condition: (eb: Eb) => ReturnType<Eb['and']>): Statement {
    const { db } = this.sql;
    return db.insertInto('policies').expression(
      db
        .selectFrom('policies as p')
        .selectAll()
        .where(sameKey('p', ns, name))
        .where(condition),
    );
  }

  /** Runs a batch; false (the policy read again) when a statement of it failed on a key. */
  private async applied(ns: Namespace, name: string, statements: readonly Statement[]): Promise<number[] | false> {
    try {
      return (await this.sql.batch(refreshedBy(statements, changedKey(POLICY, ns, name)))).map((r) => r.changes);
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await this.refresh(ns, name);
      return false;
    }
  }

  /** Stores a new policy with its first version; false, storing neither, when the name is taken. */
  async insertPolicy(ns: Namespace, p: PolicyRow, first: PolicyVersionRow): Promise<boolean> {
    const { db } = this.sql;
    const done = await this.applied(ns, p.name, [
      db.insertInto('policies').values(policyDbRow(ns, p)),
      db.insertInto('policy_versions').values({
        account_id: ns.accountId,
        region: ns.region,
        name: p.name,
        version: first.version,
        document: first.document,
        created_at: first.createdAt,
      }),
    ]);
    if (!done) return false;
    this.rows.set(keyOf(ns, p.name), { row: p, versions: new Map([[first.version, first]]) });
    return true;
  }

  /**
   * Adds version `v` and replaces `current` by `next` (its next version number, maybe its default),
   * while the policy holds `current` and fewer than `maxVersions` versions; false otherwise (then read again).
   */
  async insertVersion(ns: Namespace, current: PolicyRow, next: PolicyRow, v: PolicyVersionRow, maxVersions: number): Promise<boolean> {
    const { db } = this.sql;
    const name = current.name;
    const count = db
      .selectFrom('policy_versions as v')
      .select((eb) => eb.fn.countAll().as('n'))
      .where(sameKey('v', ns, name));
    const done = await this.applied(ns, name, [
      db
        .updateTable('policies')
        .set(policyDbRow(ns, next))
        .where(unchanged(policyDbRow(ns, current)))
        .where((eb) => eb(count, '<', maxVersions)),
      // Only if the update applied: the row has this write's new generation.
      db
        .insertInto('policy_versions')
        .columns(['account_id', 'region', 'name', 'version', 'document', 'created_at'])
        .expression(
          db
            .selectFrom('policies as p')
            .select([
              'p.account_id',
              'p.region',
              'p.name',
              sql<number>`cast(${v.version} as integer)`.as('version'),
              sql<string>`cast(${v.document} as text)`.as('document'),
              sql<number>`cast(${v.createdAt} as bigint)`.as('created_at'),
            ])
            .where(sameKey('p', ns, name))
            .where('p.generation_id', '=', next.generationId),
        ),
    ]);
    if (!done || done[0] === 0) {
      if (done) await this.refresh(ns, name);
      return false;
    }
    const h = this.rows.get(keyOf(ns, name));
    const versions = new Map(h?.versions ?? []);
    versions.set(v.version, v);
    this.rows.set(keyOf(ns, name), { row: next, versions });
    return true;
  }

  /** Replaces `current` by `next` (another default version) while the policy holds `current` and has that version; false otherwise. */
  async updatePolicy(ns: Namespace, current: PolicyRow, next: PolicyRow): Promise<boolean> {
    const { db } = this.sql;
    const name = current.name;
    const done = await this.applied(ns, name, [
      db
        .updateTable('policies')
        .set(policyDbRow(ns, next))
        .where(unchanged(policyDbRow(ns, current))),
      // A version deleted meanwhile (its delete took the row first) must not become the default.
      this.refuseIf(ns, name, (eb) =>
        eb.not(
          eb.exists(
            db
              .selectFrom('policy_versions as v')
              .select('v.version')
              .where(sameKey('v', ns, name))
              .whereRef('v.version', '=', 'p.default_version'),
          ),
        ),
      ),
    ]);
    if (!done || done[0] === 0) {
      if (done) await this.refresh(ns, name);
      return false;
    }
    const h = this.rows.get(keyOf(ns, name));
    this.rows.set(keyOf(ns, name), { row: next, versions: h?.versions ?? new Map() });
    return true;
  }

  /** Deletes a version that is not the policy's default; false when there is no such version or it is the default (then read again). */
  async deleteVersion(ns: Namespace, name: string, version: number): Promise<boolean> {
    const { db } = this.sql;
    const done = await this.applied(ns, name, [
      this.lock(ns, name),
      db
        .deleteFrom('policy_versions as v')
        .where(sameKey('v', ns, name))
        .where('v.version', '=', version)
        .where((eb) =>
          eb.exists(
            db
              .selectFrom('policies as p')
              .select('p.name')
              .where(sameKey('p', ns, name))
              .where('p.default_version', '<>', version),
          ),
        ),
    ]);
    if (!done || done[1] === 0) {
      if (done) await this.refresh(ns, name);
      return false;
    }
    this.rows.get(keyOf(ns, name))?.versions.delete(version);
    return true;
  }

  /**
   * Deletes a policy (with its versions) attached to nothing and with at most one version; false
   * when it is gone, attached or has more versions (then read again).
   */
  async deletePolicy(ns: Namespace, name: string): Promise<boolean> {
    const { db } = this.sql;
    const gone = (eb: Eb) =>
      eb.not(
        eb.exists(
          db
            .selectFrom('policies as p')
            .select('p.name')
            .where(sameKey('p', ns, name)),
        ),
      );
    const done = await this.applied(ns, name, [
      this.lock(ns, name),
      db
        .deleteFrom('policies as p')
        .where(sameKey('p', ns, name))
        .where((eb) =>
          eb.not(
            eb.exists(
              db
                .selectFrom('policy_targets as t')
                .select('t.target')
                .where(sameKey('t', ns, name, 'policy_name')),
            ),
          ),
        )
        .where((eb) =>
          eb(
            db
              .selectFrom('policy_versions as v')
              .select((e) => e.fn.countAll().as('n'))
              .where(sameKey('v', ns, name)),
            '<=',
            1,
          ),
        ),
      db
        .deleteFrom('policy_versions as v')
        .where(sameKey('v', ns, name))
        .where(gone),
      // An attachment made while this batch waited for the row: the policy stays.
      db.insertInto('policy_targets').expression(
        db
          .selectFrom('policy_targets as t')
          .selectAll()
          .where(sameKey('t', ns, name, 'policy_name'))
          .where(gone),
      ),
    ]);
    if (!done || done[1] === 0) {
      if (done) await this.refresh(ns, name);
      return false;
    }
    this.rows.delete(keyOf(ns, name));
    return true;
  }

  /**
   * Attaches an existing policy to a target with fewer than `maxPerTarget` policies; false when the
   * policy is gone, already attached there, or the target has that many (then both read again).
   */
  async attach(ns: Namespace, name: string, target: string, attachedAt: number, maxPerTarget: number): Promise<boolean> {
    const { db } = this.sql;
    const done = await this.applied(ns, name, [
      this.lock(ns, name),
      db
        .insertInto('policy_targets')
        .columns(['account_id', 'region', 'policy_name', 'target', 'attached_at'])
        .expression(
          db
            .selectFrom('policies as p')
            .select([
              'p.account_id',
              'p.region',
              'p.name',
              sql<string>`cast(${target} as text)`.as('target'),
              sql<number>`cast(${attachedAt} as bigint)`.as('attached_at'),
            ])
            .where(sameKey('p', ns, name))
            .where((eb) =>
              eb(
                db
                  .selectFrom('policy_targets as t')
                  .select((e) => e.fn.countAll().as('n'))
                  .where(sameKey('t', ns, target, 'target')),
                '<',
                maxPerTarget,
              ),
            ),
        )
        .onConflict((oc) => oc.doNothing()),
    ]);
    if (!done || done[1] === 0) {
      await Promise.all([done ? this.refresh(ns, name) : undefined, this.refreshTarget(ns, target)]);
      return false;
    }
    this.holdAttachment(ns, name, target, attachedAt);
    return true;
  }

  /** Detaches a policy from a target; false when it was not attached there. */
  async detach(ns: Namespace, name: string, target: string): Promise<boolean> {
    const { changes } = await this.sql.run(
      refreshedBy(
        this.sql.db
          .deleteFrom('policy_targets as t')
          .where(sameKey('t', ns, name, 'policy_name'))
          .where('t.target', '=', target),
        changedKey(POLICY, ns, name),
      ),
    );
    this.forgetAttachment(ns, name, target);
    return changes > 0;
  }

  /** Detaches every policy from a target (a certificate being deleted). */
  async detachTarget(ns: Namespace, target: string): Promise<void> {
    await this.sql.run(
      refreshedBy(
        this.sql.db.deleteFrom('policy_targets as t').where(sameKey('t', ns, target, 'target')),
        changedKey(POLICY_TARGET, ns, target),
      ),
    );
    for (const name of [...(this.policiesAt.get(keyOf(ns, target))?.keys() ?? [])]) this.forgetAttachment(ns, name, target);
  }
}
