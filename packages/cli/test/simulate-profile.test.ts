/** Simulation scenarios: the README's example parses, bad ones are refused by name, values stay in their bounds. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULT_PROFILE, parseProfile, topicFor, ValueGenerator } from '../src/simulate/profile.js';

test("the README's scenario parses to what it says", () => {
  const readme = readFileSync(resolve(import.meta.dirname, '../../../README.md'), 'utf8');
  const yaml = /```yaml\n(# scenario\.yaml[\s\S]*?)```/.exec(readme)![1]!;
  const p = parseProfile(yaml);
  assert.equal(p.telemetry.length, 1);
  const t = p.telemetry[0]!;
  assert.deepEqual([t.topic, t.intervalMs, t.qos], ['dt/{thingName}/env', 5000, 0]);
  assert.deepEqual(t.values.state, { type: 'choice', values: ['ok', 'warn'], weights: [9, 1] });
  assert.deepEqual(t.burst, { everyMs: 60_000, count: 10, intervalMs: 50 });
  assert.deepEqual(p.shadow, { reportEveryMs: 30_000, values: ['temperature'] });
  assert.deepEqual(p.jobs, { successRate: 0.95, durationMs: 2000 });
  assert.deepEqual(p.churn, { disconnectsPerHour: 2, offlineMs: 10_000 });
  assert.equal(parseProfile('shadow: false').shadow, undefined);
  assert.deepEqual(parseProfile(''), DEFAULT_PROFILE);
});

test('a scenario that cannot work is refused, naming the key', () => {
  assert.throws(() => parseProfile('telemetrie: []'), /unknown key telemetrie/);
  assert.throws(() => parseProfile('telemetry: [{ interval: 1s }]'), /telemetry\[0\]\.topic is required/);
  assert.throws(() => parseProfile('telemetry: [{ topic: a, interval: soon }]'), /telemetry\[0\]\.interval must be a duration/);
  assert.throws(() => parseProfile('telemetry: [{ topic: a, interval: 1ms }]'), /at least 10ms/);
  assert.throws(() => parseProfile('telemetry: [{ topic: a, values: { x: { type: gauss } } }]'), /type must be noise, walk/);
  assert.throws(() => parseProfile('jobs: { successRate: 2 }'), /between 0 and 1/);
});

test('generated values: walks stay in bounds, choices follow their weights, counters count, topics get the device', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const g = new ValueGenerator(random);
  const walk = { type: 'walk' as const, start: 5, step: 3, min: 0, max: 10, decimals: 1 };
  for (let i = 0; i < 1000; i++) {
    const v = g.next('w', walk) as number;
    assert.ok(v >= 0 && v <= 10);
  }
  const counts = { a: 0, b: 0 };
  for (let i = 0; i < 10_000; i++) counts[g.next('c', { type: 'choice', values: ['a', 'b'], weights: [9, 1] }) as 'a' | 'b']++;
  assert.ok(counts.a > 8500 && counts.a < 9500, JSON.stringify(counts));
  assert.deepEqual(
    [0, 1, 2].map(() => g.next('n', { type: 'counter', start: 7, step: 2 })),
    [7, 9, 11],
  );
  assert.deepEqual(g.message({ t: { type: 'constant', value: 'x' } }), { t: 'x' });
  assert.equal(g.latest.t, 'x');
  assert.equal(topicFor('dt/{thingName}/{index}', 'sim-0001', 1), 'dt/sim-0001/1');
});
