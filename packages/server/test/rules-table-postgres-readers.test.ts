/**
 * PostgreSQL data queries connect as the namespace's own login role, so PostgreSQL itself keeps a
 * query in its namespace: these call the query path with the query-check skipped and try to climb
 * back to the writer or across to another namespace. Against a throwaway cluster whose TCP logins
 * need a password.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import pino from 'pino';
import type { Namespace } from '../src/accounts/namespace.js';
import { PostgresTables, readerPassword, readerRoleOf, schemaOf } from '../src/telemetry/postgres.js';
import { startPostgres, type Postgres } from './pg-helpers.js';

const A: Namespace = { accountId: '111111111111', region: 'eu-west-1' };
const B: Namespace = { accountId: '222222222222', region: 'eu-west-1' };
const secret = randomBytes(32);
const log = pino({ level: 'silent' });

let db: Postgres;
let tables: PostgresTables;

async function sql<T extends pg.QueryResultRow = pg.QueryResultRow>(url: string, text: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/** A connection string as `user` (with `password`) to the test database. */
function urlAs(user: string, password: string): string {
  return `postgres://${user}:${password}@127.0.0.1:${db.port}/telemetry`;
}

/** The message of the query's failure, bypassing the query-check (PostgresTables.query takes the text as it is). */
async function failure(ns: Namespace, query: string): Promise<string> {
  try {
    await tables.query(ns, query, 100, 5_000);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`ran: ${query}`);
}

before(async () => {
  db = await startPostgres();
  // What an older start left: A's reader role without login, granted to the writer for SET ROLE.
  await sql(db.url, `CREATE ROLE ${readerRoleOf(A)} NOLOGIN`);
  await sql(db.url, `GRANT ${readerRoleOf(A)} TO CURRENT_USER`);
  tables = new PostgresTables('pgdb', { url: db.url }, log, secret);
  await tables.insert(A, 'readings', { time: 1, topic: 'a', values: new Map([['v', 1]]) });
  await tables.insert(B, 'readings', { time: 2, topic: 'b', values: new Map<string, unknown>([['secret', 'of B']]) });
});
after(async () => {
  await tables?.close();
  await db?.stop();
});

test('the reader role logs in with its derived password, belongs to no role, and the writer no longer holds it', async () => {
  const r = await tables.query(A, 'SELECT current_user, session_user, v FROM readings', 10, 5_000);
  assert.deepEqual(r.rows, [[readerRoleOf(A), readerRoleOf(A), 1]]);
  const roles = await sql<{ rolname: string; rolcanlogin: boolean; scram: boolean }>(
    db.adminUrl,
    "SELECT rolname, rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%' AS scram FROM pg_authid WHERE rolname LIKE 'thicket\\_q\\_%' ORDER BY 1",
  );
  assert.deepEqual(roles, [
    { rolname: readerRoleOf(A), rolcanlogin: true, scram: true },
    { rolname: readerRoleOf(B), rolcanlogin: true, scram: true },
  ]);
  // The older start's grant to the writer is revoked; the readers are members of nothing.
  const memberships = await sql(
    db.adminUrl,
    `SELECT r.rolname AS role, m.rolname AS member FROM pg_auth_members a JOIN pg_roles r ON r.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
      WHERE r.rolname LIKE 'thicket%' OR m.rolname LIKE 'thicket%'`,
  );
  assert.deepEqual(memberships, []);
  // The password is really checked (scram-sha-256 on TCP): a wrong one is refused.
  await assert.rejects(
    sql(urlAs(readerRoleOf(A), 'wrong'), 'SELECT 1'),
    /password authentication failed for user "thicket_q_111111111111_eu_west_1"/,
  );
});

test('with the query-check skipped, set_config cannot switch to the writer or another reader', async () => {
  const otherTable = `${schemaOf(B)}.readings`;
  for (const role of ['thicket', readerRoleOf(B), 'postgres']) {
    assert.match(
      await failure(
        A,
        `SELECT set_config('role', '${role}', true) AS r, query_to_xml('SELECT * FROM ${otherTable}', true, false, '') AS x`,
      ),
      new RegExp(`^The query failed: permission denied to set role "${role}"$`),
      role,
    );
  }
  assert.match(
    await failure(A, `SELECT query_to_xml('SELECT * FROM ${otherTable}', true, false, '') AS x`),
    /^The query failed: permission denied for schema thicket_222222222222_eu_west_1$/,
  );
  assert.match(await failure(A, `SELECT * FROM ${otherTable}`), /permission denied for schema thicket_222222222222_eu_west_1/);
  assert.match(
    await failure(A, "SELECT set_config('session_authorization', 'thicket', true)"),
    /permission denied to set session authorization/,
  );
  assert.match(
    await failure(A, "SELECT current_setting('data_directory')"),
    /must be superuser or have privileges of pg_read_all_settings/,
  );
  // Nothing stuck to the pooled connections: the next query is still A's reader, reading A's rows only.
  const r = await tables.query(A, "SELECT current_user, current_setting('role') AS role, count(*)::int FROM readings", 10, 5_000);
  assert.deepEqual(r.rows, [[readerRoleOf(A), 'none', 1]]);
});

test('a session as the reader role cannot SET ROLE or SESSION AUTHORIZATION, write, or create', async () => {
  const c = new pg.Client({ connectionString: urlAs(readerRoleOf(A), readerPassword(secret, readerRoleOf(A))) });
  await c.connect();
  try {
    const attempts: [string, RegExp][] = [
      ['SET ROLE thicket', /^permission denied to set role "thicket"$/],
      [`SET ROLE ${readerRoleOf(B)}`, /^permission denied to set role "thicket_q_222222222222_eu_west_1"$/],
      ['SET SESSION AUTHORIZATION thicket', /^permission denied to set session authorization/],
      [`INSERT INTO ${schemaOf(A)}.readings (time, topic) VALUES (3, 'x')`, /^permission denied for table readings$/],
      [`CREATE TABLE ${schemaOf(A)}.mine (x int)`, /^permission denied for schema thicket_111111111111_eu_west_1$/],
      [`GRANT ${readerRoleOf(A)} TO ${readerRoleOf(B)}`, /^must have admin option on role/],
    ];
    for (const [text, expected] of attempts) await assert.rejects(c.query(text), { message: expected }, text);
    assert.deepEqual((await c.query('SELECT current_user AS u')).rows, [{ u: readerRoleOf(A) }]);
  } finally {
    await c.end();
  }
});

test('a password changed behind its back (another node with another secret) is set again', async () => {
  await sql(db.adminUrl, `ALTER ROLE ${readerRoleOf(A)} PASSWORD 'changed-elsewhere'`);
  // Connections already open stay logged in; drop them so the pool must log in again.
  await sql(db.adminUrl, 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [readerRoleOf(A)]);
  await new Promise((r) => setTimeout(r, 100));
  const r = await tables.query(A, 'SELECT count(*)::int AS n FROM readings', 10, 5_000);
  assert.deepEqual(r.rows, [[1]]);
  await sql(urlAs(readerRoleOf(A), readerPassword(secret, readerRoleOf(A))), 'SELECT 1');
});

test('queries over one database run four at once whatever their namespace; 64 more wait, the rest are throttled', async () => {
  const runs = Array.from({ length: 70 }, (_, i) =>
    tables.query(i % 2 ? A : B, 'SELECT pg_sleep(0.3) AS s', 1, 5_000).then(
      () => 'ok',
      (err: Error) => err.message,
    ),
  );
  await new Promise((r) => setTimeout(r, 150));
  const [busy] = await sql<{ n: number }>(
    db.adminUrl,
    "SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename LIKE 'thicket\\_q\\_%' AND query LIKE '%pg_sleep%' AND state = 'active'",
  );
  assert.equal(busy!.n, 4);
  const results = await Promise.all(runs);
  assert.equal(results.filter((r) => r === 'ok').length, 68);
  assert.deepEqual(
    results.filter((r) => r !== 'ok'),
    ['Too many data queries are running; try again later', 'Too many data queries are running; try again later'],
  );
});
