/** The simulator's display: one block redrawn in place on a terminal, plain lines otherwise, nothing with --json. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { showProgress, Stats, summaryText } from '../src/simulate/stats.js';

function stream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write: (chunk: string) => ((s.text += chunk), true) };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

test('on a terminal the block is redrawn in place; off a terminal each report is a plain line; --json prints nothing while running', async () => {
  const stats = new Stats(3);
  stats.counts.connected = 2;
  stats.error(new Error('connect ECONNREFUSED'));
  stats.error(new Error('connect ECONNREFUSED'));
  const tty = stream(true);
  const plain = stream(false);
  const json = stream(false);
  const stops = [
    showProgress(stats, tty, { json: false, intervalMs: 20 }),
    showProgress(stats, plain, { json: false, intervalMs: 20 }),
    showProgress(stats, json, { json: true, intervalMs: 20 }),
  ];
  await new Promise((r) => setTimeout(r, 70));
  for (const stop of stops) stop();
  assert.ok(tty.text.includes('\u001b[4F\u001b[J'), 'moves up over the last block and clears it');
  assert.match(tty.text, /connected 2\/3/);
  assert.ok(tty.text.includes('  2× connect ECONNREFUSED\n'));
  assert.ok(!plain.text.includes('\u001b'), 'no escape sequences off a terminal');
  const lines = plain.text.trim().split('\n');
  assert.ok(lines.length >= 2 && lines.every((l) => /^\d\d:\d\d connected 2\/3 /.test(l)), plain.text);
  assert.equal(json.text, '');
  const summary = summaryText(stats.summary());
  assert.match(summary, /^simulated 3 devices for .* 2 errors\n/);
  assert.ok(summary.endsWith('\n  2× connect ECONNREFUSED\n'), summary);
});
