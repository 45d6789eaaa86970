/**
 * `thicket data query "SELECT ..."`: a read-only SQL query over the rule tables of your account and
 * region (rows written by dynamoDBv2 and timestream actions), through `POST /_thicket/data/query`.
 */
import type { Command } from 'commander';
import { adminRequest } from '@thicket/server/client';
import { apiOptions, credentials, readable, type ApiOptions } from '../api-client.js';
import { numberOption, textArgument } from '../arguments.js';

interface QueryResult {
  database: string;
  columns: string[];
  rows: unknown[][];
  truncated: boolean;
}

const FORMATS = ['table', 'json', 'csv'] as const;
type Format = (typeof FORMATS)[number];

function text(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/** Columns padded to their widest value; column names as the query gave them. */
export function formatTable(r: QueryResult): string {
  if (r.columns.length === 0) return '(no columns)\n';
  const cells = r.rows.map((row) => row.map((v) => text(v).replace(/[\r\n\t]/g, ' ')));
  const widths = r.columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const rows = cells.map(line);
  const count = `(${r.rows.length} row${r.rows.length === 1 ? '' : 's'})`;
  return [line(r.columns), line(widths.map((w) => '-'.repeat(w))), ...rows, count].join('\n') + '\n';
}

/** RFC 4180: a header line, then one line per row; fields with a comma, quote or line break are quoted. */
export function formatCsv(r: QueryResult): string {
  const field = (v: unknown): string => {
    const s = text(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [r.columns, ...r.rows].map((row) => row.map(field).join(',')).join('\r\n') + '\r\n';
}

/** An array of objects, one per row, keyed by column name. */
export function formatJson(r: QueryResult): string {
  const objects = r.rows.map((row) => Object.fromEntries(r.columns.map((c, i) => [c, row[i] ?? null])));
  return JSON.stringify(objects, null, 2) + '\n';
}

interface Tables {
  database: string;
  tables: { name: string; columns: { name: string; type: string }[] }[];
}

async function post<T>(o: ApiOptions, path: string, body: unknown): Promise<T> {
  try {
    return await adminRequest<T>({ endpoint: o.endpoint, region: o.region, credentials: credentials(o), method: 'POST', path, body });
  } catch (err) {
    throw readable(err, o);
  }
}

interface QueryOptions extends ApiOptions {
  database?: string;
  limit?: string;
  timeout?: string;
  format: string;
}

export function registerData(program: Command): void {
  const data = program.command('data').description('rule tables: the rows dynamoDBv2 and timestream actions write');
  apiOptions(
    data
      .command('query <sql>')
      .description('run a read-only SQL query (SELECT, WITH or VALUES) over your rule tables; <sql> may be @file or -'),
  )
    .option('--database <name>', 'the database: an embedded one (default "default") or a configured PostgreSQL database')
    .option('--limit <rows>', 'the most rows to return (the server caps it)')
    .option('--timeout <seconds>', 'stop the query after this long (the server caps it at rules.queryTimeoutSeconds)')
    .option('--format <format>', `output: ${FORMATS.join(', ')}`, 'table')
    .action(async (sql: string, o: QueryOptions) => {
      if (!(FORMATS as readonly string[]).includes(o.format))
        throw new Error(`--format must be one of ${FORMATS.join(', ')}, not "${o.format}"`);
      const r = await post<QueryResult>(o, '/_thicket/data/query', {
        query: textArgument(sql),
        database: o.database,
        limit: numberOption(o.limit, '--limit'),
        timeoutSeconds: numberOption(o.timeout, '--timeout'),
      });
      if (o.json) {
        process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        return;
      }
      const format = o.format as Format;
      process.stdout.write(format === 'csv' ? formatCsv(r) : format === 'json' ? formatJson(r) : formatTable(r));
      if (r.truncated) process.stderr.write(`thicket: more rows matched; only the first ${r.rows.length} are shown (--limit)\n`);
    });
  apiOptions(data.command('tables').description('list your rule tables and their columns'))
    .option('--database <name>', 'the database (default "default")')
    .action(async (o: ApiOptions & { database?: string }) => {
      const r = await post<Tables>(o, '/_thicket/data/tables', { database: o.database });
      if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      if (r.tables.length === 0) return void process.stdout.write(`(no tables in database ${r.database})\n`);
      for (const t of r.tables) process.stdout.write(`${t.name}: ${t.columns.map((c) => `${c.name} ${c.type}`).join(', ')}\n`);
    });
}
