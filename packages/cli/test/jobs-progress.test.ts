/** The progress line of `thicket jobs watch`: bar widths, the zero-total case and narrow terminals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { apportion, countsText, jobCounts, progressBar, renderProgress, type JobCounts } from '../src/commands/jobs-progress.js';

const counts = (c: Partial<JobCounts>): JobCounts => ({ ...jobCounts(undefined), ...c });
const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
// eslint-disable-next-line no-control-regex
const visible = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

const countsArb = fc.record({
  queued: fc.nat(5000),
  inProgress: fc.nat(5000),
  succeeded: fc.nat(5000),
  failed: fc.nat(50),
  rejected: fc.nat(50),
  timedOut: fc.nat(50),
  canceled: fc.nat(50),
  removed: fc.nat(50),
});

test('the bar parts add up to the width, in proportion, and every part that has executions shows', () => {
  assert.deepEqual(apportion([10, 1, 2, 3, 0], 16), [10, 1, 2, 3, 0]);
  assert.deepEqual(apportion([1, 1, 1], 10), [4, 3, 3]);
  assert.deepEqual(apportion([1000, 1, 0, 0, 0], 20), [19, 1, 0, 0, 0]);
  fc.assert(
    fc.property(fc.array(fc.nat(10_000), { minLength: 1, maxLength: 6 }), fc.integer({ min: 1, max: 200 }), (values, width) => {
      const cells = apportion(values, width);
      const total = sum(values);
      assert.equal(sum(cells), total === 0 ? 0 : width);
      values.forEach((v, i) => {
        if (v === 0) assert.equal(cells[i], 0);
        if (total > 0) assert.ok(Math.abs(cells[i]! - (v * width) / total) < values.length, 'roughly in proportion');
      });
      if (values.filter((v) => v > 0).length <= width) values.forEach((v, i) => v > 0 && assert.ok(cells[i]! >= 1));
    }),
  );
});

test('the bar is exactly as wide as asked, with a character per status group, and blank while there are no executions', () => {
  const c = counts({ succeeded: 10, failed: 1, rejected: 1, timedOut: 0, inProgress: 2, queued: 6 });
  assert.equal(progressBar(c, 20), '##########!!>>......');
  assert.equal(progressBar(counts({ canceled: 1, removed: 1, succeeded: 2 }), 8), '####----');
  assert.equal(progressBar(counts({}), 12), ' '.repeat(12));
  assert.equal(progressBar(counts({ queued: 1 }), 0), '');
  fc.assert(
    fc.property(countsArb, fc.integer({ min: 0, max: 120 }), fc.boolean(), (k, width, color) => {
      assert.equal(visible(progressBar(k, width, color)).length, width);
    }),
  );
});

test('the line: bar, every count and the job status; all zero is fine', () => {
  assert.equal(
    renderProgress(counts({ queued: 3, inProgress: 2, succeeded: 10, failed: 1 }), 'IN_PROGRESS'),
    '[#############!>>....] queued 3  in progress 2  succeeded 10  failed 1  rejected 0  timed out 0  canceled 0  removed 0  IN_PROGRESS',
  );
  assert.equal(
    renderProgress(counts({}), 'IN_PROGRESS'),
    `[${' '.repeat(20)}] queued 0  in progress 0  succeeded 0  failed 0  rejected 0  timed out 0  canceled 0  removed 0  IN_PROGRESS`,
  );
  assert.equal(countsText(counts({}), true), 'no executions');
  assert.equal(countsText(counts({ succeeded: 2, timedOut: 1 }), true), 'succeeded 2  timed out 1');
});

test('on a terminal the line never reaches the last column: the bar shrinks, then zero counts go, then the bar, then text is cut', () => {
  const c = counts({ queued: 3, inProgress: 2, succeeded: 10, failed: 1 });
  const full = renderProgress(c, 'IN_PROGRESS', { columns: 200 });
  assert.match(full, /^\[[#!>.]{40}\] queued 3 {2}in progress 2 .* removed 0 {2}IN_PROGRESS$/);
  const medium = renderProgress(c, 'IN_PROGRESS', { columns: 125 });
  assert.equal(medium.length, 124);
  assert.match(medium, /^\[[#!>.]{13}\] queued 3 .* removed 0 {2}IN_PROGRESS$/);
  const short = renderProgress(c, 'IN_PROGRESS', { columns: 80 });
  assert.equal(short, '[##########!>>...] queued 3  in progress 2  succeeded 10  failed 1  IN_PROGRESS');
  assert.equal(renderProgress(c, 'IN_PROGRESS', { columns: 66 }), 'queued 3  in progress 2  succeeded 10  failed 1  IN_PROGRESS');
  assert.equal(renderProgress(c, 'IN_PROGRESS', { columns: 60 }), 'queued 3  in progress 2  succeeded 10  failed 1  IN_PROGRE…');
  assert.equal(renderProgress(c, 'IN_PROGRESS', { columns: 20 }), 'queued 3  in progr…');
  assert.equal(renderProgress(c, 'IN_PROGRESS', { columns: 1 }), '');
  assert.equal(renderProgress(c, 'IN_PROGRESS', { columns: 0 }), '');
  fc.assert(
    fc.property(countsArb, fc.integer({ min: 1, max: 300 }), fc.boolean(), (k, columns, color) => {
      const line = visible(renderProgress(k, 'IN_PROGRESS', { columns, color }));
      assert.ok(line.length <= columns - 1, `${line.length} characters on ${columns} columns`);
    }),
  );
});
