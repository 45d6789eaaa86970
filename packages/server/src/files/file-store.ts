/**
 * The table of stored files, on the SQL engine: one row per (namespace, file name) with the name of
 * its content under `<data-dir>/files/`. The row is what makes a file exist: content is written and
 * renamed into place first, then the row is inserted, so a crash in between leaves only an orphan
 * that the next start removes (ContentDirectory.sweep).
 */
import { sql } from 'kysely';
import type { Namespace } from '../accounts/namespace.js';
import type { SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';

export interface FileRecord {
  fileName: string;
  contentId: string;
  size: number;
  sha256: string;
  contentType: string;
  /** Epoch milliseconds. */
  createdAt: number;
}

interface Row {
  file_name: string;
  content_id: string;
  size: number;
  sha256: string;
  content_type: string;
  created_at: number;
}

export const fileMigrations: Record<string, StoreMigration> = {
  // IF NOT EXISTS: databases made before migrations already have this table (the same columns, key and unique content id).
  '0001_files': {
    async up(db, dialect) {
      let table = db.schema
        .createTable('files')
        .ifNotExists()
        .addColumn('account_id', 'text', (c) => c.notNull())
        .addColumn('region', 'text', (c) => c.notNull())
        // Byte order on PostgreSQL too (SQLite's BINARY): list pages come in the same order on both.
        .addColumn('file_name', 'text', (c) => (dialect === 'postgres' ? c.notNull().modifyEnd(sql`collate "C"`) : c.notNull()))
        // The content's file name under <data-dir>/files/.
        .addColumn('content_id', 'text', (c) => c.notNull().unique())
        .addColumn('size', 'bigint', (c) => c.notNull())
        // Hex.
        .addColumn('sha256', 'text', (c) => c.notNull())
        .addColumn('content_type', 'text', (c) => c.notNull())
        // Epoch milliseconds.
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('files_pkey', ['account_id', 'region', 'file_name']);
      if (dialect === 'sqlite') table = table.modifyEnd(sql`without rowid`);
      await table.execute();
    },
  },
};

const COLUMNS = ['file_name', 'content_id', 'size', 'sha256', 'content_type', 'created_at'] as const;
const KEY = ['account_id', 'region', 'file_name'] as const;
/** Replacing retries when another node inserts the name between its delete and its insert; this many times at most. */
const REPLACE_ATTEMPTS = 10;

const record = (r: Row): FileRecord => ({
  fileName: r.file_name,
  contentId: r.content_id,
  size: r.size,
  sha256: r.sha256,
  contentType: r.content_type,
  createdAt: r.created_at,
});

export class FileStore {
  constructor(private readonly sql: SqlEngine) {}

  private ofNamespace(ns: Namespace) {
    return this.sql.db.selectFrom('files').select(COLUMNS).where('account_id', '=', ns.accountId).where('region', '=', ns.region);
  }

  private insertion(ns: Namespace, f: FileRecord) {
    return this.sql.db
      .insertInto('files')
      .values({
        account_id: ns.accountId,
        region: ns.region,
        file_name: f.fileName,
        content_id: f.contentId,
        size: f.size,
        sha256: f.sha256,
        content_type: f.contentType,
        created_at: f.createdAt,
      })
      .onConflict((oc) => oc.columns([...KEY]).doNothing());
  }

  private removal(ns: Namespace, fileName: string) {
    return this.sql.db
      .deleteFrom('files')
      .where('account_id', '=', ns.accountId)
      .where('region', '=', ns.region)
      .where('file_name', '=', fileName)
      .returning('content_id');
  }

  async get(ns: Namespace, fileName: string): Promise<FileRecord | undefined> {
    const row = await this.sql.first<Row>(this.ofNamespace(ns).where('file_name', '=', fileName));
    return row && record(row);
  }

  /** Inserts the record; false when the namespace already has a file of that name. */
  async insert(ns: Namespace, f: FileRecord): Promise<boolean> {
    return (await this.sql.run(this.insertion(ns, f))).changes === 1;
  }

  /**
   * Inserts the record in place of the namespace's file of that name, if any; returns the content
   * ids of the records it replaced (none or one, unless other nodes replaced the file at once).
   */
  async replace(ns: Namespace, f: FileRecord): Promise<string[]> {
    // Delete and insert in one transaction. On PostgreSQL another node may insert the name after
    // this delete ran and before this insert: the insert then does nothing, and the next round
    // deletes that file (returning its content id) and inserts again.
    const replaced: string[] = [];
    for (let attempt = 1; ; attempt++) {
      const [removed, inserted] = await this.sql.batch([this.removal(ns, f.fileName), this.insertion(ns, f)]);
      for (const r of removed!.rows) replaced.push(r.content_id as string);
      if (inserted!.changes === 1) return replaced;
      if (attempt === REPLACE_ATTEMPTS) throw new Error(`file ${f.fileName} could not be replaced: other writers kept inserting it`);
    }
  }

  /** Files of the namespace named after `after`, by name. */
  async list(ns: Namespace, after: string, limit: number): Promise<FileRecord[]> {
    const rows = await this.sql.all<Row>(this.ofNamespace(ns).where('file_name', '>', after).orderBy('file_name').limit(limit));
    return rows.map(record);
  }

  /** Removes the record and returns its content id, or undefined when there was none. */
  async remove(ns: Namespace, fileName: string): Promise<string | undefined> {
    const { rows } = await this.sql.run(this.removal(ns, fileName));
    return (rows[0] as { content_id: string } | undefined)?.content_id;
  }

  /** Every file of every namespace, with its namespace. */
  async all(): Promise<Array<{ ns: Namespace; file: FileRecord }>> {
    const rows = await this.sql.all<Row & { account_id: string; region: string }>(
      this.sql.db.selectFrom('files').select(['account_id', 'region', ...COLUMNS]),
    );
    return rows.map((r) => ({ ns: { accountId: r.account_id, region: r.region }, file: record(r) }));
  }

  /**
   * Removes every record and returns their content ids. The statement is issued at the call (on
   * SQLite it runs then, inside the platform's reset transaction).
   */
  async clear(): Promise<string[]> {
    const { rows } = await this.sql.run(this.sql.db.deleteFrom('files').returning('content_id'));
    return rows.map((r) => r.content_id as string);
  }
}
