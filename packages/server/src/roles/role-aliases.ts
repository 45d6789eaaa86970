/**
 * Role aliases (reference controlplane §8.4): a stable name devices use to obtain credentials for
 * a role, so the role can change without touching the devices.
 */
import type { TagWriter } from '../tags/tag-writer.js';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { decodeToken, encodeToken, pageSize, parseBool } from '../api/pagination.js';
import { alreadyExists, invalidRequest, limitExceeded, notFound } from '../aws/errors.js';
import { checkTags, constraint } from '../registry/validation.js';
import { untilApplied, type RoleAliasRow, type RoleStore } from './role-store.js';

export const MAX_ROLE_ALIASES = 100;
export const DEFAULT_CREDENTIAL_DURATION = 3600;
const MIN_DURATION = 900;
const MAX_DURATION = 43200;
const ALIAS = /^[\w=,@-]+$/;
const MAX_PAGE = 250;

export const roleAliasArn = (ns: Namespace, alias: string): string => iotArn(ns, `rolealias/${alias}`);

export function checkRoleAlias(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0)
    return constraint('roleAlias', value, 'Member must have length greater than or equal to 1');
  if (value.length > 128) constraint('roleAlias', value, 'Member must have length less than or equal to 128');
  if (!ALIAS.test(value)) constraint('roleAlias', value, 'Member must satisfy regular expression pattern: [\\w=,@-]+');
  return value;
}

function checkRoleArn(value: unknown, required: boolean): string | undefined {
  if (value === undefined || value === null) return required ? constraint('roleArn', value, 'Member must not be null') : undefined;
  if (typeof value !== 'string') return constraint('roleArn', value, 'Member must be a string');
  if (value.length < 20) constraint('roleArn', value, 'Member must have length greater than or equal to 20');
  if (value.length > 2048) constraint('roleArn', `${value.slice(0, 64)}...`, 'Member must have length less than or equal to 2048');
  if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(value)) {
    throw invalidRequest(`Role ARN ${value} is not valid: expected arn:aws:iam::<account>:role/<name>`);
  }
  return value;
}

function checkDuration(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value))
    return constraint('credentialDurationSeconds', value, 'Member must be a whole number');
  if (value < MIN_DURATION)
    constraint('credentialDurationSeconds', value, `Member must have value greater than or equal to ${MIN_DURATION}`);
  if (value > MAX_DURATION) constraint('credentialDurationSeconds', value, `Member must have value less than or equal to ${MAX_DURATION}`);
  return value;
}

export interface RoleAliasesOptions {
  store: RoleStore;
  now?: () => number;
  /** Tags given to CreateRoleAlias, and their removal when the alias goes. */
  tags?: TagWriter;
}

export class RoleAliases {
  private readonly store: RoleStore;
  private readonly now: () => number;

  constructor(private readonly opts: RoleAliasesOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
  }

  get(ns: Namespace, name: string): RoleAliasRow | undefined {
    return this.store.alias(ns, name);
  }

  private must(ns: Namespace, name: string): RoleAliasRow {
    const a = this.store.alias(ns, name);
    if (!a) throw notFound(`Role alias ${name} does not exist`);
    return a;
  }

  async create(ns: Namespace, rawName: unknown, body: Record<string, unknown>) {
    const name = checkRoleAlias(rawName);
    const roleArn = checkRoleArn(body.roleArn, true)!;
    const duration = checkDuration(body.credentialDurationSeconds) ?? DEFAULT_CREDENTIAL_DURATION;
    const tags = checkTags(body.tags);
    const arn = roleAliasArn(ns, name);
    const taken = () => alreadyExists(`Role alias ${name} already exists`, name, arn);
    if (this.store.alias(ns, name)) throw taken();
    // The count and the insert as one, against creates at once here or on other nodes.
    await this.store.sql.exclusive(`role-aliases:${ns.accountId}:${ns.region}`, async () => {
      if ((await this.store.countAliases(ns)) >= MAX_ROLE_ALIASES) {
        throw limitExceeded(
          `You have reached the maximum number of role aliases (${MAX_ROLE_ALIASES}) in ${ns.region} for account ${ns.accountId}`,
        );
      }
      const now = this.now();
      const row: RoleAliasRow = { alias: name, roleArn, credentialDurationSeconds: duration, createdAt: now, lastModified: now };
      // The alias and its tags in one transaction; the key decides between two creates at once.
      if (!(await this.store.insertAlias(ns, row, tags.length ? (this.opts.tags?.putting(arn, tags) ?? []) : []))) throw taken();
    });
    return { roleAlias: name, roleAliasArn: arn };
  }

  describe(ns: Namespace, rawName: unknown) {
    const name = checkRoleAlias(rawName);
    const a = this.must(ns, name);
    return {
      roleAliasDescription: {
        roleAlias: a.alias,
        roleAliasArn: roleAliasArn(ns, a.alias),
        roleArn: a.roleArn,
        owner: ns.accountId,
        credentialDurationSeconds: a.credentialDurationSeconds,
        creationDate: a.createdAt / 1000,
        lastModifiedDate: a.lastModified / 1000,
      },
    };
  }

  list(ns: Namespace, q: Record<string, string | undefined>) {
    const limit = pageSize(q.pageSize, 'pageSize', MAX_PAGE);
    const ascending = parseBool(q.isAscendingOrder, 'isAscendingOrder') ?? true;
    const after = decodeToken<string>(q.marker, 'marker');
    if (after !== undefined && typeof after !== 'string') throw invalidRequest('The marker is not valid');
    const rows = this.store.aliases(ns, { after, ascending, limit: limit + 1 });
    const page = rows.slice(0, limit);
    return {
      roleAliases: page.map((a) => a.alias),
      nextMarker: rows.length > limit ? encodeToken(page[page.length - 1]!.alias) : undefined,
    };
  }

  async update(ns: Namespace, rawName: unknown, body: Record<string, unknown>) {
    const name = checkRoleAlias(rawName);
    const roleArn = checkRoleArn(body.roleArn, false);
    const duration = checkDuration(body.credentialDurationSeconds);
    await untilApplied(`Role alias ${name}`, async () => {
      const a = this.must(ns, name);
      return this.store.updateAlias(ns, a, {
        ...a,
        roleArn: roleArn ?? a.roleArn,
        credentialDurationSeconds: duration ?? a.credentialDurationSeconds,
        lastModified: this.now(),
      });
    });
    return { roleAlias: name, roleAliasArn: roleAliasArn(ns, name) };
  }

  async delete(ns: Namespace, rawName: unknown) {
    const name = checkRoleAlias(rawName);
    // The alias and its tags in one transaction.
    if (!(await this.store.deleteAlias(ns, name, this.opts.tags?.removing(roleAliasArn(ns, name)) ?? []))) {
      throw notFound(`Role alias ${name} does not exist`);
    }
    return {};
  }
}
