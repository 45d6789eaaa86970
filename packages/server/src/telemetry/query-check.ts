/**
 * The first gate of a data query: one statement that reads (SELECT, WITH or VALUES), naming nothing
 * that reaches outside the caller's tables. It reads the text as the databases tokenize it (comments,
 * string literals, dollar quotes and quoted identifiers skipped or unwrapped), so a forbidden name
 * cannot hide in a comment and a harmless string cannot trip it. The databases then enforce the rest:
 * a read-only connection (SQLite) or a READ ONLY transaction on a connection logged in as a role that
 * sees one schema only and can become no other (PostgreSQL); this gate is a second line that keeps
 * out what those would allow.
 */
import { AwsError } from '../aws/errors.js';

export type Dialect = 'sqlite' | 'postgres';

/** The longest query text accepted. */
export const MAX_QUERY_LENGTH = 64 * 1024;

const FIRST_WORDS = new Set(['select', 'with', 'values']);
/** Names that reach the connection's configuration, other files or dynamic SQL, by dialect. */
const FORBIDDEN: Record<Dialect, { exact: Set<string>; prefixes: string[] }> = {
  sqlite: {
    exact: new Set(['pragma', 'attach', 'detach', 'load_extension', 'vacuum', 'sqlite_dbpage', 'fts3_tokenizer']),
    prefixes: ['pragma_'],
  },
  postgres: {
    exact: new Set(['set_config', 'current_setting', 'information_schema', 'copy', 'dblink', 'into', 'ts_stat']),
    prefixes: ['pg_', 'query_to_xml', 'cursor_to_xml', 'table_to_xml', 'schema_to_xml', 'database_to_xml', 'dblink_', 'lo_'],
  },
};

function refuse(message: string): never {
  throw new AwsError('InvalidRequestException', 400, message);
}

/** The words and identifiers of `sql`, lower-cased, in order. */
export function words(sql: string, dialect: Dialect): string[] {
  const out: string[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      i = end < 0 ? n : end + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      // PostgreSQL nests block comments; SQLite does not (nesting only ever hides less text).
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
    } else if (c === "'") {
      // E'...' takes backslash escapes in PostgreSQL only (in SQLite `e` would be a name before a string).
      const escapes = dialect === 'postgres' && i > 0 && /[eE]/.test(sql[i - 1]!) && !/[A-Za-z0-9_]/.test(sql[i - 2] ?? ' ');
      i++;
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2;
        else if (sql[i] === "'" && sql[i + 1] === "'") i += 2;
        else if (sql[i] === "'") break;
        else i++;
      }
      i++;
    } else if (c === '"' || (dialect === 'sqlite' && (c === '`' || c === '['))) {
      const close = c === '[' ? ']' : c;
      let text = '';
      i++;
      while (i < n) {
        if (sql[i] === close && sql[i + 1] === close && close !== ']') {
          text += close;
          i += 2;
        } else if (sql[i] === close) break;
        else text += sql[i++];
      }
      i++;
      out.push(text.toLowerCase());
    } else if (dialect === 'postgres' && c === '$' && /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.test(sql.slice(i, i + 66))) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(sql.slice(i, i + 66))![0];
      const end = sql.indexOf(tag, i + tag.length);
      i = end < 0 ? n : end + tag.length;
    } else if (/[A-Za-z_\u0080-\uffff]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$\u0080-\uffff]/.test(sql[j]!)) j++;
      out.push(sql.slice(i, j).toLowerCase());
      i = j;
    } else i++;
  }
  return out;
}

/** Throws InvalidRequestException unless `sql` is one read-only statement naming nothing forbidden. */
export function checkQuery(sql: unknown, dialect: Dialect): string {
  if (typeof sql !== 'string' || sql.trim() === '')
    refuse("1 validation error detected: Value null at 'query' failed to satisfy constraint: Member must not be null");
  if (sql.length > MAX_QUERY_LENGTH)
    refuse(
      `1 validation error detected: Value at 'query' failed to satisfy constraint: Member must have length less than or equal to ${MAX_QUERY_LENGTH}`,
    );
  // U&"..." spells a name with escapes the word check would not see.
  if (dialect === 'postgres' && /u&["']/i.test(sql)) refuse("Unicode-escaped names and strings (U&'...') are not allowed in a query");
  const w = words(sql, dialect);
  const first = w[0];
  if (first === undefined || !FIRST_WORDS.has(first))
    refuse(`Only queries that read are allowed (SELECT, WITH or VALUES); this one starts with '${first ?? sql.trim().slice(0, 20)}'`);
  const f = FORBIDDEN[dialect];
  for (const word of w) {
    if (f.exact.has(word) || f.prefixes.some((p) => word.startsWith(p)))
      refuse(`'${word}' is not allowed in a query: queries read the tables of your own account and region only`);
  }
  return sql.trim().replace(/;\s*$/, '');
}
