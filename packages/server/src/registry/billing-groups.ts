/**
 * Billing groups (AWS IoT developer guide "Billing groups"): flat groups that carry tags for cost
 * allocation. A thing is in at most one billing group; adding it to another moves it there.
 * Deleting a group leaves its things in no billing group.
 */
import { randomUUID } from 'node:crypto';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { alreadyExists, invalidRequest, notFound, versionConflict } from '../aws/errors.js';
import { pageOf } from '../api/pagination.js';
import type { TagWriter } from '../tags/tag-writer.js';
import { untilApplied, type BillingGroupRow, type RegistryStore } from './registry-store.js';
import { checkName, checkTags, nameOrArn, optionalString, optionalVersion } from './validation.js';

export const billingGroupArn = (ns: Namespace, name: string): string => iotArn(ns, `billinggroup/${name}`);

type Ref = { billingGroupName?: unknown; billingGroupArn?: unknown; thingName?: unknown; thingArn?: unknown };

/** `billingGroupProperties`, which holds only a description. */
function description(props: unknown): string | null {
  if (props === undefined || props === null) return null;
  if (typeof props !== 'object' || Array.isArray(props)) throw invalidRequest('billingGroupProperties must be an object');
  return (
    optionalString('billingGroupProperties.billingGroupDescription', (props as Record<string, unknown>).billingGroupDescription) ?? null
  );
}

export class BillingGroups {
  constructor(
    private readonly store: RegistryStore,
    /** The tags capability's writer: a group's tags are stored and removed with it. */
    private readonly tags: TagWriter,
  ) {}

  private get(ns: Namespace, name: string): BillingGroupRow {
    const g = this.store.billing.billingGroup(ns, name);
    if (!g) throw notFound(`Billing group ${name} cannot be found.`);
    return g;
  }

  /** Checks that a billing group exists (CreateThing with `billingGroupName`). */
  require(ns: Namespace, name: string): void {
    this.get(ns, name);
  }

  async create(ns: Namespace, rawName: unknown, body: { billingGroupProperties?: unknown; tags?: unknown }) {
    const name = checkName('billingGroupName', rawName);
    const desc = description(body.billingGroupProperties);
    const tags = checkTags(body.tags);
    const arn = billingGroupArn(ns, name);
    const g = await untilApplied(`Billing group ${name}`, async () => {
      const existing = this.store.billing.billingGroup(ns, name);
      if (existing) throw alreadyExists(`Billing group ${name} already exists.`, existing.id, arn);
      const g: BillingGroupRow = { name, id: randomUUID(), description: desc, version: 1, createdAt: Date.now() };
      return (await this.store.billing.insertBillingGroup(ns, g, this.tags.putting(arn, tags))) && g;
    });
    return { billingGroupName: name, billingGroupArn: arn, billingGroupId: g.id };
  }

  describe(ns: Namespace, name: string) {
    const g = this.get(ns, name);
    return {
      billingGroupName: g.name,
      billingGroupId: g.id,
      billingGroupArn: billingGroupArn(ns, g.name),
      version: g.version,
      billingGroupProperties: g.description === null ? {} : { billingGroupDescription: g.description },
      billingGroupMetadata: { creationDate: g.createdAt / 1000 },
    };
  }

  /** The properties given replace the stored ones (an empty object removes the description). */
  async update(ns: Namespace, name: string, body: { billingGroupProperties?: unknown; expectedVersion?: unknown }) {
    if (body.billingGroupProperties === undefined || body.billingGroupProperties === null)
      throw invalidRequest('billingGroupProperties is required');
    const desc = description(body.billingGroupProperties);
    const expected = optionalVersion('expectedVersion', body.expectedVersion);
    const next = await untilApplied(`Billing group ${name}`, async () => {
      const g = this.get(ns, name);
      if (expected !== undefined && expected !== g.version)
        throw versionConflict(`The version for billing group ${name} does not match the expected version.`);
      const next = { ...g, description: desc, version: g.version + 1 };
      return (await this.store.billing.updateBillingGroup(ns, g, next)) && next;
    });
    return { version: next.version };
  }

  /** Deleting a group that does not exist succeeds (the model lists no ResourceNotFoundException). */
  async delete(ns: Namespace, name: string, expectedVersion?: string): Promise<Record<string, never>> {
    const expected = optionalVersion('expectedVersion', expectedVersion);
    await untilApplied(`Billing group ${name}`, async () => {
      const g = this.store.billing.billingGroup(ns, name);
      if (!g) return true;
      if (expected !== undefined && expected !== g.version)
        throw versionConflict(`The version for billing group ${name} does not match the expected version.`);
      return this.store.billing.deleteBillingGroup(ns, g, this.tags.removing(billingGroupArn(ns, name)));
    });
    return {};
  }

  list(ns: Namespace, q: { nextToken?: string; maxResults: number; namePrefixFilter?: string }) {
    const prefix = q.namePrefixFilter === undefined ? undefined : checkName('namePrefixFilter', q.namePrefixFilter);
    let all = this.store.billing.billingGroups(ns);
    if (prefix !== undefined) all = all.filter((g) => g.name.startsWith(prefix));
    const page = pageOf(all, q.maxResults, q.nextToken);
    return {
      billingGroups: page.items.map((g) => ({ groupName: g.name, groupArn: billingGroupArn(ns, g.name) })),
      nextToken: page.next,
    };
  }

  private refs(ns: Namespace, body: Ref): { group: string; thing: string } {
    return {
      group: nameOrArn(ns, body.billingGroupName, body.billingGroupArn, 'billinggroup', 'billingGroupName'),
      thing: nameOrArn(ns, body.thingName, body.thingArn, 'thing', 'thingName'),
    };
  }

  /** Puts a thing in the group, taking it out of the billing group it was in. */
  async addThing(ns: Namespace, body: Ref): Promise<Record<string, never>> {
    const { group, thing } = this.refs(ns, body);
    await untilApplied(`Thing ${thing}`, async () => {
      this.get(ns, group);
      if (!this.store.thing(ns, thing)) throw notFound(`Thing ${thing} cannot be found.`);
      // Either gone meanwhile: decided again on what is there now.
      return this.store.billing.setBillingGroupOf(ns, thing, group);
    });
    return {};
  }

  /** Removing a thing that is not in the group changes nothing and succeeds. */
  async removeThing(ns: Namespace, body: Ref): Promise<Record<string, never>> {
    const { group, thing } = this.refs(ns, body);
    this.get(ns, group);
    if (!this.store.thing(ns, thing)) throw notFound(`Thing ${thing} cannot be found.`);
    await this.store.billing.removeFromBillingGroup(ns, thing, group);
    return {};
  }

  listThings(ns: Namespace, name: string, q: { nextToken?: string; maxResults: number }) {
    this.get(ns, name);
    const page = pageOf(this.store.billing.billingGroupMembers(ns, name), q.maxResults, q.nextToken);
    return { things: page.items, nextToken: page.next };
  }
}
