/** Registry names, attributes and limits (reference controlplane §2.1), with AWS's validation wording. */
import { parseArn, type Namespace } from '../accounts/namespace.js';
import { invalidRequest, notFound } from '../aws/errors.js';

export const NAME_PATTERN = /^[a-zA-Z0-9:_-]+$/;
const ATTRIBUTE_NAME = /^[a-zA-Z0-9_.,@/:#-]+$/;
const ATTRIBUTE_VALUE = /^[a-zA-Z0-9_.,@/:#=[\]-]*$/;

export const MAX_ATTRIBUTES_WITHOUT_TYPE = 3;
export const MAX_ATTRIBUTES_WITH_TYPE = 50;
export const MAX_GROUPS_PER_THING = 10;
export const MAX_GROUP_DEPTH = 7;

/** "1 validation error detected: Value 'x' at 'thingName' failed to satisfy constraint: ..." as AWS words it. */
export function constraint(member: string, value: unknown, rule: string): never {
  throw invalidRequest(`1 validation error detected: Value '${String(value)}' at '${member}' failed to satisfy constraint: ${rule}`);
}

export function checkName(member: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) constraint(member, value, 'Member must have length greater than or equal to 1');
  if (value.length > 128) constraint(member, value, 'Member must have length less than or equal to 128');
  if (!NAME_PATTERN.test(value)) constraint(member, value, 'Member must satisfy regular expression pattern: [a-zA-Z0-9:_-]+');
  return value;
}

export function optionalString(member: string, value: unknown, max = 2028): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') constraint(member, value, 'Member must be a string');
  if (value.length > max) constraint(member, value, `Member must have length less than or equal to ${max}`);
  return value;
}

export function checkAttributes(member: string, value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) constraint(member, JSON.stringify(value), 'Member must be a map of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k.length > 128 || !ATTRIBUTE_NAME.test(k)) {
      constraint(`${member}.${k}`, k, 'Attribute names must match [a-zA-Z0-9_.,@/:#-]+ and have at most 128 characters');
    }
    if (typeof v !== 'string') constraint(`${member}.${k}`, v, 'Attribute values must be strings');
    if (v.length > 800 || !ATTRIBUTE_VALUE.test(v)) {
      constraint(`${member}.${k}`, v, 'Attribute values must match [a-zA-Z0-9_.,@/:#=\\[\\]-]* and have at most 800 characters');
    }
    out[k] = v;
  }
  return out;
}

export function checkAttributeCount(count: number, hasType: boolean): void {
  const max = hasType ? MAX_ATTRIBUTES_WITH_TYPE : MAX_ATTRIBUTES_WITHOUT_TYPE;
  if (count > max) {
    throw invalidRequest(
      hasType
        ? `A thing with a thing type may have at most ${max} attributes; this one would have ${count}`
        : `A thing without a thing type may have at most ${max} attributes; this one would have ${count} (give it a thing type for up to ${MAX_ATTRIBUTES_WITH_TYPE})`,
    );
  }
}

export function optionalVersion(member: string, value: unknown): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) constraint(member, value, 'Member must be a whole number');
  return n;
}

export interface Tag {
  Key: string;
  Value?: string;
}

export function checkTags(value: unknown): Tag[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) constraint('tags', JSON.stringify(value), 'Member must be a list of {Key, Value}');
  return value.map((t: unknown, i) => {
    const tag = t as { Key?: unknown; Value?: unknown };
    if (typeof tag?.Key !== 'string' || tag.Key.length === 0 || tag.Key.length > 128)
      constraint(`tags.${i + 1}.member.Key`, tag?.Key, 'Member must have length between 1 and 128');
    if (tag.Value !== undefined && (typeof tag.Value !== 'string' || tag.Value.length > 256)) {
      constraint(`tags.${i + 1}.member.Value`, tag.Value, 'Member must have length less than or equal to 256');
    }
    return tag.Value === undefined ? { Key: tag.Key } : { Key: tag.Key, Value: tag.Value as string };
  });
}

/** Name from `name` or the last part of an ARN `arn:...:<kind>/<name>` in the caller's namespace. */
export function nameOrArn(ns: Namespace, name: unknown, arn: unknown, kind: string, member: string): string {
  if (name !== undefined) return checkName(member, name);
  if (typeof arn === 'string') {
    const p = parseArn(arn);
    if (p && p.accountId === ns.accountId && p.region === ns.region && p.resource.startsWith(`${kind}/`))
      return checkName(member, p.resource.slice(kind.length + 1));
    throw notFound(`${arn} cannot be found.`);
  }
  throw invalidRequest(`Either ${member} or its ARN is required`);
}
