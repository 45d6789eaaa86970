/**
 * The provisioning templates API (reference controlplane §8.1): create, describe, update, delete,
 * list, and versions (create, describe, list, delete, set default), with AWS's rules: names of 1–36
 * of `[0-9A-Za-z_-]`, a role ARN required, the type fixed at creation, at most five versions, the
 * default version not deletable, a pre-provisioning hook for fleet provisioning templates only.
 */
import { randomBytes } from 'node:crypto';
import { isTemplateName } from '@thicket/sdk/protocol';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { alreadyExists, AwsError, deleteConflict, invalidRequest, limitExceeded, notFound } from '../aws/errors.js';
import { decodeToken, encodeToken, pageSize, parseBool } from '../api/pagination.js';
import { untilApplied } from '../store/sql/conditional-writes.js';
import { checkTags } from '../registry/validation.js';
import type { TagWriter } from '../tags/tag-writer.js';
import { parseTemplate, type Template, type TemplateType } from './template-body.js';
import type { PreProvisioningHook, TemplateRow, TemplateStore } from './template-store.js';

const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/.{1,512}$/;
export const MAX_VERSIONS = 5;
/** AWS's quota of fleet provisioning templates per account and region. */
export const MAX_TEMPLATES = 256;
const PAYLOAD_VERSION = '2020-04-01';

export const templateArn = (ns: Namespace, name: string): string => iotArn(ns, `provisioningtemplate/${name}`);

const versionsLimit = (name: string) =>
  new AwsError('VersionsLimitExceededException', 409, `The provisioning template ${name} has ${MAX_VERSIONS} versions; delete one first`);

export function checkTemplateName(v: unknown): string {
  if (typeof v !== 'string' || !isTemplateName(v)) {
    throw invalidRequest(`templateName must be 1 to 36 characters of A-Z, a-z, 0-9, _ and -; got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkRoleArn(v: unknown): string {
  if (typeof v !== 'string' || v.length < 20 || v.length > 2048 || !ROLE_ARN.test(v)) {
    throw invalidRequest(`provisioningRoleArn must be an IAM role ARN (arn:aws:iam::<account>:role/<name>); got ${JSON.stringify(v)}`);
  }
  return v;
}

function checkHook(v: unknown): PreProvisioningHook {
  if (v === null || typeof v !== 'object' || Array.isArray(v))
    throw invalidRequest('preProvisioningHook must be an object with a targetArn');
  const { targetArn, payloadVersion } = v as Record<string, unknown>;
  if (typeof targetArn !== 'string' || targetArn.length === 0 || targetArn.length > 2048) {
    throw invalidRequest('preProvisioningHook.targetArn must be the ARN of a function');
  }
  if (payloadVersion !== undefined && payloadVersion !== PAYLOAD_VERSION) {
    throw invalidRequest(`preProvisioningHook.payloadVersion must be ${PAYLOAD_VERSION}`);
  }
  return { targetArn, payloadVersion: PAYLOAD_VERSION };
}

function checkDescription(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v !== 'string' || v.length > 500) throw invalidRequest('description must be a string of at most 500 characters');
  return v;
}

function checkEnabled(v: unknown): boolean {
  if (typeof v !== 'boolean') throw invalidRequest('enabled must be true or false');
  return v;
}

function checkType(v: unknown): TemplateType {
  if (v === undefined) return 'FLEET_PROVISIONING';
  if (v !== 'FLEET_PROVISIONING' && v !== 'JITP') throw invalidRequest(`type must be FLEET_PROVISIONING or JITP, not ${JSON.stringify(v)}`);
  return v;
}

export interface TemplatesDeps {
  store: TemplateStore;
  tags?: TagWriter;
  /** Whether a registered CA certificate names the template for just-in-time provisioning. */
  usedByCa(ns: Namespace, templateName: string): boolean;
}

export class Templates {
  constructor(private readonly deps: TemplatesDeps) {}

  get store(): TemplateStore {
    return this.deps.store;
  }

  get(ns: Namespace, name: string): TemplateRow {
    const t = this.store.template(ns, name);
    if (!t) throw notFound(`The provisioning template ${name} does not exist`);
    return t;
  }

  /** The parsed body of the template's default version (or of `versionId`). */
  body(ns: Namespace, name: string, versionId?: number): { row: TemplateRow; template: Template; text: string } {
    const row = this.get(ns, name);
    const id = versionId ?? row.defaultVersion;
    const v = this.store.versions(ns, name).find((x) => x.versionId === id);
    if (!v) throw notFound(`The provisioning template ${name} has no version ${id}`);
    return { row, template: parseTemplate(v.body, row.type), text: v.body };
  }

  async create(ns: Namespace, body: Record<string, unknown>) {
    const name = checkTemplateName(body.templateName);
    const type = checkType(body.type);
    parseTemplate(body.templateBody, type);
    const roleArn = checkRoleArn(body.provisioningRoleArn);
    const hook = body.preProvisioningHook === undefined ? null : checkHook(body.preProvisioningHook);
    if (hook && type === 'JITP') throw invalidRequest('A pre-provisioning hook is for FLEET_PROVISIONING templates only');
    const tags = checkTags(body.tags);
    const now = Date.now();
    const row: TemplateRow = {
      name,
      description: checkDescription(body.description),
      enabled: body.enabled === undefined ? false : checkEnabled(body.enabled),
      roleArn,
      hook,
      type,
      defaultVersion: 1,
      nextVersion: 2,
      createdAt: now,
      updatedAt: now,
      generation: randomBytes(8).toString('hex'),
    };
    const arn = templateArn(ns, name);
    await this.store.sql.exclusive(`provisioning-templates/${ns.accountId}/${ns.region}`, async () => {
      if (this.store.template(ns, name)) throw alreadyExists(`The provisioning template ${name} already exists`, name, arn);
      if (this.store.templates(ns).length >= MAX_TEMPLATES)
        throw limitExceeded(`The account has ${MAX_TEMPLATES} provisioning templates already`);
      const also = tags.length ? (this.deps.tags?.putting(arn, tags) ?? []) : [];
      if (!(await this.store.insert(ns, row, { versionId: 1, body: body.templateBody as string, createdAt: now }, also))) {
        throw alreadyExists(`The provisioning template ${name} already exists`, name, arn);
      }
    });
    return { templateArn: arn, templateName: name, defaultVersionId: 1 };
  }

  describe(ns: Namespace, name: string) {
    const { row, text } = this.body(ns, name);
    return {
      templateArn: templateArn(ns, name),
      templateName: row.name,
      description: row.description,
      creationDate: row.createdAt / 1000,
      lastModifiedDate: row.updatedAt / 1000,
      defaultVersionId: row.defaultVersion,
      templateBody: text,
      enabled: row.enabled,
      provisioningRoleArn: row.roleArn,
      preProvisioningHook: row.hook ?? undefined,
      type: row.type,
    };
  }

  async update(ns: Namespace, name: string, body: Record<string, unknown>): Promise<Record<string, never>> {
    const description = body.description === undefined ? undefined : checkDescription(body.description);
    const enabled = body.enabled === undefined ? undefined : checkEnabled(body.enabled);
    const roleArn = body.provisioningRoleArn === undefined ? undefined : checkRoleArn(body.provisioningRoleArn);
    const hook = body.preProvisioningHook === undefined ? undefined : checkHook(body.preProvisioningHook);
    const removeHook = body.removePreProvisioningHook === true;
    if (hook && removeHook) throw invalidRequest('preProvisioningHook and removePreProvisioningHook cannot be given together');
    const defaultVersion = body.defaultVersionId === undefined ? undefined : Number(body.defaultVersionId);
    if (defaultVersion !== undefined && !Number.isInteger(defaultVersion)) throw invalidRequest('defaultVersionId must be an integer');
    await untilApplied(`The provisioning template ${name}`, async () => {
      const t = this.get(ns, name);
      if (hook && t.type === 'JITP') throw invalidRequest('A pre-provisioning hook is for FLEET_PROVISIONING templates only');
      if (defaultVersion !== undefined && !this.store.versions(ns, name).some((v) => v.versionId === defaultVersion)) {
        throw notFound(`The provisioning template ${name} has no version ${defaultVersion}`);
      }
      const next: TemplateRow = {
        ...t,
        description: description ?? t.description,
        enabled: enabled ?? t.enabled,
        roleArn: roleArn ?? t.roleArn,
        hook: removeHook ? null : (hook ?? t.hook),
        defaultVersion: defaultVersion ?? t.defaultVersion,
        updatedAt: Date.now(),
        generation: randomBytes(8).toString('hex'),
      };
      return this.store.update(ns, t, next);
    });
    return {};
  }

  async delete(ns: Namespace, name: string): Promise<Record<string, never>> {
    this.get(ns, name);
    if (this.deps.usedByCa(ns, name)) {
      throw deleteConflict(`The provisioning template ${name} is named by a CA certificate's registrationConfig; change that first`);
    }
    if (!(await this.store.delete(ns, name, this.deps.tags?.removing(templateArn(ns, name)) ?? []))) {
      throw notFound(`The provisioning template ${name} does not exist`);
    }
    return {};
  }

  list(ns: Namespace, q: Record<string, string | undefined>) {
    const size = pageSize(q.maxResults, 'maxResults', 250);
    const after = decodeToken<string>(q.nextToken, 'nextToken');
    const all = this.store.templates(ns).filter((t) => after === undefined || t.name > after);
    const page = all.slice(0, size);
    return {
      templates: page.map((t) => ({
        templateArn: templateArn(ns, t.name),
        templateName: t.name,
        description: t.description,
        creationDate: t.createdAt / 1000,
        lastModifiedDate: t.updatedAt / 1000,
        enabled: t.enabled,
        type: t.type,
      })),
      nextToken: all.length > size ? encodeToken(page[page.length - 1]!.name) : undefined,
    };
  }

  async createVersion(ns: Namespace, name: string, body: Record<string, unknown>, setAsDefault: string | undefined) {
    const makeDefault = parseBool(setAsDefault, 'setAsDefault') ?? false;
    const created = await untilApplied(`The provisioning template ${name}`, async () => {
      const t = this.get(ns, name);
      parseTemplate(body.templateBody, t.type);
      if (this.store.versions(ns, name).length >= MAX_VERSIONS) throw versionsLimit(name);
      const now = Date.now();
      const v = { versionId: t.nextVersion, body: body.templateBody as string, createdAt: now };
      const next: TemplateRow = {
        ...t,
        nextVersion: t.nextVersion + 1,
        defaultVersion: makeDefault ? v.versionId : t.defaultVersion,
        updatedAt: now,
        generation: randomBytes(8).toString('hex'),
      };
      return (await this.store.update(ns, t, next, { added: v })) && v.versionId;
    });
    return { templateArn: templateArn(ns, name), templateName: name, versionId: created, isDefaultVersion: makeDefault };
  }

  describeVersion(ns: Namespace, name: string, versionId: string) {
    const id = this.versionId(versionId);
    const { row, text } = this.body(ns, name, id);
    const v = this.store.versions(ns, name).find((x) => x.versionId === id)!;
    return { versionId: id, creationDate: v.createdAt / 1000, templateBody: text, isDefaultVersion: row.defaultVersion === id };
  }

  listVersions(ns: Namespace, name: string, q: Record<string, string | undefined>) {
    const row = this.get(ns, name);
    const size = pageSize(q.maxResults, 'maxResults', 250);
    const after = decodeToken<number>(q.nextToken, 'nextToken');
    const all = this.store.versions(ns, name).filter((v) => after === undefined || v.versionId > after);
    const page = all.slice(0, size);
    return {
      versions: page.map((v) => ({
        versionId: v.versionId,
        creationDate: v.createdAt / 1000,
        isDefaultVersion: v.versionId === row.defaultVersion,
      })),
      nextToken: all.length > size ? encodeToken(page[page.length - 1]!.versionId) : undefined,
    };
  }

  async deleteVersion(ns: Namespace, name: string, versionId: string): Promise<Record<string, never>> {
    const id = this.versionId(versionId);
    await untilApplied(`The provisioning template ${name}`, async () => {
      const t = this.get(ns, name);
      if (!this.store.versions(ns, name).some((v) => v.versionId === id)) {
        throw notFound(`The provisioning template ${name} has no version ${id}`);
      }
      if (t.defaultVersion === id) throw deleteConflict(`Version ${id} is the default version of ${name}; it cannot be deleted`);
      const next: TemplateRow = { ...t, updatedAt: Date.now(), generation: randomBytes(8).toString('hex') };
      return this.store.update(ns, t, next, { removed: id });
    });
    return {};
  }

  private versionId(raw: string): number {
    const id = Number(raw);
    if (!Number.isInteger(id) || id < 1) throw invalidRequest(`versionId must be a positive integer, not ${raw}`);
    return id;
  }
}
