/**
 * Versioned schema migrations, applied at start on either engine. Each capability names its own
 * (`accounts/0001_tables`); they are applied in name order within a capability, and capabilities
 * may gain migrations independently. Kysely's migrator records them in `thicket_migrations` and
 * holds a lock while it runs (an advisory lock on PostgreSQL), so nodes starting at once apply each
 * migration once.
 */
import { Migrator, type Kysely, type Migration } from 'kysely';
import type { Dialect, SqlEngine } from './engine.js';

export interface StoreMigration {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  up(db: Kysely<any>, dialect: Dialect): Promise<void>;
}

/** Migrations by capability: `{ accounts: { '0001_tables': ... } }`. */
export type MigrationSet = Record<string, Record<string, StoreMigration>>;

export const MIGRATION_TABLE = 'thicket_migrations';

/** Applies what is not applied yet; throws with the failing migration's name and error. */
export async function migrate(engine: SqlEngine, sets: MigrationSet): Promise<string[]> {
  const migrations: Record<string, Migration> = {};
  for (const [capability, set] of Object.entries(sets))
    for (const [name, m] of Object.entries(set)) migrations[`${capability}/${name}`] = { up: (db) => m.up(db, engine.dialect) };
  const migrator = new Migrator({
    db: engine.db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: MIGRATION_TABLE,
    migrationLockTableName: `${MIGRATION_TABLE}_lock`,
    // Capabilities add migrations on their own: a new one of an earlier-named capability is not out of order.
    allowUnorderedMigrations: true,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw new Error(`database migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  return (results ?? []).map((r) => r.migrationName);
}
