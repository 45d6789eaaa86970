/**
 * Roles: named permission sets of an account under IAM's ARN (`arn:aws:iam::<account>:role/<name>`),
 * each an IAM-style policy over Thicket's API actions. Role aliases point at them; the credentials
 * provider issues temporary credentials that act as them.
 *
 * Thicket's own API (not IAM's query protocol): JSON under `/_thicket/roles`, signed like the rest.
 */
import { randomInt } from 'node:crypto';
import { AwsError, alreadyExists, invalidRequest, limitExceeded, notFound } from '../aws/errors.js';
import { compilePolicies, PolicyDocumentError, type CompiledPolicySet, type PolicyDocument } from '../policies/engine/index.js';
import { constraint } from '../registry/validation.js';
import { parseRolePolicy } from './role-policy.js';
import { untilApplied, type RoleRow, type RoleStore } from './role-store.js';

export const MAX_ROLES = 1000;
/** IAM: a role's maximum session duration is 1 to 12 hours, 1 hour unless set. */
export const DEFAULT_MAX_SESSION_DURATION = 3600;
const MIN_SESSION_DURATION = 3600;
const MAX_SESSION_DURATION = 43200;
const ROLE_NAME = /^[\w+=,.@-]+$/;
const MAX_DESCRIPTION = 1000;
const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const POLICY_CACHE_ENTRIES = 1000;

export const roleArn = (accountId: string, name: string): string => `arn:aws:iam::${accountId}:role/${name}`;

/** The account and name of `arn:aws:iam::<account>:role/[<path>/]<name>`, or undefined. */
export function parseRoleArn(arn: string): { accountId: string; name: string } | undefined {
  const m = /^arn:aws[a-z-]*:iam::(\d{12}):role\/(?:[\w+=,.@/-]*\/)?([\w+=,.@-]{1,64})$/.exec(arn);
  return m ? { accountId: m[1]!, name: m[2]! } : undefined;
}

const malformed = (message: string): AwsError => new AwsError('MalformedPolicyDocumentException', 400, message);

export function checkRoleName(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0)
    return constraint('roleName', value, 'Member must have length greater than or equal to 1');
  if (value.length > 64) constraint('roleName', value, 'Member must have length less than or equal to 64');
  if (!ROLE_NAME.test(value)) constraint('roleName', value, 'Member must satisfy regular expression pattern: [\\w+=,.@-]+');
  return value;
}

function policyText(value: unknown, required: boolean): string | undefined {
  if (value === undefined || value === null) {
    if (required) throw invalidRequest('policyDocument is required: the role policy as JSON text (or a JSON object)');
    return undefined;
  }
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && !Array.isArray(value)) return JSON.stringify(value);
  throw invalidRequest('policyDocument must be the role policy as JSON text (or a JSON object)');
}

function maxSessionDuration(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value))
    return constraint('maxSessionDuration', value, 'Member must be a whole number');
  if (value < MIN_SESSION_DURATION)
    constraint('maxSessionDuration', value, `Member must have value greater than or equal to ${MIN_SESSION_DURATION}`);
  if (value > MAX_SESSION_DURATION)
    constraint('maxSessionDuration', value, `Member must have value less than or equal to ${MAX_SESSION_DURATION}`);
  return value;
}

function description(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return constraint('description', value, 'Member must be a string');
  if (value.length > MAX_DESCRIPTION) constraint('description', value, `Member must have length less than or equal to ${MAX_DESCRIPTION}`);
  return value;
}

function newRoleId(): string {
  let id = 'AROA';
  for (let i = 0; i < 17; i++) id += ID_CHARS[randomInt(ID_CHARS.length)];
  return id;
}

export interface RolesOptions {
  store: RoleStore;
  now?: () => number;
}

export class Roles {
  private readonly store: RoleStore;
  private readonly now: () => number;
  /** Parsed policies by role id and update time: a role's policy is parsed once per change, not per request. */
  private readonly parsed = new Map<string, PolicyDocument>();

  constructor(opts: RolesOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
  }

  private view(r: RoleRow) {
    return {
      roleName: r.name,
      roleId: r.roleId,
      roleArn: roleArn(r.accountId, r.name),
      description: r.description,
      maxSessionDuration: r.maxSessionDuration,
      policyDocument: r.policy,
      creationDate: r.createdAt / 1000,
      lastModifiedDate: r.updatedAt / 1000,
    };
  }

  private must(accountId: string, name: string): RoleRow {
    const r = this.store.role(accountId, name);
    if (!r) throw notFound(`The role with name ${name} cannot be found.`);
    return r;
  }

  private validPolicy(text: string): void {
    try {
      parseRolePolicy(text);
    } catch (err) {
      if (err instanceof PolicyDocumentError) throw malformed(err.message);
      throw err;
    }
  }

  private taken(accountId: string, name: string): AwsError {
    const existing = this.store.role(accountId, name);
    const stored = existing?.name ?? name;
    return alreadyExists(`Role with name ${stored} already exists.`, stored, roleArn(accountId, stored));
  }

  async create(accountId: string, name: string, body: Record<string, unknown>) {
    checkRoleName(name);
    const policy = policyText(body.policyDocument, true)!;
    this.validPolicy(policy);
    const desc = description(body.description) ?? '';
    const duration = maxSessionDuration(body.maxSessionDuration) ?? DEFAULT_MAX_SESSION_DURATION;
    if (this.store.role(accountId, name)) throw this.taken(accountId, name);
    // The count and the insert as one, against creates at once here or on other nodes.
    return this.store.sql.exclusive(`roles:${accountId}`, async () => {
      if ((await this.store.countRoles(accountId)) >= MAX_ROLES) throw limitExceeded(`An account may have at most ${MAX_ROLES} roles`);
      return this.insert(accountId, name, desc, policy, duration);
    });
  }

  private async insert(accountId: string, name: string, desc: string, policy: string, duration: number) {
    const now = this.now();
    const row: RoleRow = {
      accountId,
      name,
      roleId: newRoleId(),
      description: desc,
      policy,
      maxSessionDuration: duration,
      createdAt: now,
      updatedAt: now,
    };
    // The key decides between two creates at once (here or on another node).
    if (!(await this.store.insertRole(row))) throw this.taken(accountId, name);
    return { role: this.view(row) };
  }

  describe(accountId: string, name: string) {
    return { role: this.view(this.must(accountId, checkRoleName(name))) };
  }

  list(accountId: string) {
    return { roles: this.store.roles(accountId).map((r) => this.view(r)) };
  }

  async update(accountId: string, name: string, body: Record<string, unknown>) {
    checkRoleName(name);
    const policy = policyText(body.policyDocument, false);
    if (policy !== undefined) this.validPolicy(policy);
    const desc = description(body.description);
    const duration = maxSessionDuration(body.maxSessionDuration);
    return untilApplied(`Role ${name}`, async () => {
      const r = this.must(accountId, name);
      // Strictly later, so that the parsed-policy cache (keyed by update time) sees every change.
      const row: RoleRow = {
        ...r,
        policy: policy ?? r.policy,
        description: desc ?? r.description,
        maxSessionDuration: duration ?? r.maxSessionDuration,
        updatedAt: Math.max(this.now(), r.updatedAt + 1),
      };
      return (await this.store.updateRole(r, row)) && { role: this.view(row) };
    });
  }

  async delete(accountId: string, name: string) {
    checkRoleName(name);
    if (!(await this.store.deleteRole(accountId, name))) throw notFound(`The role with name ${name} cannot be found.`);
    return {};
  }

  /** The role an ARN names, when it exists in that account. */
  byArn(arn: string): RoleRow | undefined {
    const p = parseRoleArn(arn);
    return p ? this.store.role(p.accountId, p.name) : undefined;
  }

  /** The role's policy compiled with a session's variables. */
  compile(r: RoleRow, vars: Record<string, string | undefined>): CompiledPolicySet {
    const key = `${r.roleId}:${r.updatedAt}`;
    let doc = this.parsed.get(key);
    if (!doc) {
      doc = parseRolePolicy(r.policy);
      if (this.parsed.size >= POLICY_CACHE_ENTRIES) this.parsed.clear();
      this.parsed.set(key, doc);
    }
    return compilePolicies([doc], vars, { now: this.now });
  }

  clearCache(): void {
    this.parsed.clear();
  }
}
