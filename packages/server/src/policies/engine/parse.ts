/**
 * Parsing and validation of policy documents, with the strictness of AWS's MalformedPolicyException:
 * a document that parses here is one the compiler can evaluate without surprises.
 */
import { actionProblem } from './actions.js';
import { conditionValueProblem, parseConditionOperator } from './condition-operators.js';
import { PolicyDocumentError } from './errors.js';
import { findJsonSyntaxError } from './json-syntax.js';
import type { ParseOptions, PolicyCondition, PolicyDocument, PolicyStatement, PolicyVersion } from './types.js';

export const DEFAULT_MAX_POLICY_CHARS = 2048;

const VERSIONS: readonly string[] = ['2012-10-17', '2008-10-17'];
// IAM: a document without Version is read with the 2008-10-17 rules, where `${...}` is plain text.
const DEFAULT_VERSION: PolicyVersion = '2008-10-17';
const DOCUMENT_KEYS = new Set(['Version', 'Id', 'Statement']);
const STATEMENT_KEYS = new Set(['Sid', 'Effect', 'Action', 'NotAction', 'Resource', 'NotResource', 'Condition']);

const fail = (message: string): never => {
  throw new PolicyDocumentError(message);
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Characters that count against the size limit: everything but whitespace, counted as code points. */
export function countNonWhitespace(text: string): number {
  const stripped = text.replace(/\s+/g, '');
  const surrogatePairs = stripped.match(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g)?.length ?? 0;
  return stripped.length - surrogatePairs;
}

/** Parses and validates a policy document (JSON text). Throws PolicyDocumentError. */
export function parsePolicyDocument(text: string, options: ParseOptions = {}): PolicyDocument {
  const maxChars = options.maxChars ?? DEFAULT_MAX_POLICY_CHARS;
  // Checked before parsing so an oversized document costs no more than a scan.
  const size = countNonWhitespace(text);
  if (size > maxChars) fail(`Policy document is too large: ${size} characters excluding whitespace, the limit is ${maxChars}`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const where = findJsonSyntaxError(text);
    if (!where) throw new PolicyDocumentError(`Policy document is not valid JSON: ${(err as Error).message}`);
    throw new PolicyDocumentError(
      `Policy document is not valid JSON: ${where.message} at line ${where.line}, column ${where.column}`,
      where,
    );
  }
  return validatePolicyDocument(value);
}

/** Validates an already-decoded document and returns its normalised form. Throws PolicyDocumentError. */
export function validatePolicyDocument(value: unknown): PolicyDocument {
  if (!isObject(value)) return fail('Policy document must be a JSON object');
  for (const key of Object.keys(value)) if (!DOCUMENT_KEYS.has(key)) fail(`Policy document has an unknown element "${key}"`);
  const version = value.Version ?? DEFAULT_VERSION;
  if (typeof version !== 'string' || !VERSIONS.includes(version)) {
    fail(`Policy document has an invalid Version ${JSON.stringify(version)}: expected "2012-10-17" or "2008-10-17"`);
  }
  const doc: PolicyDocument = { Version: version as PolicyVersion, Statement: [] };
  if (value.Id !== undefined) doc.Id = typeof value.Id === 'string' ? value.Id : fail('Policy document Id must be a string');
  const raw = value.Statement;
  if (raw === undefined) fail('Policy document is missing the required element "Statement"');
  const statements = Array.isArray(raw) ? raw : [raw];
  if (statements.length === 0) fail('Policy document Statement must not be empty');
  doc.Statement = statements.map((s, i) => validateStatement(s, statements.length > 1 ? `Statement[${i}]` : 'Statement'));
  return doc;
}

function validateStatement(value: unknown, where: string): PolicyStatement {
  if (!isObject(value)) return fail(`${where} must be a JSON object`);
  for (const key of Object.keys(value)) {
    if (key === 'Principal' || key === 'NotPrincipal') fail(`${where}: ${key} is not supported in AWS IoT policies`);
    if (!STATEMENT_KEYS.has(key)) fail(`${where} has an unknown element "${key}"`);
  }
  const effect = value.Effect;
  if (effect === undefined) fail(`${where} is missing the required element "Effect"`);
  if (effect !== 'Allow' && effect !== 'Deny') fail(`${where} has an invalid Effect ${JSON.stringify(effect)}: expected "Allow" or "Deny"`);
  const statement: PolicyStatement = { Effect: effect as 'Allow' | 'Deny' };
  if (value.Sid !== undefined) statement.Sid = typeof value.Sid === 'string' ? value.Sid : fail(`${where} Sid must be a string`);

  const [actionKey, actions] = exactlyOne(value, where, 'Action', 'NotAction');
  for (const action of actions) {
    const problem = actionProblem(action);
    if (problem) fail(`${where}: ${problem}`);
  }
  statement[actionKey] = actions;

  const [resourceKey, resources] = exactlyOne(value, where, 'Resource', 'NotResource');
  for (const resource of resources) {
    if (!resource.startsWith('arn:') && !resource.startsWith('*'))
      fail(`${where}: Resource ${JSON.stringify(resource)} must be an ARN or "*"`);
  }
  statement[resourceKey] = resources;

  if (value.Condition !== undefined) statement.Condition = validateCondition(value.Condition, where);
  return statement;
}

/** Action/NotAction and Resource/NotResource: exactly one, a string or a non-empty list of non-empty strings. */
function exactlyOne<K extends string>(value: Record<string, unknown>, where: string, key: K, notKey: K): [K, string[]] {
  const has = value[key] !== undefined;
  const hasNot = value[notKey] !== undefined;
  if (has && hasNot) fail(`${where} must not contain both "${key}" and "${notKey}"`);
  if (!has && !hasNot) fail(`${where} is missing the required element "${key}" (or "${notKey}")`);
  const name = has ? key : notKey;
  const raw = value[name];
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) fail(`${where} ${name} must not be empty`);
  for (const item of list) {
    if (typeof item !== 'string' || item.length === 0) fail(`${where} ${name} must be a non-empty string or a list of non-empty strings`);
  }
  return [name, list as string[]];
}

function validateCondition(value: unknown, where: string): PolicyCondition {
  if (!isObject(value)) return fail(`${where} Condition must be a JSON object`);
  const condition: PolicyCondition = {};
  for (const [opName, block] of Object.entries(value)) {
    const op = parseConditionOperator(opName);
    if (typeof op === 'string') return fail(`${where}: ${op}`);
    if (!isObject(block)) return fail(`${where} Condition ${opName} must map condition keys to values`);
    const keys: Record<string, string[]> = {};
    for (const [key, raw] of Object.entries(block)) {
      if (key.length === 0) fail(`${where} Condition ${opName} has an empty condition key`);
      // Assigning "__proto__" would silently drop the key (and replace the prototype) instead.
      if (key === '__proto__') fail(`${where} Condition ${opName} has an invalid condition key "__proto__"`);
      // An empty list is meaningful: `ForAllValues:StringEquals {"iot:ConnectAttributes": []}` is AWS's own example.
      const list = Array.isArray(raw) ? raw : [raw];
      keys[key] = list.map((item) => {
        if (typeof item === 'string') return item;
        if (typeof item === 'number' || typeof item === 'boolean') return String(item);
        return fail(`${where} Condition ${opName} ${key} values must be strings, numbers or booleans`);
      });
      for (const v of keys[key]) {
        // Values holding variables are checked after substitution, at compile time.
        if (v.includes('${') && op.family !== 'null') continue;
        const problem = conditionValueProblem(op, v);
        if (problem) fail(`${where}: ${problem}`);
      }
    }
    condition[opName] = keys;
  }
  return condition;
}
