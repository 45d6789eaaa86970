import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compilePolicies,
  iotResourceArn,
  parsePolicyDocument,
  PolicyDocumentError,
  validatePolicyDocument,
  type CompileOptions,
  type PolicyDocument,
  type PolicyVariables,
} from '../src/policies/engine/index.js';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';
const ARN = `arn:aws:iot:${REGION}:${ACCOUNT}`;
const topic = (name: string) => iotResourceArn(REGION, ACCOUNT, 'topic', name);
const filter = (name: string) => iotResourceArn(REGION, ACCOUNT, 'topicfilter', name);
const client = (name: string) => iotResourceArn(REGION, ACCOUNT, 'client', name);

type Statement = Record<string, unknown>;

/** Round-trips through the parser so every test also exercises validation. */
function doc(statements: Statement[], version: string | null = '2012-10-17'): PolicyDocument {
  return parsePolicyDocument(JSON.stringify(version === null ? { Statement: statements } : { Version: version, Statement: statements }));
}

function compile(statements: Statement[], vars: PolicyVariables = {}, options?: CompileOptions) {
  return compilePolicies([doc(statements)], vars, options);
}

function parseError(text: string, options?: { maxChars?: number }): PolicyDocumentError {
  try {
    parsePolicyDocument(text, options);
  } catch (err) {
    assert.ok(err instanceof PolicyDocumentError, `expected PolicyDocumentError, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected ${JSON.stringify(text)} to be rejected`);
}

const statementError = (statement: unknown) => parseError(JSON.stringify({ Version: '2012-10-17', Statement: [statement] })).message;

const allow = (action: string | string[], resource: string | string[], extra: Statement = {}): Statement => ({
  Effect: 'Allow',
  Action: action,
  Resource: resource,
  ...extra,
});

// ---------------------------------------------------------------------------------------------
// Parsing and validation

test('JSON syntax errors carry line and column in the message and on the error', () => {
  const err = parseError('{\n  "Version": "2012-10-17",\n    }');
  assert.equal(err.message, 'Policy document is not valid JSON: Unexpected token } at line 3, column 5');
  assert.equal(err.line, 3);
  assert.equal(err.column, 5);
  assert.ok(err instanceof Error);
  assert.equal(err.name, 'PolicyDocumentError');

  const cases: [string, string][] = [
    ['', 'Unexpected end of input at line 1, column 1'],
    ['{"Version": "2012-10-17"', 'Unexpected end of input at line 1, column 25'],
    ['{"a": tru}', 'Unexpected token } at line 1, column 10'],
    ['{"a" 1}', 'Unexpected token 1 at line 1, column 6'],
    ['{"a": 01}', 'Unexpected token 1 at line 1, column 8'],
    ['{"a": "x\ny"}', 'Bad control character in string literal at line 1, column 9'],
    ['{"a": "\\q"}', 'Bad escaped character at line 1, column 8'],
    ['{\n"a": "open', 'Unterminated string at line 2, column 6'],
    ['{} {}', 'Unexpected non-whitespace character { after JSON at line 1, column 4'],
    ['[1,\r\n 2,]', 'Unexpected token ] at line 2, column 4'],
  ];
  for (const [text, expected] of cases) assert.equal(parseError(text).message, `Policy document is not valid JSON: ${expected}`, text);
});

test('statement validation errors name the problem', () => {
  assert.match(statementError({ Action: 'iot:Connect', Resource: '*' }), /missing the required element "Effect"/);
  assert.match(statementError({ Effect: 'allow', Action: 'iot:Connect', Resource: '*' }), /invalid Effect "allow"/);
  assert.match(statementError({ Effect: 'Allow', Action: 'iot:Publsh', Resource: '*' }), /unknown action name "Publsh"/);
  assert.match(statementError({ Effect: 'Allow', Action: ['iot:Connect', 'iot:Subscribee'], Resource: '*' }), /"iot:Subscribee"/);
  assert.match(statementError({ Effect: 'Allow', Action: 'Publish', Resource: '*' }), /Invalid action "Publish"/);
  assert.match(statementError({ Effect: 'Allow', Action: 's3:GetObject', Resource: '*' }), /unsupported service prefix "s3"/);
  assert.match(statementError({ Effect: 'Allow', Action: 'iot:Pub/lish', Resource: '*' }), /Invalid action/);
  assert.match(statementError({ Effect: 'Allow', Action: [], Resource: '*' }), /Action must not be empty/);
  assert.match(statementError({ Effect: 'Allow', Action: [1], Resource: '*' }), /non-empty string/);
  assert.match(statementError({ Effect: 'Allow', Resource: '*' }), /missing the required element "Action"/);
  assert.match(statementError({ Effect: 'Allow', Action: '*', NotAction: 'iot:Connect', Resource: '*' }), /both "Action" and "NotAction"/);
  assert.match(statementError({ Effect: 'Allow', Action: '*' }), /missing the required element "Resource"/);
  assert.match(statementError({ Effect: 'Allow', Action: '*', Resource: '*', NotResource: '*' }), /both "Resource" and "NotResource"/);
  assert.match(statementError({ Effect: 'Allow', Action: '*', Resource: 'topic/a' }), /must be an ARN or "\*"/);
  assert.match(statementError({ Effect: 'Allow', Action: '*', Resource: '*', Principal: '*' }), /Principal is not supported/);
  assert.match(statementError({ Effect: 'Allow', Action: '*', Resource: '*', Effects: 'Deny' }), /unknown element "Effects"/);
  assert.match(statementError('Allow'), /Statement must be a JSON object/);
});

test('condition validation: unknown operators are named, literal values are type-checked', () => {
  const withCondition = (condition: unknown) => statementError({ Effect: 'Allow', Action: '*', Resource: '*', Condition: condition });
  assert.match(withCondition({ StringEqualz: { 'iot:ClientId': 'a' } }), /Unknown condition operator "StringEqualz"/);
  assert.match(withCondition({ 'ForSomeValues:StringEquals': { k: 'a' } }), /Unknown condition operator "ForSomeValues:StringEquals"/);
  assert.match(withCondition({ NullIfExists: { k: 'true' } }), /Unknown condition operator "NullIfExists"/);
  assert.match(withCondition({ BinaryEquals: { k: 'QUJD' } }), /Unknown condition operator "BinaryEquals"/);
  assert.match(withCondition({ constructor: { k: 'a' } }), /Unknown condition operator "constructor"/);
  assert.match(withCondition({ 'ForAnyValue:toStringIfExists': { k: 'a' } }), /Unknown condition operator/);
  assert.match(withCondition({ NumericLessThan: { k: 'ten' } }), /Invalid value "ten" for condition operator NumericLessThan/);
  assert.match(withCondition({ DateGreaterThan: { k: 'yesterday' } }), /Invalid value "yesterday"/);
  assert.match(withCondition({ Bool: { k: 'yes' } }), /expected "true" or "false"/);
  assert.match(withCondition({ IpAddress: { 'aws:SourceIp': '10.0.0.0/33' } }), /IPv4 or IPv6 address or CIDR/);
  assert.match(withCondition({ Null: { k: 'maybe' } }), /expected "true" or "false"/);
  assert.match(withCondition({ StringEquals: { k: { nested: true } } }), /must be strings, numbers or booleans/);
  assert.match(withCondition({ StringEquals: 'k' }), /must map condition keys to values/);
  assert.match(withCondition(['StringEquals']), /Condition must be a JSON object/);
  assert.match(
    parseError('{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*", "Condition": {"StringEquals": {"__proto__": "x"}}}}')
      .message,
    /invalid condition key "__proto__"/,
  );
});

test('document validation: Version, Statement, size limit counted without whitespace', () => {
  assert.match(parseError('[]').message, /must be a JSON object/);
  assert.match(parseError('{"Version": "2012-10-17"}').message, /missing the required element "Statement"/);
  assert.match(parseError('{"Version": "2012-10-17", "Statement": []}').message, /Statement must not be empty/);
  assert.match(parseError('{"Version": "2020-01-01", "Statement": {}}').message, /invalid Version "2020-01-01"/);
  assert.match(parseError('{"Version": "2012-10-17", "Statement": [], "Extra": 1}').message, /unknown element "Extra"/);

  const statement = { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/${'a'.repeat(2000)}` };
  const big = JSON.stringify({ Version: '2012-10-17', Statement: [statement] });
  assert.ok(big.length > 2048);
  const err = parseError(big);
  assert.match(err.message, new RegExp(`too large: ${big.length} characters excluding whitespace, the limit is 2048`));
  assert.equal(err.line, undefined);
  assert.doesNotThrow(() => parsePolicyDocument(big, { maxChars: 4096 }));

  // Whitespace is free: 3000 characters of indentation do not count.
  const padding = ' \t\r\n'.repeat(750);
  const small = `{${padding}"Version": "2012-10-17",${padding}"Statement": [{"Effect": "Allow", "Action": "iot:Connect", "Resource": "*"}]}`;
  assert.ok(small.length > 3000);
  assert.equal(parsePolicyDocument(small).Statement.length, 1);
  assert.match(parseError(small, { maxChars: 20 }).message, /the limit is 20/);
});

test('parsing normalises: single statement and strings become lists, condition scalars strings, Version defaults to 2008-10-17', () => {
  const parsed = parsePolicyDocument(
    JSON.stringify({
      Statement: {
        Sid: 'one',
        Effect: 'Allow',
        Action: 'iot:Connect',
        Resource: '*',
        Condition: { NumericLessThan: { 'x:n': 5 }, Bool: { 'x:b': true }, 'ForAllValues:StringEquals': { 'iot:ConnectAttributes': [] } },
      },
    }),
  );
  assert.deepEqual(parsed, {
    Version: '2008-10-17',
    Statement: [
      {
        Sid: 'one',
        Effect: 'Allow',
        Action: ['iot:Connect'],
        Resource: ['*'],
        Condition: {
          NumericLessThan: { 'x:n': ['5'] },
          Bool: { 'x:b': ['true'] },
          'ForAllValues:StringEquals': { 'iot:ConnectAttributes': [] },
        },
      },
    ],
  });
  // Objects decoded elsewhere (custom authorizer responses) validate the same way.
  assert.deepEqual(validatePolicyDocument(JSON.parse(JSON.stringify(parsed))), parsed);
  assert.throws(() => validatePolicyDocument({ Statement: { Effect: 'Allow' } }), PolicyDocumentError);
});

test('actions: case-insensitive, wildcards, Greengrass device actions, unknown actions at evaluation', () => {
  const set = compile([allow(['IOT:publish', 'iot:Get*', 'iot:?eceive', 'greengrass:Discover'], '*')]);
  assert.equal(set.evaluate('iot:Publish', topic('a')), 'allow');
  assert.equal(set.evaluate('iot:PUBLISH', topic('a')), 'allow');
  assert.equal(set.evaluate('iot:GetThingShadow', '*'), 'allow');
  assert.equal(set.evaluate('iot:GetRetainedMessage', topic('a')), 'allow');
  assert.equal(set.evaluate('iot:Receive', topic('a')), 'allow');
  assert.equal(set.evaluate('greengrass:Discover', '*'), 'allow');
  assert.equal(set.evaluate('iot:Subscribe', filter('a')), 'default-deny');
  assert.equal(set.evaluate('iot:UpdateThingShadow', '*'), 'default-deny');

  const all = compile([allow('*', '*')]);
  assert.equal(all.evaluate('iot:SomethingNew', '*'), 'allow');
  assert.equal(compile([allow('iot:*', '*')]).evaluate('greengrass:Discover', '*'), 'default-deny');
});

// ---------------------------------------------------------------------------------------------
// Resource wildcards

test('resource wildcards: * crosses /, ? is one character, + # and regex characters are literal', () => {
  const set = compile([
    allow('iot:Publish', [`${ARN}:topic/a/*`, `${ARN}:topic/q/?`, `${ARN}:topic/dot.ted`, `${ARN}:topic/$aws/things/t1/shadow/update`]),
    allow('iot:Subscribe', [`${ARN}:topicfilter/s/+/x`, `${ARN}:topicfilter/h/#`]),
  ]);
  assert.equal(set.evaluate('iot:Publish', topic('a/b/c/d')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('a/')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('a')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('ab')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', `x${topic('a/b')}`), 'default-deny', 'patterns are anchored at the start');
  assert.equal(set.evaluate('iot:Publish', `${topic('q/z')}z`), 'default-deny', 'and at the end');
  assert.equal(set.evaluate('iot:Publish', topic('q/z')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('q/é')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('q/😀')), 'allow', '? is one code point, not one UTF-16 unit');
  assert.equal(set.evaluate('iot:Publish', topic('q/zz')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('q/')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('dot.ted')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('dotXted')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('$aws/things/t1/shadow/update')), 'allow');
  assert.equal(set.evaluate('iot:Subscribe', filter('s/+/x')), 'allow');
  assert.equal(set.evaluate('iot:Subscribe', filter('s/y/x')), 'default-deny');
  assert.equal(set.evaluate('iot:Subscribe', filter('h/#')), 'allow');
  assert.equal(set.evaluate('iot:Subscribe', filter('h/x')), 'default-deny');
  // A different region or account is a different resource.
  assert.equal(set.evaluate('iot:Publish', iotResourceArn('eu-west-1', ACCOUNT, 'topic', 'a/b')), 'default-deny');
});

test('iotResourceArn builds the ARNs of every device resource kind', () => {
  assert.equal(iotResourceArn('us-east-1', '123', 'client', 'dev-1'), 'arn:aws:iot:us-east-1:123:client/dev-1');
  assert.equal(
    iotResourceArn('us-east-1', '123', 'topic', '$aws/things/t/shadow/get'),
    'arn:aws:iot:us-east-1:123:topic/$aws/things/t/shadow/get',
  );
  assert.equal(iotResourceArn('us-east-1', '123', 'topicfilter', 'a/+/#'), 'arn:aws:iot:us-east-1:123:topicfilter/a/+/#');
  assert.equal(iotResourceArn('us-east-1', '123', 'thing', 't/named'), 'arn:aws:iot:us-east-1:123:thing/t/named');
  assert.equal(iotResourceArn('cn-north-1', '123', 'rolealias', 'r'), 'arn:aws-cn:iot:cn-north-1:123:rolealias/r');
});

// ---------------------------------------------------------------------------------------------
// Policy variables

test('variables: client id, thing name, attributes and certificate subject are substituted', () => {
  const set = compile(
    [
      allow('iot:Connect', `${ARN}:client/\${iot:ClientId}`),
      allow('iot:Publish', [
        `${ARN}:topic/things/\${iot:Connection.Thing.ThingName}/*`,
        `${ARN}:topic/rooms/\${iot:Connection.Thing.Attributes[room]}`,
      ]),
      allow('iot:Subscribe', `${ARN}:topicfilter/cn/\${iot:Certificate.Subject.CommonName}/\${iot:Connection.Thing.ThingTypeName}`),
      allow('iot:AssumeRoleWithCertificate', `${ARN}:rolealias/\${iot:Connection.Thing.Attributes[role]}`),
    ],
    {
      'iot:ClientId': 'dev-1',
      'iot:Connection.Thing.ThingName': 'thing-1',
      'iot:Connection.Thing.ThingTypeName': 'lamp',
      'iot:Connection.Thing.Attributes[room]': 'kitchen',
      'iot:Certificate.Subject.CommonName': 'Device One',
      'iot:Connection.Thing.Attributes[role]': 'uploader',
    },
  );
  assert.equal(set.evaluate('iot:Connect', client('dev-1')), 'allow');
  assert.equal(set.evaluate('iot:Connect', client('dev-2')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('things/thing-1/telemetry')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('things/thing-2/telemetry')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('rooms/kitchen')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('rooms/hall')), 'default-deny');
  assert.equal(set.evaluate('iot:Subscribe', filter('cn/Device One/lamp')), 'allow');
  assert.equal(set.evaluate('iot:AssumeRoleWithCertificate', iotResourceArn(REGION, ACCOUNT, 'rolealias', 'uploader')), 'allow');
});

test('an unresolved variable makes its resource entry match nothing, and leaves the other entries alone', () => {
  const statements = [
    allow('iot:Publish', [`${ARN}:topic/rooms/\${iot:Connection.Thing.Attributes[room]}/*`, `${ARN}:topic/common`]),
    allow('iot:Subscribe', `${ARN}:topicfilter/\${iot:Connection.Thing.ThingName}/*`),
    allow('iot:Receive', `${ARN}:topic/\${custom:tenant}/*`),
  ];
  const set = compile(statements, { 'iot:ClientId': 'dev-1' });
  assert.equal(set.evaluate('iot:Publish', topic('rooms//x')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('rooms/${iot:Connection.Thing.Attributes[room]}/x')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('common')), 'allow');
  assert.equal(set.evaluate('iot:Subscribe', filter('/x')), 'default-deny');
  assert.equal(set.evaluate('iot:Receive', topic('/x')), 'default-deny');
  // Custom-authorizer context arrives as ordinary variables.
  assert.equal(compile(statements, { 'custom:tenant': 'acme' }).evaluate('iot:Receive', topic('acme/x')), 'allow');
  // An empty multi-valued attribute is unresolved too; a non-empty one resolves to its first value.
  assert.equal(compile(statements, { 'custom:tenant': [] }).evaluate('iot:Receive', topic('/x')), 'default-deny');
  const multi = compile(statements, { 'custom:tenant': ['first', 'second'] });
  assert.equal(multi.evaluate('iot:Receive', topic('first/x')), 'allow');
  assert.equal(multi.evaluate('iot:Receive', topic('second/x')), 'default-deny');
});

test('an unresolved variable in a NotResource entry excludes nothing (AWS leaves unmatched text behind)', () => {
  const set = compile([
    allow('iot:Publish', `${ARN}:topic/*`),
    { Effect: 'Deny', Action: 'iot:Publish', NotResource: `${ARN}:topic/\${iot:ClientId}/*` },
  ]);
  assert.equal(set.evaluate('iot:Publish', topic('x/y')), 'deny');
  const withId = compilePolicies(
    [
      doc([
        allow('iot:Publish', `${ARN}:topic/*`),
        { Effect: 'Deny', Action: 'iot:Publish', NotResource: `${ARN}:topic/\${iot:ClientId}/*` },
      ]),
    ],
    { 'iot:ClientId': 'x' },
  );
  assert.equal(withId.evaluate('iot:Publish', topic('x/y')), 'allow');
  assert.equal(withId.evaluate('iot:Publish', topic('z/y')), 'deny');
});

test('escapes ${*} ${?} ${$} are literal characters; unterminated ${ is text', () => {
  const set = compile(
    [
      allow('iot:Publish', [
        `${ARN}:topic/star/\${*}`,
        `${ARN}:topic/q/\${?}`,
        `${ARN}:topic/d/\${$}{x}`,
        `${ARN}:topic/open/\${iot:ClientId`,
      ]),
    ],
    {
      'iot:ClientId': 'c',
    },
  );
  assert.equal(set.evaluate('iot:Publish', topic('star/*')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('star/anything')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('q/?')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('q/a')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('d/${x}')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('open/${iot:ClientId')), 'allow');
});

test('Version 2008-10-17 (also the default) does not substitute variables', () => {
  const statements = [allow('iot:Connect', `${ARN}:client/\${iot:ClientId}`)];
  for (const version of ['2008-10-17', null]) {
    const set = compilePolicies([doc(statements, version)], { 'iot:ClientId': 'dev-1' });
    assert.equal(set.evaluate('iot:Connect', client('dev-1')), 'default-deny');
    assert.equal(set.evaluate('iot:Connect', client('${iot:ClientId}')), 'allow');
  }
});

// ---------------------------------------------------------------------------------------------
// Security: variable values never act as wildcards

test('client id "*" or "?" cannot widen a topic resource', () => {
  const statements = [allow('iot:Publish', [`${ARN}:topic/devices/\${iot:ClientId}`, `${ARN}:topic/devices/\${iot:ClientId}/*`])];
  const star = compile(statements, { 'iot:ClientId': '*' });
  assert.equal(star.evaluate('iot:Publish', topic('devices/other')), 'default-deny');
  assert.equal(star.evaluate('iot:Publish', topic('devices/other/x')), 'default-deny');
  assert.equal(star.evaluate('iot:Publish', topic('devices/*')), 'allow', 'its own literal topic');
  assert.equal(star.evaluate('iot:Publish', topic('devices/*/x')), 'allow');
  const question = compile(statements, { 'iot:ClientId': '?' });
  assert.equal(question.evaluate('iot:Publish', topic('devices/a')), 'default-deny');
  assert.equal(question.evaluate('iot:Publish', topic('devices/?')), 'allow');
  const mixed = compile(statements, { 'iot:ClientId': 'a.*(b)' });
  assert.equal(mixed.evaluate('iot:Publish', topic('devices/aX*(b)')), 'default-deny');
  assert.equal(mixed.evaluate('iot:Publish', topic('devices/a.*(b)')), 'allow');
});

test('client id "+" or "#": AWS substitutes literally, so only the identical literal filter matches; Receive stays scoped', () => {
  const statements = [
    allow('iot:Subscribe', `${ARN}:topicfilter/devices/\${iot:ClientId}/#`),
    allow('iot:Receive', `${ARN}:topic/devices/\${iot:ClientId}/*`),
  ];
  const plus = compile(statements, { 'iot:ClientId': '+' });
  // The substitution yields topicfilter/devices/+/#, which matches the filter string "devices/+/#" and nothing else.
  assert.equal(plus.evaluate('iot:Subscribe', filter('devices/+/#')), 'allow');
  assert.equal(plus.evaluate('iot:Subscribe', filter('devices/other/#')), 'default-deny');
  assert.equal(plus.evaluate('iot:Subscribe', filter('devices/#')), 'default-deny');
  // Deliveries for that wide MQTT subscription are checked per topic, and "+" is literal there too.
  assert.equal(plus.evaluate('iot:Receive', topic('devices/other/telemetry')), 'default-deny');
  assert.equal(plus.evaluate('iot:Receive', topic('devices/+/telemetry')), 'allow');

  const hash = compile(statements, { 'iot:ClientId': '#' });
  assert.equal(hash.evaluate('iot:Subscribe', filter('devices/#/#')), 'allow');
  assert.equal(hash.evaluate('iot:Subscribe', filter('devices/x/#')), 'default-deny');

  // strictVariableValues refuses such values outright, so the filter is not granted at all.
  const strict = compile(statements, { 'iot:ClientId': '+' }, { strictVariableValues: true });
  assert.equal(strict.evaluate('iot:Subscribe', filter('devices/+/#')), 'default-deny');
  assert.equal(
    compile(statements, { 'iot:ClientId': 'dev' }, { strictVariableValues: true }).evaluate('iot:Subscribe', filter('devices/dev/#')),
    'allow',
  );
});

test('certificate variables holding * $ + ? # or over 1024 characters are not substituted (AWS rule)', () => {
  const statements = [allow('iot:Publish', `${ARN}:topic/cn/\${iot:Certificate.Subject.CommonName}`)];
  for (const cn of ['a*', 'a$b', 'a+', 'a?', '#', 'x'.repeat(1025)]) {
    assert.equal(
      compile(statements, { 'iot:Certificate.Subject.CommonName': cn }).evaluate('iot:Publish', topic(`cn/${cn}`)),
      'default-deny',
      cn,
    );
  }
  const ok = 'x'.repeat(1024);
  assert.equal(compile(statements, { 'iot:Certificate.Subject.CommonName': ok }).evaluate('iot:Publish', topic(`cn/${ok}`)), 'allow');
  // The same characters in a client id are substituted (literally).
  const byClient = compile([allow('iot:Publish', `${ARN}:topic/c/\${iot:ClientId}`)], { 'iot:ClientId': 'a$b' });
  assert.equal(byClient.evaluate('iot:Publish', topic('c/a$b')), 'allow');
});

// ---------------------------------------------------------------------------------------------
// Evaluation: Deny, NotAction, NotResource

test('explicit Deny beats Allow across documents, whatever their order', () => {
  const allowAll = doc([allow(['iot:Publish', 'iot:Receive'], `${ARN}:topic/*`)]);
  const denySecret = doc([{ Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/secret/*` }]);
  for (const docs of [
    [allowAll, denySecret],
    [denySecret, allowAll],
  ]) {
    const set = compilePolicies(docs, {});
    assert.equal(set.evaluate('iot:Publish', topic('secret/x')), 'deny');
    assert.equal(set.isAllowed('iot:Publish', topic('secret/x')), false);
    assert.equal(set.evaluate('iot:Receive', topic('secret/x')), 'allow');
    assert.equal(set.evaluate('iot:Publish', topic('public/x')), 'allow');
    assert.equal(set.isAllowed('iot:Publish', topic('public/x')), true);
  }
  // Deny alone is still reported as an explicit deny; no statement at all is a default deny.
  assert.equal(compilePolicies([denySecret], {}).evaluate('iot:Publish', topic('secret/a')), 'deny');
  assert.equal(compilePolicies([denySecret], {}).evaluate('iot:Publish', topic('other')), 'default-deny');
  assert.equal(compilePolicies([], {}).evaluate('iot:Connect', client('a')), 'default-deny');
});

test('NotAction and NotResource follow IAM semantics', () => {
  const set = compile([
    { Effect: 'Allow', NotAction: ['iot:Publish', 'iot:Get*'], Resource: '*' },
    { Effect: 'Allow', Action: 'iot:Publish', NotResource: [`${ARN}:topic/admin/*`, `${ARN}:topic/ops`] },
    { Effect: 'Deny', NotAction: 'iot:Receive', Resource: `${ARN}:topic/readonly/*` },
  ]);
  assert.equal(set.evaluate('iot:Subscribe', filter('x')), 'allow');
  assert.equal(set.evaluate('iot:GetThingShadow', iotResourceArn(REGION, ACCOUNT, 'thing', 't')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('x/y')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('admin/y')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('ops')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('readonly/a')), 'deny');
  assert.equal(set.evaluate('iot:Receive', topic('readonly/a')), 'allow');
});

// ---------------------------------------------------------------------------------------------
// Conditions

const onConnect = (condition: Statement, vars: PolicyVariables = {}, options?: CompileOptions) =>
  compile([allow('iot:Connect', '*', { Condition: condition })], vars, options);

test('string operators, multiple values (OR), keys and operators (AND), case-insensitive key names', () => {
  const set = onConnect({
    StringEquals: { 'iot:ClientId': ['a', 'b'], 'iot:DomainName': 'iot.example.com' },
    StringLike: { 'x:model': 'lamp-*' },
  });
  const ctx = { 'iot:ClientId': 'a', 'iot:DomainName': 'iot.example.com', 'x:model': 'lamp-2' };
  assert.equal(set.evaluate('iot:Connect', client('a'), ctx), 'allow');
  assert.equal(set.evaluate('iot:Connect', client('a'), { ...ctx, 'iot:ClientId': 'b' }), 'allow');
  assert.equal(set.evaluate('iot:Connect', client('a'), { ...ctx, 'iot:ClientId': 'c' }), 'default-deny');
  assert.equal(set.evaluate('iot:Connect', client('a'), { ...ctx, 'iot:DomainName': 'other' }), 'default-deny');
  assert.equal(set.evaluate('iot:Connect', client('a'), { ...ctx, 'x:model': 'fan-2' }), 'default-deny');
  assert.equal(
    set.evaluate('iot:Connect', client('a'), { 'IOT:CLIENTID': 'a', 'iot:domainname': 'iot.example.com', 'X:Model': 'lamp-' }),
    'allow',
  );

  const cases: [string, string, string, boolean][] = [
    ['StringEquals', 'Abc', 'Abc', true],
    ['StringEquals', 'Abc', 'abc', false],
    ['StringNotEquals', 'Abc', 'abc', true],
    ['StringNotEquals', 'Abc', 'Abc', false],
    ['StringEqualsIgnoreCase', 'Abc', 'aBC', true],
    ['StringEqualsIgnoreCase', 'Abc', 'abd', false],
    ['StringNotEqualsIgnoreCase', 'Abc', 'aBC', false],
    ['StringNotEqualsIgnoreCase', 'Abc', 'abd', true],
    ['StringLike', 'a?c*', 'abc/def', true],
    ['StringLike', 'a?c*', 'ac', false],
    ['StringLike', 'A*', 'abc', false],
    ['StringNotLike', 'a*', 'abc', false],
    ['StringNotLike', 'a*', 'bcd', true],
  ];
  for (const [op, value, actual, expected] of cases) {
    const decision = onConnect({ [op]: { 'x:k': value } }).evaluate('iot:Connect', '*', { 'x:k': actual });
    assert.equal(decision, expected ? 'allow' : 'default-deny', `${op} ${value} vs ${actual}`);
  }
});

test('keys and variables are own properties only, never Object.prototype members', () => {
  const set = onConnect({ StringLike: { constructor: '*' } });
  assert.equal(set.evaluate('iot:Connect', '*', {}), 'default-deny');
  assert.equal(set.evaluate('iot:Connect', '*', { constructor: 'x' }), 'allow');
  const byVariable = compile([allow('iot:Publish', `${ARN}:topic/\${toString}/*`)]);
  assert.equal(byVariable.evaluate('iot:Publish', topic('function toString() { [native code] }/x')), 'default-deny');
  assert.equal(byVariable.evaluate('iot:Publish', topic('/x')), 'default-deny');
});

test('a missing key fails positive operators, satisfies negated ones and every ...IfExists', () => {
  const cases: [string, string, boolean][] = [
    ['StringEquals', 'a', false],
    ['StringNotEquals', 'a', true],
    ['StringLike', '*', false],
    ['StringNotLike', 'a', true],
    ['NumericLessThan', '5', false],
    ['NumericNotEquals', '5', true],
    ['DateNotEquals', '2020-01-01T00:00:00Z', true],
    ['Bool', 'true', false],
    ['IpAddress', '10.0.0.0/8', false],
    ['NotIpAddress', '10.0.0.0/8', true],
    ['StringEqualsIfExists', 'a', true],
    ['NumericLessThanIfExists', '5', true],
    ['BoolIfExists', 'true', true],
  ];
  for (const [op, value, expected] of cases) {
    const set = onConnect({ [op]: { 'x:absent': value } });
    assert.equal(set.evaluate('iot:Connect', '*', {}), expected ? 'allow' : 'default-deny', op);
  }
  // ...IfExists still checks a key that is present.
  const ifExists = onConnect({ StringEqualsIfExists: { 'x:k': 'a' } });
  assert.equal(ifExists.evaluate('iot:Connect', '*', { 'x:k': 'a' }), 'allow');
  assert.equal(ifExists.evaluate('iot:Connect', '*', { 'x:k': 'b' }), 'default-deny');
});

test('numeric operators compare numbers and numeric strings', () => {
  const cases: [string, number | string, boolean][] = [
    ['NumericEquals', 10, true],
    ['NumericEquals', '10.0', true],
    ['NumericEquals', 11, false],
    ['NumericNotEquals', 11, true],
    ['NumericNotEquals', 10, false],
    ['NumericLessThan', 9.5, true],
    ['NumericLessThan', 10, false],
    ['NumericLessThanEquals', 10, true],
    ['NumericLessThanEquals', 11, false],
    ['NumericGreaterThan', 11, true],
    ['NumericGreaterThan', 10, false],
    ['NumericGreaterThanEquals', 10, true],
    ['NumericGreaterThanEquals', '9', false],
    ['NumericEquals', 'ten', false],
  ];
  for (const [op, actual, expected] of cases) {
    const decision = onConnect({ [op]: { 'x:n': '10' } }).evaluate('iot:Connect', '*', { 'x:n': actual });
    assert.equal(decision, expected ? 'allow' : 'default-deny', `${op} ${actual}`);
  }
});

test('date operators: ISO 8601 and epoch seconds, aws:CurrentTime from the context or the clock', () => {
  const cases: [string, string | number, boolean][] = [
    ['DateEquals', '2024-06-01T12:00:00Z', true],
    ['DateEquals', 1717243200, true],
    ['DateNotEquals', '2024-06-01T12:00:01Z', true],
    ['DateLessThan', '2024-06-01T11:59:59Z', true],
    ['DateLessThan', '2024-06-01T12:00:00Z', false],
    ['DateLessThanEquals', '2024-06-01T12:00:00Z', true],
    ['DateGreaterThan', '2024-06-02', true],
    ['DateGreaterThan', '2024-06-01T12:00:00Z', false],
    ['DateGreaterThanEquals', '2024-06-01T12:00:00.000Z', true],
    ['DateGreaterThanEquals', 'not a date', false],
  ];
  for (const [op, actual, expected] of cases) {
    const decision = onConnect({ [op]: { 'aws:CurrentTime': '2024-06-01T12:00:00Z' } }).evaluate('iot:Connect', '*', {
      'aws:CurrentTime': actual,
    });
    assert.equal(decision, expected ? 'allow' : 'default-deny', `${op} ${actual}`);
  }
  assert.equal(
    onConnect({ DateLessThan: { 'x:d': '1717243200' } }).evaluate('iot:Connect', '*', { 'x:d': '2024-06-01T11:00:00Z' }),
    'allow',
  );

  // Without a context value the clock is used, and time-dependent decisions are not memoised.
  let now = Date.parse('2030-01-01T00:00:00Z');
  const set = onConnect(
    { DateLessThan: { 'aws:CurrentTime': '2030-06-01T00:00:00Z' }, NumericLessThan: { 'aws:EpochTime': '1906000000' } },
    {},
    { now: () => now },
  );
  assert.equal(set.evaluate('iot:Connect', client('a')), 'allow');
  now = Date.parse('2030-07-01T00:00:00Z');
  assert.equal(set.evaluate('iot:Connect', client('a')), 'default-deny');
});

test('Bool accepts booleans and strings, from the context or the connection variables', () => {
  const set = onConnect({ Bool: { 'iot:Connection.Thing.IsAttached': 'true' } });
  assert.equal(set.evaluate('iot:Connect', '*', { 'iot:Connection.Thing.IsAttached': true }), 'allow');
  assert.equal(set.evaluate('iot:Connect', '*', { 'iot:Connection.Thing.IsAttached': 'TRUE' }), 'allow');
  assert.equal(set.evaluate('iot:Connect', '*', { 'iot:Connection.Thing.IsAttached': false }), 'default-deny');
  assert.equal(set.evaluate('iot:Connect', '*', { 'iot:Connection.Thing.IsAttached': 'yes' }), 'default-deny');
  assert.equal(
    onConnect({ Bool: { 'iot:Connection.Thing.IsAttached': true } }, { 'iot:Connection.Thing.IsAttached': 'true' }).evaluate(
      'iot:Connect',
      '*',
    ),
    'allow',
  );
  assert.equal(
    onConnect({ Bool: { 'iot:Connection.Thing.IsAttached': 'false' } }, { 'iot:Connection.Thing.IsAttached': 'false' }).evaluate(
      'iot:Connect',
      '*',
    ),
    'allow',
  );
  // The request context wins over the connection variables.
  const both = onConnect({ Bool: { 'iot:Connection.Thing.IsAttached': 'true' } }, { 'iot:Connection.Thing.IsAttached': 'true' });
  assert.equal(both.evaluate('iot:Connect', '*', { 'iot:Connection.Thing.IsAttached': false }), 'default-deny');
});

test('IpAddress / NotIpAddress with IPv4 and IPv6 CIDR blocks, single addresses and IPv4-mapped sources', () => {
  const set = onConnect({ IpAddress: { 'aws:SourceIp': ['203.0.113.0/24', '198.51.100.7', '2001:db8:1234::/48', '::1'] } });
  const decide = (ip: string) => set.evaluate('iot:Connect', '*', { 'aws:SourceIp': ip });
  assert.equal(decide('203.0.113.200'), 'allow');
  assert.equal(decide('203.0.114.1'), 'default-deny');
  assert.equal(decide('198.51.100.7'), 'allow');
  assert.equal(decide('198.51.100.8'), 'default-deny');
  assert.equal(decide('::ffff:203.0.113.9'), 'allow', 'what a dual-stack socket reports for IPv4 peers');
  assert.equal(decide('2001:db8:1234:ffff::1'), 'allow');
  assert.equal(decide('2001:DB8:1234:0:0:0:0:1'), 'allow');
  assert.equal(decide('2001:db8:1235::1'), 'default-deny');
  assert.equal(decide('::1'), 'allow');
  assert.equal(decide('fe80::1%eth0'), 'default-deny');
  assert.equal(decide('not-an-ip'), 'default-deny');

  const deny = compile([
    allow('iot:Connect', '*'),
    { Effect: 'Deny', Action: 'iot:Connect', Resource: '*', Condition: { NotIpAddress: { 'aws:SourceIp': ['10.0.0.0/8', 'fd00::/8'] } } },
  ]);
  assert.equal(deny.evaluate('iot:Connect', '*', { 'aws:SourceIp': '10.1.2.3' }), 'allow');
  assert.equal(deny.evaluate('iot:Connect', '*', { 'aws:SourceIp': 'fd12::5' }), 'allow');
  assert.equal(deny.evaluate('iot:Connect', '*', { 'aws:SourceIp': '192.0.2.1' }), 'deny');
  assert.equal(deny.evaluate('iot:Connect', '*', { 'aws:SourceIp': '2001:db8::1' }), 'deny');
  assert.equal(
    onConnect({ IpAddress: { 'aws:SourceIp': '0.0.0.0/0' } }).evaluate('iot:Connect', '*', { 'aws:SourceIp': '8.8.8.8' }),
    'allow',
  );
});

test('Null tests presence only', () => {
  const absent = onConnect({ Null: { 'x:k': 'true' } });
  assert.equal(absent.evaluate('iot:Connect', '*', {}), 'allow');
  assert.equal(absent.evaluate('iot:Connect', '*', { 'x:k': [] }), 'allow');
  assert.equal(absent.evaluate('iot:Connect', '*', { 'x:k': 'v' }), 'default-deny');
  const present = onConnect({ Null: { 'x:k': false } });
  assert.equal(present.evaluate('iot:Connect', '*', { 'x:k': '' }), 'allow');
  assert.equal(present.evaluate('iot:Connect', '*', {}), 'default-deny');
});

test('iot:ConnectAttributes with ForAllValues / ForAnyValue, as in the AWS connect-policy examples', () => {
  const attrs = (...values: string[]) => ({ 'iot:ConnectAttributes': values });
  // "allows connect with PersistentConnect" — any subset of [PersistentConnect].
  const allOnlyPersistent = onConnect({ 'ForAllValues:StringEquals': attrs('PersistentConnect') });
  assert.equal(allOnlyPersistent.evaluate('iot:Connect', '*', attrs()), 'allow');
  assert.equal(allOnlyPersistent.evaluate('iot:Connect', '*', {}), 'allow');
  assert.equal(allOnlyPersistent.evaluate('iot:Connect', '*', attrs('PersistentConnect')), 'allow');
  assert.equal(allOnlyPersistent.evaluate('iot:Connect', '*', attrs('PersistentConnect', 'LastWill')), 'default-deny');
  // "only default features" — an empty policy list.
  const defaults = onConnect({ 'ForAllValues:StringEquals': attrs() });
  assert.equal(defaults.evaluate('iot:Connect', '*', attrs()), 'allow');
  assert.equal(defaults.evaluate('iot:Connect', '*', attrs('LastWill')), 'default-deny');
  // "disallows PersistentConnect, other features allowed".
  const notPersistent = onConnect({ 'ForAllValues:StringNotEquals': attrs('PersistentConnect') });
  assert.equal(notPersistent.evaluate('iot:Connect', '*', attrs('LastWill')), 'allow');
  assert.equal(notPersistent.evaluate('iot:Connect', '*', attrs('LastWill', 'PersistentConnect')), 'default-deny');
  // "connect only with PersistentConnect" — requires it to be present.
  const anyPersistent = onConnect({ 'ForAnyValue:StringEquals': attrs('PersistentConnect') });
  assert.equal(anyPersistent.evaluate('iot:Connect', '*', attrs('LastWill', 'PersistentConnect')), 'allow');
  assert.equal(anyPersistent.evaluate('iot:Connect', '*', attrs('LastWill')), 'default-deny');
  assert.equal(anyPersistent.evaluate('iot:Connect', '*', attrs()), 'default-deny');
  assert.equal(anyPersistent.evaluate('iot:Connect', '*', {}), 'default-deny');
  // ForAnyValue with a negated operator: some value differs from every policy value.
  const anyOther = onConnect({ 'ForAnyValue:StringNotEquals': attrs('PersistentConnect') });
  assert.equal(anyOther.evaluate('iot:Connect', '*', attrs('PersistentConnect', 'LastWill')), 'allow');
  assert.equal(anyOther.evaluate('iot:Connect', '*', attrs('PersistentConnect')), 'default-deny');
  // Deny-based variant from the docs.
  const denyPersistent = compile([
    allow('iot:Connect', '*'),
    { Effect: 'Deny', Action: 'iot:Connect', Resource: '*', Condition: { 'ForAnyValue:StringEquals': attrs('PersistentConnect') } },
  ]);
  assert.equal(denyPersistent.evaluate('iot:Connect', '*', attrs('LastWill')), 'allow');
  assert.equal(denyPersistent.evaluate('iot:Connect', '*', attrs('PersistentConnect')), 'deny');
  // Set operators combine with IfExists and wildcards.
  assert.equal(onConnect({ 'ForAnyValue:StringLikeIfExists': { 'x:tags': 'prod-*' } }).evaluate('iot:Connect', '*', {}), 'allow');
  assert.equal(
    onConnect({ 'ForAnyValue:StringLike': { 'x:tags': 'prod-*' } }).evaluate('iot:Connect', '*', { 'x:tags': ['dev', 'prod-eu'] }),
    'allow',
  );
  // Without a set operator a multi-valued key matches if any value does.
  assert.equal(
    onConnect({ StringEquals: attrs('LastWill') }).evaluate('iot:Connect', '*', attrs('PersistentConnect', 'LastWill')),
    'allow',
  );
  assert.equal(
    onConnect({ StringNotEquals: attrs('LastWill') }).evaluate('iot:Connect', '*', attrs('PersistentConnect', 'LastWill')),
    'default-deny',
  );
});

test('ArnEquals / ArnLike match iot:LastWillTopic component by component', () => {
  const set = onConnect({ ArnLike: { 'iot:LastWillTopic': `arn:aws:iot:*:${ACCOUNT}:topic/will/*` } });
  assert.equal(set.evaluate('iot:Connect', '*', { 'iot:LastWillTopic': topic('will/dev-1') }), 'allow');
  assert.equal(set.evaluate('iot:Connect', '*', { 'iot:LastWillTopic': topic('other/dev-1') }), 'default-deny');
  assert.equal(set.evaluate('iot:Connect', '*', { 'iot:LastWillTopic': `arn:aws:iot:us-east-1:999:topic/will/x` }), 'default-deny');
  // A region wildcard does not swallow the account component.
  const regionOnly = onConnect({ ArnEquals: { 'iot:LastWillTopic': `arn:aws:iot:*:topic/will/x` } });
  assert.equal(regionOnly.evaluate('iot:Connect', '*', { 'iot:LastWillTopic': topic('will/x') }), 'default-deny');
  assert.equal(
    onConnect({ ArnLike: { 'iot:LastWillTopic': '*' } }).evaluate('iot:Connect', '*', { 'iot:LastWillTopic': topic('x') }),
    'allow',
  );
  assert.equal(
    onConnect({ ArnNotLike: { 'iot:LastWillTopic': `${ARN}:topic/will/*` } }).evaluate('iot:Connect', '*', {
      'iot:LastWillTopic': topic('x'),
    }),
    'allow',
  );
});

test('condition values may use variables; unresolved ones match nothing', () => {
  const statements = [allow('iot:Connect', '*', { Condition: { StringEquals: { 'iot:Connection.Thing.ThingName': '${iot:ClientId}' } } })];
  const set = compile(statements, { 'iot:ClientId': 'dev-1', 'iot:Connection.Thing.ThingName': 'dev-1' });
  assert.equal(set.evaluate('iot:Connect', client('dev-1')), 'allow');
  assert.equal(
    compile(statements, { 'iot:ClientId': 'dev-1', 'iot:Connection.Thing.ThingName': 'dev-2' }).evaluate('iot:Connect', '*'),
    'default-deny',
  );
  assert.equal(compile(statements, { 'iot:Connection.Thing.ThingName': 'dev-1' }).evaluate('iot:Connect', '*'), 'default-deny');
  // In StringLike a substituted "*" is literal.
  const like = compile([allow('iot:Connect', '*', { Condition: { StringLike: { 'x:k': 'pre-${iot:ClientId}-*' } } })], {
    'iot:ClientId': '*',
  });
  assert.equal(like.evaluate('iot:Connect', '*', { 'x:k': 'pre-*-1' }), 'allow');
  assert.equal(like.evaluate('iot:Connect', '*', { 'x:k': 'pre-x-1' }), 'default-deny');
  // Negated operators with an unresolved value: the literal text would never be equal, so they hold.
  const negated = compile([allow('iot:Connect', '*', { Condition: { StringNotEquals: { 'x:k': '${custom:blocked}' } } })]);
  assert.equal(negated.evaluate('iot:Connect', '*', { 'x:k': 'anything' }), 'allow');
  // A substituted value of the wrong type for the operator matches nothing instead of throwing.
  const numeric = compile([allow('iot:Connect', '*', { Condition: { NumericLessThan: { 'x:n': '${custom:limit}' } } })], {
    'custom:limit': 'lots',
  });
  assert.equal(numeric.evaluate('iot:Connect', '*', { 'x:n': 1 }), 'default-deny');
  const numericOk = compile([allow('iot:Connect', '*', { Condition: { NumericLessThan: { 'x:n': '${custom:limit}' } } })], {
    'custom:limit': '5',
  });
  assert.equal(numericOk.evaluate('iot:Connect', '*', { 'x:n': 1 }), 'allow');
});

test('compilePolicies rejects hand-built documents the parser would have refused', () => {
  const bad: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['*'], Resource: ['*'], Condition: { StringMatches: { k: ['v'] } } }],
  };
  assert.throws(
    () => compilePolicies([bad], {}),
    (err: unknown) => err instanceof PolicyDocumentError && /StringMatches/.test(err.message),
  );
  const badValue: PolicyDocument = {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['*'], Resource: ['*'], Condition: { NumericEquals: { k: ['x'] } } }],
  };
  assert.throws(() => compilePolicies([badValue], {}), PolicyDocumentError);
});

// ---------------------------------------------------------------------------------------------
// A realistic policy and the memo

const THING_POLICY = JSON.stringify({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Action: 'iot:Connect',
      Resource: `${ARN}:client/\${iot:Connection.Thing.ThingName}`,
      Condition: { Bool: { 'iot:Connection.Thing.IsAttached': 'true' } },
    },
    {
      Effect: 'Allow',
      Action: ['iot:Publish', 'iot:Receive'],
      Resource: [
        `${ARN}:topic/$aws/things/\${iot:Connection.Thing.ThingName}/shadow/*`,
        `${ARN}:topic/\${iot:Connection.Thing.ThingName}/*`,
      ],
    },
    {
      Effect: 'Allow',
      Action: 'iot:Subscribe',
      Resource: [
        `${ARN}:topicfilter/$aws/things/\${iot:Connection.Thing.ThingName}/shadow/*`,
        `${ARN}:topicfilter/\${iot:Connection.Thing.ThingName}/*`,
      ],
    },
    {
      Effect: 'Allow',
      Action: ['iot:GetThingShadow', 'iot:UpdateThingShadow'],
      Resource: `${ARN}:thing/\${iot:Connection.Thing.ThingName}`,
    },
  ],
});

test('AWS thing-scoped policy: connect as the attached thing, its shadow and its own topics only', () => {
  const vars = { 'iot:ClientId': 'sensor-1', 'iot:Connection.Thing.ThingName': 'sensor-1', 'iot:Connection.Thing.IsAttached': 'true' };
  const set = compilePolicies([parsePolicyDocument(THING_POLICY)], vars);
  assert.equal(set.evaluate('iot:Connect', client('sensor-1')), 'allow');
  assert.equal(set.evaluate('iot:Connect', client('sensor-2')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('$aws/things/sensor-1/shadow/update')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('$aws/things/sensor-1/shadow/name/cfg/update')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('$aws/things/sensor-2/shadow/update')), 'default-deny');
  assert.equal(set.evaluate('iot:Receive', topic('$aws/things/sensor-1/shadow/update/delta')), 'allow');
  assert.equal(set.evaluate('iot:Subscribe', filter('$aws/things/sensor-1/shadow/update/accepted')), 'allow');
  assert.equal(
    set.evaluate('iot:Subscribe', filter('$aws/things/sensor-1/shadow/+/accepted')),
    'allow',
    'a literal + is still under shadow/*',
  );
  assert.equal(set.evaluate('iot:Subscribe', filter('$aws/things/+/shadow/update/accepted')), 'default-deny');
  assert.equal(set.evaluate('iot:Publish', topic('sensor-1/telemetry')), 'allow');
  assert.equal(set.evaluate('iot:Publish', topic('sensor-10/telemetry')), 'default-deny');
  assert.equal(set.evaluate('iot:RetainPublish', topic('sensor-1/telemetry')), 'default-deny');
  assert.equal(set.evaluate('iot:GetThingShadow', iotResourceArn(REGION, ACCOUNT, 'thing', 'sensor-1')), 'allow');
  assert.equal(set.evaluate('iot:DeleteThingShadow', iotResourceArn(REGION, ACCOUNT, 'thing', 'sensor-1')), 'default-deny');

  // Not attached: the Bool condition fails. No thing at all: the variable is unresolved.
  const detached = compilePolicies([parsePolicyDocument(THING_POLICY)], { ...vars, 'iot:Connection.Thing.IsAttached': 'false' });
  assert.equal(detached.evaluate('iot:Connect', client('sensor-1')), 'default-deny');
  const noThing = compilePolicies([parsePolicyDocument(THING_POLICY)], { 'iot:ClientId': 'sensor-1' });
  assert.equal(noThing.evaluate('iot:Connect', client('sensor-1')), 'default-deny');
  assert.equal(noThing.evaluate('iot:Publish', topic('sensor-1/telemetry')), 'default-deny');
});

test('one parsed document serves many connections, each with its own variables', () => {
  const shared = parsePolicyDocument(THING_POLICY);
  const one = compilePolicies([shared], { 'iot:Connection.Thing.ThingName': 'one', 'iot:Connection.Thing.IsAttached': 'true' });
  const two = compilePolicies([shared], { 'iot:Connection.Thing.ThingName': 'two', 'iot:Connection.Thing.IsAttached': 'false' });
  assert.equal(one.evaluate('iot:Publish', topic('one/x')), 'allow');
  assert.equal(one.evaluate('iot:Publish', topic('two/x')), 'default-deny');
  assert.equal(two.evaluate('iot:Publish', topic('two/x')), 'allow');
  assert.equal(two.evaluate('iot:Publish', topic('one/x')), 'default-deny');
  assert.equal(one.evaluate('iot:Connect', client('one')), 'allow');
  assert.equal(two.evaluate('iot:Connect', client('two')), 'default-deny');
  const matching = doc([
    allow('iot:Connect', '*', { Condition: { StringEquals: { 'iot:Connection.Thing.ThingName': '${iot:ClientId}' } } }),
  ]);
  const first = compilePolicies([matching], { 'iot:ClientId': 'one' });
  const second = compilePolicies([matching], { 'iot:ClientId': 'two' });
  assert.equal(first.evaluate('iot:Connect', '*', { 'iot:Connection.Thing.ThingName': 'one' }), 'allow');
  assert.equal(second.evaluate('iot:Connect', '*', { 'iot:Connection.Thing.ThingName': 'one' }), 'default-deny');
  assert.equal(second.evaluate('iot:Connect', '*', { 'iot:Connection.Thing.ThingName': 'two' }), 'allow');
  // A statement without variables is shared, and still correct for both.
  const fixed = doc([allow('iot:Connect', '*', { Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } })]);
  const a = compilePolicies([fixed], { 'iot:ClientId': 'a' });
  const b = compilePolicies([fixed], { 'iot:ClientId': 'b' });
  assert.equal(a.evaluate('iot:Connect', client('a'), { 'aws:SourceIp': '10.0.0.1' }), 'allow');
  assert.equal(b.evaluate('iot:Connect', client('b'), { 'aws:SourceIp': '11.0.0.1' }), 'default-deny');
  assert.equal(a.evaluate('iot:Connect', client('a'), { 'aws:SourceIp': '10.0.0.1' }), 'allow');
});

test('the memo never changes a decision, even when it overflows', () => {
  const policies = [
    parsePolicyDocument(THING_POLICY),
    doc([
      { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/sensor-1/secret*` },
      allow('iot:Receive', `${ARN}:topic/broadcast/?`),
    ]),
  ];
  const vars = { 'iot:Connection.Thing.ThingName': 'sensor-1', 'iot:Connection.Thing.IsAttached': 'true' };
  const memoised = compilePolicies(policies, vars, { memoSize: 7 });
  const plain = compilePolicies(policies, vars, { memoSize: 0 });
  const actions = ['iot:Publish', 'iot:Receive', 'iot:Subscribe', 'iot:Connect', 'iot:GetThingShadow'];
  const names = [
    'sensor-1/a',
    'sensor-1/secret',
    'sensor-1/secret/x',
    'sensor-2/a',
    'broadcast/x',
    'broadcast/xy',
    '$aws/things/sensor-1/shadow/get',
  ];
  const seen = new Set<string>();
  for (let round = 0; round < 3; round++) {
    for (const action of actions) {
      for (const name of names) {
        for (const arn of [topic(name), filter(name), client(name)]) {
          const expected = plain.evaluate(action, arn);
          assert.equal(memoised.evaluate(action, arn), expected, `${action} ${arn}`);
          seen.add(expected);
        }
      }
    }
  }
  assert.deepEqual([...seen].sort(), ['allow', 'default-deny', 'deny']);
});
