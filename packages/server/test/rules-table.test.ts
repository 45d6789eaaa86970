/**
 * The table actions end to end: AWS's dynamoDBv2 and timestream shapes created with the official
 * @aws-sdk/client-iot, a device publishing over MQTT, the row read back through the data query API;
 * columns added by new keys, types, retention, AWS's validation answers and hostile names.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { CreateTopicRuleCommand, type Action } from '@aws-sdk/client-iot';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';
import { objects, queryData, waitForRows, type QueryTarget } from './table-helpers.js';

let f: RulesFixture;
let t: QueryTarget;
before(async () => {
  f = await rulesFixture();
  t = { endpoint: `http://127.0.0.1:${f.server.ports.http}`, credentials: f.server.adminKey };
});
after(() => f.close());

const ROLE = 'arn:aws:iam::123456789012:role/tables';

async function createRule(ruleName: string, sql: string, actions: Action[], errorAction?: Action): Promise<void> {
  await f.iot.send(
    new CreateTopicRuleCommand({ ruleName, topicRulePayload: { sql, actions, errorAction, awsIotSqlVersion: '2016-03-23' } }),
  );
}

async function createError(ruleName: string, sql: string, actions: Action[]): Promise<string> {
  try {
    await createRule(ruleName, sql, actions);
  } catch (err) {
    const e = err as { name: string; message: string };
    return `${e.name}: ${e.message}`;
  }
  throw new Error('expected CreateTopicRule to fail');
}

test('dynamoDBv2: one row per message, a column per top-level key, with the message time and topic', async () => {
  await createRule('env_rows', "SELECT *, topic(2) AS device FROM 'dt/+/env'", [
    { dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'env' } } },
  ]);
  const device = await f.client('sensor-1');
  const before = Date.now();
  await device.publishAsync(
    'dt/d1/env',
    JSON.stringify({ temperature: 21.5, humidity: 40, ok: true, state: { fan: 'on', speeds: [1, 2] } }),
    { qos: 1 },
  );
  const [row] = await waitForRows(t, { query: 'SELECT * FROM env' }, 1);
  assert.equal(row!.temperature, 21.5);
  assert.equal(row!.humidity, 40);
  assert.equal(row!.device, 'd1');
  assert.equal(row!.ok, 1, 'booleans are 0/1 in SQLite');
  assert.deepEqual(JSON.parse(row!.state as string), { fan: 'on', speeds: [1, 2] }, 'objects are stored as JSON');
  assert.equal(row!.topic, 'dt/d1/env');
  assert.ok((row!.time as number) >= before - 1000 && (row!.time as number) <= Date.now(), 'the message time in ms');
  // JSON columns work with SQLite's JSON functions.
  const a = await queryData(t, { query: "SELECT json_extract(state, '$.speeds[1]') AS s FROM env" });
  assert.deepEqual(a.rows, [[2]]);

  // A new key adds a column; the earlier row has NULL there.
  await device.publishAsync('dt/d2/env', JSON.stringify({ temperature: 19, pressure: 1013 }), { qos: 1 });
  await waitForRows(t, { query: 'SELECT * FROM env' }, 2);
  const all = objects(await queryData(t, { query: 'SELECT device, temperature, pressure FROM env ORDER BY time, rowid' }));
  assert.deepEqual(all, [
    { device: 'd1', temperature: 21.5, pressure: null },
    { device: 'd2', temperature: 19, pressure: 1013 },
  ]);
});

test('dynamoDBv2: the table name is a substitution template; the database file is 0600 under telemetry/', async () => {
  await createRule('per_kind', "SELECT v FROM 'kinds/+'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'kind_${topic(2)}' } } }]);
  const device = await f.client();
  await device.publishAsync('kinds/pump', JSON.stringify({ v: 1 }), { qos: 1 });
  await device.publishAsync('kinds/valve', JSON.stringify({ v: 2 }), { qos: 1 });
  assert.deepEqual(
    objects((await waitForRows(t, { query: 'SELECT v FROM kind_valve' }, 1), await queryData(t, { query: 'SELECT v FROM kind_valve' }))),
    [{ v: 2 }],
  );
  await waitForRows(t, { query: 'SELECT v FROM kind_pump' }, 1);
  const file = join(f.server.dataDir, 'telemetry', '123456789012', 'us-east-1', 'default.db');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(join(f.server.dataDir, 'telemetry', '123456789012')).mode & 0o777, 0o700);
});

test('timestream: dimensions as columns, other keys as measures, time from timestamp{value,unit}', async () => {
  await createRule('ts_rows', "SELECT temperature, load, ts FROM 'plant/+/+'", [
    {
      timestream: {
        roleArn: ROLE,
        databaseName: 'iot_db',
        tableName: 'Machine-Metrics',
        dimensions: [
          { name: 'site', value: '${topic(2)}' },
          { name: 'machine', value: '${topic(3)}' },
        ],
        timestamp: { value: '${ts}', unit: 'SECONDS' },
      },
    },
  ]);
  const device = await f.client();
  await device.publishAsync('plant/lyon/m7', JSON.stringify({ temperature: 70.5, load: 0.8, ts: 1700000000 }), { qos: 1 });
  const [row] = await waitForRows(t, { query: 'SELECT * FROM machine_metrics', database: 'iot_db' }, 1);
  assert.deepEqual(row, {
    time: 1700000000000,
    topic: 'plant/lyon/m7',
    temperature: 70.5,
    load: 0.8,
    ts: 1700000000,
    site: 'lyon',
    machine: 'm7',
  });
  // Another database is another file: the default database has no such table.
  assert.match(
    await queryData(t, { query: 'SELECT * FROM machine_metrics' }).then(
      () => 'ok',
      (e: Error) => e.message,
    ),
    /no such table: machine_metrics/,
  );
});

test('timestream without timestamp uses the message time; a bad timestamp goes to the error action', async () => {
  await createRule('ts_msgtime', "SELECT v FROM 'mt/+'", [
    { timestream: { roleArn: ROLE, databaseName: 'iot_db', tableName: 'mtime', dimensions: [{ name: 'id', value: '${topic(2)}' }] } },
  ]);
  await createRule(
    'ts_badstamp',
    "SELECT v FROM 'bs/+'",
    [
      {
        timestream: {
          roleArn: ROLE,
          databaseName: 'iot_db',
          tableName: 'bstamp',
          dimensions: [{ name: 'id', value: 'x' }],
          timestamp: { value: '${stamp}', unit: 'MILLISECONDS' },
        },
      },
    ],
    { republish: { roleArn: ROLE, topic: 'errors/bs' } },
  );
  const errors = await f.subscriber('errors/#');
  const device = await f.client();
  const before = Date.now();
  await device.publishAsync('mt/a', JSON.stringify({ v: 1 }), { qos: 1 });
  const [row] = await waitForRows(t, { query: 'SELECT time, id, v FROM mtime', database: 'iot_db' }, 1);
  assert.ok((row!.time as number) >= before - 1000);
  await device.publishAsync('bs/a', JSON.stringify({ v: 1, stamp: 'yesterday' }), { qos: 1 });
  const err = JSON.parse((await errors.next()).payload.toString()) as {
    failures: { failedAction: string; failedResource: string; errorMessage: string }[];
  };
  assert.equal(err.failures[0]!.failedAction, 'TimestreamAction');
  assert.equal(err.failures[0]!.failedResource, 'iot_db.bstamp');
  assert.match(err.failures[0]!.errorMessage, /The timestamp 'yesterday' is not a number/);
});

test('a value that does not fit its column fails that message only, and the error action says why', async () => {
  await createRule('typed', "SELECT * FROM 'typed/+'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'typed' } } }], {
    republish: { roleArn: ROLE, topic: 'errors/typed' },
  });
  const errors = await f.subscriber('errors/typed');
  const device = await f.client();
  await device.publishAsync('typed/a', JSON.stringify({ t: 20, flag: false }), { qos: 1 });
  await waitForRows(t, { query: 'SELECT * FROM typed' }, 1);
  await device.publishAsync('typed/a', JSON.stringify({ t: 'warm' }), { qos: 1 });
  const err = JSON.parse((await errors.next()).payload.toString()) as {
    failures: { failedAction: string; failedResource: string; errorMessage: string }[];
  };
  assert.deepEqual(err.failures, [
    {
      failedAction: 'DynamoDBv2Action',
      failedResource: 'typed',
      errorMessage: "column t of table typed holds numbers, and 'warm' is not one",
    },
  ]);
  // Convertible values are converted: "22.5" into the number column, "true" into the boolean one.
  await device.publishAsync('typed/a', JSON.stringify({ t: '22.5', flag: 'true' }), { qos: 1 });
  const rows = await waitForRows(t, { query: 'SELECT t, flag FROM typed ORDER BY rowid' }, 2);
  assert.deepEqual(rows, [
    { t: 20, flag: 0 },
    { t: 22.5, flag: 1 },
  ]);
  // Output that is not an object has no columns.
  await createRule('scalar', "SELECT VALUE t FROM 'scalar/+'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'scalar' } } }], {
    republish: { roleArn: ROLE, topic: 'errors/typed' },
  });
  await device.publishAsync('scalar/a', JSON.stringify({ t: 1 }), { qos: 1 });
  const e2 = JSON.parse((await errors.next()).payload.toString()) as { failures: { errorMessage: string }[] };
  assert.match(e2.failures[0]!.errorMessage, /not a JSON object/);
});

test("AWS's validation answers; dynamoDB (v1) stays refused by name", async () => {
  assert.equal(
    await createError('v1', "SELECT * FROM 'x'", [{ dynamoDBv2: { roleArn: ROLE } as never }]),
    "InvalidRequestException: 1 validation error detected: Value null at 'topicRulePayload.actions.1.member.dynamoDBv2.putItem' failed to satisfy constraint: Member must not be null",
  );
  assert.equal(
    await createError('v2', "SELECT * FROM 'x'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'a b' } } }]),
    "InvalidRequestException: 1 validation error detected: Value 'a b' at 'topicRulePayload.actions.1.member.dynamoDBv2.putItem.tableName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]{3,255}",
  );
  assert.equal(
    await createError('v3', "SELECT * FROM 'x'", [
      { timestream: { roleArn: ROLE, databaseName: 'db1', tableName: 'tab1', dimensions: [] } },
    ]),
    "InvalidRequestException: 1 validation error detected: Value '[]' at 'topicRulePayload.actions.1.member.timestream.dimensions' failed to satisfy constraint: Member must have length greater than or equal to 1",
  );
  assert.equal(
    await createError('v4', "SELECT * FROM 'x'", [
      {
        timestream: {
          roleArn: ROLE,
          databaseName: 'db1',
          tableName: 'tab1',
          dimensions: [{ name: 'd', value: 'x' }],
          timestamp: { value: '1', unit: 'HOURS' },
        },
      },
    ]),
    "InvalidRequestException: 1 validation error detected: Value 'HOURS' at 'topicRulePayload.actions.1.member.timestream.timestamp.unit' failed to satisfy constraint: Member must satisfy enum value set: [SECONDS, MILLISECONDS, MICROSECONDS, NANOSECONDS]",
  );
  assert.equal(
    await createError('v5', "SELECT * FROM 'x'", [
      { timestream: { roleArn: ROLE, databaseName: '../../etc', tableName: 'tab1', dimensions: [{ name: 'd', value: 'x' }] } },
    ]),
    "InvalidRequestException: 1 validation error detected: Value '../../etc' at 'topicRulePayload.actions.1.member.timestream.databaseName' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]{3,256}",
  );
  assert.match(
    await createError('v6', "SELECT * FROM 'x'", [{ dynamoDB: { roleArn: ROLE, tableName: 't', hashKeyField: 'k', hashKeyValue: 'v' } }]),
    /InvalidRequestException: The dynamoDB action is not supported by Thicket.*dynamoDBv2, timestream/,
  );
});

test('hostile keys and table names are mapped, never injected; thousands of keys are refused', async () => {
  await createRule('hostile', "SELECT * FROM 'hostile/+'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: '${tbl}' } } }], {
    republish: { roleArn: ROLE, topic: 'errors/hostile' },
  });
  const errors = await f.subscriber('errors/hostile');
  const device = await f.client();
  const long = 'k'.repeat(10_000);
  const payload = {
    tbl: 'sqlite_master',
    'a"; DROP TABLE env; --': 1,
    "b'); DELETE FROM env; --": 'x',
    [long]: 2,
    [`${long}z`]: 3,
    'Température °C': 4,
    '': 5,
    '123': 6,
    time: 'not the row time',
    topic: 'not the row topic',
  };
  await device.publishAsync('hostile/a', JSON.stringify(payload), { qos: 1 });
  const [row] = await waitForRows(t, { query: 'SELECT * FROM t_sqlite_master' }, 1);
  const keys = Object.keys(row!);
  assert.ok(keys.includes('a___drop_table_env____'), keys.join(','));
  assert.ok(keys.includes('b____delete_from_env____'));
  assert.ok(keys.includes('temp_rature__c'));
  assert.ok(keys.includes('_'));
  assert.ok(keys.includes('_123'));
  assert.equal(row!.time_, 'not the row time');
  assert.equal(row!.topic, 'hostile/a');
  const longCols = keys.filter((k) => k.startsWith('kkkk'));
  assert.equal(longCols.length, 2, 'two long keys stay two columns');
  for (const k of longCols) assert.equal(k.length, 63);
  // The env table of the first test is intact.
  assert.ok(((await queryData(t, { query: 'SELECT count(*) FROM env' })).rows[0]![0]! as number) >= 2);

  // A table name that is not a DynamoDB name fails the message.
  await device.publishAsync('hostile/a', JSON.stringify({ tbl: 'x"; DROP TABLE env; --', v: 1 }), { qos: 1 });
  const e1 = JSON.parse((await errors.next()).payload.toString()) as { failures: { errorMessage: string }[] };
  assert.match(e1.failures[0]!.errorMessage, /The table name 'x"; DROP TABLE env; --' is not 3 to 255/);
  // Thousands of keys: refused, nothing written.
  const wide: Record<string, number> = { tbl: 0 };
  for (let i = 0; i < 3000; i++) wide[`k${i}`] = i;
  (wide as Record<string, unknown>).tbl = 'wide_table';
  await device.publishAsync('hostile/a', JSON.stringify(wide), { qos: 1 });
  const e2 = JSON.parse((await errors.next()).payload.toString()) as { failures: { errorMessage: string }[] };
  assert.match(e2.failures[0]!.errorMessage, /table wide_table would have more than 500 columns/);
});

test('retention: rows older than rules.retentionDays are deleted by the background task', async () => {
  await createRule('retained', "SELECT v FROM 'ret/+'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'ret' } } }]);
  const device = await f.client();
  await device.publishAsync('ret/a', JSON.stringify({ v: 1 }), { qos: 1 });
  await waitForRows(t, { query: 'SELECT * FROM ret' }, 1);
  const telemetry = f.server.platform.use('telemetry');
  assert.equal(telemetry.settings.retentionDays, 30);
  // 29 days later the row stays; 31 days later it is gone (from every table of every database).
  await telemetry.prune(Date.now() + 29 * 86_400_000);
  assert.equal((await queryData(t, { query: 'SELECT * FROM ret' })).rows.length, 1);
  const deleted = await telemetry.prune(Date.now() + 31 * 86_400_000);
  assert.ok(deleted >= 1);
  assert.equal((await queryData(t, { query: 'SELECT * FROM ret' })).rows.length, 0);
  assert.equal((await queryData(t, { query: 'SELECT * FROM machine_metrics', database: 'iot_db' })).rows.length, 0);
});

test('a templated table name cannot make more than 1,000 tables in one database', async () => {
  await createRule('many_tables', "SELECT v FROM 'many/+'", [{ dynamoDBv2: { roleArn: ROLE, putItem: { tableName: 'many_${v}' } } }], {
    republish: { roleArn: ROLE, topic: 'errors/many' },
  });
  const errors = await f.subscriber('errors/many');
  const device = await f.client();
  // Tables of the earlier tests count too: publish until the cap is hit.
  for (let i = 0; i < 1000; i++) device.publish('many/a', JSON.stringify({ v: i }), { qos: 0 });
  await device.publishAsync('many/a', JSON.stringify({ v: 'last' }), { qos: 1 });
  // A thousand CREATE TABLEs take seconds when every test file runs at once on two cores.
  const err = JSON.parse((await errors.next(60_000)).payload.toString()) as { failures: { errorMessage: string }[] };
  assert.match(err.failures[0]!.errorMessage, /this database already has 1000 tables; 'many_\d+' would be one more/);
  const n = await queryData(t, { query: "SELECT count(*) FROM sqlite_schema WHERE type = 'table'" });
  assert.equal(n.rows[0]![0], 1000);
});
