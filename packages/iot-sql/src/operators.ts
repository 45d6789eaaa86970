// Operator semantics from the AWS iot-sql-operators page: type rules and Undefined propagation.
import { decimal, isInt, isNumeric, numberOf, sqlEquals, toBoolean, toDecimal, toStringValue, type Version } from './values.js';

export function and(a: unknown, b: unknown): boolean | undefined {
  const x = toBoolean(a);
  const y = toBoolean(b);
  return x === undefined || y === undefined ? undefined : x && y;
}

export function or(a: unknown, b: unknown): boolean | undefined {
  const x = toBoolean(a);
  const y = toBoolean(b);
  return x === undefined || y === undefined ? undefined : x || y;
}

export function not(a: unknown): boolean | undefined {
  const x = toBoolean(a);
  return x === undefined ? undefined : !x;
}

export function equals(a: unknown, b: unknown): boolean | undefined {
  return sqlEquals(a, b);
}

export function notEquals(a: unknown, b: unknown): boolean | undefined {
  const eq = sqlEquals(a, b);
  return eq === undefined ? undefined : !eq;
}

/** `<`, `<=`, `>`, `>=`: both sides as Decimal (numeric strings parse); anything else is Undefined. */
export function compare(op: '<' | '<=' | '>' | '>=', a: unknown, b: unknown): boolean | undefined {
  const x = toDecimal(a);
  const y = toDecimal(b);
  if (typeof x !== 'number' || typeof y !== 'number' || Number.isNaN(x) || Number.isNaN(y)) return undefined;
  switch (op) {
    case '<':
      return x < y;
    case '<=':
      return x <= y;
    case '>':
      return x > y;
    default:
      return x >= y;
  }
}

/** `x IN array`: true when an element equals x; the right side must be an Array. */
export function inArray(a: unknown, b: unknown): boolean | undefined {
  if (a === undefined || !Array.isArray(b)) return undefined;
  for (const item of b) if (sqlEquals(a, item) === true) return true;
  return false;
}

/** `+`: a String on either side concatenates; Int+Int is Int; otherwise numbers (numeric strings excluded). */
export function add(a: unknown, b: unknown, version: Version): unknown {
  if (typeof a === 'string' || typeof b === 'string') {
    const x = toStringValue(a);
    const y = toStringValue(b);
    return x === undefined || y === undefined ? undefined : x + y;
  }
  return arithmetic('+', a, b, version);
}

export function arithmetic(op: '+' | '-' | '*' | '/' | '%', a: unknown, b: unknown, version: Version): unknown {
  if (isInt(a) && isInt(b)) {
    // `+ 0` turns JS's -0 into 0: Ints have no negative zero.
    switch (op) {
      case '+':
        return a + b + 0;
      case '-':
        return a - b + 0;
      case '*':
        return a * b + 0;
      case '/':
        return b === 0 ? undefined : Math.trunc(a / b) + 0;
      default:
        return b === 0 ? undefined : (a % b) + 0;
    }
  }
  // Mixed Int/Decimal and numeric strings compute as Decimal.
  const x = isNumeric(a) ? numberOf(a) : typeof a === 'string' ? toDecimal(a) : undefined;
  const y = isNumeric(b) ? numberOf(b) : typeof b === 'string' ? toDecimal(b) : undefined;
  if (typeof x !== 'number' || typeof y !== 'number') return undefined;
  let r: number;
  switch (op) {
    case '+':
      r = x + y;
      break;
    case '-':
      r = x - y;
      break;
    case '*':
      r = x * y;
      break;
    case '/':
      if (y === 0) return undefined;
      r = x / y;
      break;
    default:
      if (y === 0) return undefined;
      r = x % y;
  }
  return decimal(r, version);
}

export function negate(a: unknown, version: Version): unknown {
  if (isInt(a)) return a === 0 ? 0 : -a;
  const x = isNumeric(a) ? numberOf(a) : typeof a === 'string' ? toDecimal(a) : undefined;
  return typeof x === 'number' ? decimal(-x, version) : undefined;
}
