// Text that does not parse: SqlParseError with the position (offset, line, column) and what was expected.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compile, compileTemplate, SqlParseError } from '../src/index.js';

function parseError(sql: string): SqlParseError {
  try {
    compile(sql);
  } catch (err) {
    assert.ok(err instanceof SqlParseError, `expected SqlParseError, got ${String(err)}`);
    assert.equal(err.errorName, 'SqlParseException');
    return err;
  }
  assert.fail(`expected ${JSON.stringify(sql)} not to compile`);
}

test('a missing topic filter after FROM', () => {
  const e = parseError('SELECT * FROM WHERE');
  assert.deepEqual(e.position, { offset: 14, line: 1, column: 15 });
  assert.deepEqual(e.expected, ['topic filter in single quotes']);
  assert.equal(e.found, 'W');
  assert.equal(e.message, 'Syntax error at line 1, column 15: expected topic filter in single quotes but found "W"');
});

test('a misspelt keyword is reported at its first character', () => {
  const e = parseError("SELEC * FROM 'a'");
  assert.deepEqual(e.position, { offset: 0, line: 1, column: 1 });
  assert.ok(e.expected.includes('"select"'), e.expected.join());
});

test('positions count lines and columns across newlines', () => {
  const e = parseError("SELECT a,\n  b +\n FROM 't'");
  assert.equal(e.position.line, 3);
  assert.equal(e.position.column, 2);
  assert.equal(e.position.offset, 17);
});

test('end of input is named as such', () => {
  const e = parseError('SELECT');
  assert.equal(e.found, undefined);
  assert.match(e.message, /but found end of input$/);
  assert.deepEqual(e.position, { offset: 6, line: 1, column: 7 });
});

test('an unterminated string', () => {
  const e = parseError("SELECT 'abc FROM 't'");
  assert.equal(e.position.line, 1);
  assert.ok(e.position.offset >= 16, `offset ${e.position.offset}`);
});

test('the topic filter must be in single quotes', () => {
  const e = parseError('SELECT * FROM "t"');
  assert.deepEqual(e.expected, ['topic filter in single quotes']);
  assert.equal(e.position.offset, 14);
});

test('trailing garbage after a complete statement', () => {
  const e = parseError("SELECT a FROM 't' WHERE a = 1 1");
  assert.equal(e.position.offset, 30);
  assert.equal(e.found, '1');
});

test('two items without a comma', () => {
  const e = parseError("SELECT a b FROM 't'");
  assert.equal(e.position.offset, 9);
  assert.ok(e.expected.includes('","'), e.expected.join());
});

test('empty text, a lone WHERE, unbalanced parentheses, a keyword as a field', () => {
  for (const sql of [
    '',
    '   ',
    "SELECT * FROM 't' WHERE",
    "SELECT (a FROM 't'",
    "SELECT a) FROM 't'",
    "SELECT from FROM 't'",
    "SELECT a FROM 't' WHERE a = = 1",
    'SELECT VALUE FROM',
    'SET SELECT *',
    "SELECT CASE a END FROM 't'",
  ]) {
    parseError(sql);
  }
});

test('a variable name longer than 64 characters is rejected', () => {
  const e = parseError(`SET @${'v'.repeat(65)} = 1 SELECT *`);
  assert.match(e.message, /longer than 64 characters/);
  assert.deepEqual(e.position, { offset: 4, line: 1, column: 5 });
});

test('compile-time errors point at the offending node', () => {
  const e = parseError("SELECT a,\n nosuch(1) FROM 't'");
  assert.equal(e.message, 'Unknown function: nosuch');
  assert.deepEqual(e.position, { offset: 11, line: 2, column: 2 });
});

test('templates report positions too', () => {
  assert.throws(
    () => compileTemplate('a/${topic(}/b'),
    (err: unknown) => err instanceof SqlParseError && err.position.offset === 10,
  );
  assert.throws(() => compileTemplate('${'), SqlParseError);
});
