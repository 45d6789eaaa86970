/**
 * Device shadows on the stores' SQL engine: one row per (namespace, thing, shadow name). A deleted
 * shadow keeps its row (document NULL, updated_at the deletion) so that a shadow re-created within
 * the retention window continues its version sequence, as AWS does for 48 hours (reference
 * dataplane §2.5).
 *
 * Shadows are per-device documents of up to 8 KB each, far too many to hold: they are read from
 * the database on demand. A bounded cache of the ones this node used lately (RecentShadows) saves
 * the read before an update, but it is only a guess, since other nodes write the same rows: every
 * write is conditional on the row the node read (its version and last write, and whether it is
 * deleted), and creating one inserts, which fails on the key when another node created it first.
 * A write that finds the row changed drops the guess, says so, and the caller reads and decides
 * again. Reads that answer callers (GetThingShadow, `/get`) always go to the database.
 */
import { template } from '../store/sql/query-templates.js';
import { sql, type UpdateQueryBuilder, type UpdateResult } from 'kysely';
import type { StoredShadow } from '@thicket/shadow';
import type { Namespace } from '../accounts/namespace.js';
import { keyOf } from '../store/held-rows.js';
import { isUniqueViolation, type SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { DEFAULT_CACHE_LIMITS, RecentShadows, type CacheLimits } from './recent-shadows.js';

/** What the table holds for one shadow name. */
export type ShadowRecord =
  /** `updatedAt`: epoch seconds of its last update. */
  | { exists: true; shadow: StoredShadow; updatedAt: number }
  /** Deleted at `deletedAt` (epoch s) with this last version. */
  | { exists: false; version: number; deletedAt: number }
  | undefined;

interface Row {
  version: number;
  document: string | null;
  updated_at: number;
}

export const shadowMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations have this table and index from the store's former schema.
  '0001_shadows': {
    async up(db, dialect) {
      let table = db.schema
        .createTable('shadows')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        .addColumn('thing_name', 'text', (c) => c.notNull())
        // '' is the classic shadow. Byte order on PostgreSQL too (SQLite's BINARY): named shadows list alike on both.
        .addColumn('shadow_name', 'text', (c) => (dialect === 'postgres' ? c.notNull().modifyEnd(sql`collate "C"`) : c.notNull()))
        .addColumn('version', 'bigint', (c) => c.notNull())
        // {state, metadata} as JSON text (kept as written: key order is part of the documents); NULL once deleted.
        .addColumn('document', 'text')
        // Epoch seconds of the last update or of the deletion.
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('shadows_pkey', ['account_id', 'region', 'thing_name', 'shadow_name']);
      if (dialect === 'sqlite') table = table.modifyEnd(sql`without rowid`);
      await table.execute();
      await db.schema
        .createIndex('shadows_deleted')
        .ifNotExists()
        .on('shadows')
        .column('updated_at')
        .where(sql.ref('document'), 'is', null)
        .execute();
    },
  },
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type ShadowUpdate = UpdateQueryBuilder<any, 'shadows', 'shadows', UpdateResult>;

const recordOf = (row: Row | undefined): ShadowRecord => {
  if (row === undefined) return undefined;
  if (row.document === null) return { exists: false, version: row.version, deletedAt: row.updated_at };
  const { state, metadata } = JSON.parse(row.document) as Pick<StoredShadow, 'state' | 'metadata'>;
  return { exists: true, shadow: { state, metadata, version: row.version }, updatedAt: row.updated_at };
};

export class ShadowStore {
  private readonly recent: RecentShadows<ShadowRecord>;

  constructor(
    private readonly sql: SqlEngine,
    cache: CacheLimits = DEFAULT_CACHE_LIMITS,
  ) {
    this.recent = new RecentShadows(cache);
  }

  private static key(ns: Namespace, thingName: string, shadowName: string): string {
    return `${keyOf(ns, thingName)}\u0000${shadowName}`;
  }

  private update(ns: Namespace, thingName: string, shadowName: string) {
    return this.sql.db
      .updateTable('shadows')
      .where('account_id', '=', ns.accountId)
      .where('region', '=', ns.region)
      .where('thing_name', '=', thingName)
      .where('shadow_name', '=', shadowName);
  }

  /** The shadow as the database holds it now (and remembered as the guess for the next update). */
  async read(ns: Namespace, thingName: string, shadowName: string): Promise<ShadowRecord> {
    const key = ShadowStore.key(ns, thingName, shadowName);
    const row = await this.sql.first<Row>(readShadow(this.sql, ns.accountId, ns.region, thingName, shadowName));
    const rec = recordOf(row);
    this.recent.set(key, rec, row?.document?.length ?? 0);
    return rec;
  }

  /**
   * What this node last read or wrote for the shadow, if it still holds it (`rec` undefined: there
   * was no row): a guess, to base a conditional write on, never an answer to a reader.
   */
  cached(ns: Namespace, thingName: string, shadowName: string): { rec: ShadowRecord } | undefined {
    return this.recent.get(ShadowStore.key(ns, thingName, shadowName));
  }

  /** Reads the shadow again (another node changed it). */
  async refresh(ns: Namespace, thingName: string, shadowName: string): Promise<void> {
    await this.read(ns, thingName, shadowName);
  }

  /** Drops the guess for the shadow: the next update reads the database. */
  forget(ns: Namespace, thingName: string, shadowName: string): void {
    this.recent.delete(ShadowStore.key(ns, thingName, shadowName));
  }

  /**
   * Stores `next` in place of `current` (what was read): an insert when there was no row, else an
   * update conditional on the row still holding `current`. False, storing nothing and forgetting
   * the guess, when the row changed meanwhile (read again and decide anew). The statement is issued
   * at the call: on SQLite it has run when this returns its promise.
   */
  async write(
    ns: Namespace,
    thingName: string,
    shadowName: string,
    current: ShadowRecord,
    next: StoredShadow,
    now: number,
  ): Promise<boolean> {
    const key = ShadowStore.key(ns, thingName, shadowName);
    const document = JSON.stringify({ state: next.state, metadata: next.metadata });
    try {
      let changes: number;
      if (current === undefined) {
        ({ changes } = await this.sql.run(
          insertShadow(this.sql, ns.accountId, ns.region, thingName, shadowName, next.version, document, now),
        ));
      } else if (current.exists) {
        // The common case, a live shadow updated: compiled once.
        const { version } = current.shadow;
        ({ changes } = await this.sql.run(
          updateLive(this.sql, next.version, document, now, ns.accountId, ns.region, thingName, shadowName, version, current.updatedAt),
        ));
      } else {
        ({ changes } = await this.sql.run(
          this.conditional(this.update(ns, thingName, shadowName).set({ version: next.version, document, updated_at: now }), current),
        ));
      }
      if (changes === 0) {
        this.recent.delete(key);
        return false;
      }
    } catch (err) {
      this.recent.delete(key);
      if (current === undefined && isUniqueViolation(err)) return false;
      throw err;
    }
    this.recent.set(key, { exists: true, shadow: next, updatedAt: now }, document.length);
    return true;
  }

  /**
   * Marks the shadow deleted, keeping its version for continuity, if it still holds `current`, and
   * forgets deletions older than `purgeBefore` (epoch s) in the same transaction. False, as for
   * `write`, when the row changed meanwhile.
   */
  async markDeleted(
    ns: Namespace,
    thingName: string,
    shadowName: string,
    current: ShadowRecord & { exists: true },
    now: number,
    purgeBefore: number,
  ): Promise<boolean> {
    const key = ShadowStore.key(ns, thingName, shadowName);
    let changes: number;
    try {
      const [marked] = await this.sql.batch([
        this.conditional(this.update(ns, thingName, shadowName).set({ document: null, updated_at: now }), current),
        this.purging(purgeBefore),
      ]);
      changes = marked!.changes;
    } catch (err) {
      this.recent.delete(key);
      throw err;
    }
    if (changes === 0) {
      this.recent.delete(key);
      return false;
    }
    this.recent.set(key, { exists: false, version: current.shadow.version, deletedAt: now }, 0);
    return true;
  }

  /**
   * The update narrowed to the row holding `current`: its version and last write, deleted or not
   * (a version alone could match the same shadow deleted since, or one created again after a purge).
   */
  private conditional(q: ShadowUpdate, current: NonNullable<ShadowRecord>): ShadowUpdate {
    if (current.exists)
      return q.where('version', '=', current.shadow.version).where('updated_at', '=', current.updatedAt).where('document', 'is not', null);
    return q.where('version', '=', current.version).where('updated_at', '=', current.deletedAt).where('document', 'is', null);
  }

  private purging(before: number) {
    return this.sql.db.deleteFrom('shadows').where('document', 'is', null).where('updated_at', '<', before);
  }

  /** Names of the thing's existing named shadows after `after`, in code-unit order. */
  async namedShadows(ns: Namespace, thingName: string, after: string, limit: number): Promise<string[]> {
    const rows = await this.sql.all<{ shadow_name: string }>(
      this.sql.db
        .selectFrom('shadows')
        .select('shadow_name')
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('thing_name', '=', thingName)
        // '' sorts first, so a start of '' skips exactly the classic shadow.
        .where('shadow_name', '>', after)
        .where('document', 'is not', null)
        .orderBy('shadow_name')
        .limit(limit),
    );
    return rows.map((r) => r.shadow_name);
  }

  async countNamed(ns: Namespace, thingName: string): Promise<number> {
    const r = await this.sql.first<{ n: number | string }>(
      this.sql.db
        .selectFrom('shadows')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('account_id', '=', ns.accountId)
        .where('region', '=', ns.region)
        .where('thing_name', '=', thingName)
        .where('shadow_name', '<>', '')
        .where('document', 'is not', null),
    );
    return Number(r?.n ?? 0);
  }

  /** Forgets deletions older than `before` (epoch s): their versions no longer continue. */
  async purgeDeleted(before: number): Promise<number> {
    return (await this.sql.run(this.purging(before))).changes;
  }

  /** Removes every shadow (test-mode reset). The statement is issued at the call (on SQLite it runs then). */
  clear(): Promise<unknown> {
    this.recent.clear();
    return this.sql.run(this.sql.db.deleteFrom('shadows'));
  }
}

// The statements of every shadow request, compiled once (query-templates.ts).
const readShadow = template((db, accountId: string, region: string, thingName: string, shadowName: string) =>
  db
    .selectFrom('shadows')
    .select(['version', 'document', 'updated_at'])
    .where('account_id', '=', accountId)
    .where('region', '=', region)
    .where('thing_name', '=', thingName)
    .where('shadow_name', '=', shadowName),
);

const insertShadow = template(
  (db, accountId: string, region: string, thingName: string, shadowName: string, version: number, document: string, now: number) =>
    db.insertInto('shadows').values({
      account_id: accountId,
      region,
      thing_name: thingName,
      shadow_name: shadowName,
      version,
      document,
      updated_at: now,
    }),
);

const updateLive = template(
  (
    db,
    version: number,
    document: string,
    now: number,
    accountId: string,
    region: string,
    thingName: string,
    shadowName: string,
    readVersion: number,
    readAt: number,
  ) =>
    db
      .updateTable('shadows')
      .set({ version, document, updated_at: now })
      .where('account_id', '=', accountId)
      .where('region', '=', region)
      .where('thing_name', '=', thingName)
      .where('shadow_name', '=', shadowName)
      .where('version', '=', readVersion)
      .where('updated_at', '=', readAt)
      .where('document', 'is not', null),
);
