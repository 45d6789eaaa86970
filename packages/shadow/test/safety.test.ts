import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { applyUpdate, getResponse, parseUpdateRequest } from '../src/index.js';
import { deepFreeze, shadowOf, update } from './helpers.js';

describe('keys that name Object.prototype members are plain data', () => {
  const hostile =
    '{"state":{"desired":{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"toString":"s","hasOwnProperty":1}}}';

  test('they are stored as own keys and never touch a prototype', () => {
    const r = update(undefined, hostile, 100);
    const desired = r.next.state.desired!;
    assert.equal(Object.getPrototypeOf(desired), Object.prototype);
    assert.deepEqual(Object.keys(desired), ['__proto__', 'constructor', 'toString', 'hasOwnProperty']);
    assert.deepEqual(Object.getOwnPropertyDescriptor(desired, '__proto__')?.value, { polluted: true });
    assert.deepEqual(Object.getOwnPropertyDescriptor(r.next.metadata.desired, '__proto__')?.value, { polluted: { timestamp: 100 } });
    assert.equal(Object.getPrototypeOf(r.next.metadata.desired), Object.prototype);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    assert.equal(Object.prototype.constructor, Object);
    assert.match(JSON.stringify(r.accepted), /"__proto__":\{"polluted":true\}/);
    assert.match(JSON.stringify(r.documents), /"__proto__":\{"polluted":\{"timestamp":100\}\}/);
    assert.deepEqual(
      r.delta?.['state'],
      JSON.parse('{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"toString":"s","hasOwnProperty":1}'),
    );
  });

  test('they merge, delete and diff like any key', () => {
    const s = update(undefined, hostile, 100).next;
    const merged = update(
      s,
      '{"state":{"desired":{"__proto__":{"more":1},"constructor":null},"reported":{"toString":"s","valueOf":2}}}',
      200,
    ).next;
    assert.deepEqual(
      JSON.stringify(merged.state),
      '{"desired":{"__proto__":{"polluted":true,"more":1},"toString":"s","hasOwnProperty":1},"reported":{"toString":"s","valueOf":2}}',
    );
    assert.deepEqual(
      JSON.stringify(getResponse(merged, 300)['state']),
      JSON.stringify({ ...merged.state, delta: JSON.parse('{"__proto__":{"polluted":true,"more":1},"hasOwnProperty":1}') }),
    );
    const emptyDesired = update(undefined, '{"state":{"desired":{"a":1}}}', 1).next;
    const noInherited = update(emptyDesired, '{"state":{"desired":{"constructor":{"name":"x"},"toString":{"y":1}}}}', 2).next;
    assert.deepEqual(JSON.stringify(noInherited.state.desired), '{"a":1,"constructor":{"name":"x"},"toString":{"y":1}}');
  });
});

describe('inputs are never mutated and outputs never alias them', () => {
  test('frozen inputs work and every output can be modified without touching them', () => {
    const current = deepFreeze(shadowOf({ state: { desired: { a: { b: [1, { c: 2 }] } }, reported: { a: { b: [1] }, k: 'v' } } }));
    const before = JSON.stringify(current);
    const request = deepFreeze(
      parseUpdateRequest('{"state":{"desired":{"a":{"d":[3]},"n":{"m":1}},"reported":{"k":null}},"clientToken":"t"}'),
    );
    const requestBefore = JSON.stringify(request);
    const r = applyUpdate(current, request, { timestamp: 300 });
    const outputs: unknown[] = [r.next, r.accepted, r.delta, r.documents, getResponse(current, 1), getResponse(r.next, 1)];
    const touch = (v: unknown): void => {
      if (typeof v !== 'object' || v === null) return;
      for (const k of Object.keys(v)) touch((v as Record<string, unknown>)[k]);
      if (Array.isArray(v)) v.push('mutated');
      else (v as Record<string, unknown>)['mutated'] = true;
    };
    for (const out of outputs) touch(out);
    assert.equal(JSON.stringify(current), before);
    assert.equal(JSON.stringify(request), requestBefore);
  });
});
