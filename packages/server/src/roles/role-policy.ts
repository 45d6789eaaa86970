/**
 * A role's permissions: an IAM identity policy (Effect, Action/NotAction, Resource/NotResource,
 * Condition) over Thicket's HTTP API actions, decided by the same engine as IoT policies.
 *
 * The IoT policy parser accepts only the actions a device policy may name; a role names control-
 * plane actions too (`iot:CreateThing`, `iotjobsdata:*`, `thicket:CreateRole`), so actions are
 * checked here for IAM's syntax only and everything else is left to the engine's validation.
 */
import { countNonWhitespace } from '../policies/engine/parse.js';
import { PolicyDocumentError, validatePolicyDocument, type PolicyDocument } from '../policies/engine/index.js';

/** IAM's limit for a role's inline policies, counted without whitespace. */
export const MAX_ROLE_POLICY_CHARS = 10_240;

const ACTION = /^[A-Za-z0-9-]+:[A-Za-z0-9*?]+$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses and validates a role policy (JSON text). Throws PolicyDocumentError with IAM-like wording. */
export function parseRolePolicy(text: string): PolicyDocument {
  const size = countNonWhitespace(text);
  if (size > MAX_ROLE_POLICY_CHARS) {
    throw new PolicyDocumentError(
      `Policy document is too large: ${size} characters excluding whitespace, the limit is ${MAX_ROLE_POLICY_CHARS}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new PolicyDocumentError(`Policy document is not valid JSON: ${(err as Error).message}`);
  }
  if (!isObject(value)) throw new PolicyDocumentError('Policy document must be a JSON object');
  const raw = value.Statement;
  const statements = Array.isArray(raw) ? raw : raw === undefined ? [] : [raw];
  // The actions as written, per statement; the engine validates a copy that names none of them.
  const actions = statements.map((s, i) => statementActions(s, statements.length > 1 ? `Statement[${i}]` : 'Statement'));
  const neutral = {
    ...value,
    Statement: statements.map((s, i) => {
      if (!isObject(s) || !actions[i]) return s;
      return { ...s, [actions[i].key]: '*' };
    }),
  };
  const doc = validatePolicyDocument(neutral);
  doc.Statement.forEach((st, i) => {
    const a = actions[i];
    if (!a) return;
    delete st.Action;
    delete st.NotAction;
    st[a.key] = a.list;
  });
  return doc;
}

function statementActions(s: unknown, where: string): { key: 'Action' | 'NotAction'; list: string[] } | undefined {
  if (!isObject(s)) return undefined;
  const key = s.Action !== undefined ? 'Action' : s.NotAction !== undefined ? 'NotAction' : undefined;
  // Both present, or neither: the engine's validation words that error.
  if (!key || (s.Action !== undefined && s.NotAction !== undefined)) return undefined;
  const raw = s[key];
  const list = Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) throw new PolicyDocumentError(`${where} ${key} must not be empty`);
  for (const a of list) {
    if (typeof a !== 'string' || a.length === 0)
      throw new PolicyDocumentError(`${where} ${key} must be a non-empty string or a list of non-empty strings`);
    if (a !== '*' && !ACTION.test(a)) {
      throw new PolicyDocumentError(
        `${where}: Invalid action ${JSON.stringify(a)}: expected "<service>:<ActionName>", e.g. "iot:CreateThing", or a wildcard pattern such as "iot:*"`,
      );
    }
  }
  return { key, list: list as string[] };
}
