/**
 * The table actions' part of the `rules` configuration: the PostgreSQL databases rules may write to
 * (by name), how long rows are kept, and the bounds of a query.
 *
 *   rules:
 *     retentionDays: 30            # 0 keeps rows forever
 *     queryTimeoutSeconds: 10
 *     queryMaxRows: 10000
 *     databases:
 *       analytics: postgres://thicket:secret@db.internal:5432/telemetry
 *       plant: { url: postgres://..., accounts: ["123456789012"], retentionDays: 365 }
 */

export interface TableDatabaseSettings {
  /** `postgres://user:pass@host:port/db` (or `postgresql://`). */
  url: string;
  /** The accounts whose rules may use it; every account when omitted. */
  accounts?: string[];
  /** Overrides `retentionDays` for this database. */
  retentionDays?: number;
}

export interface TableSettings {
  /** PostgreSQL databases by the name a rule gives (timestream `databaseName`, or `<name>.<table>` in dynamoDBv2). */
  databases: Record<string, TableDatabaseSettings>;
  /** Rows older than this many days are deleted (0: kept forever). */
  retentionDays: number;
  /** A query running longer is stopped. */
  queryTimeoutSeconds: number;
  /** The most rows a query returns (a request may ask for fewer). */
  queryMaxRows: number;
}

export const DEFAULT_TABLE_SETTINGS: TableSettings = {
  databases: {},
  retentionDays: 30,
  queryTimeoutSeconds: 10,
  queryMaxRows: 10_000,
};

/** Keys of the `rules` section this module reads. */
export const TABLE_SETTING_KEYS = ['databases', 'retentionDays', 'queryTimeoutSeconds', 'queryMaxRows'] as const;

const DATABASE_NAME = /^[a-zA-Z0-9_.-]{3,64}$/;
const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

function wholeNumber(value: unknown, name: string, min: number, max: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max)
    throw new Error(`${name}: "${String(value)}" is not a whole number from ${min} to ${max}`);
  return n;
}

function postgresUrl(raw: unknown, name: string): string {
  if (typeof raw !== 'string' || raw === '') throw new Error(`${name}: expected a postgres:// URL`);
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`${name}: the value is not a URL (postgres://user:password@host:5432/database)`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error(`${name}: only postgres:// URLs are supported`);
  return raw;
}

function parseDatabase(value: unknown, name: string): TableDatabaseSettings {
  if (typeof value === 'string') value = { url: value };
  if (!isMap(value)) throw new Error(`${name}: expected a postgres:// URL or a mapping with url (and accounts, retentionDays)`);
  for (const k of Object.keys(value))
    if (!['url', 'accounts', 'retentionDays'].includes(k))
      throw new Error(`${name}: unknown setting "${k}" (known: url, accounts, retentionDays)`);
  const out: TableDatabaseSettings = { url: postgresUrl(value.url, `${name}.url`) };
  if (value.accounts !== undefined && value.accounts !== null) {
    const list = Array.isArray(value.accounts)
      ? value.accounts.map(String)
      : String(value.accounts)
          .split(',')
          .map((s) => s.trim());
    for (const a of list) if (!/^\d{12}$/.test(a)) throw new Error(`${name}.accounts: "${a}" is not an account id (twelve digits)`);
    out.accounts = list;
  }
  if (value.retentionDays !== undefined && value.retentionDays !== null)
    out.retentionDays = wholeNumber(value.retentionDays, `${name}.retentionDays`, 0, 36_500);
  return out;
}

/** Reads one of TABLE_SETTING_KEYS of the `rules` section into `out`. */
export function parseTableSetting(key: (typeof TABLE_SETTING_KEYS)[number], value: unknown, out: TableSettings): void {
  if (value === undefined || value === null) return;
  if (key === 'databases') {
    if (!isMap(value)) throw new Error('rules.databases: expected a mapping of database names to postgres:// URLs');
    for (const [name, v] of Object.entries(value)) {
      if (!DATABASE_NAME.test(name))
        throw new Error(`rules.databases: "${name}" is not a database name (3 to 64 letters, digits, '_', '-' and '.')`);
      out.databases[name] = parseDatabase(v, `rules.databases.${name}`);
    }
  } else if (key === 'retentionDays') out.retentionDays = wholeNumber(value, 'rules.retentionDays', 0, 36_500);
  else if (key === 'queryTimeoutSeconds') out.queryTimeoutSeconds = wholeNumber(value, 'rules.queryTimeoutSeconds', 1, 3_600);
  else out.queryMaxRows = wholeNumber(value, 'rules.queryMaxRows', 1, 1_000_000);
}
