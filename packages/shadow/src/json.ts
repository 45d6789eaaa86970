/**
 * JSON values and the few operations the shadow algebra needs on them. Every helper treats keys as
 * plain data: documents come from untrusted devices, and keys such as `__proto__` or `constructor`
 * must neither read inherited members nor replace an object's prototype.
 */

export type Json = null | boolean | number | string | Json[] | JsonObject;
export type JsonObject = { [key: string]: Json };

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value stored under `key` in `obj` itself; inherited members (`constructor`, `toString`...) read as absent. */
export function getOwn<T>(obj: { [key: string]: T } | undefined, key: string): T | undefined {
  return obj !== undefined && Object.hasOwn(obj, key) ? obj[key] : undefined;
}

export function hasOwn(obj: object | undefined, key: string): boolean {
  return obj !== undefined && Object.hasOwn(obj, key);
}

/**
 * Stores `value` as an own property. A plain assignment to `__proto__` would call the inherited
 * setter and swap the object's prototype instead, so that one key is defined explicitly.
 */
export function setOwn<T>(obj: { [key: string]: T }, key: string, value: T): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  else obj[key] = value;
}

export function cloneJson<T extends Json>(value: T): T;
export function cloneJson(value: Json): Json {
  if (Array.isArray(value)) return value.map((v) => cloneJson(v));
  if (isJsonObject(value)) {
    const out: JsonObject = {};
    for (const key of Object.keys(value)) setOwn(out, key, cloneJson(value[key]!));
    return out;
  }
  return value;
}

/** Structural equality; object key order is irrelevant, array order is not. */
export function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((v, i) => deepEqual(v, b[i]!));
  }
  if (isJsonObject(a)) {
    if (!isJsonObject(b)) return false;
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((k) => Object.hasOwn(b, k) && deepEqual(a[k]!, b[k]!));
  }
  return false;
}

/**
 * UTF-8 length of a string without encoding it. A lone surrogate counts 3 bytes, the size of the
 * U+FFFD that an encoder writes in its place.
 */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
