// The IoT SQL value model and the implicit conversions of the AWS data-types page.
//
// Representation (a deliberate trade of exactness for speed, see README "Numbers"):
//   Undefined -> JS undefined; Null -> null; Boolean -> boolean; String -> string;
//   Array -> JS array; Object -> plain object; the raw payload of a non-JSON message -> Uint8Array;
//   Int -> a JS number that is an integer (exact up to 2^53, beyond that a double);
//   Decimal -> a JS number that is not an integer (or NaN/±Infinity), or, in SQL 2015-10-08 only,
//   a SqlDecimal wrapping a whole-valued decimal (10.0 stays Decimal in 2015, becomes Int 10 in 2016).
// A SqlDecimal never escapes into containers or outputs: it is unwrapped when stored.

export type Version = '2015-10-08' | '2016-03-23';

export class SqlDecimal {
  constructor(readonly value: number) {}
  toJSON(): number {
    return this.value;
  }
}

export type Kind = 'undefined' | 'null' | 'boolean' | 'int' | 'decimal' | 'string' | 'array' | 'object' | 'binary';

export function kindOf(v: unknown): Kind {
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'boolean':
      return 'boolean';
    case 'string':
      return 'string';
    case 'number':
      return Number.isInteger(v) ? 'int' : 'decimal';
    case 'object':
      if (v === null) return 'null';
      if (Array.isArray(v)) return 'array';
      if (v instanceof SqlDecimal) return 'decimal';
      if (v instanceof Uint8Array) return 'binary';
      return 'object';
    default:
      return 'undefined';
  }
}

export function isNumeric(v: unknown): boolean {
  return typeof v === 'number' || v instanceof SqlDecimal;
}

export function isInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v);
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof SqlDecimal) && !(v instanceof Uint8Array);
}

/** A Decimal result: whole values stay Decimal in 2015-10-08 and become Int in 2016-03-23. */
export function decimal(n: number, version: Version): number | SqlDecimal {
  return version === '2015-10-08' && Number.isInteger(n) ? new SqlDecimal(n) : n;
}

/** The plain number behind an Int or Decimal (NaN for anything else). */
export function numberOf(v: unknown): number {
  return typeof v === 'number' ? v : v instanceof SqlDecimal ? v.value : NaN;
}

// AWS: strings convert to numbers only when they match ^-?\d+(\.\d+)?((?i)E-?\d+)?$
const NUMERIC_STRING = /^-?\d+(\.\d+)?([eE]-?\d+)?$/;

/** Implicit conversion to Decimal: number, null (Null stays Null) or undefined. */
export function toDecimal(v: unknown): number | null | undefined {
  if (typeof v === 'number') return v;
  if (v instanceof SqlDecimal) return v.value;
  if (typeof v === 'string') return NUMERIC_STRING.test(v) ? Number(v) : undefined;
  if (v === null) return null;
  return undefined;
}

/** Implicit conversion to Int: Decimals round to nearest, strings parse as Decimal then truncate. */
export function toInt(v: unknown): number | null | undefined {
  if (typeof v === 'number') return Number.isInteger(v) ? v : Number.isFinite(v) ? javaRound(v) : undefined;
  if (v instanceof SqlDecimal) return v.value;
  if (typeof v === 'string') return NUMERIC_STRING.test(v) ? Math.trunc(Number(v)) : undefined;
  if (v === null) return null;
  return undefined;
}

/** Rounds halves away from zero (the documented behaviour of round()). */
export function javaRound(n: number): number {
  const r = Math.sign(n) * Math.round(Math.abs(n));
  return r === 0 ? 0 : r;
}

export function toBoolean(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const lower = v.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return undefined;
}

/** Implicit conversion to String; Null and Undefined give Undefined. */
export function toStringValue(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return v;
    case 'number':
      return numberToString(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object':
      if (v === null) return undefined;
      if (v instanceof SqlDecimal) return Number.isInteger(v.value) ? `${v.value.toFixed(1)}` : numberToString(v.value);
      if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8');
      return JSON.stringify(v);
    default:
      return undefined;
  }
}

function numberToString(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (n === Infinity) return 'Infinity';
  if (n === -Infinity) return '-Infinity';
  return String(n);
}

/** Converts a value for storage in an output object/array: unwraps SqlDecimal, keeps everything else. */
export function storable(v: unknown): unknown {
  return v instanceof SqlDecimal ? v.value : v;
}

/** Sets a key without letting "__proto__" change the prototype of the output object. */
export function setKey(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

/** Own-property lookup: inherited names (constructor, __proto__, toString) are never fields. */
export function ownField(obj: unknown, name: string): unknown {
  if (!isPlainObject(obj)) return undefined;
  return Object.prototype.hasOwnProperty.call(obj, name) ? obj[name] : undefined;
}

/** `=` semantics: Undefined on either side gives Undefined; mismatched kinds are unequal. */
export function sqlEquals(a: unknown, b: unknown): boolean | undefined {
  if (a === undefined || b === undefined) return undefined;
  return deepEquals(a, b);
}

function deepEquals(a: unknown, b: unknown): boolean {
  if (isNumeric(a) && isNumeric(b)) return numberOf(a) === numberOf(b);
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!deepEquals(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.compare(a, b) === 0;
  }
  const ak = Object.keys(a);
  const bk = Object.keys(b);
  if (ak.length !== bk.length) return false;
  const bo = b as Record<string, unknown>;
  const ao = a as Record<string, unknown>;
  for (const k of ak) {
    if (!Object.prototype.hasOwnProperty.call(bo, k) || !deepEquals(ao[k], bo[k])) return false;
  }
  return true;
}
