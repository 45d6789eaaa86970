// Property tests: the evaluator agrees with plain arithmetic/comparison, SELECT * is the identity on
// JSON objects, and no text makes compile() throw anything but SqlParseError.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { compile, SqlParseError } from '../src/index.js';
import { message } from './helpers.js';

const v16 = { version: '2016-03-23' } as const;
const valueOf = (sql: string) => {
  const stmt = compile(`SELECT VALUE ${sql} FROM 't'`, v16);
  return (payload: unknown) => {
    const r = stmt.evaluate(message(payload));
    assert.ok(!(r instanceof Promise));
    return r.kind === 'undefined' ? undefined : r.output;
  };
};

const int = fc.integer({ min: -1_000_000, max: 1_000_000 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 });

test('Int arithmetic agrees with JS integer arithmetic (/ truncates, % keeps the dividend sign)', () => {
  const plus = valueOf('x + y');
  const minus = valueOf('x - y');
  const times = valueOf('x * y');
  const div = valueOf('x / y');
  const mod = valueOf('x % y');
  fc.assert(
    fc.property(int, int, (x, y) => {
      const p = { x, y };
      assert.equal(plus(p), x + y);
      assert.equal(minus(p), x - y);
      assert.equal(times(p), x * y || 0);
      assert.equal(div(p), y === 0 ? undefined : Math.trunc(x / y) || 0);
      assert.equal(mod(p), y === 0 ? undefined : x % y || 0);
    }),
  );
});

test('comparisons agree with JS on doubles, and exactly one of <, =, > holds', () => {
  const lt = valueOf('x < y');
  const le = valueOf('x <= y');
  const gt = valueOf('x > y');
  const ge = valueOf('x >= y');
  const eq = valueOf('x = y');
  const ne = valueOf('x <> y');
  fc.assert(
    fc.property(finite, finite, (x, y) => {
      const p = { x, y };
      assert.equal(lt(p), x < y);
      assert.equal(le(p), x <= y);
      assert.equal(gt(p), x > y);
      assert.equal(ge(p), x >= y);
      assert.equal(eq(p), x === y);
      assert.equal(ne(p), x !== y);
      assert.equal([lt(p), eq(p), gt(p)].filter(Boolean).length, 1);
    }),
  );
});

test('numeric strings compare like the numbers they spell', () => {
  const gt = valueOf('s > y');
  fc.assert(fc.property(int, int, (x, y) => assert.equal(gt({ s: String(x), y }), x > y)));
});

test('round, ceil, floor and sign return Ints that agree with Math', () => {
  const f = valueOf('[round(x), ceil(x), floor(x), sign(x)]');
  fc.assert(
    fc.property(finite, (x) => {
      const [r, c, fl, s] = f({ x }) as number[];
      assert.equal(r, Math.sign(x) * Math.round(Math.abs(x)) || 0);
      assert.equal(c, Math.ceil(x) || 0);
      assert.equal(fl, Math.floor(x) || 0);
      assert.equal(s, Math.sign(x) || 0);
    }),
  );
});

test('string functions agree with JS string operations', () => {
  const f = valueOf('[concat(a, b), length(a), upper(a), a + b, startswith(a + b, a), indexof(a + b, b)]');
  fc.assert(
    fc.property(fc.string(), fc.string(), (a, b) => {
      assert.deepEqual(f({ a, b }), [a + b, a.length, a.toUpperCase(), a + b, true, (a + b).indexOf(b)]);
    }),
  );
});

test('= is reflexive on JSON values and SELECT * is the identity on JSON objects', () => {
  const eq = valueOf('x = y');
  const star = compile("SELECT * FROM 't'");
  fc.assert(
    fc.property(fc.jsonValue(), (v) => {
      const x = JSON.parse(JSON.stringify(v)) as unknown;
      assert.equal(eq({ x, y: x }), true);
    }),
  );
  fc.assert(
    fc.property(fc.dictionary(fc.string(), fc.jsonValue()), (obj) => {
      const text = JSON.stringify(obj);
      const r = star.evaluate(message(text));
      assert.ok(!(r instanceof Promise));
      assert.equal(JSON.stringify(r.output), text);
    }),
  );
});

test('compile() either succeeds or throws SqlParseError, for any text', () => {
  const fragments = fc.constantFrom(
    'SELECT',
    'VALUE',
    '*',
    'FROM',
    "'t'",
    'WHERE',
    'a',
    '.',
    ',',
    '(',
    ')',
    '[',
    ']',
    '{',
    '}',
    '=',
    '<>',
    '+',
    '-',
    '/',
    '%',
    'AND',
    'NOT',
    'CASE',
    'WHEN',
    'THEN',
    'END',
    'SET',
    '@v',
    "'s'",
    '"d"',
    '1',
    '2.5',
    'abs(',
    'get(',
    'cast(',
    'AS',
    'Int',
    ':',
    ' ',
    '\n',
  );
  const check = (sql: string) => {
    for (const version of ['2015-10-08', '2016-03-23']) {
      try {
        compile(sql, { version });
      } catch (err) {
        assert.ok(err instanceof SqlParseError, `${JSON.stringify(sql)} threw ${String(err)}`);
        assert.ok(err.position.offset >= 0 && err.position.offset <= sql.length);
      }
    }
  };
  fc.assert(fc.property(fc.string(), check));
  fc.assert(
    fc.property(
      fc.array(fragments, { maxLength: 25 }).map((a) => a.join(' ')),
      check,
    ),
    { numRuns: 500 },
  );
});

test('every statement that compiles evaluates without throwing, on any JSON payload', () => {
  const exprs = fc.constantFrom(
    'a',
    'a.b',
    'a[0]',
    '-a',
    'a + 1',
    "a + 'x'",
    'a * 2.5',
    'a / 0',
    'a % 3',
    'NOT a',
    'a AND true',
    'a = a',
    'a IN [1]',
    'abs(a)',
    'lower(a)',
    'get(a, 0)',
    'cast(a AS Int)',
    'substring(a, 1)',
    "CASE a WHEN 1 THEN 'one' END",
    '(SELECT VALUE x FROM a)',
    'concat(a, [1])',
    'trunc(a, 2)',
    'length(a)',
    "regexp_matches(a, 'x')",
  );
  fc.assert(
    fc.property(exprs, fc.jsonValue(), (expr, payload) => {
      const r = compile(`SELECT ${expr} AS r FROM 't' WHERE isUndefined(nothing)`, v16).evaluate(message({ a: payload }));
      assert.ok(!(r instanceof Promise));
      assert.equal(r.matched, true);
    }),
  );
});
