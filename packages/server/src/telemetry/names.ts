/**
 * How rule output keys and AWS table names become SQL identifiers. Every identifier Thicket puts
 * into SQL comes from here, so a hostile key (quotes, SQL, control characters, ten thousand
 * characters) can only ever become a plain lower-case word: it never reaches SQL as written.
 */
import { createHash } from 'node:crypto';

/** PostgreSQL truncates identifiers at 63 bytes; both dialects use the same cap so a table moves between them. */
export const MAX_IDENTIFIER = 63;
/** Columns a table may have besides `time` and `topic` (SQLite allows 2,000 and PostgreSQL 1,600 in all). */
export const MAX_COLUMNS = 500;
/** Tables one database of one namespace may have (a templated table name must not make them without end). */
export const MAX_TABLES = 1_000;
/** Columns every row has. */
export const TIME_COLUMN = 'time';
export const TOPIC_COLUMN = 'topic';

const SAFE = /^[a-z_][a-z0-9_]*$/;
/** Names the databases keep for themselves (`sqlite_master`, `pg_class`, ...). */
const RESERVED_PREFIX = /^(sqlite_|pg_)/;

function hash8(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 8);
}

/**
 * The SQL identifier for a name: lower case, letters, digits and `_` (anything else becomes `_`),
 * not starting with a digit, at most 63 characters (a longer name keeps its start and gets a hash
 * of the whole, so two long names stay apart).
 */
export function identifier(name: string): string {
  let id = name.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (id === '' || /^[0-9]/.test(id)) id = `_${id}`;
  if (RESERVED_PREFIX.test(id)) id = `t_${id}`;
  if (id.length > MAX_IDENTIFIER) id = `${id.slice(0, MAX_IDENTIFIER - 9)}_${hash8(name)}`;
  return id;
}

/** The column for a key of the rule's output: `time` and `topic` are the row's own, so such keys get a trailing `_`. */
export function columnName(key: string): string {
  const id = identifier(key);
  if (id === TIME_COLUMN || id === TOPIC_COLUMN) return `${id}_`;
  return id;
}

/** Quotes an identifier made by `identifier` (double quotes in both dialects; it holds none itself). */
export function quote(id: string): string {
  if (!SAFE.test(id) || id.length > MAX_IDENTIFIER) throw new Error(`internal: '${id}' is not a mapped identifier`);
  return `"${id}"`;
}

/** AWS's DynamoDB table name rule: 3 to 255 of letters, digits, `_`, `-` and `.`. */
export const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;
/** AWS's Timestream database and table name rule: 3 to 256 of letters, digits, `_`, `-` and `.`. */
export const TIMESTREAM_NAME = /^[a-zA-Z0-9_.-]{3,256}$/;

/** The file name (without `.db`) of an embedded database: the name itself when short, else its start and a hash. */
export function databaseFileName(name: string): string {
  const safe = name.replace(/[^a-zA-Z0-9_.-]/g, '_').replace(/^\./, '_');
  return safe.length <= 100 && safe === name ? safe : `${safe.slice(0, 90)}-${hash8(name)}`;
}
