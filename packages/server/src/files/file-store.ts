/**
 * SQLite table of stored files: one row per (namespace, file name) with the name of its content
 * under `<data-dir>/files/`. The row is what makes a file exist: content is written and renamed into
 * place first, then the row is inserted, so a crash in between leaves only an orphan that the next
 * start removes (ContentDirectory.sweep).
 */
import type { Namespace } from '../accounts/namespace.js';
import { inTransaction, type Db } from '../store/database.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS files (
  account_id TEXT NOT NULL, region TEXT NOT NULL, file_name TEXT NOT NULL,
  content_id TEXT NOT NULL UNIQUE,     -- the content's file name under <data-dir>/files/
  size INTEGER NOT NULL,
  sha256 TEXT NOT NULL,                -- hex
  content_type TEXT NOT NULL,
  created_at INTEGER NOT NULL,         -- epoch milliseconds
  PRIMARY KEY (account_id, region, file_name)) WITHOUT ROWID;
`;

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

const COLUMNS = 'file_name, content_id, size, sha256, content_type, created_at';

const record = (r: Row): FileRecord => ({
  fileName: r.file_name,
  contentId: r.content_id,
  size: r.size,
  sha256: r.sha256,
  contentType: r.content_type,
  createdAt: r.created_at,
});

export class FileStore {
  private readonly stmt;

  constructor(private readonly db: Db) {
    db.exec(SCHEMA);
    this.stmt = {
      get: db.prepare<[string, string, string], Row>(`SELECT ${COLUMNS} FROM files WHERE account_id = ? AND region = ? AND file_name = ?`),
      insert: db.prepare(
        `INSERT INTO files (account_id, region, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, region, file_name) DO NOTHING`,
      ),
      list: db.prepare<[string, string, string, number], Row>(
        `SELECT ${COLUMNS} FROM files WHERE account_id = ? AND region = ? AND file_name > ? ORDER BY file_name LIMIT ?`,
      ),
      remove: db.prepare<[string, string, string], { content_id: string }>(
        'DELETE FROM files WHERE account_id = ? AND region = ? AND file_name = ? RETURNING content_id',
      ),
      contentIds: db.prepare<[], { content_id: string }>('SELECT content_id FROM files'),
      clear: db.prepare<[], { content_id: string }>('DELETE FROM files RETURNING content_id'),
    };
  }

  get(ns: Namespace, fileName: string): FileRecord | undefined {
    const row = this.stmt.get.get(ns.accountId, ns.region, fileName);
    return row && record(row);
  }

  /** Inserts the record; false when the namespace already has a file of that name. */
  insert(ns: Namespace, f: FileRecord): boolean {
    return (
      this.stmt.insert.run(ns.accountId, ns.region, f.fileName, f.contentId, f.size, f.sha256, f.contentType, f.createdAt).changes === 1
    );
  }

  /** Inserts the record in place of the namespace's file of that name, if any; returns the replaced file's content id. */
  replace(ns: Namespace, f: FileRecord): string | undefined {
    return inTransaction(this.db, () => {
      const old = this.remove(ns, f.fileName);
      this.insert(ns, f);
      return old;
    });
  }

  /** Files of the namespace named after `after`, by name. */
  list(ns: Namespace, after: string, limit: number): FileRecord[] {
    return this.stmt.list.all(ns.accountId, ns.region, after, limit).map(record);
  }

  /** Removes the record and returns its content id, or undefined when there was none. */
  remove(ns: Namespace, fileName: string): string | undefined {
    return this.stmt.remove.get(ns.accountId, ns.region, fileName)?.content_id;
  }

  /** The content ids of every namespace: what the content directory must keep. */
  contentIds(): Set<string> {
    return new Set(this.stmt.contentIds.all().map((r) => r.content_id));
  }

  /** Removes every record and returns their content ids. */
  clear(): string[] {
    return this.stmt.clear.all().map((r) => r.content_id);
  }
}
