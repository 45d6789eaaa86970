/**
 * AWS cron expressions of maintenance windows (src/jobs/cron.ts): each field syntax, the special
 * day-of-month and day-of-week forms, UTC evaluation, and refusals that name the field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CronError, parseCron } from '../src/jobs/cron.js';

const at = (iso: string): number => Date.parse(`${iso}Z`);
const iso = (ms: number | undefined): string | undefined => (ms === undefined ? undefined : new Date(ms).toISOString().slice(0, 16));

/** The next `n` occurrences from `from`. */
function next(expr: string, from: string, n = 1): Array<string | undefined> {
  const cron = parseCron(expr);
  const out: Array<string | undefined> = [];
  let t = at(from);
  for (let i = 0; i < n; i++) {
    const s = cron.nextAtOrAfter(t);
    out.push(iso(s));
    if (s === undefined) break;
    t = s + 1;
  }
  return out;
}

test('daily, weekly and stepped windows; a start exactly now counts; seconds round up to the next minute', () => {
  assert.deepEqual(next('cron(0 2 * * ? *)', '2026-01-15T12:00', 2), ['2026-01-16T02:00', '2026-01-17T02:00']);
  assert.deepEqual(next('cron(0 2 * * ? *)', '2026-01-16T02:00'), ['2026-01-16T02:00']);
  assert.equal(iso(parseCron('cron(0 2 * * ? *)').nextAtOrAfter(at('2026-01-16T02:00') + 1)), '2026-01-17T02:00');
  // 2026-01-15 is a Thursday: the next Sunday is the 18th.
  assert.deepEqual(next('cron(30 22 ? * SUN *)', '2026-01-15T00:00', 2), ['2026-01-18T22:30', '2026-01-25T22:30']);
  assert.deepEqual(next('cron(30 22 ? * 1 *)', '2026-01-15T00:00'), ['2026-01-18T22:30'], '1 is Sunday');
  assert.deepEqual(next('cron(0/15 * * * ? *)', '2026-01-15T12:01', 3), ['2026-01-15T12:15', '2026-01-15T12:30', '2026-01-15T12:45']);
  assert.deepEqual(next('cron(*/20 9-10 * * ? *)', '2026-01-15T10:41', 2), ['2026-01-16T09:00', '2026-01-16T09:20']);
  assert.deepEqual(next('cron(0 8,20 * * ? *)', '2026-01-15T09:00', 2), ['2026-01-15T20:00', '2026-01-16T08:00']);
});

test('weekday lists and ranges, names in any case, a range that wraps past Saturday', () => {
  assert.deepEqual(
    next('cron(0 1 ? * MON-FRI *)', '2026-01-16T02:00', 2),
    ['2026-01-19T01:00', '2026-01-20T01:00'],
    'Friday 16th is past, the weekend skipped',
  );
  assert.deepEqual(next('cron(0 1 ? * fri-mon *)', '2026-01-17T02:00', 3), ['2026-01-18T01:00', '2026-01-19T01:00', '2026-01-23T01:00']);
  assert.deepEqual(next('cron(0 1 ? * TUE,THU *)', '2026-01-15T02:00', 2), ['2026-01-20T01:00', '2026-01-22T01:00']);
});

test('months, years and day-of-month values', () => {
  assert.deepEqual(next('cron(0 0 1 JAN,JUL ? *)', '2026-01-15T00:00', 2), ['2026-07-01T00:00', '2027-01-01T00:00']);
  assert.deepEqual(next('cron(0 0 15 6 ? 2027)', '2026-01-15T00:00', 2), ['2027-06-15T00:00', undefined]);
  assert.deepEqual(
    next('cron(0 0 31 * ? *)', '2026-02-01T00:00', 2),
    ['2026-03-31T00:00', '2026-05-31T00:00'],
    'months without a 31st are skipped',
  );
  assert.deepEqual(next('cron(0 0 29 2 ? *)', '2026-01-01T00:00'), ['2028-02-29T00:00']);
});

test('L, LW and nW in day-of-month; L, nL and n#k in day-of-week', () => {
  assert.deepEqual(next('cron(0 3 L * ? *)', '2026-01-15T00:00', 3), ['2026-01-31T03:00', '2026-02-28T03:00', '2026-03-31T03:00']);
  // 2026-01-31 is a Saturday, 2026-05-31 a Sunday.
  assert.deepEqual(next('cron(0 3 LW * ? *)', '2026-01-15T00:00', 2), ['2026-01-30T03:00', '2026-02-27T03:00']);
  assert.deepEqual(next('cron(0 3 LW 5 ? *)', '2026-01-15T00:00'), ['2026-05-29T03:00']);
  // The 17th of January 2026 is a Saturday: the nearest weekday is Friday the 16th; 1 Feb 2026 is a Sunday: Monday the 2nd.
  assert.deepEqual(next('cron(0 3 17W 1 ? *)', '2026-01-01T00:00'), ['2026-01-16T03:00']);
  assert.deepEqual(next('cron(0 3 1W 2 ? *)', '2026-01-20T00:00'), ['2026-02-02T03:00']);
  // 1 Aug 2026 is a Saturday: 1W does not leave the month, it moves to Monday the 3rd.
  assert.deepEqual(next('cron(0 3 1W 8 ? *)', '2026-01-20T00:00'), ['2026-08-03T03:00']);
  assert.deepEqual(next('cron(0 3 ? * L *)', '2026-01-15T00:00'), ['2026-01-17T03:00'], 'L alone is Saturday');
  assert.deepEqual(next('cron(0 3 ? * 6L *)', '2026-01-15T00:00', 2), ['2026-01-30T03:00', '2026-02-27T03:00'], 'the last Friday');
  assert.deepEqual(next('cron(0 3 ? * 2#1 *)', '2026-01-15T00:00', 2), ['2026-02-02T03:00', '2026-03-02T03:00'], 'the first Monday');
  assert.deepEqual(next('cron(0 3 ? * TUE#3 *)', '2026-01-01T00:00'), ['2026-01-20T03:00'], 'the third Tuesday');
});

test('malformed expressions are refused with the field and the reason', () => {
  const refused = (expr: string, message: RegExp) =>
    assert.throws(
      () => parseCron(expr),
      (e: unknown) => e instanceof CronError && message.test(e.message),
      expr,
    );
  refused('0 2 * * ? *', /written as cron\(minutes hours day-of-month month day-of-week year\)/);
  refused('cron(0 2 * * ?)', /6 fields .* not 5/);
  refused('cron(0 2 * * * *)', /exactly one of day-of-month and day-of-week must be \?/);
  refused('cron(0 2 ? * ? *)', /exactly one of day-of-month and day-of-week must be \?/);
  refused('cron(60 2 * * ? *)', /minutes must be from 0 to 59, not 60/);
  refused('cron(0 24 * * ? *)', /hours must be from 0 to 23, not 24/);
  refused('cron(0 2 32 * ? *)', /day-of-month must be from 1 to 31, not 32/);
  refused('cron(0 2 ? * 8 *)', /day-of-week must be from 1 to 7, not 8/);
  refused('cron(0 2 ? * FOO *)', /day-of-week has "FOO"/);
  refused('cron(0 2 * 13 ? *)', /month must be from 1 to 12, not 13/);
  refused('cron(0 2 * * ? 1969)', /year must be from 1970 to 2199, not 1969/);
  refused('cron(0/0 2 * * ? *)', /step after \/ must be a whole number of at least 1/);
  refused('cron(? 2 * * ? *)', /minutes cannot be \?/);
  refused('cron(0 2 ? * 2#6 *)', /number after # must be from 1 to 5/);
  refused('cron(1-2-3 2 * * ? *)', /malformed range/);
  refused('cron(0 2 *,, * ? *)', /malformed item/);
  refused('cron(0 2 L * 3 *)', /exactly one of/);
  refused('cron(0 2 ${x} * ? *)', /day-of-month has/);
});

test('an expression that never occurs again has no next occurrence', () => {
  assert.equal(parseCron('cron(0 0 1 1 ? 1999)').nextAtOrAfter(at('2026-01-15T00:00')), undefined);
  assert.equal(parseCron('cron(0 0 30 2 ? *)').nextAtOrAfter(at('2026-01-15T00:00')), undefined, 'February has no 30th');
});

test('notAfter bounds the search: nothing at or before it is undefined, one at it counts', () => {
  const cron = parseCron('cron(0 2 * * ? *)');
  assert.equal(cron.nextAtOrAfter(at('2026-01-15T03:00'), at('2026-01-16T01:59')), undefined);
  assert.equal(iso(cron.nextAtOrAfter(at('2026-01-15T03:00'), at('2026-01-16T02:00'))), '2026-01-16T02:00');
});
