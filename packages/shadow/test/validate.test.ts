import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clientTokenOf,
  DEFAULT_SHADOW_LIMITS,
  parseTokenRequest,
  parseUpdateRequest,
  SHADOW_ERROR_MESSAGES as M,
  validateUpdateRequest,
} from '../src/index.js';
import { expectShadowError } from './helpers.js';

const bytes = (...b: number[]) => new Uint8Array(b);
const body = (v: unknown) => JSON.stringify(v);
const nest = (levels: number, leaf: unknown): unknown => (levels === 0 ? leaf : { n: nest(levels - 1, leaf) });

describe('parseUpdateRequest: encoding and JSON', () => {
  const encodings: [string, Uint8Array][] = [
    ['invalid byte', bytes(0x7b, 0xff, 0x7d)],
    ['overlong encoding of "/"', bytes(0x22, 0xc0, 0xaf, 0x22)],
    ['encoded surrogate', bytes(0x22, 0xed, 0xa0, 0x80, 0x22)],
    ['truncated sequence', bytes(0x22, 0xe2, 0x82)],
  ];
  for (const [name, payload] of encodings) {
    test(`415 for ${name}`, () => expectShadowError(() => parseUpdateRequest(payload), 415, M.unsupportedEncoding));
  }

  test('valid multi-byte UTF-8 bytes decode', () => {
    const req = parseUpdateRequest(new TextEncoder().encode(body({ state: { reported: { t: 'é😀' } } })));
    assert.deepEqual(req, { state: { reported: { t: 'é😀' } } });
  });

  for (const text of ['', ' ', '{', '{"state":{}', 'nul', '[]', '"x"', 'null', '5', 'true', '{"state":{}} x']) {
    test(`400 Invalid JSON for ${JSON.stringify(text)}`, () => expectShadowError(() => parseUpdateRequest(text), 400, M.invalidJson));
  }
});

describe('parseUpdateRequest: structure', () => {
  test('state is required', () => {
    expectShadowError(() => parseUpdateRequest('{}'), 400, M.missingState);
    expectShadowError(() => parseUpdateRequest('{"State":{},"desired":{}}'), 400, M.missingState);
  });

  for (const state of [5, 'x', true, [], [{}]]) {
    test(`state ${JSON.stringify(state)} is not an object`, () =>
      expectShadowError(() => parseUpdateRequest(body({ state })), 400, M.stateNotObject));
  }

  for (const key of ['delta', 'metadata', 'Desired', 'version']) {
    test(`state.${key} is an invalid node`, () =>
      expectShadowError(() => parseUpdateRequest(body({ state: { desired: {}, [key]: {} } })), 400, M.invalidStateNode));
  }

  for (const value of [1, 'on', true, [], [1]]) {
    test(`desired ${JSON.stringify(value)} / reported ${JSON.stringify(value)} are not objects`, () => {
      expectShadowError(() => parseUpdateRequest(body({ state: { desired: value } })), 400, M.desiredNotObject);
      expectShadowError(() => parseUpdateRequest(body({ state: { reported: value } })), 400, M.reportedNotObject);
    });
  }

  test('accepts null state, null sections, empty state, and ignores other top-level keys', () => {
    assert.deepEqual(parseUpdateRequest('{"state":null}'), { state: null });
    assert.deepEqual(parseUpdateRequest('{"state":{}}'), { state: {} });
    assert.deepEqual(parseUpdateRequest('{"state":{"desired":null,"reported":{"a":null}}}'), {
      state: { desired: null, reported: { a: null } },
    });
    const req = parseUpdateRequest(
      body({ state: { desired: { a: 1 } }, thingName: 't', shadowName: 's', metadata: 5, timestamp: 'x', clientToken: 'c', version: 3 }),
    );
    assert.deepEqual(req, { state: { desired: { a: 1 } }, clientToken: 'c', version: 3 });
  });

  test('rejects before looking at version or token when state is missing', () => {
    expectShadowError(() => parseUpdateRequest(body({ version: -1, clientToken: 5 })), 400, M.missingState);
  });
});

describe('parseUpdateRequest: version and clientToken', () => {
  for (const version of [-1, 1.5, '1', null, true, {}, 2 ** 53]) {
    test(`version ${JSON.stringify(version)} is invalid`, () =>
      expectShadowError(() => parseUpdateRequest(body({ state: {}, version })), 400, M.invalidVersion));
  }

  test('version 0 and large safe integers are valid', () => {
    assert.equal(parseUpdateRequest(body({ state: {}, version: 0 })).version, 0);
    assert.equal(parseUpdateRequest(body({ state: {}, version: 2 ** 53 - 1 })).version, 2 ** 53 - 1);
  });

  for (const token of [5, null, {}, ['a'], 'x'.repeat(65), 'é'.repeat(33), '😀'.repeat(17)]) {
    const label = typeof token === 'string' ? `${token.length}-char string` : JSON.stringify(token);
    test(`clientToken ${label} is invalid`, () =>
      expectShadowError(() => parseUpdateRequest(body({ state: {}, clientToken: token })), 400, M.invalidClientToken));
  }

  test('clientToken limit is in UTF-8 bytes, inclusive', () => {
    for (const token of ['', 'x'.repeat(64), 'é'.repeat(32), '😀'.repeat(16)]) {
      assert.equal(parseUpdateRequest(body({ state: {}, clientToken: token })).clientToken, token);
    }
    expectShadowError(
      () => parseUpdateRequest(body({ state: {}, clientToken: 'abcd' }), { maxClientTokenBytes: 3 }),
      400,
      M.invalidClientToken,
    );
  });
});

describe('parseUpdateRequest: section content', () => {
  const nullInArray: unknown[] = [[null], [1, [null]], [{ b: null }], [[{ c: [null] }]]];
  for (const value of nullInArray) {
    test(`arrays may not contain null: ${JSON.stringify(value)}`, () => {
      expectShadowError(() => parseUpdateRequest(body({ state: { desired: { a: value } } })), 400, M.invalidJson);
      expectShadowError(() => parseUpdateRequest(body({ state: { reported: { x: { a: value } } } })), 400, M.invalidJson);
    });
  }

  test('the AWS example array with a null is rejected', () =>
    expectShadowError(() => parseUpdateRequest('{"state":{"desired":{"colors":[null,"RED","GREEN"]}}}'), 400, M.invalidJson));

  test('depth: the section is level 1; six levels pass, seven fail', () => {
    const six = nest(6, 1); // the desired object and five nested in it
    assert.deepEqual(parseUpdateRequest(body({ state: { desired: six } })).state, { desired: six });
    const seven = nest(7, 1);
    for (const name of ['desired', 'reported']) {
      expectShadowError(
        () => parseUpdateRequest(body({ state: { [name]: seven } })),
        400,
        'JSON contains too many levels of nesting; maximum is 6',
      );
    }
  });

  test('depth: empty containers and arrays count as levels, scalars do not', () => {
    parseUpdateRequest(body({ state: { desired: nest(5, {}) } }));
    expectShadowError(
      () => parseUpdateRequest(body({ state: { desired: nest(6, {}) } })),
      400,
      'JSON contains too many levels of nesting; maximum is 6',
    );
    parseUpdateRequest(body({ state: { desired: { a: [[[[[1]]]]] } } })); // desired + five arrays: 6
    expectShadowError(
      () => parseUpdateRequest(body({ state: { desired: { a: [[[[[[1]]]]]] } } })),
      400,
      'JSON contains too many levels of nesting; maximum is 6',
    );
    parseUpdateRequest(body({ state: { desired: { a: [{ b: [{ c: [1] }] }] } } })); // 6
    expectShadowError(
      () => parseUpdateRequest(body({ state: { desired: { a: [{ b: [{ c: [[]] }] }] } } })),
      400,
      'JSON contains too many levels of nesting; maximum is 6',
    );
  });

  test('depth limit is configurable and named in the message', () => {
    parseUpdateRequest(body({ state: { desired: nest(3, 1) } }), { maxDepth: 3 });
    expectShadowError(
      () => parseUpdateRequest(body({ state: { desired: nest(4, 1) } }), { maxDepth: 3 }),
      400,
      'JSON contains too many levels of nesting; maximum is 3',
    );
    parseUpdateRequest(body({ state: { desired: nest(8, 1) } }), { maxDepth: 8 });
    expectShadowError(
      () => parseUpdateRequest(body({ state: { desired: nest(9, 1) } }), { maxDepth: 8 }),
      400,
      'JSON contains too many levels of nesting; maximum is 8',
    );
  });

  test('hostile nesting is rejected without exhausting the stack', () => {
    const n = 100_000;
    const deep = '{"state":{"reported":' + '{"a":'.repeat(n) + '1' + '}'.repeat(n) + '}}';
    expectShadowError(() => parseUpdateRequest(deep), 400, 'JSON contains too many levels of nesting; maximum is 6');
  });

  test('validateUpdateRequest applies the same checks to parsed values', () => {
    expectShadowError(() => validateUpdateRequest([]), 400, M.invalidJson);
    expectShadowError(() => validateUpdateRequest({ state: { desired: { a: [null] } } }), 400, M.invalidJson);
    assert.deepEqual(validateUpdateRequest({ state: { reported: { a: 1 } }, version: 2 }), { state: { reported: { a: 1 } }, version: 2 });
  });
});

describe('parseTokenRequest (/get, /delete)', () => {
  test('an empty or blank payload has no token', () => {
    assert.deepEqual(parseTokenRequest(''), {});
    assert.deepEqual(parseTokenRequest(new Uint8Array()), {});
    assert.deepEqual(parseTokenRequest(' \n\t'), {});
    assert.deepEqual(parseTokenRequest('{}'), {});
  });

  test('returns the token and ignores every other field', () => {
    assert.deepEqual(parseTokenRequest('{"clientToken":"abc","state":5,"version":-1,"x":[null]}'), { clientToken: 'abc' });
    assert.deepEqual(parseTokenRequest(new TextEncoder().encode('{"clientToken":"é"}')), { clientToken: 'é' });
  });

  test('errors', () => {
    for (const text of ['{', '[]', '"x"', '5', 'null']) expectShadowError(() => parseTokenRequest(text), 400, M.invalidJson);
    expectShadowError(() => parseTokenRequest(bytes(0xff)), 415, M.unsupportedEncoding);
    expectShadowError(() => parseTokenRequest(body({ clientToken: 'x'.repeat(65) })), 400, M.invalidClientToken);
    expectShadowError(() => parseTokenRequest(body({ clientToken: 7 })), 400, M.invalidClientToken);
    expectShadowError(() => parseTokenRequest(body({ clientToken: 'abc' }), { maxClientTokenBytes: 2 }), 400, M.invalidClientToken);
  });
});

describe('clientTokenOf', () => {
  test('finds the token in otherwise invalid requests', () => {
    assert.equal(clientTokenOf('{"clientToken":"t1","state":5}'), 't1');
    assert.equal(clientTokenOf('{"clientToken":"t2"}'), 't2');
    assert.equal(clientTokenOf(new TextEncoder().encode('{"clientToken":"t3","version":-4}')), 't3');
  });

  test('gives undefined instead of throwing', () => {
    for (const payload of ['', '{', '[{"clientToken":"a"}]', '{"clientToken":5}', '{"state":{}}', bytes(0xff, 0x00)]) {
      assert.equal(clientTokenOf(payload), undefined);
    }
    assert.equal(clientTokenOf(body({ clientToken: 'x'.repeat(DEFAULT_SHADOW_LIMITS.maxClientTokenBytes + 1) })), undefined);
    assert.equal(clientTokenOf(body({ clientToken: 'abc' }), { maxClientTokenBytes: 2 }), undefined);
  });
});

test('DEFAULT_SHADOW_LIMITS match AWS and cannot be changed by a caller', () => {
  assert.deepEqual({ ...DEFAULT_SHADOW_LIMITS }, { maxStateBytes: 8192, maxDepth: 6, maxClientTokenBytes: 64 });
  assert.ok(Object.isFrozen(DEFAULT_SHADOW_LIMITS));
});
