import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computeDelta, deltaDocument, getResponse, type JsonObject, type StoredShadow } from '../src/index.js';
import { shadowOf, update } from './helpers.js';

/** A shadow whose desired was written at 100 and reported at 200. */
function pair(desired: unknown, reported?: unknown): StoredShadow {
  return reported === undefined ? shadowOf({ state: { desired } }) : shadowOf({ state: { desired } }, { state: { reported } });
}
const deltaState = (desired: unknown, reported?: unknown) => computeDelta(pair(desired, reported))?.state;

describe('computeDelta', () => {
  test('nothing to report without desired or when everything matches', () => {
    assert.equal(computeDelta(shadowOf({ state: { reported: { a: 1 } } })), undefined);
    assert.equal(computeDelta(shadowOf({ state: {} })), undefined);
    assert.equal(deltaState({ a: 1, b: { c: [1, { d: 2 }] } }, { b: { c: [1, { d: 2 }] }, a: 1 }), undefined);
    assert.equal(deltaState({}), undefined);
  });

  test('desired keys absent from reported are copied whole', () => {
    assert.deepEqual(deltaState({ a: 1, b: { c: { d: 2 } } }), { a: 1, b: { c: { d: 2 } } });
    assert.deepEqual(deltaState({ a: 1, b: { c: 2 } }, { a: 1 }), { b: { c: 2 } });
  });

  test('nested objects keep only the differing paths', () => {
    assert.deepEqual(
      deltaState(
        { lights: { color: { r: 255, g: 255, b: 0 }, on: true }, fan: 1 },
        { lights: { color: { r: 255, g: 0, b: 0 }, on: true }, fan: 1 },
      ),
      { lights: { color: { g: 255 } } },
    );
  });

  test('keys only in reported never appear', () => {
    assert.deepEqual(deltaState({ a: 1 }, { a: 2, extra: 1, nested: { x: 1 } }), { a: 1 });
    assert.deepEqual(deltaState({ o: { a: 1 } }, { o: { a: 1, b: 2 } }), undefined);
  });

  test('arrays are compared as whole values and copied whole', () => {
    assert.equal(deltaState({ a: [1, 2] }, { a: [1, 2] }), undefined);
    assert.deepEqual(deltaState({ a: [1, 2, 3] }, { a: [1, 2] }), { a: [1, 2, 3] });
    assert.deepEqual(deltaState({ a: [1, 2] }, { a: [2, 1] }), { a: [1, 2] });
    assert.deepEqual(deltaState({ a: [{ x: 1, y: [2] }, 3] }, { a: [{ x: 1, y: [9] }, 3] }), { a: [{ x: 1, y: [2] }, 3] });
    assert.equal(deltaState({ a: [{ x: 1, y: 2 }] }, { a: [{ y: 2, x: 1 }] }), undefined);
  });

  test('values of different kinds or types differ', () => {
    assert.deepEqual(deltaState({ a: { b: 1 } }, { a: 5 }), { a: { b: 1 } });
    assert.deepEqual(deltaState({ a: 5 }, { a: { b: 1 } }), { a: 5 });
    assert.deepEqual(deltaState({ a: [1] }, { a: { 0: 1 } }), { a: [1] });
    assert.deepEqual(deltaState({ a: '1', b: 0, c: true, d: '' }, { a: 1, b: false, c: 'true', d: 0 }), { a: '1', b: 0, c: true, d: '' });
  });

  test('numbers compare by value', () => {
    const s = shadowOf('{"state":{"desired":{"a":1.0,"b":1e2,"c":0.1}}}', '{"state":{"reported":{"a":1,"b":100,"c":0.10}}}');
    assert.equal(computeDelta(s), undefined);
  });

  test('an empty desired object shows only when reported lacks the key', () => {
    assert.deepEqual(deltaState({ a: {} }), { a: {} });
    assert.equal(deltaState({ a: {} }, { a: { x: 1 } }), undefined);
    assert.deepEqual(deltaState({ a: {} }, { a: 1 }), { a: {} });
  });

  test('a key removed from reported but still desired reappears', () => {
    const s = shadowOf({ state: { desired: { a: 1 }, reported: { a: 1 } } });
    assert.equal(computeDelta(s), undefined);
    assert.deepEqual(computeDelta(update(s, { state: { reported: { a: null } } }, 300).next)?.state, { a: 1 });
  });

  test('delta metadata is the desired metadata of exactly the delta nodes', () => {
    const s = shadowOf(
      { state: { desired: { a: { b: 1, c: 2 }, arr: [1, 2], o: { p: 1 } } } },
      { state: { desired: { a: { c: 3 } } } },
      { state: { reported: { a: { b: 1, c: 2 }, arr: [1], o: 'x' } } },
    );
    assert.deepEqual(computeDelta(s), {
      state: { a: { c: 3 }, arr: [1, 2], o: { p: 1 } },
      metadata: { a: { c: { timestamp: 200 } }, arr: [{ timestamp: 100 }, { timestamp: 100 }], o: { p: { timestamp: 100 } } },
    });
  });

  test('the delta is a fresh tree', () => {
    const s = pair({ a: { b: [1] } });
    const d = computeDelta(s)!;
    (d.state['a'] as JsonObject)['b'] = 'changed';
    assert.deepEqual(s.state.desired, { a: { b: [1] } });
  });
});

describe('/update/delta publication', () => {
  test('lists every differing key, not only those of the current update', () => {
    const s = shadowOf({ state: { reported: { a: 0, b: 0 } } }, { state: { desired: { a: 1 } } });
    const r = update(s, { state: { desired: { b: 2 } } }, 300);
    assert.deepEqual(r.delta, {
      version: 3,
      timestamp: 300,
      state: { a: 1, b: 2 },
      metadata: { a: { timestamp: 200 }, b: { timestamp: 300 } },
    });
  });

  test('is published only for a desired object that leaves a difference', () => {
    const s = shadowOf({ state: { desired: { a: 1 }, reported: { a: 0 } } });
    assert.equal(update(s, { state: { reported: { x: 1 } } }, 300).delta, undefined, 'reported-only update');
    assert.ok(update(s, { state: { reported: { x: 1 }, desired: {} } }, 300).delta, 'desired present, difference remains');
    assert.equal(update(s, { state: { desired: { a: 0 } } }, 300).delta, undefined, 'desired now matches');
    assert.equal(update(s, { state: { desired: null } }, 300).delta, undefined, 'desired removed');
    assert.equal(update(s, { state: null }, 300).delta, undefined, 'state cleared');
    assert.equal(update(s, { state: {} }, 300).delta, undefined, 'empty state');
  });

  test('deltaDocument and getResponse agree with computeDelta', () => {
    const s = pair({ a: 1, b: { c: 2 } }, { a: 1, b: { c: 3 } });
    assert.deepEqual(deltaDocument(s, 9, 'x'), {
      version: 2,
      timestamp: 9,
      state: { b: { c: 2 } },
      metadata: { b: { c: { timestamp: 100 } } },
      clientToken: 'x',
    });
    assert.deepEqual((getResponse(s, 9)['state'] as JsonObject)['delta'], computeDelta(s)!.state);
    assert.equal(deltaDocument(pair({ a: 1 }, { a: 1 }), 9), undefined);
  });
});
