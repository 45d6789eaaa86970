/**
 * IoT policies (reference controlplane §3.3–3.4): documents with up to five versions and a default,
 * attached to certificates and thing groups. Parsing and evaluation live in ./engine.
 */
import { randomBytes } from 'node:crypto';
import { iotArn, parseArn, type Namespace } from '../accounts/namespace.js';
import { alreadyExists, AwsError, deleteConflict, invalidRequest, limitExceeded, notFound } from '../aws/errors.js';
import { pageOf, pageSize, parseBool } from '../api/pagination.js';
import { compilePolicies, parsePolicyDocument, PolicyDocumentError, type PolicyDocument } from './engine/index.js';
import { untilApplied, type PolicyRow, type PolicyStore } from './policy-store.js';

const NAME = /^[\w+=,.@-]+$/;
const MAX_VERSIONS = 5;
const MAX_POLICIES_PER_TARGET = 10;
/** What a write refuses on what the store holds, which another node may have changed. */
const REFUSALS = new Set([
  'ResourceNotFoundException',
  'DeleteConflictException',
  'VersionsLimitExceededException',
  'LimitExceededException',
]);

export const policyArn = (ns: Namespace, name: string): string => iotArn(ns, `policy/${name}`);

export interface PolicyHooks {
  /** Whether a certificate or thing group ARN exists in the namespace. */
  targetExists(ns: Namespace, arn: string): boolean;
  /** Ancestors of a thing group, root first (for recursive listings). */
  groupAncestors(ns: Namespace, groupName: string): string[];
  /** Thing groups of a thing, with their ancestors. */
  groupsOfThing(ns: Namespace, thingName: string): string[];
  /** A policy, a version or an attachment changed (here, or on another node): cached decisions must go. */
  changed(ns: Namespace): void;
  /** Every policy may have changed (read again from the database): every cached decision must go. */
  changedAll(): void;
}

function checkPolicyName(v: unknown): string {
  if (typeof v !== 'string' || v.length < 1 || v.length > 128 || !NAME.test(v)) {
    throw invalidRequest(
      `1 validation error detected: Value '${String(v)}' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]+`,
    );
  }
  return v;
}

/** Parses a document, answering MalformedPolicyException with the parser's message (position included). */
export function checkDocument(text: unknown): { text: string; doc: PolicyDocument } {
  if (typeof text !== 'string' || text.length === 0) throw invalidRequest('policyDocument is required');
  try {
    return { text, doc: parsePolicyDocument(text) };
  } catch (err) {
    if (err instanceof PolicyDocumentError) throw new AwsError('MalformedPolicyException', 400, err.message);
    throw err;
  }
}

function versionNumber(v: string | undefined): number {
  const n = Number(v);
  if (!v || !Number.isInteger(n) || n < 1) throw invalidRequest(`policyVersionId must be a positive whole number, not '${String(v)}'`);
  return n;
}

export class Policies {
  /** Parsed default-version documents, by namespace/name/version/generation. */
  private parsed = new Map<string, PolicyDocument>();

  constructor(
    readonly store: PolicyStore,
    private readonly hooks: PolicyHooks,
  ) {}

  clearCache(): void {
    this.parsed.clear();
  }

  /** Reads every policy and attachment again (another node changed them); cached decisions go. */
  async reload(): Promise<void> {
    await this.store.reload();
    // Parsed documents stay: they are keyed by generation, which every change of a policy renews.
    this.hooks.changedAll();
  }

  /** Reads one policy again, with its versions and targets (another node changed it); the namespace's cached decisions go. */
  async refresh(ns: Namespace, name: string): Promise<void> {
    await this.store.refresh(ns, name);
    this.hooks.changed(ns);
  }

  /** Reads one target's attachments again (another node attached or detached a policy); the namespace's cached decisions go. */
  async refreshTarget(ns: Namespace, target: string): Promise<void> {
    await this.store.refreshTarget(ns, target);
    this.hooks.changed(ns);
  }

  private get(ns: Namespace, name: string): PolicyRow {
    const p = this.store.policy(ns, name);
    if (!p) throw notFound(`Policy ${name} does not exist`);
    return p;
  }

  /**
   * Runs a write until it applies (`untilApplied`). What it refuses from memory (no such policy or
   * version, attached, too many versions or policies) it decides once more after reading the policy
   * (and the target it names) again: another node may have changed them.
   */
  private decide<T>(ns: Namespace, name: string, attempt: () => Promise<T | false>, target?: () => string | undefined): Promise<T> {
    let reread = false;
    return untilApplied(`Policy ${name}`, async () => {
      try {
        return await attempt();
      } catch (err) {
        if (reread || !(err instanceof AwsError) || !REFUSALS.has(err.code)) throw err;
        reread = true;
        const t = target?.();
        await Promise.all([this.store.refresh(ns, name), t === undefined ? undefined : this.store.refreshTarget(ns, t)]);
        return false;
      }
    });
  }

  /** The parsed default documents of the named policies (missing ones are skipped). */
  documents(ns: Namespace, names: string[]): PolicyDocument[] {
    const out: PolicyDocument[] = [];
    for (const name of names) {
      const p = this.store.policy(ns, name);
      if (!p) continue;
      // The generation too: a policy deleted and created again under its name starts at version 1 again.
      const k = `${ns.accountId}/${ns.region}/${name}@${p.defaultVersion}/${p.generationId}`;
      let doc = this.parsed.get(k);
      if (!doc) {
        const v = this.store.version(ns, name, p.defaultVersion);
        if (!v) continue;
        doc = parsePolicyDocument(v.document, { maxChars: Number.MAX_SAFE_INTEGER });
        if (this.parsed.size > 10_000) this.parsed.clear();
        this.parsed.set(k, doc);
      }
      out.push(doc);
    }
    return out;
  }

  /** Policies a target has, with those of a thing group's ancestors when `recursive`. */
  attachedTo(ns: Namespace, target: string, recursive: boolean): string[] {
    const names = [...this.store.policiesOf(ns, target)];
    const p = parseArn(target);
    if (recursive && p?.resource.startsWith('thinggroup/')) {
      for (const ancestor of this.hooks.groupAncestors(ns, p.resource.slice('thinggroup/'.length))) {
        names.push(...this.store.policiesOf(ns, iotArn(ns, `thinggroup/${ancestor}`)));
      }
    }
    return [...new Set(names)];
  }

  /** Policies that apply to a certificate connecting as a thing: its own, and those of the thing's groups. */
  effectiveNames(ns: Namespace, principal: string | undefined, thingName: string | undefined): string[] {
    const names = principal ? [...this.store.policiesOf(ns, principal)] : [];
    if (thingName) {
      for (const g of this.hooks.groupsOfThing(ns, thingName)) names.push(...this.store.policiesOf(ns, iotArn(ns, `thinggroup/${g}`)));
    }
    return [...new Set(names)];
  }

  async create(ns: Namespace, rawName: unknown, body: { policyDocument?: unknown }) {
    const name = checkPolicyName(rawName);
    const { text } = checkDocument(body.policyDocument);
    const taken = () => alreadyExists(`Policy cannot be created - name already exists (name=${name})`, name, policyArn(ns, name));
    if (this.store.policy(ns, name)) {
      // Another node may have deleted it: a refusal is decided on what the database holds.
      await this.store.refresh(ns, name);
      if (this.store.policy(ns, name)) throw taken();
    }
    const now = Date.now();
    const row = { name, defaultVersion: 1, nextVersion: 2, createdAt: now, lastModified: now, generationId: newGeneration() };
    // The policy and its first version in one transaction; the key decides between two creates at once.
    if (!(await this.store.insertPolicy(ns, row, { version: 1, document: text, createdAt: now }))) throw taken();
    return { policyName: name, policyArn: policyArn(ns, name), policyDocument: text, policyVersionId: '1' };
  }

  describe(ns: Namespace, name: string) {
    const p = this.get(ns, name);
    const v = this.store.version(ns, name, p.defaultVersion)!;
    return {
      policyName: name,
      policyArn: policyArn(ns, name),
      policyDocument: v.document,
      defaultVersionId: String(p.defaultVersion),
      creationDate: p.createdAt / 1000,
      lastModifiedDate: p.lastModified / 1000,
      generationId: p.generationId,
    };
  }

  async delete(ns: Namespace, name: string): Promise<Record<string, never>> {
    await this.decide(ns, name, async () => {
      this.get(ns, name);
      if (this.store.targets(ns, name).length)
        throw deleteConflict(`The policy cannot be deleted as the policy is attached to one or more principals (name=${name})`);
      if (this.store.versions(ns, name).length > 1)
        throw deleteConflict(`Cannot delete the policy because it has one or more policy versions attached to it (name=${name})`);
      return this.store.deletePolicy(ns, name);
    });
    this.hooks.changed(ns);
    return {};
  }

  list(ns: Namespace, q: Record<string, string | undefined>) {
    const all = this.store.policies(ns);
    if (parseBool(q.isAscendingOrder, 'isAscendingOrder') === false) all.reverse();
    const page = pageOf(all, pageSize(q.pageSize, 'pageSize', 250), q.marker, 'marker');
    return { policies: page.items.map((p) => ({ policyName: p.name, policyArn: policyArn(ns, p.name) })), nextMarker: page.next };
  }

  async createVersion(ns: Namespace, name: string, body: { policyDocument?: unknown }, setAsDefault: string | undefined) {
    const { text } = checkDocument(body.policyDocument);
    const makeDefault = parseBool(setAsDefault, 'setAsDefault') ?? false;
    const result = await this.decide(ns, name, async () => {
      const p = this.get(ns, name);
      if (this.store.versions(ns, name).length >= MAX_VERSIONS) {
        throw new AwsError(
          'VersionsLimitExceededException',
          409,
          `The policy ${name} already has the maximum number of versions (${MAX_VERSIONS})`,
        );
      }
      const version = p.nextVersion;
      const now = Date.now();
      const next = {
        ...p,
        nextVersion: version + 1,
        defaultVersion: makeDefault ? version : p.defaultVersion,
        lastModified: now,
        generationId: newGeneration(),
      };
      if (!(await this.store.insertVersion(ns, p, next, { version, document: text, createdAt: now }, MAX_VERSIONS))) return false;
      return { policyArn: policyArn(ns, name), policyDocument: text, policyVersionId: String(version), isDefaultVersion: makeDefault };
    });
    if (makeDefault) this.hooks.changed(ns);
    return result;
  }

  getVersion(ns: Namespace, name: string, versionId: string) {
    const p = this.get(ns, name);
    const n = versionNumber(versionId);
    const v = this.store.version(ns, name, n);
    if (!v) throw notFound(`Version ${versionId} of policy ${name} does not exist`);
    return {
      policyArn: policyArn(ns, name),
      policyName: name,
      policyDocument: v.document,
      policyVersionId: String(n),
      isDefaultVersion: n === p.defaultVersion,
      creationDate: v.createdAt / 1000,
      lastModifiedDate: p.lastModified / 1000,
      generationId: p.generationId,
    };
  }

  listVersions(ns: Namespace, name: string) {
    const p = this.get(ns, name);
    return {
      policyVersions: this.store.versions(ns, name).map((v) => ({
        versionId: String(v.version),
        isDefaultVersion: v.version === p.defaultVersion,
        createDate: v.createdAt / 1000,
      })),
    };
  }

  async setDefaultVersion(ns: Namespace, name: string, versionId: string): Promise<Record<string, never>> {
    await this.decide(ns, name, async () => {
      const p = this.get(ns, name);
      const n = versionNumber(versionId);
      if (!this.store.version(ns, name, n)) throw notFound(`Version ${versionId} of policy ${name} does not exist`);
      return this.store.updatePolicy(ns, p, { ...p, defaultVersion: n, lastModified: Date.now(), generationId: newGeneration() });
    });
    this.hooks.changed(ns);
    return {};
  }

  async deleteVersion(ns: Namespace, name: string, versionId: string): Promise<Record<string, never>> {
    await this.decide(ns, name, async () => {
      const p = this.get(ns, name);
      const n = versionNumber(versionId);
      if (!this.store.version(ns, name, n)) throw notFound(`Version ${versionId} of policy ${name} does not exist`);
      if (n === p.defaultVersion) throw deleteConflict('Cannot delete the default version of a policy');
      return this.store.deleteVersion(ns, name, n);
    });
    return {};
  }

  private checkTarget(ns: Namespace, target: unknown): string {
    if (typeof target !== 'string' || target.length === 0) throw invalidRequest('target is required');
    const p = parseArn(target);
    const kind = p?.resource.split('/')[0];
    if (!p || (kind !== 'cert' && kind !== 'thinggroup')) {
      throw invalidRequest(`A policy target must be a certificate or thing group ARN, not '${target}'`);
    }
    if (p.accountId !== ns.accountId || p.region !== ns.region || !this.hooks.targetExists(ns, target)) {
      throw notFound(`The target ${target} does not exist`);
    }
    return target;
  }

  async attach(ns: Namespace, name: string, rawTarget: unknown): Promise<Record<string, never>> {
    let seen: string | undefined;
    await this.decide(
      ns,
      name,
      async () => {
        this.get(ns, name);
        const target = this.checkTarget(ns, rawTarget);
        seen = target;
        const current = this.store.policiesOf(ns, target);
        if (current.includes(name)) return true;
        if (current.length >= MAX_POLICIES_PER_TARGET) {
          throw limitExceeded(`${target} already has ${MAX_POLICIES_PER_TARGET} policies attached, the most a target may have`);
        }
        return this.store.attach(ns, name, target, Date.now(), MAX_POLICIES_PER_TARGET);
      },
      () => seen,
    );
    this.hooks.changed(ns);
    return {};
  }

  async detach(ns: Namespace, name: string, rawTarget: unknown): Promise<Record<string, never>> {
    await this.decide(ns, name, async () => {
      this.get(ns, name);
      if (typeof rawTarget !== 'string' || rawTarget.length === 0) throw invalidRequest('target is required');
      await this.store.detach(ns, name, rawTarget);
      return true;
    });
    this.hooks.changed(ns);
    return {};
  }

  /** Detaches every policy from a target (a certificate being deleted). */
  async detachAll(ns: Namespace, target: string): Promise<void> {
    await this.store.detachTarget(ns, target);
    this.hooks.changed(ns);
  }

  listAttached(ns: Namespace, rawTarget: string, q: Record<string, string | undefined>) {
    const target = this.checkTarget(ns, rawTarget);
    const names = this.attachedTo(ns, target, parseBool(q.recursive, 'recursive') ?? false);
    const page = pageOf(names, pageSize(q.pageSize, 'pageSize', 250), q.marker, 'marker');
    return { policies: page.items.map((n) => ({ policyName: n, policyArn: policyArn(ns, n) })), nextMarker: page.next };
  }

  listTargets(ns: Namespace, name: string, q: Record<string, string | undefined>) {
    if (!this.store.policy(ns, name)) throw notFound('Policy not found');
    return this.targetsPage(ns, name, q);
  }

  private targetsPage(ns: Namespace, name: string, q: Record<string, string | undefined>) {
    const page = pageOf(this.store.targets(ns, name), pageSize(q.pageSize, 'pageSize', 250), q.marker, 'marker');
    return { targets: page.items, nextMarker: page.next };
  }

  /** ListPrincipalPolicies (deprecated API): policies attached to a certificate. */
  listPrincipalPolicies(ns: Namespace, principal: unknown, q: Record<string, string | undefined>) {
    if (typeof principal !== 'string') throw invalidRequest('The x-amzn-iot-principal header is required');
    return this.listAttached(ns, principal, q);
  }

  /** ListPolicyPrincipals (deprecated API). */
  listPolicyPrincipals(ns: Namespace, name: unknown, q: Record<string, string | undefined>) {
    if (typeof name !== 'string') throw invalidRequest('The x-amzn-iot-policy header is required');
    // Unlike ListTargetsForPolicy, AWS answers an unknown policy with an empty list.
    const r = this.targetsPage(ns, name, q);
    return { principals: r.targets.filter((t) => parseArn(t)?.resource.startsWith('cert/')), nextMarker: r.nextMarker };
  }

  effectivePolicies(ns: Namespace, body: { principal?: unknown }, thingName: string | undefined) {
    const principal = typeof body.principal === 'string' ? this.checkTarget(ns, body.principal) : undefined;
    const names = this.effectiveNames(ns, principal, thingName);
    return {
      effectivePolicies: names.map((n) => ({
        policyName: n,
        policyArn: policyArn(ns, n),
        policyDocument: this.describe(ns, n).policyDocument,
      })),
    };
  }

  /** TestAuthorization: how the principal's policies decide each action on each resource. */
  testAuthorization(
    ns: Namespace,
    clientId: string | undefined,
    body: { principal?: unknown; authInfos?: unknown; policyNamesToAdd?: unknown; policyNamesToSkip?: unknown },
  ) {
    if (!Array.isArray(body.authInfos) || body.authInfos.length === 0) throw invalidRequest('authInfos is required');
    const principal = typeof body.principal === 'string' ? this.checkTarget(ns, body.principal) : undefined;
    const skip = new Set(Array.isArray(body.policyNamesToSkip) ? (body.policyNamesToSkip as string[]) : []);
    const add = Array.isArray(body.policyNamesToAdd) ? (body.policyNamesToAdd as string[]) : [];
    for (const n of add) this.get(ns, n);
    const names = [...new Set([...this.effectiveNames(ns, principal, undefined), ...add])].filter((n) => !skip.has(n));
    const action: Record<string, string> = {
      PUBLISH: 'iot:Publish',
      SUBSCRIBE: 'iot:Subscribe',
      RECEIVE: 'iot:Receive',
      CONNECT: 'iot:Connect',
    };
    const vars = clientId ? { 'iot:ClientId': clientId } : {};
    const perPolicy = names.map((n) => ({ name: n, set: compilePolicies(this.documents(ns, [n]), vars) }));
    return {
      authResults: (body.authInfos as Array<{ actionType?: string; resources?: string[] }>).map((info) => {
        const act = action[info.actionType ?? ''];
        if (!act) throw invalidRequest(`actionType must be one of ${Object.keys(action).join(', ')}`);
        const resources = Array.isArray(info.resources) ? info.resources : [];
        const allowedBy = new Set<string>();
        const deniedBy = new Set<string>();
        for (const { name, set } of perPolicy) {
          for (const r of resources) {
            const d = set.evaluate(act, r);
            if (d === 'deny') deniedBy.add(name);
            if (d === 'allow') allowedBy.add(name);
          }
        }
        const allowedAll = resources.length > 0 && resources.every((r) => perPolicy.some(({ set }) => set.evaluate(act, r) === 'allow'));
        const decision = deniedBy.size ? 'EXPLICIT_DENY' : allowedAll ? 'ALLOWED' : 'IMPLICIT_DENY';
        const ref = (n: string) => ({ policyName: n, policyArn: policyArn(ns, n) });
        return {
          authInfo: { actionType: info.actionType, resources },
          allowed: { policies: [...allowedBy].map(ref) },
          denied: {
            explicitDeny: { policies: [...deniedBy].map(ref) },
            implicitDeny: { policies: decision === 'IMPLICIT_DENY' ? names.filter((n) => !allowedBy.has(n)).map(ref) : [] },
          },
          authDecision: decision,
          missingContextValues: [],
        };
      }),
    };
  }
}

function newGeneration(): string {
  return randomBytes(16).toString('hex');
}
