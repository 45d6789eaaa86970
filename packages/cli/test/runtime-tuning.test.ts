import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import { settleHeap } from '../src/runtime-tuning.js';

const youngBytes = (): number => v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;

test('settleHeap moves live young objects out of the young generation', () => {
  // Live, young data like what start-up leaves behind: 20,000 small objects still referenced.
  const kept = Array.from({ length: 20_000 }, (_, i) => ({ i, name: `object-${i}` }));
  assert.ok(youngBytes() > 500_000, `expected start-up-like data in the young generation, found ${youngBytes()} bytes`);
  settleHeap();
  assert.ok(youngBytes() < 100_000, `the young generation still holds ${youngBytes()} bytes`);
  assert.equal(kept.length, 20_000);
});
