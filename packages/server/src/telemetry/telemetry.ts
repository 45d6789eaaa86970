/**
 * Rule tables: where the table actions (dynamoDBv2, timestream) write rows — the embedded SQLite
 * databases, or a PostgreSQL database the operator named — and the read-only queries over them.
 * Rows older than the retention are deleted by a background task.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Namespace } from '../accounts/namespace.js';
import { AwsError, invalidRequest } from '../aws/errors.js';
import { ensureSecretFile } from '../secret-file.js';
import { EmbeddedTables } from './embedded.js';
import { EmbeddedQueries, type QueryResult } from './embedded-query.js';
import { PostgresTables } from './postgres.js';
import { checkQuery } from './query-check.js';
import { DEFAULT_TABLE_SETTINGS, type TableSettings } from './settings.js';
import type { TableRow } from './values.js';

/** The database a dynamoDBv2 action writes to, and a query reads, when none is named. */
export const DEFAULT_DATABASE = 'default';
const DAY_MS = 86_400_000;
const PRUNE_EVERY_MS = 3_600_000;
const FIRST_PRUNE_MS = 60_000;
const EMBEDDED_NAME = /^[a-zA-Z0-9_.-]{1,256}$/;
/** In the data directory: the secret the PostgreSQL reader roles' passwords derive from (0600). */
export const READER_SECRET_FILE = 'table-readers.key';

/** What the table actions see of this module. */
export interface TableWriter {
  /** Whether `database` is a PostgreSQL database the operator configured. */
  configured(database: string): boolean;
  /** Why rules of `ns` may not write to `database`; undefined when they may. */
  refusal(ns: Namespace, database: string): string | undefined;
  /** Writes a row: synchronously into an embedded database (throws on failure), or a Promise for PostgreSQL. */
  write(ns: Namespace, database: string, table: string, row: TableRow): void | Promise<void>;
}

export interface QueryRequest {
  query?: unknown;
  database?: unknown;
  limit?: unknown;
  timeoutSeconds?: unknown;
}

/** A request field that may narrow a server limit, never widen it. */
function withinLimit(value: unknown, field: string, max: number, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max)
    throw invalidRequest(
      `1 validation error detected: Value '${String(value)}' at '${field}' failed to satisfy constraint: Member must be a whole number from 1 to ${max}`,
    );
  return value;
}

export interface TableDescription {
  name: string;
  /** `time` (epoch ms), then `topic`, then the columns rules added: number, text, boolean or json. */
  columns: { name: string; type: string }[];
}

function databaseOf(body: { database?: unknown }): string {
  const database = body.database === undefined || body.database === null ? DEFAULT_DATABASE : body.database;
  if (typeof database !== 'string' || !EMBEDDED_NAME.test(database))
    throw invalidRequest(
      `1 validation error detected: Value '${String(database)}' at 'database' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+`,
    );
  return database;
}

export interface TelemetryOptions {
  dataDir: string;
  settings?: TableSettings;
  log: Logger;
}

export class Telemetry implements TableWriter {
  readonly settings: TableSettings;
  private readonly embedded: EmbeddedTables;
  private readonly queries = new EmbeddedQueries();
  private readonly postgres = new Map<string, PostgresTables>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private pruning: Promise<number> | undefined;

  constructor(o: TelemetryOptions) {
    this.settings = o.settings ?? DEFAULT_TABLE_SETTINGS;
    this.log = o.log;
    this.embedded = new EmbeddedTables(join(o.dataDir, 'telemetry'), o.log);
    const databases = Object.entries(this.settings.databases);
    // Created only where PostgreSQL databases are configured; nodes sharing one need the same file.
    const readerSecret = databases.length
      ? ensureSecretFile(
          join(o.dataDir, READER_SECRET_FILE),
          'a table-reader secret',
          ' (reader passwords are set again at the next start)',
        )
      : Buffer.alloc(0);
    for (const [name, s] of databases) this.postgres.set(name, new PostgresTables(name, s, o.log, readerSecret));
  }

  configured(database: string): boolean {
    return this.postgres.has(database);
  }

  refusal(ns: Namespace, database: string): string | undefined {
    const p = this.postgres.get(database);
    if (p)
      return p.settings.accounts && !p.settings.accounts.includes(ns.accountId)
        ? `database '${database}' is not available to account ${ns.accountId}`
        : undefined;
    if (!EMBEDDED_NAME.test(database)) return `'${database}' is not a database name (letters, digits, '_', '-' and '.')`;
    return undefined;
  }

  write(ns: Namespace, database: string, table: string, row: TableRow): void | Promise<void> {
    const p = this.postgres.get(database);
    if (p) return p.insert(ns, table, row);
    this.embedded.insert(ns, database, table, row);
  }

  /** Runs a read-only query over the tables of `ns` in one database. */
  async query(ns: Namespace, body: QueryRequest): Promise<QueryResult & { database: string }> {
    const database = databaseOf(body);
    const { queryMaxRows, queryTimeoutSeconds } = this.settings;
    const limit = withinLimit(body.limit, 'limit', queryMaxRows, Math.min(1000, queryMaxRows));
    const timeoutMs = withinLimit(body.timeoutSeconds, 'timeoutSeconds', queryTimeoutSeconds, queryTimeoutSeconds) * 1000;
    const p = this.postgres.get(database);
    if (p) {
      const refused = this.refusal(ns, database);
      if (refused) throw new AwsError('AccessDeniedException', 403, `You may not query ${refused.replace(/^database /, 'database ')}`);
      const sql = checkQuery(body.query, 'postgres');
      return { database, ...(await p.query(ns, sql, limit, timeoutMs)) };
    }
    const sql = checkQuery(body.query, 'sqlite');
    const path = this.embedded.path(ns, database);
    if (!existsSync(path))
      throw new AwsError(
        'ResourceNotFoundException',
        404,
        `Database '${database}' does not exist in account ${ns.accountId}, region ${ns.region} (a table action creates it with its first row)`,
      );
    // Rows of the current drain slice are committed first, so a query sees everything written so far.
    this.embedded.commitAll();
    return { database, ...(await this.queries.run(path, sql, limit, timeoutMs)) };
  }

  /** The tables of `ns` in one database, with their columns and types. */
  async tables(ns: Namespace, body: { database?: unknown }): Promise<{ database: string; tables: TableDescription[] }> {
    const database = databaseOf(body);
    const p = this.postgres.get(database);
    if (p) {
      const refused = this.refusal(ns, database);
      if (refused) throw new AwsError('AccessDeniedException', 403, `You may not read ${refused}`);
      try {
        return { database, tables: await p.describe(ns) };
      } catch (err) {
        throw new AwsError(
          'ServiceUnavailableException',
          503,
          `PostgreSQL database '${database}' is not reachable: ${(err as Error).message}`,
        );
      }
    }
    return { database, tables: this.embedded.describe(ns, database) ?? [] };
  }

  /** Deletes rows older than the retention everywhere; `now` for tests. Returns how many rows went. */
  prune(now = Date.now()): Promise<number> {
    return (this.pruning ??= this.pruneAll(now).finally(() => (this.pruning = undefined)));
  }

  private async pruneAll(now: number): Promise<number> {
    let deleted = 0;
    const days = this.settings.retentionDays;
    if (days > 0) deleted += await this.embedded.prune(now - days * DAY_MS);
    for (const p of this.postgres.values()) {
      const d = p.settings.retentionDays ?? days;
      if (d <= 0) continue;
      try {
        deleted += await p.prune(now - d * DAY_MS);
      } catch (err) {
        this.log.warn({ database: p.name, err: (err as Error).message }, 'could not delete old rows of a PostgreSQL table database');
      }
    }
    if (deleted > 0) this.log.info({ deleted }, 'deleted rule table rows older than the retention');
    return deleted;
  }

  /** Starts the retention task. */
  start(): void {
    if (this.timer) return;
    const run = (): void => {
      this.prune().catch((err: unknown) => this.log.error({ err }, 'deleting old rule table rows failed'));
      this.timer = setTimeout(run, PRUNE_EVERY_MS).unref();
    };
    this.timer = setTimeout(run, FIRST_PRUNE_MS).unref();
  }

  /** Test-mode reset: the embedded databases are removed (PostgreSQL databases are the operator's and stay). */
  clear(): void {
    this.embedded.clear();
  }

  async close(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queries.close();
    this.embedded.close();
    await Promise.all([...this.postgres.values()].map((p) => p.close().catch(() => undefined)));
  }
}
