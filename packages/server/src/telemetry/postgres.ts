/**
 * Tables in a PostgreSQL database the operator configured (`rules.databases.<name>`). Each account
 * and region has its own schema (`thicket_<account>_<region>`) and a login role of its own
 * (`thicket_q_<account>_<region>`) that may only read that schema. A query connects as that role
 * (its password an HMAC of its name under the server's secret) and runs in a READ ONLY transaction
 * with `statement_timeout`. The role is a member of no other role, so nothing the query does
 * (`SET ROLE`, `set_config('role', ...)`) reaches the writer or another namespace: isolation rests
 * on PostgreSQL, not on which names the query-check lets through. Rows are batched: one multi-row
 * INSERT per table every few milliseconds (or 500 rows), each row's action settling when its batch
 * commits.
 */
import { createHmac } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Namespace } from '../accounts/namespace.js';
import { AwsError } from '../aws/errors.js';
import type { QueryResult } from './embedded-query.js';
import { MAX_RESULT_BYTES } from './embedded-query.js';
import { MAX_COLUMNS, MAX_TABLES, quote, TIME_COLUMN, TOPIC_COLUMN } from './names.js';
import type { TableDatabaseSettings } from './settings.js';
import { convert, typeOf, type ColumnType, type TableRow } from './values.js';

const FLUSH_MS = 20;
const MAX_BATCH = 500;
/** PostgreSQL's bound on the parameters of one statement. */
const MAX_PARAMETERS = 65_535;
/** Connections per namespace reader: queries of one namespace beyond this wait for one. */
const READER_CONNECTIONS = 2;
const READER_IDLE_MS = 10_000;
/** PostgreSQL's invalid_password: another start (or node with another secret) set the password since. */
const INVALID_PASSWORD = '28P01';
/** Queries over one database running at once (each on a connection of its own); more wait, up to MAX_WAITING. */
const MAX_RUNNING = 4;
const MAX_WAITING = 64;

const SQL_TYPE: Record<ColumnType, string> = { number: 'double precision', text: 'text', boolean: 'boolean', json: 'jsonb' };
const TYPE_OF_SQL: Record<string, ColumnType> = { 'double precision': 'number', text: 'text', boolean: 'boolean', jsonb: 'json' };

export function schemaOf(ns: Namespace): string {
  return `thicket_${ns.accountId}_${ns.region.replace(/-/g, '_')}`;
}

export function readerRoleOf(ns: Namespace): string {
  return `thicket_q_${ns.accountId}_${ns.region.replace(/-/g, '_')}`;
}

/**
 * A reader role's password: derived, so every start (and node with the same secret) agrees on it.
 * Not from the database's name either: two configured names may point at one server, whose roles are shared.
 */
export function readerPassword(secret: Buffer, role: string): string {
  return createHmac('sha256', secret).update(`thicket-table-reader-v1\n${role}`).digest('hex');
}

interface Pending {
  row: TableRow;
  resolve(): void;
  reject(err: Error): void;
}

interface Batch {
  ns: Namespace;
  table: string;
  rows: Pending[];
  timer: NodeJS.Timeout | undefined;
  /** The flush in progress: batches of one table commit in order. */
  flushing: Promise<void>;
}

export class PostgresTables {
  readonly pool: pg.Pool;
  private readonly batches = new Map<string, Batch>();
  private readonly columns = new Map<string, Map<string, ColumnType>>();
  private readonly schemas = new Map<string, Promise<void>>();
  /** Connections as each namespace's reader role, by role name. */
  private readonly readers = new Map<string, pg.Pool>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  /** Why queries cannot be isolated (the configured user may not create roles), once known. */
  private roleProblem: string | undefined;

  /** `readerSecret` derives the reader roles' passwords; every node sharing the database needs the same one. */
  constructor(
    readonly name: string,
    readonly settings: TableDatabaseSettings,
    private readonly log: Logger,
    private readonly readerSecret: Buffer,
  ) {
    this.pool = new pg.Pool({ connectionString: settings.url, max: 4, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 });
    // An idle client's error (the server restarted) must not crash the process.
    this.pool.on('error', (err) => this.log.warn({ err: err.message, database: name }, 'a PostgreSQL connection failed'));
  }

  /** Queues a row; the Promise settles when its batch has committed (or failed). */
  insert(ns: Namespace, table: string, row: TableRow): Promise<void> {
    const key = `${schemaOf(ns)}.${table}`;
    let b = this.batches.get(key);
    if (!b) this.batches.set(key, (b = { ns, table, rows: [], timer: undefined, flushing: Promise.resolve() }));
    const batch = b;
    return new Promise<void>((resolve, reject) => {
      batch.rows.push({ row, resolve, reject });
      if (batch.rows.length >= MAX_BATCH) this.flush(key, batch);
      else batch.timer ??= setTimeout(() => this.flush(key, batch), FLUSH_MS);
    });
  }

  private flush(key: string, b: Batch): void {
    if (b.timer) clearTimeout(b.timer);
    b.timer = undefined;
    const rows = b.rows;
    b.rows = [];
    if (rows.length === 0) return;
    b.flushing = b.flushing.then(() =>
      this.write(b.ns, b.table, rows).then(
        () => rows.forEach((p) => p.resolve()),
        (err: Error) => {
          // Read the schema again next time: the operator may have changed it under us.
          this.columns.delete(key);
          this.schemas.delete(schemaOf(b.ns));
          const e = new Error(`PostgreSQL database ${this.name}: ${err.message}`);
          rows.forEach((p) => p.reject(e));
        },
      ),
    );
  }

  /** Creates the namespace's schema and reader role once (per process). */
  private ensureSchema(ns: Namespace): Promise<void> {
    const schema = schemaOf(ns);
    let p = this.schemas.get(schema);
    if (!p) {
      p = this.createSchema(ns).catch((err: Error) => {
        this.schemas.delete(schema);
        throw err;
      });
      this.schemas.set(schema, p);
    }
    return p;
  }

  private async createSchema(ns: Namespace): Promise<void> {
    const schema = quote(schemaOf(ns));
    const role = readerRoleOf(ns);
    const c = await this.pool.connect();
    try {
      // Two nodes may race to create the same schema: a lost race is fine.
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`).catch((err: { code?: string }) => {
        if (err.code !== '23505' && err.code !== '42P06') throw err;
      });
      try {
        const exists = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [role]);
        if (exists.rowCount === 0) await c.query(`CREATE ROLE ${quote(role)} LOGIN`);
        await this.setPassword(c, role);
        // Earlier versions granted the reader to the writer, to SET ROLE into it: that grant goes.
        const granted = await c.query(
          `SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member
            WHERE r.rolname = $1 AND u.rolname = current_user`,
          [role],
        );
        if (granted.rowCount) await c.query(`REVOKE ${quote(role)} FROM CURRENT_USER`);
        await c.query(`GRANT USAGE ON SCHEMA ${schema} TO ${quote(role)}`);
        await c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ${schema} TO ${quote(role)}`);
        await c.query(`ALTER DEFAULT PRIVILEGES IN SCHEMA ${schema} GRANT SELECT ON TABLES TO ${quote(role)}`);
        this.roleProblem = undefined;
      } catch (err) {
        this.roleProblem = `the PostgreSQL user of database '${this.name}' cannot create the reader role of this namespace (${(err as Error).message}); give it CREATEROLE`;
        this.log.warn({ database: this.name, err: (err as Error).message }, 'rows are written, but queries over this database are refused');
      }
    } finally {
      c.release();
    }
  }

  private passwordOf(role: string): string {
    return readerPassword(this.readerSecret, role);
  }

  /** Makes `role` a login role with its derived password (idempotent). */
  private async setPassword(c: pg.ClientBase, role: string): Promise<void> {
    // Hex digits only: the literal cannot end early (ALTER ROLE takes no parameters).
    await c.query(`ALTER ROLE ${quote(role)} WITH LOGIN PASSWORD '${this.passwordOf(role)}'`);
  }

  /** The pool of connections as the reader role of `ns`: same server and database, the role's own login. */
  private readerPool(ns: Namespace): pg.Pool {
    const role = readerRoleOf(ns);
    let pool = this.readers.get(role);
    if (!pool) {
      const url = new URL(this.settings.url);
      url.username = role;
      url.password = this.passwordOf(role);
      if (url.username !== role) throw new Error('its URL names no host, so the reader roles cannot log in over it');
      pool = new pg.Pool({
        connectionString: url.toString(),
        max: READER_CONNECTIONS,
        connectionTimeoutMillis: 5_000,
        idleTimeoutMillis: READER_IDLE_MS,
        // Idle reader connections must not keep a process that is otherwise done alive.
        allowExitOnIdle: true,
      });
      pool.on('error', (err) => this.log.warn({ err: err.message, database: this.name, role }, 'a PostgreSQL reader connection failed'));
      this.readers.set(role, pool);
    }
    return pool;
  }

  /** A connection as the reader of `ns`; a password another start has changed is set again once. */
  private async readerConnection(ns: Namespace): Promise<pg.PoolClient> {
    try {
      return await this.readerPool(ns).connect();
    } catch (err) {
      if ((err as { code?: string }).code !== INVALID_PASSWORD) throw err;
      this.log.warn(
        { database: this.name, role: readerRoleOf(ns) },
        'a reader role had another password (a node with another secret?); setting it again',
      );
      const c = await this.pool.connect();
      try {
        await this.setPassword(c, readerRoleOf(ns));
      } finally {
        c.release();
      }
      return await this.readerPool(ns).connect();
    }
  }

  private async write(ns: Namespace, table: string, rows: Pending[]): Promise<void> {
    await this.ensureSchema(ns);
    const schema = schemaOf(ns);
    const key = `${schema}.${table}`;
    const qualified = `${quote(schema)}.${quote(table)}`;
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      let cols = this.columns.get(key);
      if (!cols) {
        const existing = await c.query<{ table_name: string }>(
          "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE'",
          [schema],
        );
        if (existing.rows.length >= MAX_TABLES && !existing.rows.some((r) => r.table_name === table))
          throw new Error(`this database already has ${MAX_TABLES} tables in this account and region; '${table}' would be one more`);
        await c.query(`CREATE TABLE IF NOT EXISTS ${qualified} (${TIME_COLUMN} bigint NOT NULL, ${TOPIC_COLUMN} text NOT NULL)`);
        // Unnamed, so that its generated name can never take a table's: tables and indexes share names.
        const indexed = await c.query('SELECT 1 FROM pg_indexes WHERE schemaname = $1 AND tablename = $2', [schema, table]);
        if (indexed.rowCount === 0) await c.query(`CREATE INDEX ON ${qualified} (${TIME_COLUMN})`);
        const r = await c.query<{ column_name: string; data_type: string }>(
          'SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2',
          [schema, table],
        );
        cols = new Map();
        for (const x of r.rows)
          if (x.column_name !== TIME_COLUMN && x.column_name !== TOPIC_COLUMN) cols.set(x.column_name, TYPE_OF_SQL[x.data_type] ?? 'text');
        this.columns.set(key, cols);
      }
      // New columns, in the order rows bring them; a row that cannot fit is failed alone.
      const ok: Pending[] = [];
      const values: unknown[][] = [];
      for (const p of rows) {
        const added = new Map<string, ColumnType>();
        for (const [col, v] of p.row.values) {
          const type = cols.has(col) ? undefined : typeOf(v);
          if (type && !added.has(col)) added.set(col, type);
        }
        if (cols.size + added.size > MAX_COLUMNS) {
          p.reject(
            new Error(`table ${table} would have more than ${MAX_COLUMNS} columns (it has ${cols.size}; this row adds ${added.size})`),
          );
          continue;
        }
        for (const [col, type] of added) {
          await c.query(`ALTER TABLE ${qualified} ADD COLUMN IF NOT EXISTS ${quote(col)} ${SQL_TYPE[type]}`);
          cols.set(col, type);
        }
        ok.push(p);
      }
      const order = [...cols.keys()];
      const kept: Pending[] = [];
      for (const p of ok) {
        const v: unknown[] = [p.row.time, p.row.topic];
        try {
          for (const col of order) v.push(convert(p.row.values.get(col), cols.get(col)!));
        } catch (err) {
          const col = order[v.length - 2]!;
          p.reject(new Error(`column ${col} of table ${table} ${(err as Error).message}`));
          continue;
        }
        values.push(v);
        kept.push(p);
      }
      rows.splice(0, rows.length, ...kept);
      const names = [TIME_COLUMN, TOPIC_COLUMN, ...order].map((n) => `"${n}"`).join(', ');
      const width = order.length + 2;
      const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / width));
      for (let i = 0; i < values.length; i += perStatement) {
        const chunk = values.slice(i, i + perStatement);
        const params: unknown[] = [];
        const tuples = chunk.map((v) => {
          const start = params.length;
          params.push(...v);
          return `(${v.map((_, j) => `$${start + j + 1}`).join(', ')})`;
        });
        await c.query(`INSERT INTO ${qualified} (${names}) VALUES ${tuples.join(', ')}`, params);
      }
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  /**
   * Runs a read-only query as the namespace's reader role. `sql` has passed the query-check as a
   * second line of defence; what keeps it in its namespace is the connection's login role.
   */
  async query(ns: Namespace, sql: string, limit: number, timeoutMs: number): Promise<QueryResult> {
    await this.ensureSchema(ns).catch((err: Error) => {
      throw new AwsError('ServiceUnavailableException', 503, `PostgreSQL database '${this.name}' is not reachable: ${err.message}`);
    });
    if (this.roleProblem) throw new AwsError('InvalidRequestException', 400, `Queries over this database are refused: ${this.roleProblem}`);
    // Each namespace has its own pool: this bounds the connections queries take from the database as a whole.
    if (this.running >= MAX_RUNNING) {
      if (this.waiting.length >= MAX_WAITING)
        throw new AwsError('ThrottlingException', 429, 'Too many data queries are running; try again later');
      // A finishing query hands its slot over, so none is taken in between.
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await this.runQuery(ns, sql, limit, timeoutMs);
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  private async runQuery(ns: Namespace, sql: string, limit: number, timeoutMs: number): Promise<QueryResult> {
    const c = await this.readerConnection(ns).catch((err: Error) => {
      throw new AwsError('ServiceUnavailableException', 503, `PostgreSQL database '${this.name}' is not reachable: ${err.message}`);
    });
    try {
      await c.query('BEGIN READ ONLY');
      await c.query(`SET LOCAL statement_timeout = ${Math.floor(timeoutMs)}`);
      await c.query(`SET LOCAL search_path = ${quote(schemaOf(ns))}`);
      const run = async (text: string): Promise<pg.QueryArrayResult> => {
        try {
          // The extended protocol takes exactly one statement: the user's text cannot add a second.
          return await c.query({ text, rowMode: 'array', queryMode: 'extended' } as pg.QueryArrayConfig);
        } catch (err) {
          const e = err as { code?: string; message: string };
          if (e.code === '57014')
            throw new AwsError('InvalidRequestException', 400, `The query ran longer than ${timeoutMs / 1000} seconds and was stopped`);
          throw new AwsError('InvalidRequestException', 400, `The query failed: ${e.message}`);
        }
      };
      const probe = await run(`SELECT * FROM (${sql}\n) AS q LIMIT 0`);
      const columns = probe.fields.map((f) => f.name);
      if (columns.length === 0) return { columns, rows: [], truncated: false };
      // Each row travels as one JSON value under positional names (the query's own names may repeat),
      // and PostgreSQL itself blanks every row past MAX_RESULT_BYTES: a huge value (repeat('x', 1e9))
      // never reaches this process.
      const aliases = columns.map((_, i) => `c${i + 1}`).join(', ');
      const r = await run(
        `SELECT CASE WHEN sum(octet_length(j::text)) OVER (ORDER BY n) <= ${MAX_RESULT_BYTES} THEN j END
           FROM (SELECT j, row_number() OVER () AS n
                   FROM (SELECT to_json(q) AS j FROM (${sql}\n) AS q(${aliases}) LIMIT ${limit + 1}) AS a) AS b
          ORDER BY n`,
      );
      const rows: unknown[][] = [];
      let truncated = r.rows.length > limit;
      for (const [j] of r.rows.slice(0, limit)) {
        if (j === null || typeof j !== 'object') {
          truncated = true;
          break;
        }
        const o = j as Record<string, unknown>;
        rows.push(columns.map((_, i) => o[`c${i + 1}`] ?? null));
      }
      return { columns, rows, truncated };
    } finally {
      // A connection that cannot roll back (its session settings unknown) is not reused.
      const clean = await c.query('ROLLBACK').then(
        () => true,
        () => false,
      );
      c.release(!clean);
    }
  }

  /** The namespace's tables and their columns, read as the configured user (the reader role cannot see the catalog). */
  async describe(ns: Namespace): Promise<{ name: string; columns: { name: string; type: string }[] }[]> {
    const r = await this.pool.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name AND t.table_type = 'BASE TABLE'
        WHERE c.table_schema = $1 ORDER BY c.table_name, c.ordinal_position`,
      [schemaOf(ns)],
    );
    const out = new Map<string, { name: string; type: string }[]>();
    for (const x of r.rows) {
      const type = x.column_name === TIME_COLUMN ? 'time' : (TYPE_OF_SQL[x.data_type] ?? x.data_type);
      out.set(x.table_name, [...(out.get(x.table_name) ?? []), { name: x.column_name, type }]);
    }
    return [...out].map(([name, columns]) => ({ name, columns }));
  }

  /** Deletes rows older than `before` (epoch ms) in every table of every Thicket schema. */
  async prune(before: number): Promise<number> {
    const r = await this.pool.query<{ table_schema: string; table_name: string }>(
      "SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'thicket\\_%' AND table_type = 'BASE TABLE'",
    );
    let deleted = 0;
    for (const t of r.rows) {
      if (!/^[a-z_][a-z0-9_]*$/.test(t.table_schema) || !/^[a-z_][a-z0-9_]*$/.test(t.table_name)) continue;
      const res = await this.pool.query(`DELETE FROM ${quote(t.table_schema)}.${quote(t.table_name)} WHERE ${TIME_COLUMN} < $1`, [before]);
      deleted += res.rowCount ?? 0;
    }
    return deleted;
  }

  async close(): Promise<void> {
    for (const [key, b] of this.batches) this.flush(key, b);
    await Promise.all([...this.batches.values()].map((b) => b.flushing));
    await Promise.all([this.pool.end(), ...[...this.readers.values()].map((p) => p.end())]);
    this.readers.clear();
  }
}
