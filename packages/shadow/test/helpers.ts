import assert from 'node:assert/strict';
import {
  applyUpdate,
  parseUpdateRequest,
  ShadowError,
  type Json,
  type ShadowLimits,
  type StoredShadow,
  type UpdateResult,
} from '../src/index.js';

export function expectShadowError(fn: () => unknown, code: number, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ShadowError, `expected a ShadowError, got ${String(err)}`);
    assert.equal(err.code, code);
    assert.equal(err.message, message);
    return true;
  });
}

/** Sends `body` through the real parser, then applies it. */
export function update(
  current: StoredShadow | undefined,
  body: unknown,
  timestamp: number,
  opts: { baseVersion?: number; limits?: Partial<ShadowLimits> } = {},
): UpdateResult {
  const request = parseUpdateRequest(typeof body === 'string' ? body : JSON.stringify(body), opts.limits);
  return applyUpdate(current, request, { timestamp, ...opts });
}

/** A shadow built by a sequence of updates at timestamps 100, 200, ... */
export function shadowOf(...bodies: unknown[]): StoredShadow {
  let shadow: StoredShadow | undefined;
  bodies.forEach((body, i) => (shadow = update(shadow, body, 100 * (i + 1)).next));
  assert.ok(shadow);
  return shadow;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
    Object.freeze(value);
  }
  return value;
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Whether `meta` mirrors `state`: objects with the same keys, arrays of the same length, and a
 * `{timestamp: number}` for every scalar (a null counts as a scalar, as in accepted documents).
 */
export function sameShape(state: unknown, meta: unknown): boolean {
  if (Array.isArray(state)) return Array.isArray(meta) && meta.length === state.length && state.every((v, i) => sameShape(v, meta[i]));
  if (isObj(state)) {
    if (!isObj(meta)) return false;
    const keys = Object.keys(state);
    return keys.length === Object.keys(meta).length && keys.every((k) => Object.hasOwn(meta, k) && sameShape(state[k], meta[k]));
  }
  return isObj(meta) && Object.keys(meta).length === 1 && typeof meta['timestamp'] === 'number';
}

/** Compact JSON of an AWS documentation example, for byte-exact comparisons including key order. */
export function compact(text: string): string {
  return JSON.stringify(JSON.parse(text) as Json);
}
