/**
 * The pieces that order and bound the Jobs service's async work: per-thing order, the completion
 * check that runs once more after it was asked for while running, the limit on requests served at
 * once, and job documents parsed once.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KeyedRecheck, KeyedSerial, Limiter } from '../src/jobs/in-order.js';
import { ParsedDocuments } from '../src/jobs/parsed-documents.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('KeyedSerial: one key in order, a failure does not stop what follows, other keys beside it', async () => {
  const serial = new KeyedSerial();
  const log: string[] = [];
  const slow = serial.run('a', async () => {
    await tick();
    log.push('a1');
  });
  const failing = serial.run('a', async () => {
    log.push('a2');
    throw new Error('a2 failed');
  });
  const third = serial.run('a', () => log.push('a3'));
  const other = serial.run('b', () => log.push('b1'));
  await Promise.allSettled([slow, failing, third, other]);
  await assert.rejects(failing, /a2 failed/);
  assert.deepEqual(log, ['b1', 'a1', 'a2', 'a3']);
});

test('KeyedRecheck: asked while it runs, the check runs once more after it, for all who asked meanwhile; sees their writes', async () => {
  const recheck = new KeyedRecheck();
  let state = 0;
  const seen: number[] = [];
  const check = async (): Promise<void> => {
    const at = state;
    await tick();
    seen.push(at);
  };
  const first = recheck.run('job', check);
  // Five callers write, then ask, while the first check runs: it read the state before their writes.
  const later = [1, 2, 3, 4, 5].map((n) => {
    state = n;
    return recheck.run('job', check);
  });
  assert.equal(new Set(later).size, 1, 'the callers share one follow-up run');
  await Promise.all([first, ...later]);
  assert.deepEqual(seen, [0, 5], 'two runs, the second after every write');
  // Idle again: the next ask runs at once, on its own.
  state = 6;
  await recheck.run('job', check);
  assert.deepEqual(seen, [0, 5, 6]);
  // Another key is not held back by this one.
  const order: string[] = [];
  const a = recheck.run('x', async () => {
    await tick();
    order.push('x');
  });
  await recheck.run('y', async () => {
    order.push('y');
  });
  await a;
  assert.deepEqual(order, ['y', 'x']);
});

test('KeyedRecheck: a failed run fails its callers; the follow-up still runs, and the key is free afterwards', async () => {
  const recheck = new KeyedRecheck();
  let runs = 0;
  const failing = recheck.run('k', async () => {
    runs++;
    await tick();
    throw new Error('check failed');
  });
  const after = recheck.run('k', async () => {
    runs++;
  });
  await assert.rejects(failing, /check failed/);
  await after;
  assert.equal(runs, 2);
  await recheck.run('k', async () => {
    runs++;
  });
  assert.equal(runs, 3);
});

test('Limiter: at most n at once, the rest in the order they asked; a failure frees its slot', async () => {
  const limiter = new Limiter(2);
  let running = 0;
  let most = 0;
  const started: number[] = [];
  const work = (i: number) =>
    limiter.run(async () => {
      started.push(i);
      running++;
      most = Math.max(most, running);
      await tick();
      running--;
      if (i === 1) throw new Error('one failed');
      return i;
    });
  const results = await Promise.allSettled([0, 1, 2, 3, 4, 5].map(work));
  assert.equal(most, 2);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'],
  );
  // One at a time: each piece ends before the next begins, even across its awaits.
  const one = new Limiter(1);
  const log: string[] = [];
  await Promise.all(
    ['a', 'b'].map((k) =>
      one.run(async () => {
        log.push(`${k} start`);
        await tick();
        log.push(`${k} end`);
      }),
    ),
  );
  assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end']);
});

test('ParsedDocuments: parsed once per text and frozen all the way down; the least recently used goes first', () => {
  const docs = new ParsedDocuments(2);
  const a = docs.get('{"op":"update","steps":[{"n":1}]}') as { steps: Array<{ n: number }> };
  assert.equal(docs.get('{"op":"update","steps":[{"n":1}]}'), a, 'the same object');
  assert.ok(Object.isFrozen(a) && Object.isFrozen(a.steps) && Object.isFrozen(a.steps[0]));
  assert.throws(() => {
    'use strict';
    a.steps[0]!.n = 2;
  }, TypeError);
  docs.get('{"b":1}');
  docs.get('{"op":"update","steps":[{"n":1}]}'); // used again: now the most recent
  docs.get('{"c":1}'); // evicts {"b":1}
  assert.equal(docs.get('{"op":"update","steps":[{"n":1}]}'), a);
  assert.equal(docs.get('null'), null, 'a document that is null is kept too');
  assert.throws(() => docs.get('{not json'), SyntaxError);
});
