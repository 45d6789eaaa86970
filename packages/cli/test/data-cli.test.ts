/** `thicket data query`: a device's message, stored by a dynamoDBv2 rule, read back as a table, JSON and CSV. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { CreateTopicRuleCommand, IoTClient } from '@aws-sdk/client-iot';
import { parseCredentialsFile } from '@thicket/server';
import { readFileSync } from 'node:fs';
import { cliWithHttpServer } from './helpers.js';

const { thicket, fails, server, dataDir } = cliWithHttpServer({ serveArgs: ['--dev', '--mqtt-port', '0'] });

async function rowsFromDevice(): Promise<void> {
  const s = server();
  const credentials = parseCredentialsFile(readFileSync(join(dataDir(), 'credentials'), 'utf8'), 'default')!;
  const iot = new IoTClient({ endpoint: `http://127.0.0.1:${s.ports.http}`, region: 'us-east-1', credentials, maxAttempts: 1 });
  try {
    await iot.send(
      new CreateTopicRuleCommand({
        ruleName: 'store',
        topicRulePayload: {
          sql: "SELECT temperature, note, topic(2) AS device FROM 'dt/+/env'",
          actions: [{ dynamoDBv2: { roleArn: 'arn:aws:iam::123456789012:role/r', putItem: { tableName: 'env' } } }],
        },
      }),
    );
  } finally {
    iot.destroy();
  }
  const device = await mqtt.connectAsync(`mqtt://127.0.0.1:${s.ports.mqtt}`, { reconnectPeriod: 0 });
  await device.publishAsync('dt/d1/env', JSON.stringify({ temperature: 21.5, note: 'plain' }), { qos: 1 });
  await device.publishAsync('dt/d2/env', JSON.stringify({ temperature: 19, note: 'has, comma and "quotes"' }), { qos: 1 });
  await device.endAsync();
}

const SQL = 'SELECT device, temperature, note FROM env ORDER BY device';

test('a device publishes; thicket data query returns the rows as a table, JSON and CSV', async () => {
  await rowsFromDevice();
  let table = '';
  for (let i = 0; i < 50 && !table.includes('d2'); i++) {
    table = await thicket('data', 'query', SQL).catch(() => '');
    if (!table.includes('d2')) await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(
    table,
    [
      'device  temperature  note',
      '------  -----------  -----------------------',
      'd1      21.5         plain',
      'd2      19           has, comma and "quotes"',
      '(2 rows)',
      '',
    ].join('\n'),
  );
  assert.deepEqual(JSON.parse(await thicket('data', 'query', SQL, '--format', 'json')), [
    { device: 'd1', temperature: 21.5, note: 'plain' },
    { device: 'd2', temperature: 19, note: 'has, comma and "quotes"' },
  ]);
  assert.equal(
    await thicket('data', 'query', SQL, '--format', 'csv'),
    'device,temperature,note\r\nd1,21.5,plain\r\nd2,19,"has, comma and ""quotes"""\r\n',
  );
  // --limit, the query from a file, and the raw API answer with --json.
  const file = join(dataDir(), 'q.sql');
  writeFileSync(file, SQL);
  const raw = JSON.parse(await thicket('data', 'query', `@${file}`, '--limit', '1', '--json')) as {
    database: string;
    columns: string[];
    rows: unknown[][];
    truncated: boolean;
  };
  assert.deepEqual(raw, {
    database: 'default',
    columns: ['device', 'temperature', 'note'],
    rows: [['d1', 21.5, 'plain']],
    truncated: true,
  });
});

test('thicket data tables lists the tables and their column types', async () => {
  assert.equal(await thicket('data', 'tables'), 'env: time time, topic text, temperature number, note text, device text\n');
  assert.equal(await thicket('data', 'tables', '--database', 'empty'), '(no tables in database empty)\n');
});

test('refusals are one readable line', async () => {
  assert.match(await fails('data', 'query', 'DELETE FROM env'), /^thicket: InvalidRequestException: Only queries that read are allowed/);
  assert.match(await fails('data', 'query', 'SELECT 1', '--database', 'nope'), /ResourceNotFoundException: Database 'nope' does not exist/);
  assert.match(await fails('data', 'query', 'SELECT 1', '--format', 'xml'), /--format must be one of table, json, csv/);
  assert.match(
    await fails('data', 'query', 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c', '--timeout', '1'),
    /^thicket: InvalidRequestException: The query ran longer than 1 seconds and was stopped\n$/,
  );
  assert.match(await fails('data', 'query', 'SELECT 1', '--timeout', '3600'), /Value '3600' at 'timeoutSeconds' failed to satisfy constraint/);
});
