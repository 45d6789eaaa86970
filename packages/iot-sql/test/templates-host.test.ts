// Substitution templates and the external-function host interface.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile, compileTemplate, type SqlHost } from '../src/index.js';
import { message } from './helpers.js';

const msg = message({ temperature: 31, obj: { a: [1, 2] }, name: 'x/y' }, 'dt/d1/temp');

test('templates: topic(), embedded expressions, the AWS docs examples', async () => {
  assert.equal(await compileTemplate('${topic()}/republish').render(msg), 'dt/d1/temp/republish');
  assert.equal(
    await compileTemplate("${replace(topic(), '/', '-') + '-' + clientid()}", { version: '2016-03-23' }).render(msg),
    'dt-d1-temp-client-1',
  );
  assert.equal(await compileTemplate('alerts/${topic(2)}/${temperature}').render(msg), 'alerts/d1/31');
  assert.equal(await compileTemplate('no templates here').render(msg), 'no templates here');
  assert.equal(await compileTemplate('').render(msg), '');
});

test('templates: $$ is a literal $ (republish to reserved topics)', async () => {
  assert.equal(await compileTemplate('$$aws/things/MyThing/shadow/update').render(msg), '$aws/things/MyThing/shadow/update');
  assert.equal(await compileTemplate('$$aws/things/${topic(2)}/shadow/update').render(msg), '$aws/things/d1/shadow/update');
  assert.equal(await compileTemplate('cost: 5$').render(msg), 'cost: 5$');
  assert.equal(await compileTemplate("${concat('}', '{')}|${'$$'}", { version: '2016-03-23' }).render(msg), '}{|$$');
});

test('templates: Undefined renders as an empty string, objects as compact JSON', async () => {
  assert.equal(await compileTemplate('[${missing}]').render(msg), '[]');
  assert.equal(await compileTemplate('[${null}]').render(msg), '[]');
  assert.equal(await compileTemplate('${obj}').render(msg), '{"a":[1,2]}');
  assert.equal(await compileTemplate('${obj.a}').render(msg), '[1,2]');
  assert.equal(await compileTemplate('${1.5 * 2}', { version: '2015-10-08' }).render(msg), '3.0');
});

test('templates see SET variables of their statement, not SELECT aliases', async () => {
  const stmt = compile("SET @id = upper(topic(2)) SELECT temperature AS t FROM 'dt/+/temp'", { version: '2016-03-23' });
  const r = await stmt.evaluate(msg);
  assert.equal(await stmt.template('devices/${@id}/${t}${temperature}').render(msg, r.variables), 'devices/D1/31');
  assert.throws(() => compileTemplate('${@id}'), /Variable @id is not defined/);
});

test('external functions: get_thing_shadow through the host, with field access on the result', async () => {
  const calls: unknown[][] = [];
  const host: SqlHost = {
    call(name, args) {
      calls.push([name, ...args]);
      if (name === 'get_thing_shadow') return { state: { reported: { alarm: true } } };
      throw new Error(`unexpected ${name}`);
    },
  };
  const stmt = compile("SELECT get_thing_shadow(topic(2), 'arn:aws:iam::123456789012:role/r').state.reported.alarm AS alarm FROM 't'", {
    version: '2016-03-23',
    host,
  });
  assert.equal(stmt.usesExternal, true);
  const r = await stmt.evaluate(msg);
  assert.deepEqual(r.output, { alarm: true });
  assert.deepEqual(r.errors, []);
  assert.deepEqual(calls, [['get_thing_shadow', 'd1', 'arn:aws:iam::123456789012:role/r']]);
});

test('external functions: an async host, several calls, and one host call per distinct call', async () => {
  let count = 0;
  const host: SqlHost = {
    async call(name, args) {
      count++;
      await new Promise((r) => setTimeout(r, 5));
      return name === 'aws_lambda' ? { echo: args[1] } : null;
    },
  };
  const stmt = compile(
    "SELECT aws_lambda('arn:aws:lambda:us-east-1:123456789012:function:f', {'t': temperature}).echo AS a, aws_lambda('arn:aws:lambda:us-east-1:123456789012:function:f', {'t': temperature}).echo.t AS b, get_dynamodb('tbl', 'k', 'v', 'arn:aws:iam::1:role/r') AS d FROM 't'",
    { version: '2016-03-23', host },
  );
  const pending = stmt.evaluate(msg);
  assert.ok(pending instanceof Promise);
  const r = await pending;
  assert.deepEqual(r.output, { a: { t: 31 }, b: 31, d: null });
  assert.equal(count, 2);
});

test('external functions: a failing host call is Undefined plus an error, the rest still evaluates', async () => {
  const host: SqlHost = {
    call() {
      throw new Error('Lambda timed out after 2000 ms');
    },
  };
  const r = await compile("SELECT aws_lambda('arn:f', 'input') AS a, 1 AS one FROM 't'", { host }).evaluate(msg);
  assert.deepEqual(r.output, { one: 1 });
  assert.deepEqual(r.errors, [{ function: 'aws_lambda', message: 'Lambda timed out after 2000 ms' }]);
});

test('external functions without a host fail with a clear error', async () => {
  const r = await compile("SELECT get_thing_shadow('t1', 'arn:role') AS s, 2 AS two FROM 't'", { version: '2016-03-23' }).evaluate(msg);
  assert.deepEqual(r.output, { two: 2 });
  assert.deepEqual(r.errors, [
    {
      function: 'get_thing_shadow',
      message: 'get_thing_shadow() needs an external resolver, and none is configured for this rules engine',
    },
  ]);
});

test('external functions in WHERE and templates', async () => {
  const host: SqlHost = { call: (_name, args) => ({ state: { reported: { mode: args[0] === 'd1' ? 'on' : 'off' } } }) };
  const stmt = compile("SELECT * FROM 't' WHERE get_thing_shadow(topic(2), 'arn:role').state.reported.mode = 'on'", {
    version: '2016-03-23',
    host,
  });
  assert.equal((await stmt.evaluate(msg)).matched, true);
  assert.equal((await stmt.evaluate(message({}, 'dt/d2/temp'))).matched, false);
  const tpl = stmt.template("mode-${get_thing_shadow(topic(2), 'arn:role').state.reported.mode}");
  assert.equal(tpl.usesExternal, true);
  assert.equal(await tpl.render(msg), 'mode-on');
});

test('runtime function errors are reported, never thrown', async () => {
  const r = await compile("SELECT regexp_matches('a', '(') AS m, parse_time('q', 0) AS p, 1 AS ok FROM 't'", {
    version: '2016-03-23',
  }).evaluate(msg);
  assert.deepEqual(r.output, { ok: 1 });
  assert.equal(r.errors.length, 2);
  assert.equal(r.errors[0]!.function, 'regexp_matches');
  assert.match(r.errors[0]!.message, /^Invalid regular expression "\(": /);
  assert.equal(r.errors[1]!.function, 'parse_time');
  assert.match(r.errors[1]!.message, /Unsupported pattern letter 'q'/);
});
