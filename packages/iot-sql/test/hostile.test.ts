// Attacker-shaped input: prototype keys, inherited names, deep nesting, huge values, odd topics.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile, SqlParseError, topicMatches } from '../src/index.js';
import { message, run, UNDEF, value } from './helpers.js';

test('a "__proto__" key in the payload is copied as data and pollutes nothing', async () => {
  const payload = '{"__proto__": {"polluted": 1}, "a": 1}';
  const r = await compile("SELECT * FROM 't'").evaluate(message(payload));
  const out = r.output as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(out), Object.prototype);
  assert.deepEqual(Object.keys(out), ['__proto__', 'a']);
  assert.equal(JSON.stringify(out), '{"__proto__":{"polluted":1},"a":1}');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const r2 = await compile("SELECT *, 2 AS b FROM 't'").evaluate(message(payload));
  assert.equal(JSON.stringify(r2.output), '{"__proto__":{"polluted":1},"a":1,"b":2}');
});

test('"__proto__" as an alias, an object-literal key, a SET variable and in transform stays an own key', async () => {
  const r = await run(
    "SET @__proto__ = 5 SELECT a AS __proto__, {'__proto__': 1} AS o, @__proto__ AS v, transform('enrichArray', {'__proto__': 2}, [{}]) AS t FROM 't'",
    { a: 3 },
  );
  assert.equal(JSON.stringify(r.output), '{"__proto__":3,"o":{"__proto__":1},"v":5,"t":[{"__proto__":2}]}');
  assert.equal(Object.getPrototypeOf(r.output), Object.prototype);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('inherited names are never fields', async () => {
  for (const name of ['constructor', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__']) {
    assert.equal(await value(name, {}), UNDEF, name);
    assert.equal(await value(`get(o, '${name}')`, { o: {} }), UNDEF, name);
    assert.equal(await value(`o['${name}']`, { o: {} }), UNDEF, name);
  }
});

test('deeply nested SQL fails as SqlParseError, not a crash', () => {
  const deep = `SELECT VALUE ${'('.repeat(20000)}1${')'.repeat(20000)} FROM 't'`;
  assert.throws(
    () => compile(deep),
    (err: unknown) => err instanceof SqlParseError && /nested too deeply/.test(err.message),
  );
  const ok = `SELECT VALUE ${'('.repeat(100)}1${')'.repeat(100)} FROM 't'`;
  assert.doesNotThrow(() => compile(ok));
});

test('deeply nested payloads and a 1 MB payload evaluate', async () => {
  let nested: unknown = { v: 1 };
  for (let i = 0; i < 500; i++) nested = { n: nested };
  const r = await run("SELECT n.n.n.n AS x FROM 't'", nested);
  assert.ok(r.output && typeof r.output === 'object' && 'x' in r.output);
  const big = { s: 'x'.repeat(1024 * 1024) };
  assert.equal(await value('length(s)', big), 1024 * 1024);
});

test('huge and odd numbers stay in range or become Undefined', async () => {
  assert.equal(await value('9007199254740991 + 0'), 9007199254740991);
  assert.equal(await value('get(arr, 1e10)', { arr: [1] }), UNDEF);
  assert.equal(await value('chr(1114112)'), UNDEF);
  assert.equal(await value('chr(-1e300)'), UNDEF);
  assert.equal(await value("substring('abc', 1e300)"), '');
  assert.equal(await value('1e400 > 1'), true);
  assert.equal(await value('exp(1000)'), UNDEF);
  assert.equal(await value("lpad('x', 1e12)").then((v) => (v as string).length), 1001);
});

test('patterns from the payload cannot throw out of the evaluator', async () => {
  for (const p of ['(?<x>', '[', '\\', '(?>a)', 'a**', '(?', 'x{2,1}']) {
    const r = await run("SELECT regexp_matches(s, p) AS m, regexp_replace(s, p, 'y') AS r, 1 AS ok FROM 't'", { s: 'abc', p });
    assert.equal((r.output as Record<string, unknown>).ok, 1, p);
  }
});

test('topics are used verbatim: no percent-decoding, unicode segments kept', async () => {
  assert.equal(await value('topic(1)', {}, '2016-03-23', { topic: 'a%2Fb/c' }), 'a%2Fb');
  assert.equal(await value('topic(2)', {}, '2016-03-23', { topic: 'dt/température/x' }), 'température');
  assert.equal(await value('topic(3)', {}, '2016-03-23', { topic: 'a//c' }), 'c');
  assert.equal(await value('topic(2)', {}, '2016-03-23', { topic: 'a//c' }), '');
});

test('FROM topic-filter matching: wildcards and $ topics', () => {
  assert.equal(topicMatches('dt/+/temp', 'dt/d1/temp'), true);
  assert.equal(topicMatches('dt/+/temp', 'dt/d1/x/temp'), false);
  assert.equal(topicMatches('dt/#', 'dt'), true);
  assert.equal(topicMatches('dt/#', 'dt/a/b'), true);
  assert.equal(topicMatches('#', '$aws/things/x/shadow/update'), false);
  assert.equal(topicMatches('+/things/x', '$aws/things/x'), false);
  assert.equal(topicMatches('$aws/things/+/shadow/update', '$aws/things/x/shadow/update'), true);
  assert.equal(topicMatches('a/b', 'a/b/c'), false);
  assert.equal(topicMatches('a/+', 'a/'), true);
});

test('a decoded payload with prototype keys stays data', async () => {
  const enc = Buffer.from('{"__proto__":{"x":1},"constructor":{"prototype":{"y":2}}}').toString('base64');
  const v = await value(`decode('${enc}', 'base64')`);
  assert.equal(JSON.stringify(v), '{"__proto__":{"x":1},"constructor":{"prototype":{"y":2}}}');
  assert.equal(({} as Record<string, unknown>).x, undefined);
  assert.equal(({} as Record<string, unknown>).y, undefined);
});
