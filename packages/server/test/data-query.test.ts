/**
 * The data query API over the embedded rule tables: one namespace's rows are invisible to another
 * account and to another region; only reading statements run (no write, attach, pragma, multiple
 * statements, extension loading), a runaway query is stopped and the next one still runs; limits.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { CreateTopicRuleCommand, IoTClient } from '@aws-sdk/client-iot';
import { IoTDataPlaneClient, PublishCommand } from '@aws-sdk/client-iot-data-plane';
import type { AccessKey } from '@thicket/server';
import { createAccount } from './helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';
import { queryData, queryError, waitForRows, type QueryTarget } from './table-helpers.js';

let f: RulesFixture;
let endpoint: string;
let admin: QueryTarget;
let other: AccessKey;
const OTHER = '210987654321';
const clients: { destroy(): void }[] = [];

before(async () => {
  // A generous server limit: the memory test's 18 MB of results must not be stopped on a loaded machine.
  f = await rulesFixture({ rules: { queryTimeoutSeconds: 30, queryMaxRows: 50 } });
  endpoint = `http://127.0.0.1:${f.server.ports.http}`;
  admin = { endpoint, credentials: f.server.adminKey };
  const key = await createAccount(f.server, OTHER);
  other = { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey };
});
after(async () => {
  for (const c of clients) c.destroy();
  await f.close();
});

/** Creates a dynamoDBv2 rule into table `readings` and publishes one message over HTTPS, as `credentials` in `region`. */
async function writeAs(credentials: AccessKey, region: string, value: string): Promise<void> {
  const iot = new IoTClient({ endpoint, region, credentials, maxAttempts: 1 });
  const data = new IoTDataPlaneClient({ endpoint, region, credentials, maxAttempts: 1 });
  clients.push(iot, data);
  await iot
    .send(
      new CreateTopicRuleCommand({
        ruleName: 'store',
        topicRulePayload: {
          sql: "SELECT * FROM 'meter/#'",
          actions: [{ dynamoDBv2: { roleArn: 'arn:aws:iam::123456789012:role/r', putItem: { tableName: 'readings' } } }],
        },
      }),
    )
    .catch((err: { name: string }) => {
      if (err.name !== 'ResourceAlreadyExistsException') throw err;
    });
  await data.send(new PublishCommand({ topic: 'meter/1', qos: 1, payload: Buffer.from(JSON.stringify({ owner: value })) }));
}

test('each account and region reads its own rows only', async () => {
  await writeAs(f.server.adminKey, 'us-east-1', 'default-us');
  await writeAs(f.server.adminKey, 'eu-west-1', 'default-eu');
  await writeAs(other, 'us-east-1', 'other-us');
  const q = { query: 'SELECT owner FROM readings' };
  assert.deepEqual(await waitForRows(admin, q, 1), [{ owner: 'default-us' }]);
  assert.deepEqual(await waitForRows({ ...admin, region: 'eu-west-1' }, q, 1), [{ owner: 'default-eu' }]);
  assert.deepEqual(await waitForRows({ endpoint, credentials: other }, q, 1), [{ owner: 'other-us' }]);
  // The other account has no eu-west-1 database at all.
  assert.match(
    await queryError({ endpoint, credentials: other, region: 'eu-west-1' }, q),
    /^ResourceNotFoundException: Database 'default' does not exist in account 210987654321, region eu-west-1/,
  );
  // A non-root key cannot act for another account.
  assert.match(
    await queryError({ endpoint, credentials: other, headers: { 'x-thicket-account': '123456789012' } }, q),
    /^AccessDeniedException: access key \w+ may not act for account 123456789012/,
  );
  // Database names are names, not paths.
  for (const database of ['../123456789012/us-east-1/default', '/etc/passwd', 'a/b', ''])
    assert.match(
      await queryError({ endpoint, credentials: other }, { ...q, database }),
      /^InvalidRequestException: 1 validation error detected: Value '.*' at 'database'/,
    );
  // Unsigned requests are refused.
  const res = await fetch(`${endpoint}/_thicket/data/query`, {
    method: 'POST',
    body: JSON.stringify(q),
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(res.status, 403);
});

test('only statements that read run: writes, attach, pragma, several statements and extensions are refused', async () => {
  await waitForRows(admin, { query: 'SELECT * FROM readings' }, 1);
  const refused: [string, RegExp][] = [
    ['DELETE FROM readings', /Only queries that read are allowed \(SELECT, WITH or VALUES\); this one starts with 'delete'/],
    ["INSERT INTO readings (time, topic) VALUES (1, 'x')", /starts with 'insert'/],
    ['DROP TABLE readings', /starts with 'drop'/],
    ['UPDATE readings SET owner = 1', /starts with 'update'/],
    ["ATTACH DATABASE '/tmp/x.db' AS x", /starts with 'attach'/],
    ['PRAGMA table_info(readings)', /starts with 'pragma'/],
    ['/* SELECT */ PRAGMA writable_schema = 1', /starts with 'pragma'/],
    ['SELECT * FROM pragma_database_list', /'pragma_database_list' is not allowed in a query/],
    ['SELECT * FROM "PRAGMA_TABLE_INFO"(\'readings\')', /'pragma_table_info' is not allowed/],
    ["SELECT load_extension('/tmp/evil.so')", /'load_extension' is not allowed/],
    ['WITH x AS (SELECT 1) DELETE FROM readings', /The query failed|Only queries that read/],
    ['SELECT 1; DELETE FROM readings', /The query failed: The supplied SQL string contains more than one statement/],
    ['BEGIN', /starts with 'begin'/],
    ['VACUUM', /starts with 'vacuum'/],
    ['', /Value null at 'query'/],
  ];
  for (const [query, expected] of refused) {
    const e = await queryError(admin, { query });
    assert.match(e, /^InvalidRequestException: /, query);
    assert.match(e, expected, query);
  }
  // A forbidden word inside a string literal or comment does not trip the check; one hidden after a comment does.
  assert.deepEqual((await queryData(admin, { query: "SELECT 'pragma_x; attach' AS s -- pragma\n" })).rows, [['pragma_x; attach']]);
  assert.match(await queryError(admin, { query: 'SELECT 1 /* x */, pragma_x FROM t' }), /'pragma_x' is not allowed/);
  assert.match(await queryError(admin, { query: "SELECT e'\\' , pragma_x '' FROM readings" }), /'pragma_x' is not allowed/);
  // Nothing was changed.
  assert.equal((await queryData(admin, { query: 'SELECT count(*) AS n FROM readings' })).rows[0]![0], 1);
});

test('a runaway query is stopped at its timeoutSeconds (at most rules.queryTimeoutSeconds), and the next query runs', async () => {
  const forever = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c';
  const started = Date.now();
  const e = await queryError(admin, { query: forever, timeoutSeconds: 1 });
  assert.equal(e, 'InvalidRequestException: The query ran longer than 1 seconds and was stopped');
  assert.ok(Date.now() - started < 10_000);
  // Several at once: each is stopped, the server stays responsive.
  const many = await Promise.all(
    Array.from({ length: 6 }, () =>
      queryError(admin, {
        query: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c',
        timeoutSeconds: 1,
      }),
    ),
  );
  for (const m of many) assert.match(m, /longer than 1 seconds and was stopped/);
  assert.deepEqual((await queryData(admin, { query: 'SELECT owner FROM readings' })).rows, [['default-us']]);
  // A request may shorten the server's limit, never lengthen it.
  for (const timeoutSeconds of [31, 0, 1.5, '1'])
    assert.equal(
      await queryError(admin, { query: 'SELECT 1', timeoutSeconds }),
      `InvalidRequestException: 1 validation error detected: Value '${timeoutSeconds}' at 'timeoutSeconds' failed to satisfy constraint: Member must be a whole number from 1 to 30`,
    );
});

test("a query cannot take the server's memory: SQLite's process is capped, results stop at 16 MiB", async () => {
  assert.match(await queryError(admin, { query: 'SELECT length(randomblob(500000000))' }), /The query failed: out of memory/);
  const big = await queryData(admin, { query: 'SELECT hex(randomblob(3000000)) AS h FROM readings, (VALUES (1), (2), (3)) AS v' });
  assert.equal(big.truncated, true);
  assert.equal(big.rows.length, 2, 'two 6 MB rows fit in 16 MiB, a third does not');
});

test('row limit: the request may ask for fewer than rules.queryMaxRows, never more; truncated says so', async () => {
  const series = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200) SELECT x FROM c';
  const all = await queryData(admin, { query: series });
  assert.equal(all.rows.length, 50, 'capped at queryMaxRows');
  assert.equal(all.truncated, true);
  const few = await queryData(admin, { query: series, limit: 3 });
  assert.deepEqual(few.rows, [[1], [2], [3]]);
  assert.deepEqual(few.columns, ['x']);
  const exact = await queryData(admin, { query: 'SELECT 1 AS a, 2 AS b', limit: 1 });
  assert.equal(exact.truncated, false);
  assert.match(
    await queryError(admin, { query: series, limit: 51 }),
    /Value '51' at 'limit' failed to satisfy constraint: Member must be a whole number from 1 to 50/,
  );
  assert.match(await queryError(admin, { query: series, limit: 'all' }), /Value 'all' at 'limit'/);
  assert.match(await queryError(admin, { query: 'x'.repeat(70_000) }), /Member must have length less than or equal to 65536/);
});
