/** `thicket rules ...` against a running server, and `thicket rules test`, which needs none. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { IoTClient, ListTagsForResourceCommand } from '@aws-sdk/client-iot';
import { parseCredentialsFile } from '@thicket/server';
import { cliWithHttpServer, MAIN } from './helpers.js';

const { thicket, fails, dataDir, server } = cliWithHttpServer();
const run = promisify(execFile);

const ROLE = 'arn:aws:iam::123456789012:role/rules';
const ARN = 'arn:aws:iot:us-east-1:123456789012:rule';
const republish = (topic: string) => JSON.stringify({ republish: { roleArn: ROLE, topic } });

/** `thicket rules test ...` (no server options: it runs locally); stdout, stderr and the exit code. */
async function ruleTest(...args: string[]): Promise<{ out: string; err: string; code: number }> {
  try {
    const r = await run(process.execPath, ['--conditions=source', '--import', 'tsx', MAIN, 'rules', 'test', ...args]);
    return { out: r.stdout, err: r.stderr, code: 0 };
  } catch (e) {
    const x = e as { stdout: string; stderr: string; code: number };
    return { out: x.stdout, err: x.stderr, code: x.code };
  }
}

test('rules create (flags and tags), get, list, replace, disable, enable, delete', async () => {
  assert.equal(
    await thicket(
      'rules',
      'create',
      'hot',
      '--sql',
      "SELECT temperature FROM 'dt/+/temp' WHERE temperature > 30",
      '--action',
      republish('alerts/${topic(2)}'),
      '--action',
      republish('audit'),
      '--error-action',
      republish('rule-errors'),
      '--sql-version',
      '2016-03-23',
      '--description',
      'hot devices',
      '--tag',
      'team=iot',
      'env=lab',
    ),
    'created rule hot\n',
  );
  const got = await thicket('rules', 'get', 'hot');
  assert.match(got, /^ruleName\s+hot\n/);
  assert.match(got, new RegExp(`ruleArn\\s+${ARN}/hot\\n`));
  assert.match(got, /enabled\s+true\n/);
  assert.match(got, /awsIotSqlVersion\s+2016-03-23\n/);
  assert.match(got, /description\s+hot devices\n/);
  assert.match(got, /sql\s+SELECT temperature FROM 'dt\/\+\/temp' WHERE temperature > 30\n/);
  assert.ok(got.includes(`actions:\n  ${republish('alerts/${topic(2)}')}\n  ${republish('audit')}\n`), got);
  assert.ok(got.includes(`errorAction:\n  ${republish('rule-errors')}\n`), got);
  const json = JSON.parse(await thicket('rules', 'get', 'hot', '--json')) as { ruleArn: string; rule: Record<string, unknown> };
  assert.equal(json.ruleArn, `${ARN}/hot`);
  assert.deepEqual(json.rule.actions, [JSON.parse(republish('alerts/${topic(2)}')), JSON.parse(republish('audit'))]);

  const key = parseCredentialsFile(readFileSync(join(dataDir(), 'credentials'), 'utf8'), 'default')!;
  const iot = new IoTClient({ endpoint: `http://127.0.0.1:${server().ports.http}`, region: 'us-east-1', credentials: key });
  try {
    const tags = (await iot.send(new ListTagsForResourceCommand({ resourceArn: `${ARN}/hot` }))).tags!;
    assert.deepEqual(
      tags.sort((a, b) => a.Key!.localeCompare(b.Key!)),
      [
        { Key: 'env', Value: 'lab' },
        { Key: 'team', Value: 'iot' },
      ],
    );
  } finally {
    iot.destroy();
  }

  assert.equal(
    await thicket('rules', 'replace', 'hot', '--sql', "SELECT * FROM 'dt/+/temp'", '--action', republish('alerts/all')),
    'replaced rule hot\n',
  );
  const replaced = JSON.parse(await thicket('rules', 'get', 'hot', '--json')) as { rule: Record<string, unknown> };
  assert.equal(replaced.rule.sql, "SELECT * FROM 'dt/+/temp'");
  assert.equal(replaced.rule.awsIotSqlVersion, '2015-10-08', 'replace sends a whole payload: the version is back to the default');
  assert.equal(replaced.rule.errorAction, undefined);

  assert.equal(await thicket('rules', 'disable', 'hot'), 'disabled rule hot\n');
  const list = await thicket('rules', 'list');
  assert.match(list, /^NAME\s+TOPIC\s+ENABLED\s+CREATED\n/);
  assert.match(list, /\nhot\s+dt\/\+\/temp\s+false\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n/);
  assert.match(await thicket('rules', 'list', '--disabled'), /\nhot\s/);
  assert.doesNotMatch(await thicket('rules', 'list', '--enabled'), /\nhot\s/);
  assert.equal(await thicket('rules', 'enable', 'hot'), 'enabled rule hot\n');
  assert.match(await thicket('rules', 'list', '--topic', 'dt/+/temp'), /\nhot\s+dt\/\+\/temp\s+true\s/);
  assert.equal(await thicket('rules', 'list', '--topic', 'nothing/here'), '(none)\n');
  assert.equal(await thicket('rules', 'delete', 'hot'), 'deleted rule hot\n');
  assert.equal(await fails('rules', 'get', 'hot'), "thicket: UnauthorizedException: Access to topic rule 'hot' was denied\n");
});

test('rules create --payload @file takes a topicRulePayload (or the aws CLI input JSON); options override its fields', async () => {
  const file = join(dataDir(), 'rule.json');
  writeFileSync(
    file,
    JSON.stringify({ sql: "SELECT * FROM 'from/file'", actions: [JSON.parse(republish('out'))], awsIotSqlVersion: '2016-03-23' }),
  );
  assert.equal(
    await thicket('rules', 'create', 'from_file', '--payload', `@${file}`, '--disabled', '--description', 'd'),
    'created rule from_file\n',
  );
  const r = JSON.parse(await thicket('rules', 'get', 'from_file', '--json')) as { rule: Record<string, unknown> };
  assert.deepEqual(
    [r.rule.sql, r.rule.awsIotSqlVersion, r.rule.ruleDisabled, r.rule.description],
    ["SELECT * FROM 'from/file'", '2016-03-23', true, 'd'],
  );
  const wrapped = join(dataDir(), 'cli-input.json');
  writeFileSync(wrapped, JSON.stringify({ ruleName: 'ignored', topicRulePayload: { sql: "SELECT * FROM 'wrapped'", actions: [] } }));
  await thicket('rules', 'create', 'wrapped', '--payload', `@${wrapped}`);
  const list = JSON.parse(await thicket('rules', 'list', '--json')) as { rules: { ruleName: string; topicPattern: string }[] };
  assert.deepEqual(
    list.rules.map((x) => [x.ruleName, x.topicPattern]),
    [
      ['from_file', 'from/file'],
      ['wrapped', 'wrapped'],
    ],
  );
  await thicket('rules', 'replace', 'wrapped', '--payload', `@${wrapped}`, '--sql', "SELECT 1 AS one FROM 'wrapped/2'");
  assert.match(await thicket('rules', 'list', '--topic', 'wrapped/2'), /\nwrapped\s+wrapped\/2\s+true\s/);
});

test('rules create: AWS errors as one line; a SqlParseException shows the statement with a caret', async () => {
  // Independent failures: run at once (each is a process start).
  const [parse, typo, badName, noSql, badJson, missing] = await Promise.all([
    fails('rules', 'create', 'broken', '--sql', "SELECT temperature,\nFROM 'x'"),
    fails('rules', 'create', 'typo', '--sql', "SELECT * FROM 't'", '--action', '{"republsh":{"topic":"x"}}'),
    fails('rules', 'create', 'bad-name', '--sql', "SELECT * FROM 't'"),
    fails('rules', 'create', 'nosql'),
    fails('rules', 'create', 'badjson', '--sql', "SELECT * FROM 't'", '--action', '{nope'),
    fails('rules', 'delete', 'nosuchrule'),
  ]);
  assert.match(parse, /^thicket: SqlParseException: Syntax error at line 2, column 1: expected .* but found "F"\n {2}FROM 'x'\n {2}\^\n$/);
  assert.match(
    typo,
    /^thicket: InvalidRequestException: Unknown rule action 'republsh' in topicRulePayload\.actions\.1\.member\. Supported actions: .*republish/,
  );
  assert.match(
    badName,
    /InvalidRequestException: 1 validation error detected: Value 'bad-name' at 'ruleName' failed to satisfy constraint: Member must satisfy regular expression pattern/,
  );
  assert.equal(noSql, 'thicket: give the statement with --sql, or a whole topicRulePayload with --payload\n');
  assert.match(badJson, /^thicket: --action #1 is not valid JSON/);
  assert.equal(missing, "thicket: UnauthorizedException: Access to topic rule 'nosuchrule' was denied\n");
});

test('rules test: the output, or why there is none', async () => {
  const sql = "SELECT temperature AS t, topic(2) AS device, clientid() AS cid FROM 'dt/+/temp' WHERE temperature > 30";
  const hot = await ruleTest('--sql', sql, '--topic', 'dt/d1/temp', '--payload', '{"temperature": 35}', '--client-id', 'sensor-1');
  assert.deepEqual([hot.code, JSON.parse(hot.out)], [0, { t: 35, device: 'd1', cid: 'sensor-1' }]);
  const https = await ruleTest('--sql', sql, '--topic', 'dt/d1/temp', '--payload', '{"temperature": 35}');
  assert.equal((JSON.parse(https.out) as { cid: string }).cid, 'n/a');
  assert.equal(
    (await ruleTest('--sql', sql, '--topic', 'dt/d1/temp', '--payload', '{"temperature": 3}')).out,
    'no output: WHERE was not true\n',
  );
  assert.equal(
    (await ruleTest('--sql', sql, '--topic', 'other/d1/temp', '--payload', '{"temperature": 35}')).out,
    "no output: the FROM filter 'dt/+/temp' does not match the topic 'other/d1/temp'\n",
  );
  assert.equal(
    (await ruleTest('--sql', "SELECT VALUE missing FROM 't'", '--topic', 't', '--payload', '{}')).out,
    'no output: the result was Undefined\n',
  );
  const file = join(dataDir(), 'payload.json');
  writeFileSync(file, '{"a": {"b": [1, 2]}}');
  const json = JSON.parse(
    (await ruleTest('--sql', "SELECT get(a.b, 1) AS second FROM '#'", '--topic', 'x', '--payload', `@${file}`, '--json')).out,
  ) as Record<string, unknown>;
  assert.deepEqual(json, { topic: 'x', from: '#', matched: true, kind: 'object', errors: [], notes: [], output: { second: 2 } });
});

test('rules test: failed functions, external functions, binary payloads, Basic Ingest, MQTT 5 properties', async () => {
  const failed = await ruleTest('--sql', "SELECT regexp_matches(s, '(') AS m, s FROM 't'", '--topic', 't', '--payload', '{"s":"x"}');
  assert.equal(failed.code, 0);
  assert.match(failed.out, /^\{\n {2}"s": "x"\n\}\nfunctions that failed \(a rule's error action would run\):\n {2}regexp_matches: .+\n$/);

  const external = await ruleTest(
    '--sql',
    "SELECT get_thing_shadow('lamp', 'arn:aws:iam::123456789012:role/r').state.reported AS r, 1 AS one FROM 't'",
    '--sql-version',
    '2016-03-23',
    '--topic',
    't',
    '--payload',
    '{}',
  );
  assert.equal(
    external.out,
    'note: the statement calls get_thing_shadow(), which only the server can answer: here each call is Undefined and listed as a failed function\n' +
      '{\n  "one": 1\n}\n' +
      "functions that failed (a rule's error action would run):\n" +
      '  get_thing_shadow: get_thing_shadow() calls a service of the server; `thicket rules test` runs without one, so it is Undefined here\n',
  );

  const bin = join(dataDir(), 'payload.bin');
  const bytes = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
  writeFileSync(bin, bytes);
  const raw = await ruleTest('--sql', "SELECT * FROM 'b'", '--topic', 'b', '--payload', `@${bin}`);
  assert.equal(raw.out, `output: the payload's 4 bytes unchanged (not JSON), in base64:\n${bytes.toString('base64')}\n`);
  const encoded = await ruleTest(
    '--sql',
    "SELECT encode(*, 'base64') AS b FROM 'b'",
    '--sql-version',
    '2016-03-23',
    '--topic',
    'b',
    '--payload',
    `@${bin}`,
  );
  assert.deepEqual(JSON.parse(encoded.out), { b: bytes.toString('base64') });

  const ingest = await ruleTest('--sql', "SELECT topic() AS t FROM 'ignored'", '--topic', '$aws/rules/my_rule/plant/7', '--payload', '{}');
  assert.equal(
    ingest.out,
    "note: a Basic Ingest topic: only rule 'my_rule' gets it, the FROM filter does not apply, and topic() sees 'plant/7'\n" +
      '{\n  "t": "plant/7"\n}\n',
  );
  const props = await ruleTest(
    '--sql',
    "SELECT get_mqtt_property('content_type') AS ct, get_user_properties('k') AS k FROM 'p'",
    '--topic',
    'p',
    '--payload',
    '{}',
    '--content-type',
    'text/plain',
    '--user-property',
    'k=v1',
  );
  assert.deepEqual(JSON.parse(props.out), { ct: 'text/plain', k: ['v1'] });
});

test('rules test: a SqlParseException exits non-zero with the statement and a caret under the position', async () => {
  const r = await ruleTest('--sql', "SELECT a,\n  b +\nFROM 't'", '--topic', 't', '--payload', '{}');
  assert.equal(r.code, 1);
  assert.equal(r.out, '');
  assert.match(r.err, /^thicket: SqlParseException: Syntax error at line 3, column 1: expected .* but found "F"\n {2}FROM 't'\n {2}\^\n$/);
  const unknown = await ruleTest('--sql', "SELECT nosuch(a) FROM 't'", '--topic', 't', '--payload', '{}');
  assert.equal(unknown.code, 1);
  assert.match(unknown.err, /^thicket: SqlParseException: .*nosuch.*\n {2}SELECT nosuch\(a\) FROM 't'\n {9}\^\n$/);
  const version = await ruleTest('--sql', "SELECT * FROM 't'", '--topic', 't', '--payload', '{}', '--sql-version', '2020');
  assert.equal(version.err, 'thicket: --sql-version must be 2015-10-08, 2016-03-23 or beta, not 2020\n');
});
