// Turns the parser's AST into closures `(ctx) => value`, checking everything that can be checked
// before a message arrives: function names, arity, SQL-version features, SET variables, cast types.
import type { Expr, SelectItem, SubQueryNode } from './ast.js';
import type { EvalContext } from './context.js';
import { positionOf, SqlParseError } from './errors.js';
import { FUNCTIONS } from './functions/index.js';
import * as op from './operators.js';
import {
  decimal,
  isInt,
  isNumeric,
  isPlainObject,
  numberOf,
  ownField,
  setKey,
  sqlEquals,
  storable,
  toBoolean,
  toDecimal,
  toInt,
  toStringValue,
  type Version,
} from './values.js';

export type Compiled = (ctx: EvalContext) => unknown;

export interface Scope {
  version: Version;
  sql: string;
  /** SET variables visible at this point. */
  variables: Set<string>;
  /** Set when a call to an external function was compiled. */
  usesExternal: boolean;
}

export function compileError(scope: Scope, loc: number, message: string): SqlParseError {
  return new SqlParseError(message, positionOf(scope.sql, loc));
}

const V16_ONLY = 'requires SQL version 2016-03-23 or later (awsIotSqlVersion)';

function requires2016(scope: Scope, loc: number, what: string): void {
  if (scope.version === '2015-10-08') throw compileError(scope, loc, `${what} ${V16_ONLY}`);
}

/** The constant value of a literal node, or NOT_CONSTANT. */
const NOT_CONSTANT = Symbol('not constant');
function constantOf(node: Expr, scope: Scope): unknown {
  if (node.type === 'literal') return node.value;
  if (node.type === 'number') return numberLiteral(node.text, node.integer, scope.version);
  if (node.type === 'unary' && node.op === '-' && node.expr.type === 'number') {
    return op.negate(numberLiteral(node.expr.text, node.expr.integer, scope.version), scope.version);
  }
  return NOT_CONSTANT;
}

function numberLiteral(text: string, integer: boolean, version: Version): unknown {
  const n = Number(text);
  return integer ? n : decimal(n, version);
}

export function compileExpr(node: Expr, scope: Scope): Compiled {
  const constant = constantOf(node, scope);
  if (constant !== NOT_CONSTANT) return () => constant;
  switch (node.type) {
    case 'literal':
    case 'number':
      throw new Error('unreachable: constants are folded above');
    case 'field': {
      const name = node.name;
      return (ctx) => ownField(ctx.current, name);
    }
    case 'variable': {
      const name = node.name;
      if (!scope.variables.has(name))
        throw compileError(scope, node.loc, `Variable @${name} is not defined (declare it in the SET clause before it is used)`);
      return (ctx) => ctx.vars[name];
    }
    case 'payload':
      return (ctx) => (ctx.json ? ctx.root : ctx.raw);
    case 'member': {
      const object = compileExpr(node.object, scope);
      const name = node.name;
      return (ctx) => ownField(object(ctx), name);
    }
    case 'index': {
      const object = compileExpr(node.object, scope);
      const index = compileExpr(node.index, scope);
      return (ctx) => indexInto(object(ctx), index(ctx));
    }
    case 'call':
      return compileCall(node, scope);
    case 'cast':
      return compileCast(node, scope);
    case 'unary': {
      const operand = compileExpr(node.expr, scope);
      if (node.op === 'not') return (ctx) => op.not(operand(ctx));
      const version = scope.version;
      return (ctx) => op.negate(operand(ctx), version);
    }
    case 'binary':
      return compileBinary(node.op, compileExpr(node.left, scope), compileExpr(node.right, scope), scope.version);
    case 'case':
      return compileCase(node, scope);
    case 'object': {
      requires2016(scope, node.loc, 'An object literal');
      const entries = node.entries.map((e) => ({ key: e.key, value: compileExpr(e.value, scope) }));
      return (ctx) => {
        const out: Record<string, unknown> = {};
        for (const e of entries) {
          const v = e.value(ctx);
          if (v !== undefined) setKey(out, e.key, storable(v));
        }
        return out;
      };
    }
    case 'array': {
      requires2016(scope, node.loc, 'An array literal');
      const items = node.items.map((i) => compileExpr(i, scope));
      return (ctx) => {
        const out: unknown[] = [];
        for (const item of items) {
          const v = item(ctx);
          if (v !== undefined) out.push(storable(v));
        }
        return out;
      };
    }
    case 'subquery':
      return compileSubQuery(node, scope);
  }
}

/** `a[i]` (a Thicket extension, AWS documents get()): arrays and strings by Int index, objects by String key. */
function indexInto(coll: unknown, key: unknown): unknown {
  if (Array.isArray(coll) || typeof coll === 'string') {
    const i = toInt(key);
    return typeof i === 'number' && i >= 0 && i < coll.length ? coll[i] : undefined;
  }
  if (isPlainObject(coll) && typeof key === 'string') return ownField(coll, key);
  return undefined;
}

function compileBinary(operator: string, left: Compiled, right: Compiled, version: Version): Compiled {
  switch (operator) {
    case 'and':
      return (ctx) => op.and(left(ctx), right(ctx));
    case 'or':
      return (ctx) => op.or(left(ctx), right(ctx));
    case '=':
      return (ctx) => sqlEquals(left(ctx), right(ctx));
    case '<>':
      return (ctx) => op.notEquals(left(ctx), right(ctx));
    case '<':
    case '<=':
    case '>':
    case '>=': {
      const cmp = operator;
      return (ctx) => {
        const a = left(ctx);
        const b = right(ctx);
        // Fast path for the common numeric case; op.compare handles conversions.
        if (typeof a === 'number' && typeof b === 'number' && !Number.isNaN(a) && !Number.isNaN(b)) {
          return cmp === '>' ? a > b : cmp === '<' ? a < b : cmp === '>=' ? a >= b : a <= b;
        }
        return op.compare(cmp, a, b);
      };
    }
    case 'in':
      return (ctx) => op.inArray(left(ctx), right(ctx));
    case '+':
      return (ctx) => op.add(left(ctx), right(ctx), version);
    case '-':
    case '*':
    case '/':
    case '%': {
      const arith = operator;
      return (ctx) => op.arithmetic(arith, left(ctx), right(ctx), version);
    }
    default:
      throw new Error(`unknown operator ${operator}`);
  }
}

function compileCase(node: Extract<Expr, { type: 'case' }>, scope: Scope): Compiled {
  const subject = node.subject ? compileExpr(node.subject, scope) : undefined;
  const whens = node.whens.map((w) => ({ when: compileExpr(w.when, scope), then: compileExpr(w.then, scope) }));
  const otherwise = node.otherwise ? compileExpr(node.otherwise, scope) : undefined;
  if (subject) {
    return (ctx) => {
      const v = subject(ctx);
      if (v === undefined) return undefined;
      for (const w of whens) if (sqlEquals(v, w.when(ctx)) === true) return w.then(ctx);
      return otherwise ? otherwise(ctx) : undefined;
    };
  }
  // Searched form CASE WHEN cond THEN ... (a Thicket extension; AWS documents the simple form).
  return (ctx) => {
    for (const w of whens) if (toBoolean(w.when(ctx)) === true) return w.then(ctx);
    return otherwise ? otherwise(ctx) : undefined;
  };
}

const EMPTY: unknown[] = [];

function compileCall(node: Extract<Expr, { type: 'call' }>, scope: Scope): Compiled {
  const spec = FUNCTIONS[node.name];
  if (!spec) throw compileError(scope, node.loc, `Unknown function: ${node.name}`);
  if (spec.since === '2016-03-23') requires2016(scope, node.loc, `Function ${node.name}()`);
  const n = node.args.length;
  if (n < spec.min || n > spec.max) {
    const expected = spec.min === spec.max ? `${spec.min}` : spec.max === Infinity ? `at least ${spec.min}` : `${spec.min} to ${spec.max}`;
    throw compileError(scope, node.loc, `Function ${node.name}() takes ${expected} argument${expected === '1' ? '' : 's'}, got ${n}`);
  }
  if (spec.external) scope.usesExternal = true;
  if (node.name === 'transform' && node.args[0]?.type === 'variable') {
    // AWS: "parameters that switch the mode of a function ... do not support variables".
    throw compileError(scope, node.args[0].loc, 'The mode argument of transform() cannot be a SET variable');
  }
  // encode(*, ...) and decode(*, ...) see the payload bytes even when the payload is JSON.
  const rawPayload = node.name === 'encode' || node.name === 'decode';
  const args = node.args.map((a) => (a.type === 'payload' && rawPayload ? (ctx: EvalContext) => ctx.raw : compileExpr(a, scope)));
  const fn = spec.fn;
  if (n === 0) return (ctx) => fn(EMPTY, ctx);
  if (n === 1) {
    const a = args[0]!;
    return (ctx) => fn([a(ctx)], ctx);
  }
  if (n === 2) {
    const a = args[0]!;
    const b = args[1]!;
    return (ctx) => fn([a(ctx), b(ctx)], ctx);
  }
  return (ctx) =>
    fn(
      args.map((a) => a(ctx)),
      ctx,
    );
}

const STRING_TYPES = new Set(['string', 'nvarchar', 'text', 'ntext', 'varchar']);

function compileCast(node: Extract<Expr, { type: 'cast' }>, scope: Scope): Compiled {
  const value = compileExpr(node.expr, scope);
  const version = scope.version;
  if (STRING_TYPES.has(node.to)) return (ctx) => toStringValue(value(ctx));
  if (node.to === 'int' || node.to === 'integer') return (ctx) => castToInt(value(ctx));
  if (node.to === 'double') return (ctx) => castToDecimal(value(ctx), version);
  if (node.to === 'decimal' || node.to === 'bool' || node.to === 'boolean') {
    requires2016(scope, node.loc, `cast(... AS ${node.to})`);
    if (node.to === 'decimal') return (ctx) => castToDecimal(value(ctx), version);
    return (ctx) => castToBoolean(value(ctx));
  }
  throw compileError(
    scope,
    node.loc,
    `Unsupported cast type: ${node.to} (use String, Nvarchar, Text, Ntext, Varchar, Int, Integer, Double, Decimal, Bool or Boolean)`,
  );
}

function castToInt(v: unknown): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (isInt(v)) return v;
  if (isNumeric(v) || typeof v === 'string') {
    const n = toDecimal(v);
    return typeof n === 'number' && Number.isFinite(n) ? Math.floor(n) : undefined;
  }
  return undefined;
}

function castToDecimal(v: unknown, version: Version): unknown {
  if (typeof v === 'boolean') return decimal(v ? 1 : 0, version);
  if (isNumeric(v)) return decimal(numberOf(v), version);
  if (typeof v === 'string') {
    const n = toDecimal(v);
    return typeof n === 'number' ? decimal(n, version) : undefined;
  }
  return undefined;
}

function castToBoolean(v: unknown): unknown {
  if (isNumeric(v)) return numberOf(v) !== 0;
  return toBoolean(v);
}

/** The output key of an un-aliased SELECT item (AWS documents only bare field references). */
export function itemKey(item: Extract<SelectItem, { type: 'item' }>, index: number): string {
  if (item.alias !== undefined) return item.alias;
  const e = item.expr;
  if (e.type === 'field' || e.type === 'member') return e.name;
  if (e.type === 'variable') return e.name;
  if (e.type === 'call') return e.name;
  return `_${index + 1}`;
}

/** Builds the SELECT list: an object from `*` and keyed items, or the bare value for SELECT VALUE. */
export function compileSelect(items: SelectItem[], value: boolean, scope: Scope): { star: boolean; build: Compiled } {
  if (value) {
    const item = items[0] as Extract<SelectItem, { type: 'item' }>;
    return { star: false, build: compileExpr(item.expr, scope) };
  }
  let star = false;
  const keyed: { key: string; value: Compiled }[] = [];
  items.forEach((item, i) => {
    if (item.type === 'star') star = true;
    else keyed.push({ key: itemKey(item, i), value: compileExpr(item.expr, scope) });
  });
  const withStar = star;
  return {
    star,
    build: (ctx) => {
      const out: Record<string, unknown> = {};
      if (withStar && isPlainObject(ctx.current)) {
        const src = ctx.current;
        for (const k of Object.keys(src)) setKey(out, k, src[k]);
      }
      for (const k of keyed) {
        const v = k.value(ctx);
        if (v !== undefined) setKey(out, k.key, storable(v));
      }
      return out;
    },
  };
}

function compileSubQuery(node: SubQueryNode, scope: Scope): Compiled {
  requires2016(scope, node.loc, 'A nested SELECT');
  const from = compileExpr(node.from, scope);
  const where = node.where ? compileExpr(node.where, scope) : undefined;
  const { build } = compileSelect(node.items, node.value, scope);
  return (ctx) => {
    const source = from(ctx);
    const saved = ctx.current;
    if (isPlainObject(source)) {
      // Over an object the query yields one result, not an array: AWS's transform() example
      // passes `(select a, b from data2)` as the Object argument.
      try {
        ctx.current = source;
        if (where && where(ctx) !== true) return undefined;
        return build(ctx);
      } finally {
        ctx.current = saved;
      }
    }
    if (!Array.isArray(source)) return undefined;
    const out: unknown[] = [];
    try {
      for (const row of source) {
        ctx.current = row;
        if (where && where(ctx) !== true) continue;
        const v = build(ctx);
        if (v !== undefined) out.push(storable(v));
      }
    } finally {
      ctx.current = saved;
    }
    return out;
  };
}
