import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  deleteResponse,
  errorDocument,
  getResponse,
  ShadowError,
  SHADOW_ERROR_MESSAGES as M,
  stateBytes,
  type JsonObject,
  type StoredShadow,
} from '../src/index.js';
import { expectShadowError, sameShape, shadowOf, update } from './helpers.js';

describe('versions', () => {
  test('a new shadow starts at baseVersion + 1', () => {
    assert.equal(update(undefined, { state: { reported: { a: 1 } } }, 1).next.version, 1);
    assert.equal(update(undefined, { state: { reported: { a: 1 } } }, 1, { baseVersion: 7 }).next.version, 8);
  });

  test('every accepted update increments by one, even when nothing changes', () => {
    const s1 = shadowOf({ state: { desired: { a: 1 } } });
    const r = update(s1, { state: {} }, 500);
    assert.equal(r.next.version, 2);
    assert.deepEqual(r.next.state, s1.state);
    assert.deepEqual(r.next.metadata, s1.metadata);
    assert.equal(update(r.next, { state: { desired: { a: 1 } } }, 600).next.version, 3);
  });

  test('version given and different from the current one is a 409', () => {
    const s3 = shadowOf({ state: { desired: { a: 1 } } }, { state: { desired: { a: 2 } } }, { state: { desired: { a: 3 } } });
    assert.equal(s3.version, 3);
    for (const version of [0, 2, 4])
      expectShadowError(() => update(s3, { state: { desired: { a: 9 } }, version }, 900), 409, M.versionConflict);
    const ok = update(s3, { state: { desired: { a: 9 } }, version: 3 }, 900);
    assert.equal(ok.next.version, 4);
    assert.equal(ok.next.state.desired?.['a'], 9);
  });

  test('without a shadow the version is checked against baseVersion, which is otherwise ignored', () => {
    expectShadowError(() => update(undefined, { state: {}, version: 1 }, 1), 409, M.versionConflict);
    assert.equal(update(undefined, { state: {}, version: 0 }, 1).next.version, 1);
    expectShadowError(() => update(undefined, { state: {}, version: 0 }, 1, { baseVersion: 5 }), 409, M.versionConflict);
    assert.equal(update(undefined, { state: {}, version: 5 }, 1, { baseVersion: 5 }).next.version, 6);
    const s1 = shadowOf({ state: {} });
    assert.equal(update(s1, { state: {} }, 2, { baseVersion: 40 }).next.version, 2);
  });
});

describe('merge', () => {
  test('objects merge deeply, scalars replace, other keys stay', () => {
    const s = shadowOf({ state: { reported: { a: { b: 1, c: 2 }, d: 3 } } });
    const r = update(s, { state: { reported: { a: { b: 5, e: { f: 1 } } } } }, 200);
    assert.deepEqual(r.next.state, { reported: { a: { b: 5, c: 2, e: { f: 1 } }, d: 3 } });
  });

  test('existing keys keep their order and new keys are appended', () => {
    const s = shadowOf({ state: { reported: { z: 1, a: 2, m: 3 } } });
    const r = update(s, { state: { reported: { b: 0, a: 9, m: null } } }, 200);
    assert.deepEqual(Object.keys(r.next.state.reported!), ['z', 'a', 'b']);
  });

  test('null removes a key and its metadata', () => {
    const s = shadowOf({ state: { desired: { a: 1, b: { c: 2 }, k: 3 } } });
    const r = update(s, { state: { desired: { a: null, b: null } } }, 200);
    assert.deepEqual(r.next.state, { desired: { k: 3 } });
    assert.deepEqual(r.next.metadata, { desired: { k: { timestamp: 100 } } });
  });

  test('objects emptied by deletion stay as {}', () => {
    const s = shadowOf({ state: { desired: { a: { b: 1 }, k: 1 } } });
    const r = update(s, { state: { desired: { a: { b: null } } } }, 200);
    assert.deepEqual(r.next.state, { desired: { a: {}, k: 1 } });
    assert.deepEqual(r.next.metadata, { desired: { a: {}, k: { timestamp: 100 } } });
  });

  test('a patch object where no object is stored merges into an empty one', () => {
    const s = shadowOf({ state: { desired: { s: 5 } } });
    const r = update(s, { state: { desired: { a: { b: null }, s: { t: 1, u: null } } } }, 200);
    assert.deepEqual(r.next.state, { desired: { s: { t: 1 }, a: {} } });
    assert.deepEqual(r.next.metadata, { desired: { s: { t: { timestamp: 200 } }, a: {} } });
  });

  test('deleting an absent key changes nothing but the version', () => {
    const s = shadowOf({ state: { reported: { a: 1 } } });
    const r = update(s, { state: { reported: { zz: null } } }, 200);
    assert.deepEqual(r.next.state, s.state);
    assert.deepEqual(r.next.metadata, s.metadata);
    assert.equal(r.next.version, 2);
  });

  test('an empty object merged into an object changes nothing; replacing a scalar stores {}', () => {
    const s = shadowOf({ state: { desired: { o: { x: 1 }, n: 4 } } });
    const r = update(s, { state: { desired: { o: {}, n: {} } } }, 200);
    assert.deepEqual(r.next.state, { desired: { o: { x: 1 }, n: {} } });
    assert.deepEqual(r.next.metadata, { desired: { o: { x: { timestamp: 100 } }, n: {} } });
  });

  test('arrays are replaced whole', () => {
    const s = shadowOf({ state: { desired: { colors: ['RED', 'GREEN', 'BLUE'], m: [{ a: 1 }, { b: 2 }] } } });
    const r = update(s, { state: { desired: { colors: ['RED'], m: [{ c: 3 }] } } }, 200);
    assert.deepEqual(r.next.state, { desired: { colors: ['RED'], m: [{ c: 3 }] } });
    assert.deepEqual(r.next.metadata.desired, { colors: [{ timestamp: 200 }], m: [{ c: { timestamp: 200 } }] });
  });

  test('values change kind: scalar to object, object to array, array to scalar', () => {
    const s = shadowOf({ state: { reported: { a: 1, b: { x: 1 }, c: [1, 2] } } });
    const r = update(s, { state: { reported: { a: { y: 2 }, b: [3], c: 'z' } } }, 200);
    assert.deepEqual(r.next.state.reported, { a: { y: 2 }, b: [3], c: 'z' });
    assert.deepEqual(r.next.metadata.reported, { a: { y: { timestamp: 200 } }, b: [{ timestamp: 200 }], c: { timestamp: 200 } });
  });

  test('desired: null removes the whole section, reported stays', () => {
    const s = shadowOf({ state: { desired: { a: 1 }, reported: { a: 2 } } });
    const r = update(s, { state: { desired: null, reported: { b: 3 } } }, 200);
    assert.deepEqual(r.next.state, { reported: { a: 2, b: 3 } });
    assert.deepEqual(Object.keys(r.next.metadata), ['reported']);
    assert.deepEqual(update(r.next, { state: { reported: null } }, 300).next.state, {});
  });

  test('state: null empties state and metadata, keeps the shadow and bumps the version', () => {
    const s = shadowOf({ state: { desired: { a: 1 }, reported: { b: [1] } } }, { state: { reported: { c: 2 } } });
    const r = update(s, { state: null, clientToken: 'n' }, 300);
    assert.deepEqual(r.next, { state: {}, metadata: {}, version: 3 });
    assert.deepEqual(r.accepted, { state: null, metadata: { timestamp: 300 }, version: 3, timestamp: 300, clientToken: 'n' });
    assert.equal(r.delta, undefined);
    assert.deepEqual(getResponse(r.next, 400), { state: {}, metadata: {}, version: 3, timestamp: 400 });
    const created = update(undefined, { state: null }, 5);
    assert.deepEqual(created.next, { state: {}, metadata: {}, version: 1 });
  });
});

describe('metadata', () => {
  test('untouched keys keep their timestamps at every depth', () => {
    const s = shadowOf({ state: { reported: { a: { b: 1, c: { d: 2 } }, e: [1, 2] } } }, { state: { reported: { a: { b: 5 } } } });
    assert.deepEqual(s.metadata.reported, {
      a: { b: { timestamp: 200 }, c: { d: { timestamp: 100 } } },
      e: [{ timestamp: 100 }, { timestamp: 100 }],
    });
  });

  test('a rewritten leaf gets the new timestamp even if its value is unchanged', () => {
    const s = shadowOf({ state: { desired: { a: 1, b: 2 } } }, { state: { desired: { a: 1 } } });
    assert.deepEqual(s.metadata.desired, { a: { timestamp: 200 }, b: { timestamp: 100 } });
  });

  test('arrays get one entry per element and nested containers keep mirroring', () => {
    const s = shadowOf({ state: { reported: { rgb: [128, 128, 128], mix: [[1, 2], { k: 'v' }, []] } } });
    assert.deepEqual(s.metadata.reported, {
      rgb: [{ timestamp: 100 }, { timestamp: 100 }, { timestamp: 100 }],
      mix: [[{ timestamp: 100 }, { timestamp: 100 }], { k: { timestamp: 100 } }, []],
    });
  });

  test('stored metadata gaps are repaired with the update timestamp, keeping the shape', () => {
    const broken: StoredShadow = {
      state: { reported: { a: 1, b: { c: [1, 2] } } },
      metadata: { reported: { a: { timestamp: 7 } } },
      version: 1,
    };
    const r = update(broken, { state: { desired: { z: 1 } } }, 50);
    assert.deepEqual(r.next.metadata.reported, { a: { timestamp: 7 }, b: { c: [{ timestamp: 50 }, { timestamp: 50 }] } });
    assert.ok(sameShape(r.next.state, r.next.metadata));
  });
});

describe('size limit', () => {
  test('stateBytes counts the UTF-8 JSON of desired plus reported', () => {
    assert.equal(stateBytes({}), 0);
    assert.equal(stateBytes({ desired: { a: 1 } }), 7);
    assert.equal(stateBytes({ desired: { a: 1 }, reported: {} }), 9);
    assert.equal(stateBytes({ reported: { é: '😀' } }), '{"":""}'.length + 2 + 4);
  });

  test('exactly maxStateBytes passes, one more byte is a 413', () => {
    const filler = (n: number) => ({ state: { desired: { a: 'x'.repeat(n) } } }); // {"a":"..."} is 8 + n bytes
    assert.equal(stateBytes(update(undefined, filler(8184), 1).next.state), 8192);
    expectShadowError(() => update(undefined, filler(8185), 1), 413, M.payloadTooLarge);
    const multi = (n: number) => ({ state: { reported: { a: 'é'.repeat(n) } } });
    update(undefined, multi(4092), 1);
    expectShadowError(() => update(undefined, multi(4093), 1), 413, M.payloadTooLarge);
  });

  test('the limit applies to the merged state of both sections', () => {
    const s = shadowOf({ state: { reported: { r: 'x'.repeat(4000) } } }); // 4008 bytes
    update(s, { state: { desired: { d: 'y'.repeat(4176) } } }, 200); // + 4184 = 8192
    expectShadowError(() => update(s, { state: { desired: { d: 'y'.repeat(4177) } } }, 200), 413, M.payloadTooLarge);
    expectShadowError(() => update(s, { state: { reported: { r2: 'y'.repeat(4200) } } }, 200), 413, M.payloadTooLarge);
  });

  test('an update that shrinks an oversized shadow under the limit is accepted', () => {
    const big = update(undefined, { state: { desired: { a: 'x'.repeat(60), b: 'y'.repeat(60) } } }, 1, {
      limits: { maxStateBytes: 500 },
    }).next;
    const limits = { maxStateBytes: 80 };
    expectShadowError(() => update(big, { state: { desired: { c: 1 } } }, 2, { limits }), 413, M.payloadTooLarge);
    assert.deepEqual(update(big, { state: { desired: { b: null } } }, 2, { limits }).next.state, { desired: { a: 'x'.repeat(60) } });
  });

  test('metadata does not count', () => {
    const zeros = new Array(3000).fill(0); // ~6 KB of state, ~60 KB of metadata
    const r = update(undefined, { state: { reported: { z: zeros } } }, 1);
    assert.ok(JSON.stringify(r.next.metadata).length > 8192);
  });
});

describe('documents', () => {
  test('accepted echoes the request state as sent, nulls included, with mirrored metadata', () => {
    const s = shadowOf({ state: { desired: { a: 1, b: { c: 2 } } } });
    const r = update(s, { state: { desired: { a: null, b: { c: null, d: [1, 2] }, e: {} }, reported: null } }, 200);
    assert.deepEqual(r.accepted, {
      state: { desired: { a: null, b: { c: null, d: [1, 2] }, e: {} }, reported: null },
      metadata: {
        desired: { a: { timestamp: 200 }, b: { c: { timestamp: 200 }, d: [{ timestamp: 200 }, { timestamp: 200 }] }, e: {} },
        reported: { timestamp: 200 },
      },
      version: 2,
      timestamp: 200,
    });
  });

  test('documents carry previous and current snapshots without delta; previous is null on creation', () => {
    const first = update(undefined, { state: { desired: { a: 1 } } }, 100);
    assert.deepEqual(first.documents, {
      previous: null,
      current: { state: { desired: { a: 1 } }, metadata: { desired: { a: { timestamp: 100 } } }, version: 1 },
      timestamp: 100,
    });
    const second = update(first.next, { state: { reported: { a: 2 } } }, 200, { baseVersion: 99 });
    assert.deepEqual(second.documents, {
      previous: { state: { desired: { a: 1 } }, metadata: { desired: { a: { timestamp: 100 } } }, version: 1 },
      current: {
        state: { desired: { a: 1 }, reported: { a: 2 } },
        metadata: { desired: { a: { timestamp: 100 } }, reported: { a: { timestamp: 200 } } },
        version: 2,
      },
      timestamp: 200,
    });
    const recreated = update(undefined, { state: { reported: { a: 1 } } }, 300, { baseVersion: 4 });
    assert.equal(recreated.documents['previous'], null);
    assert.equal((recreated.documents['current'] as JsonObject)['version'], 5);
  });

  test('get omits absent sections and an empty delta', () => {
    const onlyReported = shadowOf({ state: { reported: { a: 1 } } });
    const g = getResponse(onlyReported, 500);
    assert.deepEqual(g, { state: { reported: { a: 1 } }, metadata: { reported: { a: { timestamp: 100 } } }, version: 1, timestamp: 500 });
    assert.deepEqual(Object.keys(g), ['state', 'metadata', 'version', 'timestamp']);
    const inSync = shadowOf({ state: { desired: { a: 1 }, reported: { a: 1 } } });
    assert.deepEqual(Object.keys(getResponse(inSync, 1)['state'] as JsonObject), ['desired', 'reported']);
    const differs = shadowOf({ state: { desired: { a: 1, b: 2 }, reported: { a: 1 } } });
    assert.deepEqual((getResponse(differs, 1)['state'] as JsonObject)['delta'], { b: 2 });
  });

  test('delete and error documents', () => {
    assert.deepEqual(deleteResponse(4, 1591057529), { version: 4, timestamp: 1591057529 });
    assert.deepEqual(errorDocument(ShadowError.versionConflict(), 1591057529), {
      code: 409,
      message: 'Version conflict',
      timestamp: 1591057529,
    });
    assert.deepEqual(errorDocument(ShadowError.noShadow('simShadow1'), 9), {
      code: 404,
      message: "No shadow exists with name: 'simShadow1'",
      timestamp: 9,
    });
  });

  test('every document echoes the clientToken, and none has the key without one', () => {
    const s = shadowOf({ state: { reported: { a: 1 } } });
    const r = update(s, { state: { desired: { a: 2 } }, clientToken: 'tok-1' }, 200);
    assert.ok(r.delta);
    for (const doc of [
      r.accepted,
      r.delta,
      r.documents,
      getResponse(r.next, 3, 'tok-1'),
      deleteResponse(2, 3, 'tok-1'),
      errorDocument(ShadowError.invalidJson(), 3, 'tok-1'),
    ]) {
      assert.equal(doc['clientToken'], 'tok-1');
    }
    const plain = update(s, { state: { desired: { a: 2 } } }, 200);
    assert.ok(plain.delta);
    for (const doc of [
      plain.accepted,
      plain.delta,
      plain.documents,
      getResponse(plain.next, 3),
      deleteResponse(2, 3),
      errorDocument(ShadowError.invalidJson(), 3),
    ]) {
      assert.ok(!Object.hasOwn(doc, 'clientToken'));
    }
  });

  test('the error factories carry the AWS codes and messages', () => {
    const cases: [ShadowError, number, string][] = [
      [ShadowError.invalidJson(), 400, 'Invalid JSON'],
      [ShadowError.missingState(), 400, 'Missing required node: state'],
      [ShadowError.stateNotObject(), 400, 'State node must be an object'],
      [ShadowError.desiredNotObject(), 400, 'Desired node must be an object'],
      [ShadowError.reportedNotObject(), 400, 'Reported node must be an object'],
      [ShadowError.invalidVersion(), 400, 'Invalid version'],
      [ShadowError.invalidClientToken(), 400, 'Invalid clientToken'],
      [ShadowError.tooDeep(6), 400, 'JSON contains too many levels of nesting; maximum is 6'],
      [ShadowError.invalidStateNode(), 400, 'State contains an invalid node'],
      [ShadowError.unauthorized(), 401, 'Unauthorized'],
      [ShadowError.forbidden(), 403, 'Forbidden'],
      [ShadowError.thingNotFound(), 404, 'Thing not found'],
      [ShadowError.noShadow('thing~s'), 404, "No shadow exists with name: 'thing~s'"],
      [ShadowError.versionConflict(), 409, 'Version conflict'],
      [ShadowError.payloadTooLarge(), 413, 'The payload exceeds the maximum size allowed'],
      [ShadowError.unsupportedEncoding(), 415, 'Unsupported documented encoding; supported encoding is UTF-8'],
      [ShadowError.throttled(), 429, M.throttled],
      [ShadowError.internalFailure(), 500, 'Internal service failure'],
    ];
    for (const [err, code, message] of cases) {
      assert.ok(err instanceof Error && err.name === 'ShadowError');
      assert.deepEqual([err.code, err.message], [code, message]);
    }
    assert.match(M.throttled, /more than 10 in-flight requests/);
  });
});
