/**
 * Table actions into a PostgreSQL database the operator configured (`rules.databases.<name>`),
 * against a throwaway PostgreSQL 15 cluster: rows, new columns, types, per-namespace schemas whose
 * reader role sees nothing else, queries that are read-only and bounded in time, retention.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTopicRuleCommand, IoTClient, type Action } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import pg from 'pg';
import { adminRequest } from '@thicket/server';
import { createAccount } from './helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';
import { startPostgres, type Postgres } from './pg-helpers.js';
import { objects, queryData, queryError, waitForRows, type QueryTarget } from './table-helpers.js';

let db: Postgres;
let f: RulesFixture;
let admin: QueryTarget;
let other: QueryTarget;
const OTHER = '210987654321';
const ROLE = 'arn:aws:iam::123456789012:role/r';
const closers: { destroy(): void }[] = [];

before(async () => {
  db = await startPostgres();
  f = await rulesFixture({
    rules: {
      // Generous: a 40 MB value takes PostgreSQL seconds to turn into JSON on a loaded machine.
      queryTimeoutSeconds: 60,
      databases: { pgdb: db.url, restricted: { url: db.url, accounts: [OTHER], retentionDays: 0 } },
    },
  });
  const endpoint = `http://127.0.0.1:${f.server.ports.http}`;
  admin = { endpoint, credentials: f.server.adminKey, headers: {} };
  const key = await createAccount(f.server, OTHER);
  other = { endpoint, credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } };
});
after(async () => {
  for (const c of closers) c.destroy();
  await f?.close();
  await db?.stop();
});

async function createRule(ruleName: string, sql: string, actions: Action[], iot: IoTClient = f.iot): Promise<void> {
  await iot.send(new CreateTopicRuleCommand({ ruleName, topicRulePayload: { sql, actions, awsIotSqlVersion: '2016-03-23' } }));
}

test('timestream with databaseName naming the configured database writes rows into PostgreSQL', async () => {
  await createRule('pg_ts', "SELECT temperature, ok, state FROM 'pg/+/ts'", [
    {
      timestream: {
        roleArn: ROLE,
        databaseName: 'pgdb',
        tableName: 'metrics',
        dimensions: [{ name: 'device', value: '${topic(2)}' }],
        timestamp: { value: '${ts}', unit: 'MILLISECONDS' },
      },
    },
  ]);
  const device = await f.client();
  await device.publishAsync('pg/d1/ts', JSON.stringify({ temperature: 21.5, ok: true, state: { a: [1, 2] }, ts: 1700000000123 }), {
    qos: 1,
  });
  const rows = await waitForRows(admin, { query: 'SELECT * FROM metrics', database: 'pgdb' }, 1);
  assert.deepEqual(rows, [{ time: 1700000000123, topic: 'pg/d1/ts', temperature: 21.5, ok: true, state: { a: [1, 2] }, device: 'd1' }]);
  // PostgreSQL's own functions work on the columns.
  const a = await queryData(admin, {
    query: "SELECT state->'a'->>1 AS second, to_timestamp(time / 1000.0) AS at FROM metrics",
    database: 'pgdb',
  });
  assert.equal(a.rows[0]![0], '2');
  // Stored in the namespace's schema, by the configured (non-superuser) role.
  const c = new pg.Client({ connectionString: db.adminUrl });
  await c.connect();
  try {
    const t = await c.query("SELECT table_schema, table_name FROM information_schema.tables WHERE table_schema LIKE 'thicket%'");
    assert.deepEqual(t.rows, [{ table_schema: 'thicket_123456789012_us_east_1', table_name: 'metrics' }]);
    const owner = await c.query("SELECT tableowner FROM pg_tables WHERE tablename = 'metrics'");
    assert.equal(owner.rows[0].tableowner, 'thicket');
  } finally {
    await c.end();
  }
});

test('dynamoDBv2 `<database>.<table>` goes to the configured database; new keys add columns; many rows batch', async () => {
  await createRule('pg_ddb', "SELECT * FROM 'pg/+/ddb'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'pgdb.readings' } } }]);
  const device = await f.client();
  await device.publishAsync('pg/d1/ddb', JSON.stringify({ v: 1 }), { qos: 1 });
  await waitForRows(admin, { query: 'SELECT * FROM readings', database: 'pgdb' }, 1);
  await device.publishAsync('pg/d2/ddb', JSON.stringify({ v: 2, extra: 'new' }), { qos: 1 });
  const rows = await waitForRows(admin, { query: 'SELECT v, extra FROM readings ORDER BY v', database: 'pgdb' }, 2);
  assert.deepEqual(rows, [
    { v: 1, extra: null },
    { v: 2, extra: 'new' },
  ]);
  for (let i = 0; i < 1500; i++) device.publish('pg/d3/ddb', JSON.stringify({ v: 100 + i }), { qos: 0 });
  const [n] = await waitForRows(
    admin,
    { query: 'SELECT count(*)::int AS n FROM readings HAVING count(*) >= 1502', database: 'pgdb' },
    1,
    10_000,
  );
  assert.equal(n!.n, 1502);
  // The embedded default database got nothing.
  assert.match(await queryError(admin, { query: 'SELECT * FROM readings' }), /ResourceNotFoundException|no such table/);
});

test("another account writes to the same database, and neither sees the other's rows", async () => {
  const iot = new IoTClient({ endpoint: other.endpoint, region: 'us-east-1', credentials: other.credentials, maxAttempts: 1 });
  const data = new IoTDataPlaneClient({ endpoint: other.endpoint, region: 'us-east-1', credentials: other.credentials, maxAttempts: 1 });
  closers.push(iot, data);
  await createRule('mine', "SELECT * FROM 'secret/#'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'pgdb.readings' } } }], iot);
  await data.send(new PublishCommand({ topic: 'secret/1', qos: 1, payload: Buffer.from(JSON.stringify({ v: -1, secret: 'other' })) }));
  assert.deepEqual(await waitForRows(other, { query: 'SELECT v, secret FROM readings', database: 'pgdb' }, 1), [
    { v: -1, secret: 'other' },
  ]);
  const mine = objects(await queryData(admin, { query: 'SELECT count(*)::int AS n FROM readings WHERE v < 0', database: 'pgdb' }));
  assert.deepEqual(mine, [{ n: 0 }]);
  // Naming the other schema outright: the reader role may not.
  assert.match(
    await queryError(admin, { query: 'SELECT * FROM thicket_210987654321_us_east_1.readings', database: 'pgdb' }),
    /^InvalidRequestException: The query failed: permission denied for schema thicket_210987654321_us_east_1/,
  );
  // Escalations and catalog reads are refused before they run.
  const refused: [string, RegExp][] = [
    ["SELECT set_config('role', 'thicket', true)", /'set_config' is not allowed/],
    ["SELECT query_to_xml('SELECT * FROM thicket_210987654321_us_east_1.readings', true, false, '')", /'query_to_xml' is not allowed/],
    ['SELECT * FROM pg_catalog.pg_class', /'pg_catalog' is not allowed/],
    ['SELECT * FROM information_schema.tables', /'information_schema' is not allowed/],
    ['SELECT * FROM U&"pg\\005fclass"', /Unicode-escaped/],
    ["SELECT $$ harmless $$, current_setting('data_directory')", /'current_setting' is not allowed/],
    ["SELECT ts_stat('SELECT 1')", /'ts_stat' is not allowed/],
    ['DELETE FROM readings', /starts with 'delete'/],
    ['SELECT * INTO copy_of FROM readings', /'into' is not allowed/],
  ];
  for (const [query, expected] of refused) assert.match(await queryError(admin, { query, database: 'pgdb' }), expected, query);
  // What the gate lets through, PostgreSQL refuses: writes in a READ ONLY transaction, a second statement.
  assert.match(
    await queryError(admin, { query: 'WITH d AS (DELETE FROM readings RETURNING *) SELECT * FROM d', database: 'pgdb' }),
    /The query failed: WITH clause containing a data-modifying statement must be at the top level|read-only transaction/,
  );
  assert.match(
    await queryError(admin, { query: 'SELECT 1) AS x; DROP TABLE readings; SELECT (1', database: 'pgdb' }),
    /The query failed: /,
  );
  assert.match(await queryError(admin, { query: "SELECT nextval('s')", database: 'pgdb' }), /The query failed: /);
  assert.equal(objects(await queryData(admin, { query: 'SELECT count(*)::int AS n FROM readings', database: 'pgdb' }))[0]!.n, 1502);
  // Each lists its own tables only (the reader role cannot read the catalog, so the server lists them).
  const tables = await adminRequest<{ tables: { name: string; columns: { name: string; type: string }[] }[] }>({
    endpoint: other.endpoint,
    region: 'us-east-1',
    credentials: other.credentials,
    method: 'POST',
    path: '/_thicket/data/tables',
    body: { database: 'pgdb' },
  });
  assert.deepEqual(tables.tables, [
    {
      name: 'readings',
      columns: [
        { name: 'time', type: 'time' },
        { name: 'topic', type: 'text' },
        { name: 'v', type: 'number' },
        { name: 'secret', type: 'text' },
      ],
    },
  ]);
  // A database limited to other accounts: refused at CreateTopicRule and for queries.
  await assert.rejects(
    createRule('restricted', "SELECT * FROM 'r'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'restricted.rows' } } }]),
    /restricted.*is not available to account 123456789012/,
  );
  assert.match(await queryError(admin, { query: 'SELECT 1', database: 'restricted' }), /^AccessDeniedException: /);
});

test('a runaway query is stopped by statement_timeout; the connection is usable afterwards', async () => {
  const e = await queryError(admin, {
    query: 'SELECT count(*) FROM generate_series(1, 100000000000) AS g',
    database: 'pgdb',
    timeoutSeconds: 2,
  });
  assert.equal(e, 'InvalidRequestException: The query ran longer than 2 seconds and was stopped');
  const results = await Promise.all(Array.from({ length: 6 }, () => queryData(admin, { query: 'SELECT 1 AS one', database: 'pgdb' })));
  for (const r of results) assert.deepEqual(r.rows, [[1]]);
});

test('results are bounded in PostgreSQL, not in this process: a huge value never arrives', async () => {
  const huge = await queryData(admin, { query: "SELECT repeat('x', 40000000) AS big", database: 'pgdb' });
  assert.deepEqual(huge, { database: 'pgdb', columns: ['big'], rows: [], truncated: true });
  const many = await queryData(admin, { query: "SELECT g, repeat('x', 1000000) AS mb FROM generate_series(1, 40) AS g", database: 'pgdb' });
  assert.equal(many.truncated, true);
  assert.equal(many.rows.length, 16, 'rows up to 16 MiB in all');
  assert.deepEqual(
    many.rows.map((r) => r[0]),
    Array.from({ length: 16 }, (_, i) => i + 1),
  );
  // Repeated column names keep their places.
  assert.deepEqual(await queryData(admin, { query: 'SELECT 1 AS a, 2 AS a, NULL AS n', database: 'pgdb' }), {
    database: 'pgdb',
    columns: ['a', 'a', 'n'],
    rows: [[1, 2, null]],
    truncated: false,
  });
});

test('retention deletes old rows in PostgreSQL too; a database with retentionDays 0 keeps them', async () => {
  const t = f.server.platform.use('telemetry');
  await t.prune(Date.now() + 31 * 86_400_000);
  assert.equal(objects(await queryData(admin, { query: 'SELECT count(*)::int AS n FROM readings', database: 'pgdb' }))[0]!.n, 0);
  assert.equal(objects(await queryData(admin, { query: 'SELECT count(*)::int AS n FROM metrics', database: 'pgdb' }))[0]!.n, 0);
});
