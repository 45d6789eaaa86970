/**
 * Compiles a statement's Condition block into a predicate over the request's condition keys, with
 * IAM semantics: operators AND-ed, keys within an operator AND-ed, values within a key OR-ed;
 * a missing key fails a positive operator and satisfies a negated one, `...IfExists` is satisfied by a
 * missing key, `ForAllValues:` is satisfied by a missing or empty key, `ForAnyValue:` is not.
 */
import { type ConditionOperator, conditionValueProblem, parseConditionOperator, parseDate, parseNumber } from './condition-operators.js';
import { PolicyDocumentError } from './errors.js';
import { cidrContains, type IpAddress, parseCidr, parseIpAddress } from './ip-address.js';
import type { ConditionContext, PolicyCondition, PolicyVariables, PolicyVersion } from './types.js';
import { hasVariables, parseTemplate, piecesToString, substitute, type TemplateToken } from './variables.js';
import { compileWildcard, type Matcher, type PatternPiece } from './wildcard.js';

export type ContextValue = NonNullable<ConditionContext[string]>;
export type KeyLookup = (key: string) => ContextValue | undefined;
export type CompiledCondition = (lookup: KeyLookup) => boolean;

type ScalarValue = string | number | boolean;
/** Does one request value match at least one of the policy values? */
type ValueTest = (requestValue: ScalarValue) => boolean;

interface CompiledEntry {
  key: string;
  op: ConditionOperator;
  test: ValueTest;
}

const ORDER: Record<'eq' | 'lt' | 'le' | 'gt' | 'ge', (a: number, b: number) => boolean> = {
  eq: (a, b) => a === b,
  lt: (a, b) => a < b,
  le: (a, b) => a <= b,
  gt: (a, b) => a > b,
  ge: (a, b) => a >= b,
};

function requestNumber(v: ScalarValue): number | undefined {
  if (typeof v === 'number') return v;
  return typeof v === 'string' ? parseNumber(v) : undefined;
}

function requestDate(v: ScalarValue): number | undefined {
  // Numbers are epoch seconds, like aws:EpochTime.
  if (typeof v === 'number') return v * 1000;
  return typeof v === 'string' ? parseDate(v) : undefined;
}

function requestBool(v: ScalarValue): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = String(v).toLowerCase();
  return s === 'true' ? true : s === 'false' ? false : undefined;
}

/** Splits pieces at the first `count` occurrences of `sep`, keeping literal marks. */
function splitPieces(pieces: readonly PatternPiece[], sep: string, count: number): PatternPiece[][] {
  const out: PatternPiece[][] = [[]];
  let splits = 0;
  for (const p of pieces) {
    let rest = p.text;
    let at: number;
    while (splits < count && (at = rest.indexOf(sep)) >= 0) {
      out[out.length - 1]!.push({ text: rest.slice(0, at), literal: p.literal });
      out.push([]);
      rest = rest.slice(at + 1);
      splits++;
    }
    out[out.length - 1]!.push({ text: rest, literal: p.literal });
  }
  return out;
}

/**
 * IAM ARN matching: each of the six colon-separated components is matched on its own, so a `*` in
 * the region cannot swallow the account. A pattern with fewer components matches no ARN — except
 * a bare `*`.
 */
function arnMatcher(pieces: readonly PatternPiece[]): Matcher {
  const segments = splitPieces(pieces, ':', 5);
  if (segments.length < 6) return piecesToString(pieces) === '*' && !pieces[0]!.literal ? () => true : () => false;
  const matchers = segments.map((s) => compileWildcard(s));
  return (value) => {
    const parts = value.split(':');
    if (parts.length < 6) return false;
    const candidate = [...parts.slice(0, 5), parts.slice(5).join(':')];
    return matchers.every((m, i) => m(candidate[i]!));
  };
}

function compileTest(op: ConditionOperator, values: PatternPiece[][]): ValueTest {
  const strings = values.map(piecesToString);
  switch (op.family) {
    case 'string': {
      if (op.comparison === 'like') {
        const matchers = values.map((v) => compileWildcard(v));
        return (rv) => {
          const s = String(rv);
          return matchers.some((m) => m(s));
        };
      }
      if (op.comparison === 'equalsIgnoreCase') {
        const set = new Set(strings.map((s) => s.toLowerCase()));
        return (rv) => set.has(String(rv).toLowerCase());
      }
      const set = new Set(strings);
      return (rv) => set.has(String(rv));
    }
    case 'arn': {
      const matchers = values.map(arnMatcher);
      return (rv) => {
        const s = String(rv);
        return matchers.some((m) => m(s));
      };
    }
    case 'numeric':
    case 'date': {
      const parse = op.family === 'numeric' ? parseNumber : parseDate;
      const limits = strings.map(parse).filter((n): n is number => n !== undefined);
      const compare = ORDER[op.comparison as keyof typeof ORDER];
      const toNumber = op.family === 'numeric' ? requestNumber : requestDate;
      return (rv) => {
        const n = toNumber(rv);
        return n !== undefined && limits.some((limit) => compare(n, limit));
      };
    }
    case 'bool': {
      const wanted = new Set(strings.map((s) => s.toLowerCase() === 'true'));
      return (rv) => {
        const b = requestBool(rv);
        return b !== undefined && wanted.has(b);
      };
    }
    case 'ip': {
      const blocks = strings.map(parseCidr).filter((b) => b !== undefined);
      // A connection's source address never changes, so remember the last one parsed.
      let lastText: string | undefined;
      let lastIp: IpAddress | undefined;
      return (rv) => {
        if (typeof rv !== 'string') return false;
        if (rv !== lastText) {
          lastText = rv;
          lastIp = parseIpAddress(rv);
        }
        const ip = lastIp;
        return ip !== undefined && blocks.some((b) => cidrContains(b, ip));
      };
    }
    case 'null':
      // Handled in evaluateEntry: Null looks at presence, not at values.
      return () => false;
  }
}

function isPresent(value: ContextValue | undefined): value is ContextValue {
  return value !== undefined && !(Array.isArray(value) && value.length === 0);
}

function evaluateEntry(entry: CompiledEntry, lookup: KeyLookup, nullWanted: boolean[] | undefined): boolean {
  const raw = lookup(entry.key);
  const present = isPresent(raw);
  const { op } = entry;
  if (nullWanted) return nullWanted.some((wantAbsent) => wantAbsent === !present);
  if (!present) {
    if (op.ifExists || op.set === 'all') return true;
    if (op.set === 'any') return false;
    return op.negated;
  }
  const values: readonly ScalarValue[] = Array.isArray(raw) ? raw : [raw];
  const holds = (v: ScalarValue) => entry.test(v) !== op.negated;
  if (op.set === 'all') return values.every(holds);
  if (op.set === 'any') return values.some(holds);
  // A plain operator on a multi-valued key: positive if any value matches, negated if none does.
  const anyMatch = values.some((v) => entry.test(v));
  return anyMatch !== op.negated;
}

interface PreparedEntry {
  key: string;
  op: ConditionOperator;
  values: TemplateToken[][];
  /** Set when no value holds a variable: the entry is the same for every connection. */
  shared: BoundEntry | undefined;
}

interface BoundEntry {
  entry: CompiledEntry;
  nullWanted: boolean[] | undefined;
}

/** A Condition block parsed once per document; bound to each connection's variables later. */
export interface PreparedCondition {
  entries: PreparedEntry[];
  /** Set when no entry holds a variable: one compiled predicate serves every connection. */
  shared: CompiledCondition | undefined;
}

function bindEntry(prepared: PreparedEntry, vars: PolicyVariables, strict: boolean): BoundEntry {
  const { op, key } = prepared;
  const values: PatternPiece[][] = [];
  for (const tokens of prepared.values) {
    const pieces = substitute(tokens, vars, strict);
    if (!pieces) continue; // unresolved: this value matches nothing
    const problem = conditionValueProblem(op, piecesToString(pieces));
    if (problem) {
      if (hasVariables(tokens)) continue; // a substituted value of the wrong type matches nothing
      throw new PolicyDocumentError(problem);
    }
    values.push(pieces);
  }
  const nullWanted = op.family === 'null' ? values.map((v) => piecesToString(v).toLowerCase() === 'true') : undefined;
  return { entry: { key, op, test: compileTest(op, values) }, nullWanted };
}

function predicate(entries: readonly BoundEntry[]): CompiledCondition {
  return (lookup) => {
    for (const { entry, nullWanted } of entries) if (!evaluateEntry(entry, lookup, nullWanted)) return false;
    return true;
  };
}

/**
 * Parses a Condition block's operators and value templates. Throws PolicyDocumentError for what the
 * parser would have refused (reachable with hand-built documents). Undefined when there is nothing
 * to check, so callers can tell unconditional statements apart.
 */
export function prepareCondition(condition: PolicyCondition | undefined, version: PolicyVersion): PreparedCondition | undefined {
  if (!condition) return undefined;
  const entries: PreparedEntry[] = [];
  for (const [opName, block] of Object.entries(condition)) {
    const op = parseConditionOperator(opName);
    if (typeof op === 'string') throw new PolicyDocumentError(op);
    for (const [key, rawValues] of Object.entries(block)) {
      // IAM does not substitute variables in Null values.
      const values = rawValues.map((raw) => parseTemplate(raw, op.family === 'null' ? '2008-10-17' : version));
      const entry: PreparedEntry = { key, op, values, shared: undefined };
      if (!values.some(hasVariables)) entry.shared = bindEntry(entry, {}, false);
      entries.push(entry);
    }
  }
  if (entries.length === 0) return undefined;
  const shared = entries.every((e) => e.shared) ? predicate(entries.map((e) => e.shared!)) : undefined;
  return { entries, shared };
}

/** The condition predicate for one connection's variables. */
export function bindCondition(
  prepared: PreparedCondition | undefined,
  vars: PolicyVariables,
  strict: boolean,
): CompiledCondition | undefined {
  if (!prepared) return undefined;
  if (prepared.shared) return prepared.shared;
  return predicate(prepared.entries.map((e) => e.shared ?? bindEntry(e, vars, strict)));
}
