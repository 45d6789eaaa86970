// String functions. Arguments are converted with the to-String rules; Null/Undefined give Undefined.
import { fail } from '../context.js';
import { isPlainObject, storable, toStringValue } from '../values.js';
import { flooredInt } from './math.js';
import { V15, V16, type FunctionTable } from './spec.js';
import { compileJavaRegex, javaReplacement } from './regex.js';

function str(v: unknown): string | undefined {
  return toStringValue(v);
}

/** A function of two string arguments; Undefined when either does not convert to a string. */
function twoStrings<T>(op: (s: string, t: string) => T): (args: unknown[]) => T | undefined {
  return (args) => {
    const s = str(args[0]);
    const t = str(args[1]);
    return s === undefined || t === undefined ? undefined : op(s, t);
  };
}

/** Java String.trim() semantics: every char <= U+0020 counts as whitespace. */
// eslint-disable-next-line no-control-regex -- Java's trim() treats every control character as space
const LEADING = /^[\u0000-\u0020]+/;
// eslint-disable-next-line no-control-regex -- as above
const TRAILING = /[\u0000-\u0020]+$/;

function pad(args: unknown[], left: boolean): unknown {
  const s = str(args[0]);
  const n = flooredInt(args[1]);
  if (s === undefined || n === undefined) return undefined;
  const spaces = ' '.repeat(Math.min(1000, Math.max(0, n)));
  return left ? spaces + s : s + spaces;
}

/** substring index: converted to Int (floored), then clamped to 0..length. */
function clampIndex(v: unknown, length: number): number | undefined {
  const n = flooredInt(v);
  if (n === undefined) return undefined;
  return Math.min(length, Math.max(0, n));
}

export const stringFunctions: FunctionTable = {
  concat: {
    min: 0,
    max: Infinity,
    since: V15,
    fn: (args) => {
      if (args.length === 0) return undefined;
      if (args.length === 1) return args[0];
      if (args.some(Array.isArray)) {
        const out: unknown[] = [];
        for (const a of args) {
          if (a === undefined) return undefined;
          if (Array.isArray(a)) out.push(...a);
          else out.push(storable(a));
        }
        return out;
      }
      if (args.some((a) => typeof a === 'string')) {
        let s = '';
        for (const a of args) {
          const part = str(a);
          if (part === undefined) return undefined;
          s += part;
        }
        return s;
      }
      return undefined;
    },
  },
  startswith: { min: 2, max: 2, since: V15, fn: twoStrings((s, t) => s.startsWith(t)) },
  endswith: { min: 2, max: 2, since: V15, fn: twoStrings((s, t) => s.endsWith(t)) },
  indexof: {
    min: 2,
    max: 2,
    since: V16,
    fn: (args) => (Array.isArray(args[0]) || isPlainObject(args[0]) ? undefined : twoStrings((s, t) => s.indexOf(t))(args)),
  },
  length: {
    min: 1,
    max: 1,
    since: V16,
    fn: (args) => str(args[0])?.length,
  },
  numbytes: {
    min: 1,
    max: 1,
    since: V16,
    fn: (args) => {
      const s = str(args[0]);
      return s === undefined ? undefined : Buffer.byteLength(s, 'utf8');
    },
  },
  lower: { min: 1, max: 1, since: V15, fn: (args) => str(args[0])?.toLowerCase() },
  upper: { min: 1, max: 1, since: V15, fn: (args) => str(args[0])?.toUpperCase() },
  ltrim: { min: 1, max: 1, since: V15, fn: (args) => str(args[0])?.replace(LEADING, '') },
  rtrim: { min: 1, max: 1, since: V15, fn: (args) => str(args[0])?.replace(TRAILING, '') },
  trim: { min: 1, max: 1, since: V15, fn: (args) => str(args[0])?.replace(LEADING, '').replace(TRAILING, '') },
  lpad: { min: 2, max: 2, since: V15, fn: (args) => pad(args, true) },
  rpad: { min: 2, max: 2, since: V15, fn: (args) => pad(args, false) },
  substring: {
    min: 2,
    max: 3,
    since: V15,
    fn: (args) => {
      const s = str(args[0]);
      if (s === undefined) return undefined;
      const start = clampIndex(args[1], s.length);
      const end = args.length > 2 ? clampIndex(args[2], s.length) : s.length;
      if (start === undefined || end === undefined) return undefined;
      return start >= end ? '' : s.slice(start, end);
    },
  },
  replace: {
    min: 3,
    max: 3,
    since: V15,
    fn: (args) => {
      const s = str(args[0]);
      const from = str(args[1]);
      const to = str(args[2]);
      if (s === undefined || from === undefined || to === undefined) return undefined;
      return from === '' ? s : s.split(from).join(to);
    },
  },
  chr: {
    min: 1,
    max: 1,
    since: V15,
    fn: (args) => {
      const n = flooredInt(args[0]);
      // AWS: "the ASCII character"; codes outside 0..127 are not valid ASCII values.
      return n === undefined || n < 0 || n > 127 ? undefined : String.fromCharCode(n);
    },
  },
  regexp_matches: {
    min: 2,
    max: 2,
    since: V15,
    fn: (args, ctx) => {
      const s = str(args[0]);
      const p = str(args[1]);
      if (s === undefined || p === undefined) return undefined;
      const re = compileJavaRegex(p);
      if (typeof re === 'string') return fail(ctx, 'regexp_matches', re);
      re.lastIndex = 0;
      return re.test(s);
    },
  },
  regexp_substr: {
    min: 2,
    max: 2,
    since: V15,
    fn: (args, ctx) => {
      const s = str(args[0]);
      const p = str(args[1]);
      if (s === undefined || p === undefined) return undefined;
      const re = compileJavaRegex(p);
      if (typeof re === 'string') return fail(ctx, 'regexp_substr', re);
      re.lastIndex = 0;
      const m = re.exec(s);
      return m ? m[0] : '';
    },
  },
  regexp_replace: {
    min: 3,
    max: 3,
    since: V15,
    fn: (args, ctx) => {
      const s = str(args[0]);
      const p = str(args[1]);
      const r = str(args[2]);
      if (s === undefined || p === undefined || r === undefined) return undefined;
      const re = compileJavaRegex(p);
      if (typeof re === 'string') return fail(ctx, 'regexp_replace', re);
      return s.replace(re, javaReplacement(r));
    },
  },
};
