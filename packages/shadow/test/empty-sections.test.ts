/**
 * Empty top-level sections. AWS: a shadow document "contains a `desired` property only if it has
 * a desired state" (developer guide, "Empty shadow document properties"), so `desired` and
 * `reported` never appear as `{}` in the stored state, its metadata, `/update/documents` or GET.
 * Nested objects are values and keep their `{}`. Every accepted update still raises the version by
 * one: AWS documents "every time the document is updated, this version number is incremented" and
 * says nothing of updates that change nothing, so the existing behaviour is kept.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { computeDelta, getResponse, type JsonObject, type StoredShadow } from '../src/index.js';
import { shadowOf, update } from './helpers.js';

/** What GET, `/update/documents` current and the stored shadow say, which must all agree. */
function views(r: ReturnType<typeof update>, timestamp: number): { get: JsonObject; current: JsonObject } {
  return { get: getResponse(r.next, timestamp), current: r.documents['current'] as JsonObject };
}

describe('a section whose last property is removed disappears', () => {
  test('desired: state, metadata, documents, GET and delta agree', () => {
    const s = shadowOf({ state: { desired: { color: 'red' }, reported: { color: 'blue' } } });
    assert.equal(s.version, 1);
    const r = update(s, { state: { desired: { color: null } }, clientToken: 'c1' }, 200);
    assert.deepEqual(r.next, {
      state: { reported: { color: 'blue' } },
      metadata: { reported: { color: { timestamp: 100 } } },
      version: 2,
    });
    // The accepted document echoes the request, as AWS does: the deletion is what was accepted.
    assert.deepEqual(r.accepted, {
      state: { desired: { color: null } },
      metadata: { desired: { color: { timestamp: 200 } } },
      version: 2,
      timestamp: 200,
      clientToken: 'c1',
    });
    assert.equal(r.delta, undefined, 'no desired state, so no delta');
    assert.deepEqual(r.documents, {
      previous: {
        state: { desired: { color: 'red' }, reported: { color: 'blue' } },
        metadata: { desired: { color: { timestamp: 100 } }, reported: { color: { timestamp: 100 } } },
        version: 1,
      },
      current: { state: { reported: { color: 'blue' } }, metadata: { reported: { color: { timestamp: 100 } } }, version: 2 },
      timestamp: 200,
      clientToken: 'c1',
    });
    const { get } = views(r, 300);
    assert.deepEqual(get, {
      state: { reported: { color: 'blue' } },
      metadata: { reported: { color: { timestamp: 100 } } },
      version: 2,
      timestamp: 300,
    });
  });

  test('reported: the delta then lists all of desired', () => {
    const s = shadowOf({ state: { desired: { a: 1, b: { c: 2 } }, reported: { a: 1 } } });
    const r = update(s, { state: { reported: { a: null } } }, 200);
    assert.deepEqual(r.next.state, { desired: { a: 1, b: { c: 2 } } });
    assert.deepEqual(Object.keys(r.next.metadata), ['desired']);
    const { get, current } = views(r, 300);
    assert.deepEqual(get['state'], { desired: { a: 1, b: { c: 2 } }, delta: { a: 1, b: { c: 2 } } });
    assert.deepEqual(Object.keys(get['metadata'] as JsonObject), ['desired']);
    assert.deepEqual(current['state'], { desired: { a: 1, b: { c: 2 } } });
  });

  test('several deletions in one update, the section emptied while the other is written', () => {
    const s = shadowOf({ state: { desired: { a: 1, b: [1, 2], c: { d: 1 } } } });
    const r = update(s, { state: { desired: { a: null, b: null, c: null }, reported: { a: 1 } } }, 200);
    assert.deepEqual(r.next, { state: { reported: { a: 1 } }, metadata: { reported: { a: { timestamp: 200 } } }, version: 2 });
  });

  test('both sections emptied leave an empty, still existing shadow', () => {
    const s = shadowOf({ state: { desired: { a: 1 }, reported: { b: 2 } } });
    const r = update(s, { state: { desired: { a: null }, reported: { b: null } } }, 200);
    assert.deepEqual(r.next, { state: {}, metadata: {}, version: 2 });
    assert.deepEqual(getResponse(r.next, 300), { state: {}, metadata: {}, version: 2, timestamp: 300 });
    assert.deepEqual(r.documents['current'], { state: {}, metadata: {}, version: 2 });
  });

  test('the section comes back with the next property written to it', () => {
    const s = shadowOf({ state: { desired: { a: 1 } } }, { state: { desired: { a: null } } });
    assert.deepEqual(s.state, {});
    const r = update(s, { state: { desired: { b: 2 } } }, 300);
    assert.deepEqual(r.next, { state: { desired: { b: 2 } }, metadata: { desired: { b: { timestamp: 300 } } }, version: 3 });
    assert.deepEqual(r.delta?.['state'], { b: 2 });
  });
});

describe('deleting a property that never existed', () => {
  test('into an absent section does not create it', () => {
    const s = shadowOf({ state: { reported: { a: 1 } } });
    const r = update(s, { state: { desired: { ghost: null } } }, 200);
    assert.deepEqual(r.next, { state: s.state, metadata: s.metadata, version: 2 });
    assert.equal(r.delta, undefined);
    assert.deepEqual((r.documents['current'] as JsonObject)['state'], { reported: { a: 1 } });
    assert.deepEqual(getResponse(r.next, 300)['state'], { reported: { a: 1 } });
  });

  test('as the first update creates an empty shadow at version 1', () => {
    const r = update(undefined, { state: { desired: { ghost: null }, reported: { ghost: null } } }, 100);
    assert.deepEqual(r.next, { state: {}, metadata: {}, version: 1 });
    assert.deepEqual(r.documents, { previous: null, current: { state: {}, metadata: {}, version: 1 }, timestamp: 100 });
  });

  test('nested deletions into an absent section leave the nested object, which is a value', () => {
    const r = update(undefined, { state: { desired: { a: { b: null } } } }, 100);
    assert.deepEqual(r.next.state, { desired: { a: {} } });
    assert.deepEqual(r.next.metadata, { desired: { a: {} } });
  });
});

describe('"desired": {} changes nothing', () => {
  test('on a shadow without desired state', () => {
    const s = shadowOf({ state: { reported: { a: 1 } } });
    const r = update(s, { state: { desired: {} } }, 200);
    assert.deepEqual(r.next, { state: { reported: { a: 1 } }, metadata: { reported: { a: { timestamp: 100 } } }, version: 2 });
    assert.deepEqual(r.accepted, { state: { desired: {} }, metadata: { desired: {} }, version: 2, timestamp: 200 });
    assert.equal(r.delta, undefined);
    assert.deepEqual(getResponse(r.next, 300)['state'], { reported: { a: 1 } });
  });

  test('on a new shadow, with "reported": {} too', () => {
    const r = update(undefined, { state: { desired: {}, reported: {} } }, 100);
    assert.deepEqual(r.next, { state: {}, metadata: {}, version: 1 });
    assert.deepEqual(r.accepted, {
      state: { desired: {}, reported: {} },
      metadata: { desired: {}, reported: {} },
      version: 1,
      timestamp: 100,
    });
  });

  test('on a shadow with desired state, whose timestamps stay', () => {
    const s = shadowOf({ state: { desired: { a: 1 }, reported: { a: 2 } } });
    const r = update(s, { state: { desired: {} } }, 200);
    assert.deepEqual(r.next, { state: s.state, metadata: s.metadata, version: 2 });
  });
});

describe('nested empty objects are values', () => {
  test('written as {} they are stored, mirrored in metadata, shown by GET and in the delta', () => {
    const r = update(undefined, { state: { desired: { cfg: {}, n: 1 }, reported: { n: 1 } } }, 100);
    assert.deepEqual(r.next.state, { desired: { cfg: {}, n: 1 }, reported: { n: 1 } });
    assert.deepEqual(r.next.metadata, { desired: { cfg: {}, n: { timestamp: 100 } }, reported: { n: { timestamp: 100 } } });
    const get = getResponse(r.next, 200);
    assert.deepEqual(get['state'], { desired: { cfg: {}, n: 1 }, reported: { n: 1 }, delta: { cfg: {} } });
    assert.deepEqual(r.delta?.['state'], { cfg: {} });
  });

  test('a section holding only an emptied object still exists', () => {
    const s = shadowOf({ state: { reported: { cfg: { x: 1 } } } });
    const r = update(s, { state: { reported: { cfg: { x: null } } } }, 200);
    assert.deepEqual(r.next.state, { reported: { cfg: {} } });
    assert.deepEqual(r.next.metadata, { reported: { cfg: {} } });
    assert.deepEqual(getResponse(r.next, 300)['state'], { reported: { cfg: {} } });
  });
});

describe('shadows stored with an empty section', () => {
  // Written before empty sections were dropped; such rows can still be in a database.
  const legacy: StoredShadow = {
    state: { desired: {}, reported: { a: 1 } },
    metadata: { desired: {}, reported: { a: { timestamp: 50 } } },
    version: 4,
  };

  test('GET and the delta do not show it', () => {
    assert.deepEqual(getResponse(legacy, 60), {
      state: { reported: { a: 1 } },
      metadata: { reported: { a: { timestamp: 50 } } },
      version: 4,
      timestamp: 60,
    });
    assert.equal(computeDelta(legacy), undefined);
  });

  test('the next update drops it from the stored state and the documents', () => {
    const r = update(legacy, { state: { reported: { b: 2 } } }, 70);
    assert.deepEqual(r.next.state, { reported: { a: 1, b: 2 } });
    assert.deepEqual(Object.keys(r.next.metadata), ['reported']);
    assert.deepEqual((r.documents['previous'] as JsonObject)['state'], { reported: { a: 1 } });
  });
});
