/**
 * The topic-rule control plane through the official @aws-sdk/client-iot, the `aws` CLI and raw
 * signed requests: exact fields and AWS's messages, name validation with hostile names, SQL errors
 * with their position, action checks, listing filters and paging, tags on the rule ARN.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  CreateTopicRuleCommand,
  DeleteTopicRuleCommand,
  DisableTopicRuleCommand,
  EnableTopicRuleCommand,
  GetTopicRuleCommand,
  ListTagsForResourceCommand,
  ListTopicRulesCommand,
  ReplaceTopicRuleCommand,
  TagResourceCommand,
  UntagResourceCommand,
  type TopicRulePayload,
} from '@aws-sdk/client-iot';
import { signedFetch, type AdminRequest } from '@thicket/server';
import { awsError } from './helpers.js';
import { rulesFixture, type RulesFixture } from './rules-helpers.js';

const run = promisify(execFile);
const ACCOUNT = '123456789012';
const ARN = `arn:aws:iot:us-east-1:${ACCOUNT}:rule`;
const ROLE = `arn:aws:iam::${ACCOUNT}:role/rules`;

let f: RulesFixture;
before(async () => {
  f = await rulesFixture();
});
after(() => f.close());

const republish = (topic: string) => ({ republish: { roleArn: ROLE, topic } });

function create(ruleName: string, payload: Partial<TopicRulePayload> & Record<string, unknown>, tags?: string) {
  return f.iot.send(new CreateTopicRuleCommand({ ruleName, topicRulePayload: payload as TopicRulePayload, tags }));
}

/** A signed request with a body as written (the SDK drops action keys it does not model); the AWS error or the JSON answer. */
async function raw(
  method: AdminRequest['method'],
  path: string,
  body?: unknown,
): Promise<{ status: number; type: string | null; message: string; json: Record<string, unknown> }> {
  const res = await signedFetch({
    endpoint: `http://127.0.0.1:${f.server.ports.http}`,
    region: 'us-east-1',
    credentials: f.server.adminKey,
    method,
    path,
    body,
  });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {}
  return { status: res.status, type: res.headers.get('x-amzn-errortype'), message: (json.message as string) ?? text, json };
}

test('Create, Get, List, Replace, Disable, Enable, Delete with exact fields', async () => {
  const before = Date.now() / 1000;
  await create('crud_rule', {
    sql: "SELECT temperature FROM 'crud/+/t' WHERE temperature > 1",
    description: 'first',
    actions: [republish('crud/out')],
    errorAction: republish('crud/errors'),
    awsIotSqlVersion: '2016-03-23',
  });
  const got = await f.iot.send(new GetTopicRuleCommand({ ruleName: 'crud_rule' }));
  assert.equal(got.ruleArn, `${ARN}/crud_rule`);
  const created = got.rule!.createdAt!;
  assert.ok(created.getTime() / 1000 >= Math.floor(before) && created.getTime() <= Date.now(), `createdAt ${created.toISOString()}`);
  assert.deepEqual(got.rule, {
    ruleName: 'crud_rule',
    sql: "SELECT temperature FROM 'crud/+/t' WHERE temperature > 1",
    description: 'first',
    createdAt: created,
    actions: [{ republish: { roleArn: ROLE, topic: 'crud/out' } }],
    ruleDisabled: false,
    awsIotSqlVersion: '2016-03-23',
    errorAction: { republish: { roleArn: ROLE, topic: 'crud/errors' } },
  });
  const listed = await f.iot.send(new ListTopicRulesCommand({ topic: 'crud/+/t' }));
  assert.deepEqual(listed.rules, [
    { ruleArn: `${ARN}/crud_rule`, ruleName: 'crud_rule', topicPattern: 'crud/+/t', createdAt: created, ruleDisabled: false },
  ]);
  assert.equal(listed.nextToken, undefined);

  await f.iot.send(
    new ReplaceTopicRuleCommand({ ruleName: 'crud_rule', topicRulePayload: { sql: "SELECT * FROM 'crud/replaced'", actions: [] } }),
  );
  const replaced = (await f.iot.send(new GetTopicRuleCommand({ ruleName: 'crud_rule' }))).rule!;
  assert.deepEqual(replaced, {
    ruleName: 'crud_rule',
    sql: "SELECT * FROM 'crud/replaced'",
    createdAt: created,
    actions: [],
    ruleDisabled: false,
    awsIotSqlVersion: '2015-10-08',
  });

  await f.iot.send(new DisableTopicRuleCommand({ ruleName: 'crud_rule' }));
  assert.equal((await f.iot.send(new GetTopicRuleCommand({ ruleName: 'crud_rule' }))).rule!.ruleDisabled, true);
  await f.iot.send(new DisableTopicRuleCommand({ ruleName: 'crud_rule' })); // idempotent
  await f.iot.send(new EnableTopicRuleCommand({ ruleName: 'crud_rule' }));
  assert.equal((await f.iot.send(new GetTopicRuleCommand({ ruleName: 'crud_rule' }))).rule!.ruleDisabled, false);

  assert.deepEqual(await awsError(create('crud_rule', { sql: "SELECT * FROM 'x'", actions: [] })), {
    name: 'ResourceAlreadyExistsException',
    message: "Topic rule 'crud_rule' already exists",
    status: 409,
  });
  await f.iot.send(new DeleteTopicRuleCommand({ ruleName: 'crud_rule' }));
  const denied = { name: 'UnauthorizedException', message: "Access to topic rule 'crud_rule' was denied", status: 401 };
  assert.deepEqual(await awsError(f.iot.send(new GetTopicRuleCommand({ ruleName: 'crud_rule' }))), denied);
  assert.deepEqual(await awsError(f.iot.send(new DeleteTopicRuleCommand({ ruleName: 'crud_rule' }))), denied);
  assert.deepEqual(await awsError(f.iot.send(new EnableTopicRuleCommand({ ruleName: 'crud_rule' }))), denied);
  assert.deepEqual(await awsError(f.iot.send(new DisableTopicRuleCommand({ ruleName: 'crud_rule' }))), denied);
  assert.deepEqual(
    await awsError(
      f.iot.send(new ReplaceTopicRuleCommand({ ruleName: 'crud_rule', topicRulePayload: { sql: "SELECT * FROM 'x'", actions: [] } })),
    ),
    denied,
  );
});

test('GetTopicRule of a rule that never existed: UnauthorizedException', async () => {
  assert.deepEqual(await awsError(f.iot.send(new GetTopicRuleCommand({ ruleName: 'never_was' }))), {
    name: 'UnauthorizedException',
    message: "Access to topic rule 'never_was' was denied",
    status: 401,
  });
});

test('awsIotSqlVersion defaults to 2015-10-08 and GetTopicRule echoes what was stored', async () => {
  await create('default_version', { sql: "SELECT * FROM 'v/t'", actions: [] });
  assert.equal((await f.iot.send(new GetTopicRuleCommand({ ruleName: 'default_version' }))).rule!.awsIotSqlVersion, '2015-10-08');
  await create('beta_version', { sql: "SELECT * FROM 'v/t'", actions: [], awsIotSqlVersion: 'beta' });
  assert.equal((await f.iot.send(new GetTopicRuleCommand({ ruleName: 'beta_version' }))).rule!.awsIotSqlVersion, 'beta');
  // A 2016-03-23 feature under the default version is a parse error, as on AWS.
  const e = await awsError(create('needs_2016', { sql: "SELECT encode(*, 'base64') AS b FROM 'v/t'", actions: [] }));
  assert.equal(e.name, 'SqlParseException');
  assert.equal(e.status, 400);
  assert.deepEqual(await awsError(create('bad_version', { sql: "SELECT * FROM 'v/t'", actions: [], awsIotSqlVersion: '2020-01-01' })), {
    name: 'SqlParseException',
    message: "Unsupported awsIotSqlVersion '2020-01-01': use 2015-10-08, 2016-03-23 or beta",
    status: 400,
  });
});

const pattern = (v: string) =>
  `1 validation error detected: Value '${v}' at 'ruleName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9_]+$`;

test('rule names: length and pattern, through the SDK', async () => {
  const long = 'a'.repeat(129);
  assert.deepEqual(await awsError(create(long, { sql: "SELECT * FROM 'n'", actions: [] })), {
    name: 'InvalidRequestException',
    message: `1 validation error detected: Value '${long}' at 'ruleName' failed to satisfy constraint: Member must have length less than or equal to 128`,
    status: 400,
  });
  await create('a'.repeat(128), { sql: "SELECT * FROM 'n'", actions: [] });
  for (const name of ['with-dash', 'with space', 'dot.ted', 'ünï', '../etc', 'a/b']) {
    assert.deepEqual(await awsError(create(name, { sql: "SELECT * FROM 'n'", actions: [] })), {
      name: 'InvalidRequestException',
      message: pattern(name),
      status: 400,
    });
    assert.equal((await awsError(f.iot.send(new GetTopicRuleCommand({ ruleName: name })))).name, 'InvalidRequestException');
  }
});

test('hostile names in the path get InvalidRequestException, never a crash, and create nothing', async () => {
  const cases: [string, string][] = [
    ['%00', pattern('\u0000')],
    ['a%00b', pattern('a\u0000b')],
    ['..%2F..%2Fetc%2Fpasswd', pattern('../../etc/passwd')],
    ['a%0D%0AX-Injected:%201', pattern('a\r\nX-Injected: 1')],
    ['%E2%80%AE', pattern('\u202e')],
    ['%ZZ', "The request path '/rules/%ZZ' has a malformed percent-escape"],
    ['x'.repeat(2000), 'long'],
    ['x'.repeat(5000), 'too long'],
  ];
  for (const [name, message] of cases) {
    for (const method of ['GET', 'POST', 'PATCH', 'DELETE'] as const) {
      const body = method === 'POST' || method === 'PATCH' ? { sql: "SELECT * FROM 'h'", actions: [] } : undefined;
      const r = await raw(method, `/rules/${name}`, body);
      assert.deepEqual([r.status, r.type], [400, 'InvalidRequestException'], `${method} ${name.slice(0, 40)}: ${r.message}`);
      if (message === 'long') {
        // The echoed value is cut short: a 2,000-character name must not come back in full in every error.
        assert.match(
          r.message,
          /^1 validation error detected: Value 'x{200,300}\.\.\.' at 'ruleName' failed to satisfy constraint: Member must have length less than or equal to 128$/,
        );
      } else if (message === 'too long') {
        assert.match(r.message, /^A label of the request path '\/rules\/x+\.\.\.' is longer than 2048 characters/);
      } else assert.equal(r.message, message, `${method} ${name.slice(0, 40)}`);
    }
    // The same through the enable/disable sub-resources.
    const enable = await raw('POST', `/rules/${name}/enable`);
    assert.deepEqual([enable.status, enable.type], [400, 'InvalidRequestException'], `enable ${name.slice(0, 40)}`);
  }
  assert.deepEqual(
    (await f.iot.send(new ListTopicRulesCommand({}))).rules!.filter((r) => !/^[a-zA-Z0-9_]+$/.test(r.ruleName!)),
    [],
  );
  // Still serving.
  assert.equal((await f.iot.send(new GetTopicRuleCommand({ ruleName: 'default_version' }))).rule!.ruleName, 'default_version');
});

test('SqlParseException names the line and column; the rule is not created', async () => {
  const sql = "SELECT temperature\nFROM 'p/t'\nWHERE temperature >> 3";
  const e = await awsError(create('bad_sql', { sql, actions: [] }));
  assert.equal(e.name, 'SqlParseException');
  assert.equal(e.status, 400);
  assert.match(e.message, /^Syntax error at line 3, column 20: expected .* but found ">"$/);
  const unknown = await awsError(create('bad_sql', { sql: "SELECT nosuchfunction(a) FROM 'p/t'", actions: [] }));
  assert.equal(unknown.name, 'SqlParseException');
  assert.match(unknown.message, /^Error at line 1, column 8: /);
  assert.match(unknown.message, /nosuchfunction/);
  assert.equal((await awsError(f.iot.send(new GetTopicRuleCommand({ ruleName: 'bad_sql' })))).name, 'UnauthorizedException');
  // Replace with bad SQL leaves the rule as it was.
  await create('keeps_sql', { sql: "SELECT * FROM 'p/ok'", actions: [] });
  assert.equal(
    (
      await awsError(
        f.iot.send(new ReplaceTopicRuleCommand({ ruleName: 'keeps_sql', topicRulePayload: { sql: 'SELECT FROM', actions: [] } })),
      )
    ).name,
    'SqlParseException',
  );
  assert.equal((await f.iot.send(new GetTopicRuleCommand({ ruleName: 'keeps_sql' }))).rule!.sql, "SELECT * FROM 'p/ok'");
});

test('a FROM topic filter that is not a valid MQTT filter is a SqlParseException, not a rule that never runs', async () => {
  const cases: [string, string][] = [
    [
      "SELECT * FROM '#/a'",
      `Error at line 1, column 16: The FROM topic filter '#/a' is not valid: topic filter "#/a": "#" must be the last level`,
    ],
    [
      "SELECT * FROM 'a/b+'",
      `Error at line 1, column 16: The FROM topic filter 'a/b+' is not valid: topic filter "a/b+": a wildcard must occupy a whole level`,
    ],
    ["SELECT *\nFROM ''", "Error at line 2, column 7: The FROM topic filter '' is not valid: topic filter must not be empty"],
    [
      "SELECT * FROM '$share/g/t'",
      "Error at line 1, column 16: The FROM topic filter '$share/g/t' is not valid: a rule cannot use a shared subscription",
    ],
  ];
  for (const [sql, message] of cases) {
    assert.deepEqual(await awsError(create('bad_from', { sql, actions: [] })), { name: 'SqlParseException', message, status: 400 }, sql);
  }
  await create('good_from', { sql: "SELECT * FROM '+/a/#'", actions: [] });
  assert.deepEqual(
    await awsError(
      f.iot.send(new ReplaceTopicRuleCommand({ ruleName: 'good_from', topicRulePayload: { sql: "SELECT * FROM 'a/#/b'", actions: [] } })),
    ),
    {
      name: 'SqlParseException',
      message: `Error at line 1, column 16: The FROM topic filter 'a/#/b' is not valid: topic filter "a/#/b": "#" must be the last level`,
      status: 400,
    },
  );
});

test('payload checks: sql and actions required, at most 10 actions, unknown and AWS-only action keys refused by name', async () => {
  const noSql = await raw('POST', '/rules/no_sql', { actions: [] });
  assert.deepEqual(
    [noSql.status, noSql.type, noSql.message],
    [
      400,
      'InvalidRequestException',
      "1 validation error detected: Value null at 'topicRulePayload.sql' failed to satisfy constraint: Member must not be null",
    ],
  );
  const noActions = await raw('POST', '/rules/no_actions', { sql: "SELECT * FROM 'a'" });
  assert.equal(
    noActions.message,
    "1 validation error detected: Value null at 'topicRulePayload.actions' failed to satisfy constraint: Member must not be null",
  );
  const eleven = await awsError(
    create('eleven', { sql: "SELECT * FROM 'a'", actions: Array.from({ length: 11 }, (_, i) => republish(`o/${i}`)) }),
  );
  assert.deepEqual(eleven, {
    name: 'InvalidRequestException',
    message:
      "1 validation error detected: Value '[11 actions]' at 'topicRulePayload.actions' failed to satisfy constraint: Member must have length less than or equal to 10",
    status: 400,
  });
  await create('ten', { sql: "SELECT * FROM 'a'", actions: Array.from({ length: 10 }, (_, i) => republish(`o/${i}`)) });

  const unknown = await raw('POST', '/rules/unknown_action', {
    sql: "SELECT * FROM 'a'",
    actions: [{ republsh: { topic: 'x', roleArn: ROLE } }],
  });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.type, 'InvalidRequestException');
  assert.match(unknown.message, /^Unknown rule action 'republsh' in topicRulePayload\.actions\.1\.member\. Supported actions: .*republish/);
  for (const key of ['sqs', 'kinesis', 'salesforce']) {
    const e = await raw('POST', `/rules/aws_only_${key}`, { sql: "SELECT * FROM 'a'", actions: [{ [key]: { roleArn: ROLE } }] });
    assert.equal(e.type, 'InvalidRequestException', key);
    assert.match(
      e.message,
      new RegExp(
        `^The ${key} action is not supported by Thicket: it needs an AWS service this server does not have\\. Supported actions: `,
      ),
    );
  }
  const two = await raw('POST', '/rules/two_keys', { sql: "SELECT * FROM 'a'", actions: [{ ...republish('x'), sqs: {} }] });
  assert.match(two.message, /must name exactly one action .* not republish, sqs$/);
  const unknownError = await raw('POST', '/rules/unknown_error', { sql: "SELECT * FROM 'a'", actions: [], errorAction: { nope: {} } });
  assert.match(unknownError.message, /^Unknown rule action 'nope' in topicRulePayload\.errorAction\./);
  for (const name of ['no_sql', 'no_actions', 'eleven', 'unknown_action', 'aws_only_sqs', 'two_keys', 'unknown_error']) {
    assert.equal((await awsError(f.iot.send(new GetTopicRuleCommand({ ruleName: name })))).name, 'UnauthorizedException', name);
  }
  const notJson = await raw('POST', '/rules/not_json', 'SELECT * FROM a');
  assert.equal(notJson.status, 400);
});

test('oversized and deeply nested statements get an answer, not a stuck or crashed server', async () => {
  const big = await raw('POST', '/rules/too_big', { sql: 'SELECT ' + 'a,'.repeat(1_000_000) + "a FROM 't'", actions: [] });
  assert.deepEqual([big.status, big.type], [413, 'RequestEntityTooLargeException']);
  for (const sql of [
    'SELECT ' + '('.repeat(50_000) + 'a' + ')'.repeat(50_000) + " FROM 't'",
    'SELECT ' + 'NOT '.repeat(100_000) + "a FROM 't'",
    'SELECT ' + 'a+'.repeat(100_000) + "a FROM 't'",
  ]) {
    const r = await raw('POST', '/rules/too_deep', { sql, actions: [] });
    assert.deepEqual(
      [r.status, r.type, r.message],
      [400, 'SqlParseException', 'Error at line 1, column 1: The statement is nested too deeply to be parsed'],
      sql.slice(0, 20),
    );
  }
  const template = await raw('POST', '/rules/deep_template', {
    sql: "SELECT * FROM 't'",
    actions: [{ republish: { roleArn: ROLE, topic: '${' + '('.repeat(50_000) + '1' + ')'.repeat(50_000) + '}' } }],
  });
  assert.equal(template.type, 'InvalidRequestException');
  assert.equal((await awsError(f.iot.send(new GetTopicRuleCommand({ ruleName: 'too_deep' })))).name, 'UnauthorizedException');
});

test('an error action template that calls an external function is refused', async () => {
  const e = await awsError(
    create('external_error', {
      sql: "SELECT * FROM 'ext/t'",
      awsIotSqlVersion: '2016-03-23',
      actions: [republish('ext/out')],
      errorAction: republish("errors/${get_thing_shadow('t', 'arn:aws:iam::123456789012:role/r').state}"),
    }),
  );
  assert.deepEqual(e, {
    name: 'InvalidRequestException',
    message:
      'The substitution template in topicRulePayload.errorAction.republish.topic calls an external function, which an error action may not do',
    status: 400,
  });
  const lambda = await awsError(
    create('external_error', {
      sql: "SELECT * FROM 'ext/t'",
      actions: [],
      errorAction: republish("${aws_lambda('arn:aws:lambda:us-east-1:123456789012:function:f', {})}"),
    }),
  );
  assert.equal(lambda.name, 'InvalidRequestException');
  // The same template in a normal action is allowed; plain functions in the error action too.
  await create('external_ok', {
    sql: "SELECT * FROM 'ext/t'",
    awsIotSqlVersion: '2016-03-23',
    actions: [republish("out/${get_thing_shadow('t', 'arn:aws:iam::123456789012:role/r').state.x}")],
    errorAction: republish('errors/${topic()}/${upper(clientid())}'),
  });
});

test('ListTopicRules: topic filter (exact), ruleDisabled, paging with maxResults and nextToken', async () => {
  for (let i = 0; i < 5; i++) {
    await create(`page_${i}`, { sql: `SELECT * FROM 'page/${i % 2 === 0 ? 'even' : 'odd'}'`, actions: [], ruleDisabled: i === 3 });
  }
  await create('page_basic', { sql: 'SELECT *', actions: [] });
  const byTopic = await f.iot.send(new ListTopicRulesCommand({ topic: 'page/even' }));
  assert.deepEqual(
    byTopic.rules!.map((r) => r.ruleName),
    ['page_0', 'page_2', 'page_4'],
  );
  assert.deepEqual((await f.iot.send(new ListTopicRulesCommand({ topic: 'page/+' }))).rules, [], 'the filter is matched exactly');
  const disabled = await f.iot.send(new ListTopicRulesCommand({ ruleDisabled: true }));
  assert.deepEqual(
    disabled.rules!.map((r) => [r.ruleName, r.topicPattern, r.ruleDisabled]),
    [['page_3', 'page/odd', true]],
  );
  const basic = (await f.iot.send(new ListTopicRulesCommand({}))).rules!.find((r) => r.ruleName === 'page_basic')!;
  assert.equal(basic.topicPattern, undefined, 'a rule without FROM has no topicPattern');

  const names: string[] = [];
  let nextToken: string | undefined;
  let pages = 0;
  do {
    const page = await f.iot.send(new ListTopicRulesCommand({ maxResults: 2, nextToken }));
    assert.ok(page.rules!.length <= 2);
    names.push(...page.rules!.map((r) => r.ruleName!));
    nextToken = page.nextToken;
    pages++;
  } while (nextToken);
  const all = (await f.iot.send(new ListTopicRulesCommand({}))).rules!.map((r) => r.ruleName!);
  assert.deepEqual(names, all);
  assert.deepEqual(names, [...all].sort());
  assert.equal(pages, Math.ceil(all.length / 2));
  const evenPage = await f.iot.send(new ListTopicRulesCommand({ topic: 'page/even', maxResults: 2 }));
  assert.deepEqual(
    evenPage.rules!.map((r) => r.ruleName),
    ['page_0', 'page_2'],
  );
  const evenRest = await f.iot.send(new ListTopicRulesCommand({ topic: 'page/even', maxResults: 2, nextToken: evenPage.nextToken }));
  assert.deepEqual(
    evenRest.rules!.map((r) => r.ruleName),
    ['page_4'],
  );
  assert.equal(evenRest.nextToken, undefined);

  for (const [q, message] of [
    ['maxResults=0', "maxResults must be a whole number from 1 to 10000, not '0'"],
    ['maxResults=10001', "maxResults must be a whole number from 1 to 10000, not '10001'"],
    ['nextToken=garbage%00', 'The nextToken is not valid'],
    ['ruleDisabled=maybe', "ruleDisabled must be true or false, not 'maybe'"],
  ] as const) {
    const r = await raw('GET', `/rules?${q}`);
    assert.deepEqual([r.status, r.type, r.message], [400, 'InvalidRequestException', message], q);
  }
});

test('tags: x-amz-tagging at create, TagResource, ListTagsForResource, UntagResource on the rule ARN; gone with the rule', async () => {
  const arn = `${ARN}/tagged`;
  await create('tagged', { sql: "SELECT * FROM 'tags/t'", actions: [] }, 'team=iot&env=test%20lab');
  const tags = async () =>
    ((await f.iot.send(new ListTagsForResourceCommand({ resourceArn: arn }))).tags ?? []).sort((a, b) => a.Key!.localeCompare(b.Key!));
  assert.deepEqual(await tags(), [
    { Key: 'env', Value: 'test lab' },
    { Key: 'team', Value: 'iot' },
  ]);
  await f.iot.send(
    new TagResourceCommand({
      resourceArn: arn,
      tags: [
        { Key: 'owner', Value: 'ops' },
        { Key: 'env', Value: 'prod' },
      ],
    }),
  );
  assert.deepEqual(await tags(), [
    { Key: 'env', Value: 'prod' },
    { Key: 'owner', Value: 'ops' },
    { Key: 'team', Value: 'iot' },
  ]);
  await f.iot.send(new UntagResourceCommand({ resourceArn: arn, tagKeys: ['team'] }));
  assert.deepEqual(
    (await tags()).map((t) => t.Key),
    ['env', 'owner'],
  );
  // Replace keeps tags (they belong to the ARN); delete removes them.
  await f.iot.send(
    new ReplaceTopicRuleCommand({ ruleName: 'tagged', topicRulePayload: { sql: "SELECT 1 AS one FROM 'tags/t'", actions: [] } }),
  );
  assert.equal((await tags()).length, 2);
  await f.iot.send(new DeleteTopicRuleCommand({ ruleName: 'tagged' }));
  assert.equal(
    (await awsError(f.iot.send(new TagResourceCommand({ resourceArn: arn, tags: [{ Key: 'a', Value: 'b' }] })))).name,
    'ResourceNotFoundException',
  );
  await create('tagged', { sql: "SELECT * FROM 'tags/t'", actions: [] });
  assert.deepEqual(await tags(), [], 'a new rule of the same name starts without the old tags');
  const badTag = await awsError(create('bad_tags', { sql: "SELECT * FROM 'tags/t'", actions: [] }, `${'k'.repeat(129)}=v`));
  assert.equal(badTag.name, 'InvalidRequestException');
  assert.equal((await awsError(f.iot.send(new GetTopicRuleCommand({ ruleName: 'bad_tags' })))).name, 'UnauthorizedException');
});

test('a tag value over 256 characters is refused at CreateTopicRule and TagResource; 256 is accepted', async () => {
  const long = await awsError(create('long_tag', { sql: "SELECT * FROM 'tags/t'", actions: [] }, `team=${'v'.repeat(257)}`));
  assert.equal(long.name, 'InvalidRequestException');
  assert.match(long.message, /The value of tag 'team' is longer than 256 characters/);
  assert.equal((await awsError(f.iot.send(new GetTopicRuleCommand({ ruleName: 'long_tag' })))).name, 'UnauthorizedException');
  await create('long_tag', { sql: "SELECT * FROM 'tags/t'", actions: [] }, `team=${'v'.repeat(256)}`);
  const tagged = await awsError(
    f.iot.send(new TagResourceCommand({ resourceArn: `${ARN}/long_tag`, tags: [{ Key: 'more', Value: 'w'.repeat(257) }] })),
  );
  assert.equal(tagged.name, 'InvalidRequestException');
  assert.match(tagged.message, /tags\.1\.member\.Value' failed to satisfy constraint: Member must have length less than or equal to 256/);
  const tags = (await f.iot.send(new ListTagsForResourceCommand({ resourceArn: `${ARN}/long_tag` }))).tags;
  assert.deepEqual(tags, [{ Key: 'team', Value: 'v'.repeat(256) }]);
});

test('the aws CLI: create-topic-rule (with tags), get-topic-rule, list-topic-rules, replace, disable, delete', async () => {
  const env = {
    ...process.env,
    AWS_SHARED_CREDENTIALS_FILE: f.server.credentialsPath,
    AWS_CONFIG_FILE: '/dev/null',
    AWS_PROFILE: 'default',
  };
  const endpoint = `http://127.0.0.1:${f.server.ports.http}`;
  const aws = async (...args: string[]): Promise<Record<string, unknown>> => {
    const out = (await run('aws', ['iot', ...args, '--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json'], { env }))
      .stdout;
    return out.trim() ? (JSON.parse(out) as Record<string, unknown>) : {};
  };
  const payload = {
    sql: "SELECT temperature AS t FROM 'cli/+/temp' WHERE temperature > 30",
    actions: [republish('cli/alerts/${topic(2)}')],
  };
  assert.deepEqual(
    await aws('create-topic-rule', '--rule-name', 'from_cli', '--topic-rule-payload', JSON.stringify(payload), '--tags', 'src=cli'),
    {},
  );
  const got = await aws('get-topic-rule', '--rule-name', 'from_cli');
  assert.equal(got.ruleArn, `${ARN}/from_cli`);
  const rule = got.rule as Record<string, unknown>;
  assert.deepEqual(
    { ...rule, createdAt: typeof rule.createdAt },
    {
      ruleName: 'from_cli',
      sql: payload.sql,
      createdAt: 'number',
      actions: payload.actions,
      ruleDisabled: false,
      awsIotSqlVersion: '2015-10-08',
    },
  );
  const listed = (await aws('list-topic-rules', '--topic', 'cli/+/temp')).rules as Record<string, unknown>[];
  assert.deepEqual(
    listed.map((r) => [r.ruleName, r.topicPattern, r.ruleDisabled, r.ruleArn]),
    [['from_cli', 'cli/+/temp', false, `${ARN}/from_cli`]],
  );
  assert.deepEqual((await aws('list-tags-for-resource', '--resource-arn', `${ARN}/from_cli`)).tags, [{ Key: 'src', Value: 'cli' }]);
  await aws(
    'replace-topic-rule',
    '--rule-name',
    'from_cli',
    '--topic-rule-payload',
    JSON.stringify({ ...payload, awsIotSqlVersion: '2016-03-23' }),
  );
  assert.equal(((await aws('get-topic-rule', '--rule-name', 'from_cli')).rule as Record<string, unknown>).awsIotSqlVersion, '2016-03-23');
  await aws('disable-topic-rule', '--rule-name', 'from_cli');
  assert.deepEqual(
    ((await aws('list-topic-rules', '--rule-disabled')).rules as Record<string, unknown>[]).map((r) => r.ruleName).includes('from_cli'),
    true,
  );
  await aws('delete-topic-rule', '--rule-name', 'from_cli');
  const failed = await run(
    'aws',
    ['iot', 'get-topic-rule', '--rule-name', 'from_cli', '--endpoint-url', endpoint, '--region', 'us-east-1'],
    { env },
  ).then(
    () => '',
    (e: { stderr: string }) => e.stderr,
  );
  assert.match(failed, /\(UnauthorizedException\) when calling the GetTopicRule operation: Access to topic rule 'from_cli' was denied/);
  const parse = await run(
    'aws',
    [
      'iot',
      'create-topic-rule',
      '--rule-name',
      'cli_bad',
      '--topic-rule-payload',
      JSON.stringify({ sql: 'SELECT * FROM', actions: [] }),
      '--endpoint-url',
      endpoint,
      '--region',
      'us-east-1',
    ],
    { env },
  ).then(
    () => '',
    (e: { stderr: string }) => e.stderr,
  );
  assert.match(parse, /\(SqlParseException\) when calling the CreateTopicRule operation: Syntax error at line 1, column 14: /);
});
