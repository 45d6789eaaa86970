/**
 * Property tests over random update sequences. The reference model below is written
 * independently of the library (Map-based merge, canonical-string comparison) so that the library
 * is checked against the documented semantics rather than against itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  applyUpdate,
  computeDelta,
  getResponse,
  parseUpdateRequest,
  ShadowError,
  type Json,
  type JsonObject,
  type StoredShadow,
  type UpdateResult,
} from '../src/index.js';
import { deepFreeze, sameShape } from './helpers.js';

type Obj = { [key: string]: Json };
type RawState = { desired?: Obj | null; reported?: Obj | null } | null;

const NO_SIZE_LIMIT = { maxStateBytes: Number.MAX_SAFE_INTEGER };
const SECTIONS = ['desired', 'reported'] as const;

// ---------------------------------------------------------------------------------------------
// Generators: few keys so that updates collide, prototype-named keys included; nulls only where
// they mean deletion (object values), never inside arrays; nesting well within the depth limit.

const key = fc.constantFrom('a', 'b', 'c', 'd', '__proto__', 'constructor');
const scalar: fc.Arbitrary<Json> = fc.oneof(fc.boolean(), fc.integer({ min: -3, max: 3 }), fc.constantFrom('x', 'y', 'é', '', 1.5));

/** A null-free value with at most `levels` nested containers. */
function value(levels: number): fc.Arbitrary<Json> {
  if (levels === 0) return scalar;
  return fc.oneof(
    { weight: 4, arbitrary: scalar },
    { weight: 1, arbitrary: fc.array(value(levels - 1), { maxLength: 3 }) },
    { weight: 1, arbitrary: object(levels - 1) },
  );
}

/** An object whose values have at most `levels` containers; with `nulls`, a patch. */
function object(levels: number, nulls = false): fc.Arbitrary<Obj> {
  const member: fc.Arbitrary<Json> = nulls
    ? fc.oneof(
        { weight: 1, arbitrary: fc.constant(null) },
        { weight: 3, arbitrary: value(levels) },
        ...(levels > 0 ? [{ weight: 1, arbitrary: object(levels - 1, true) as fc.Arbitrary<Json> }] : []),
      )
    : value(levels);
  // Object.fromEntries defines own properties, so '__proto__' becomes a plain key.
  return fc.array(fc.tuple(key, member), { maxLength: 4 }).map((entries) => Object.fromEntries(entries) as Obj);
}

/** A patch of deletions only: every leaf is null. */
function deletions(levels: number): fc.Arbitrary<Obj> {
  const member: fc.Arbitrary<Json> =
    levels > 0
      ? fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: deletions(levels - 1) as fc.Arbitrary<Json> })
      : fc.constant(null);
  return fc.array(fc.tuple(key, member), { minLength: 1, maxLength: 4 }).map((entries) => Object.fromEntries(entries) as Obj);
}

const section = fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 6, arbitrary: object(3, true) });
const stateArb: fc.Arbitrary<RawState> = fc.oneof(
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 12, arbitrary: fc.record({ desired: section, reported: section }, { requiredKeys: [] }) },
);
const history = fc.array(stateArb, { maxLength: 6 });

// ---------------------------------------------------------------------------------------------
// Reference model.

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function refMerge(base: Obj | undefined, patch: Obj): Obj {
  const m = new Map<string, Json>(base ? Object.entries(base) : []);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) m.delete(k);
    else if (isObj(v)) {
      const old = m.get(k);
      m.set(k, refMerge(isObj(old) ? old : undefined, v));
    } else m.set(k, v);
  }
  return Object.fromEntries(m) as Obj;
}

type RefState = { desired?: Obj; reported?: Obj };

function refApply(s: RefState, state: RawState): RefState {
  if (state === null) return {};
  const out: RefState = {};
  for (const name of SECTIONS) {
    const p = state[name];
    if (p === undefined) {
      if (s[name] !== undefined) out[name] = s[name];
    } else if (p !== null) {
      // A top-level section without properties does not exist (AWS: "Empty shadow document properties").
      const merged = refMerge(s[name], p);
      if (Object.keys(merged).length > 0) out[name] = merged;
    }
  }
  return out;
}

function canonical(v: Json): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObj(v))
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(v[k]!)}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

function refDelta(desired: Obj, reported: Obj | undefined): Obj {
  const out: [string, Json][] = [];
  for (const [k, v] of Object.entries(desired)) {
    const has = reported !== undefined && Object.hasOwn(reported, k);
    const r = has ? reported[k]! : undefined;
    if (!has) out.push([k, v]);
    else if (isObj(v) && isObj(r)) {
      const sub = refDelta(v, r);
      if (Object.keys(sub).length > 0) out.push([k, sub]);
    } else if (canonical(v) !== canonical(r!)) out.push([k, v]);
  }
  return Object.fromEntries(out) as Obj;
}

// ---------------------------------------------------------------------------------------------

function apply(current: StoredShadow | undefined, state: RawState, timestamp: number, extra: object = {}): UpdateResult {
  return applyUpdate(current, parseUpdateRequest(JSON.stringify({ state, ...extra })), { timestamp, limits: NO_SIZE_LIMIT });
}

function build(states: RawState[]): StoredShadow | undefined {
  let shadow: StoredShadow | undefined;
  states.forEach((state, i) => (shadow = apply(shadow, state, 1000 + i).next));
  return shadow;
}

test('(1) the merged state and its delta equal a naive reference, whatever the update path', () => {
  fc.assert(
    fc.property(fc.array(stateArb, { minLength: 1, maxLength: 8 }), (states) => {
      let shadow: StoredShadow | undefined;
      let last: UpdateResult | undefined;
      let ref: RefState = {};
      states.forEach((state, i) => {
        last = apply(shadow, state, 1000 + i);
        shadow = last.next;
        ref = refApply(ref, state);
      });
      assert.ok(shadow && last);
      assert.deepStrictEqual(shadow.state, ref);

      const expected = ref.desired ? refDelta(ref.desired, ref.reported) : {};
      assert.deepStrictEqual(computeDelta(shadow)?.state ?? {}, expected);
      // The same state reached in a single update has the same delta: it depends on the state only.
      const direct = apply(undefined, shadow.state as RawState, 1).next;
      assert.deepStrictEqual(computeDelta(direct)?.state ?? {}, expected);

      const lastState = states[states.length - 1]!;
      const published = lastState !== null && isObj(lastState.desired) && Object.keys(expected).length > 0;
      assert.equal(last.delta !== undefined, published);
      if (last.delta) assert.deepStrictEqual(last.delta['state'], expected);
    }),
    { numRuns: 300 },
  );
});

test('(2) each accepted update raises the version by exactly one; conflicting ones change nothing', () => {
  const step = fc.tuple(stateArb, fc.constantFrom('none', 'match', 'conflict'), fc.integer({ min: 1, max: 3 }));
  fc.assert(
    fc.property(fc.nat({ max: 1000 }), fc.array(step, { minLength: 1, maxLength: 8 }), (base, steps) => {
      let shadow: StoredShadow | undefined;
      let expected = base;
      steps.forEach(([state, mode, off], i) => {
        const version = mode === 'match' ? expected : mode === 'conflict' ? (expected >= off ? expected - off : expected + off) : undefined;
        const request = parseUpdateRequest(JSON.stringify(version === undefined ? { state } : { state, version }));
        const run = () => applyUpdate(shadow, request, { timestamp: i, baseVersion: base, limits: NO_SIZE_LIMIT });
        if (mode === 'conflict') {
          assert.throws(run, (e: unknown) => e instanceof ShadowError && e.code === 409);
          return;
        }
        const r = run();
        assert.equal(r.next.version, expected + 1);
        assert.equal(r.accepted['version'], expected + 1);
        assert.equal((r.documents['current'] as JsonObject)['version'], expected + 1);
        const previous = r.documents['previous'] as JsonObject | null;
        assert.equal(previous === null ? null : previous['version'], shadow === undefined ? null : expected);
        expected += 1;
        shadow = r.next;
      });
    }),
    { numRuns: 200 },
  );
});

function assertDeleted(sectionState: Obj | undefined, patch: Obj): void {
  for (const [k, v] of Object.entries(patch)) {
    const present = sectionState !== undefined && Object.hasOwn(sectionState, k);
    if (v === null) assert.ok(!present, `key ${k} should be deleted`);
    else if (present && isObj(sectionState[k])) assertDeleted(sectionState[k], v as Obj);
  }
}

test('(3) a deleting update applied twice leaves the same state and metadata as applied once', () => {
  fc.assert(
    fc.property(history, fc.constantFrom(...SECTIONS), deletions(3), (states, name, patch) => {
      const once = apply(build(states), { [name]: patch }, 2000).next;
      const twice = apply(once, { [name]: patch }, 3000).next;
      assertDeleted(once.state[name], patch);
      assert.deepStrictEqual(twice.state, once.state);
      assert.deepStrictEqual(twice.metadata, once.metadata);
    }),
    { numRuns: 200 },
  );
});

test('(4) merging the same update again does not change the state', () => {
  fc.assert(
    fc.property(history, stateArb, (states, state) => {
      const once = apply(build(states), state, 2000).next;
      const twice = apply(once, state, 3000).next;
      assert.deepStrictEqual(twice.state, once.state);
      assert.ok(sameShape(twice.state, once.metadata) && sameShape(once.state, twice.metadata));
    }),
    { numRuns: 200 },
  );
});

function touchAll(v: unknown): void {
  if (typeof v !== 'object' || v === null) return;
  for (const k of Object.keys(v)) touchAll((v as Record<string, unknown>)[k]);
  if (Array.isArray(v)) v.push('mutated');
  else (v as Record<string, unknown>)['mutated'] = true;
}

test('(5) inputs are never mutated and no output shares an object with them', () => {
  fc.assert(
    fc.property(
      fc.array(stateArb, { minLength: 1, maxLength: 6 }),
      stateArb,
      fc.option(fc.string({ maxLength: 8 })),
      (states, state, token) => {
        const current = deepFreeze(build(states)!);
        const currentBefore = JSON.stringify(current);
        const request = deepFreeze(parseUpdateRequest(JSON.stringify(token === null ? { state } : { state, clientToken: token })));
        const requestBefore = JSON.stringify(request);
        // Frozen inputs make any write by the library throw; writing to every output node would
        // throw as well if an output reused a frozen input node.
        const r = applyUpdate(current, request, { timestamp: 5000, limits: NO_SIZE_LIMIT });
        for (const out of [r.next, r.accepted, r.delta, r.documents, getResponse(current, 1, 't'), computeDelta(current)]) touchAll(out);
        assert.equal(JSON.stringify(current), currentBefore);
        assert.equal(JSON.stringify(request), requestBefore);
      },
    ),
    { numRuns: 200 },
  );
});

function timestamps(meta: unknown, out: number[] = []): number[] {
  if (Array.isArray(meta)) meta.forEach((m) => timestamps(m, out));
  else if (isObj(meta)) {
    if (typeof meta['timestamp'] === 'number' && Object.keys(meta).length === 1) out.push(meta['timestamp']);
    else Object.values(meta).forEach((m) => timestamps(m, out));
  }
  return out;
}

test('(6) metadata always has exactly the shape of the state it describes', () => {
  fc.assert(
    fc.property(fc.array(stateArb, { minLength: 1, maxLength: 8 }), (states) => {
      let shadow: StoredShadow | undefined;
      states.forEach((state, i) => {
        const t = 1000 + i;
        const r = apply(shadow, state, t);
        shadow = r.next;
        assert.ok(sameShape(r.next.state, r.next.metadata), 'stored');
        assert.ok(sameShape(r.accepted['state'], r.accepted['metadata']), 'accepted');
        const current = r.documents['current'] as JsonObject;
        assert.ok(sameShape(current['state'], current['metadata']), 'documents.current');
        if (r.delta) assert.ok(sameShape(r.delta['state'], r.delta['metadata']), 'delta');
        const get = getResponse(r.next, t);
        const { delta: _delta, ...sections } = get['state'] as JsonObject;
        assert.ok(sameShape(sections, get['metadata']), 'get');
        for (const ts of timestamps(r.next.metadata)) assert.ok(ts >= 1000 && ts <= t, `timestamp ${ts} outside 1000..${t}`);
      });
    }),
    { numRuns: 300 },
  );
});

test('(7) no section is ever empty, and every answer shows the same sections as the stored state', () => {
  fc.assert(
    fc.property(fc.array(stateArb, { minLength: 1, maxLength: 8 }), (states) => {
      let shadow: StoredShadow | undefined;
      states.forEach((state, i) => {
        const t = 1000 + i;
        const r = apply(shadow, state, t);
        for (const name of SECTIONS) {
          const section = r.next.state[name];
          assert.ok(section === undefined || Object.keys(section).length > 0, `${name} stored as {}`);
          assert.equal(
            r.next.metadata[name] !== undefined,
            section !== undefined,
            `${name} metadata without state or state without metadata`,
          );
        }
        const current = r.documents['current'] as JsonObject;
        const get = getResponse(r.next, t);
        const { delta: _delta, ...getSections } = get['state'] as JsonObject;
        assert.deepStrictEqual(current['state'], r.next.state);
        assert.deepStrictEqual(current['metadata'], r.next.metadata);
        assert.deepStrictEqual(getSections, r.next.state);
        assert.deepStrictEqual(get['metadata'], r.next.metadata);
        if (shadow !== undefined) {
          const previous = r.documents['previous'] as JsonObject;
          assert.deepStrictEqual(previous['state'], shadow.state);
          assert.deepStrictEqual(previous['metadata'], shadow.metadata);
        }
        shadow = r.next;
      });
    }),
    { numRuns: 300 },
  );
});
