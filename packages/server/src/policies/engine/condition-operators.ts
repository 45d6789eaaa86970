/**
 * The IAM condition operators this engine understands, and how an operator key such as
 * `ForAllValues:StringNotEqualsIfExists` decomposes. Shared by the parser (to reject unknown operators
 * and malformed literal values early) and by the compiler.
 */
import { parseCidr } from './ip-address.js';

export type OperatorFamily = 'string' | 'numeric' | 'date' | 'bool' | 'ip' | 'arn' | 'null';
export type Comparison = 'equals' | 'equalsIgnoreCase' | 'like' | 'eq' | 'lt' | 'le' | 'gt' | 'ge';

interface BaseOperator {
  family: OperatorFamily;
  comparison: Comparison;
  /** Negated operators hold when no policy value matches, and when the key is absent (IAM rule). */
  negated: boolean;
}

// A Map, not an object: an operator named "constructor" must not find Object.prototype's.
const BASE_OPERATORS = new Map<string, BaseOperator>();
function define(name: string, family: OperatorFamily, comparison: Comparison, negated = false): void {
  BASE_OPERATORS.set(name.toLowerCase(), { family, comparison, negated });
}
define('StringEquals', 'string', 'equals');
define('StringNotEquals', 'string', 'equals', true);
define('StringEqualsIgnoreCase', 'string', 'equalsIgnoreCase');
define('StringNotEqualsIgnoreCase', 'string', 'equalsIgnoreCase', true);
define('StringLike', 'string', 'like');
define('StringNotLike', 'string', 'like', true);
for (const family of ['numeric', 'date'] as const) {
  const prefix = family === 'numeric' ? 'Numeric' : 'Date';
  define(`${prefix}Equals`, family, 'eq');
  define(`${prefix}NotEquals`, family, 'eq', true);
  define(`${prefix}LessThan`, family, 'lt');
  define(`${prefix}LessThanEquals`, family, 'le');
  define(`${prefix}GreaterThan`, family, 'gt');
  define(`${prefix}GreaterThanEquals`, family, 'ge');
}
define('Bool', 'bool', 'equals');
define('IpAddress', 'ip', 'eq');
define('NotIpAddress', 'ip', 'eq', true);
// ArnEquals and ArnLike are the same operator in IAM; AWS IoT documents `iot:LastWillTopic` with them.
define('ArnEquals', 'arn', 'like');
define('ArnLike', 'arn', 'like');
define('ArnNotEquals', 'arn', 'like', true);
define('ArnNotLike', 'arn', 'like', true);
define('Null', 'null', 'equals');

export interface ConditionOperator extends BaseOperator {
  /** The key as written in the policy, for messages. */
  name: string;
  ifExists: boolean;
  /** `ForAnyValue:` / `ForAllValues:` set qualifier for multi-valued keys. */
  set: 'none' | 'any' | 'all';
}

const OPERATOR_SYNTAX = /^(?:(ForAnyValue|ForAllValues):)?([A-Za-z]+?)(IfExists)?$/i;

/** Decomposes an operator key, or returns an error message naming it. */
export function parseConditionOperator(name: string): ConditionOperator | string {
  const m = OPERATOR_SYNTAX.exec(name);
  const base = m ? BASE_OPERATORS.get(m[2]!.toLowerCase()) : undefined;
  if (!m || !base) return `Unknown condition operator ${JSON.stringify(name)}`;
  const ifExists = m[3] !== undefined;
  const set = m[1] === undefined ? 'none' : m[1].toLowerCase() === 'foranyvalue' ? 'any' : 'all';
  if (base.family === 'null' && (ifExists || set !== 'none'))
    return `Unknown condition operator ${JSON.stringify(name)}: Null takes no qualifier`;
  return { ...base, name, ifExists, set };
}

const NUMBER = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;
const EPOCH_SECONDS = /^-?\d+(?:\.\d+)?$/;
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ].*)?$/;

export function parseNumber(value: string): number | undefined {
  return NUMBER.test(value.trim()) ? Number(value) : undefined;
}

/** IAM date values: ISO 8601 or epoch seconds. Milliseconds since epoch, or undefined. */
export function parseDate(value: string): number | undefined {
  const s = value.trim();
  if (EPOCH_SECONDS.test(s)) return Number(s) * 1000;
  if (!ISO_DATE.test(s)) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Why a literal policy value can't serve this operator, or undefined when it can. */
export function conditionValueProblem(op: ConditionOperator, value: string): string | undefined {
  const bad = (what: string) => `Invalid value ${JSON.stringify(value)} for condition operator ${op.name}: expected ${what}`;
  switch (op.family) {
    case 'numeric':
      return parseNumber(value) === undefined ? bad('a number') : undefined;
    case 'date':
      return parseDate(value) === undefined ? bad('an ISO 8601 date or epoch seconds') : undefined;
    case 'bool':
    case 'null':
      return /^(true|false)$/i.test(value) ? undefined : bad('"true" or "false"');
    case 'ip':
      return parseCidr(value) === undefined ? bad('an IPv4 or IPv6 address or CIDR block') : undefined;
    default:
      return undefined;
  }
}
