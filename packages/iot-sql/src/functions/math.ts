// Numeric functions: Int stays Int where AWS says so; transcendental results are double Decimals.
import { arithmetic } from '../operators.js';
import { decimal, isInt, javaRound, toDecimal, type Version } from '../values.js';
import { V15, type FunctionTable } from './spec.js';

/** A number from an Int, Decimal or numeric String; undefined for anything else (Null included). */
export function numArg(v: unknown): number | undefined {
  const n = toDecimal(v);
  return typeof n === 'number' ? n : undefined;
}

/** An Int argument: Decimals and numeric strings are floored (bit operations, chr, lpad). */
export function flooredInt(v: unknown): number | undefined {
  const n = numArg(v);
  return n === undefined || !Number.isFinite(n) ? undefined : Math.floor(n);
}

function double(f: (x: number) => number) {
  return (args: unknown[], ctx: { version: Version }): unknown => {
    const x = numArg(args[0]);
    if (x === undefined) return undefined;
    const r = f(x);
    return Number.isFinite(r) ? decimal(r, ctx.version) : undefined;
  };
}

function toIntResult(f: (x: number) => number) {
  return (args: unknown[]): unknown => {
    if (isInt(args[0])) return f(args[0]) || 0;
    const x = numArg(args[0]);
    if (x === undefined || !Number.isFinite(x)) return undefined;
    const r = f(x);
    return r === 0 ? 0 : r;
  };
}

function bitwise(op: (a: bigint, b: bigint) => bigint) {
  return (args: unknown[]): unknown => {
    const a = flooredInt(args[0]);
    const b = flooredInt(args[1]);
    if (a === undefined || b === undefined) return undefined;
    return Number(BigInt.asIntN(64, op(BigInt(a), BigInt(b))));
  };
}

/** trunc(n, places): cut (toward zero) to `places` decimals, clamped to 0..34, via the digits. */
function truncate(x: number, places: number): number {
  if (Number.isInteger(x)) return x;
  const text = String(x);
  if (/e/i.test(text)) {
    const f = 10 ** places;
    return Math.trunc(x * f) / f;
  }
  const dot = text.indexOf('.');
  const cut = places === 0 ? text.slice(0, dot) : text.slice(0, dot + 1 + places);
  const r = Number(cut);
  return r === 0 ? 0 : r;
}

export const mathFunctions: FunctionTable = {
  abs: {
    min: 1,
    max: 1,
    since: V15,
    fn: (args, ctx) => {
      if (isInt(args[0])) return Math.abs(args[0]);
      const x = numArg(args[0]);
      return x === undefined ? undefined : decimal(Math.abs(x), ctx.version);
    },
  },
  acos: { min: 1, max: 1, since: V15, fn: double(Math.acos) },
  asin: { min: 1, max: 1, since: V15, fn: double(Math.asin) },
  atan: { min: 1, max: 1, since: V15, fn: double(Math.atan) },
  cos: { min: 1, max: 1, since: V15, fn: double(Math.cos) },
  cosh: { min: 1, max: 1, since: V15, fn: double(Math.cosh) },
  sin: { min: 1, max: 1, since: V15, fn: double(Math.sin) },
  sinh: { min: 1, max: 1, since: V15, fn: double(Math.sinh) },
  tan: { min: 1, max: 1, since: V15, fn: double(Math.tan) },
  tanh: { min: 1, max: 1, since: V15, fn: double(Math.tanh) },
  exp: { min: 1, max: 1, since: V15, fn: double(Math.exp) },
  ln: { min: 1, max: 1, since: V15, fn: double(Math.log) },
  log: { min: 1, max: 1, since: V15, fn: double(Math.log10) },
  sqrt: { min: 1, max: 1, since: V15, fn: double(Math.sqrt) },
  atan2: {
    min: 2,
    max: 2,
    since: V15,
    fn: (args, ctx) => {
      const y = numArg(args[0]);
      const x = numArg(args[1]);
      return y === undefined || x === undefined ? undefined : decimal(Math.atan2(y, x), ctx.version);
    },
  },
  power: {
    min: 2,
    max: 2,
    since: V15,
    fn: (args, ctx) => {
      const x = numArg(args[0]);
      const y = numArg(args[1]);
      if (x === undefined || y === undefined) return undefined;
      const r = Math.pow(x, y);
      return Number.isFinite(r) ? decimal(r, ctx.version) : undefined;
    },
  },
  ceil: { min: 1, max: 1, since: V15, fn: toIntResult(Math.ceil) },
  floor: { min: 1, max: 1, since: V15, fn: toIntResult(Math.floor) },
  round: { min: 1, max: 1, since: V15, fn: toIntResult(javaRound) },
  sign: { min: 1, max: 1, since: V15, fn: toIntResult(Math.sign) },
  trunc: {
    min: 2,
    max: 2,
    since: V15,
    fn: (args) => {
      const x = numArg(args[0]);
      const p = flooredInt(args[1]);
      if (x === undefined || p === undefined || !Number.isFinite(x)) return undefined;
      return truncate(x, Math.min(34, Math.max(0, p)));
    },
  },
  mod: { min: 2, max: 2, since: V15, fn: (args, ctx) => arithmetic('%', args[0], args[1], ctx.version) },
  remainder: { min: 2, max: 2, since: V15, fn: (args, ctx) => arithmetic('%', args[0], args[1], ctx.version) },
  bitand: { min: 2, max: 2, since: V15, fn: bitwise((a, b) => a & b) },
  bitor: { min: 2, max: 2, since: V15, fn: bitwise((a, b) => a | b) },
  bitxor: { min: 2, max: 2, since: V15, fn: bitwise((a, b) => a ^ b) },
  bitnot: {
    min: 1,
    max: 1,
    since: V15,
    fn: (args) => {
      const a = flooredInt(args[0]);
      return a === undefined ? undefined : Number(BigInt.asIntN(64, ~BigInt(a)));
    },
  },
  nanvl: {
    min: 2,
    max: 2,
    since: V15,
    // AWS: only a NaN Decimal is replaced; Undefined, Null and other values are returned as they are.
    fn: (args) => (typeof args[0] === 'number' && Number.isNaN(args[0]) ? args[1] : args[0]),
  },
  rand: { min: 0, max: 0, since: V15, volatile: true, fn: () => Math.random() },
};
