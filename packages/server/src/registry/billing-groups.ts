/**
 * Billing groups (AWS IoT developer guide "Billing groups"): flat groups that carry tags for cost
 * allocation. A thing is in at most one billing group; adding it to another moves it there.
 * Deleting a group leaves its things in no billing group.
 */
import { randomUUID } from 'node:crypto';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { alreadyExists, invalidRequest, notFound, versionConflict } from '../aws/errors.js';
import { pageOf } from '../api/pagination.js';
import type { BillingGroupRow, RegistryStore } from './registry-store.js';
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
  constructor(private readonly store: RegistryStore) {}

  private get(ns: Namespace, name: string): BillingGroupRow {
    const g = this.store.billingGroup(ns, name);
    if (!g) throw notFound(`Billing group ${name} cannot be found.`);
    return g;
  }

  /** Checks that a billing group exists (CreateThing with `billingGroupName`). */
  require(ns: Namespace, name: string): void {
    this.get(ns, name);
  }

  create(ns: Namespace, rawName: unknown, body: { billingGroupProperties?: unknown; tags?: unknown }) {
    const name = checkName('billingGroupName', rawName);
    const desc = description(body.billingGroupProperties);
    const tags = checkTags(body.tags);
    return this.store.tx(() => {
      const existing = this.store.billingGroup(ns, name);
      if (existing) throw alreadyExists(`Billing group ${name} already exists.`, existing.id, billingGroupArn(ns, name));
      const g: BillingGroupRow = { name, id: randomUUID(), description: desc, version: 1, createdAt: Date.now() };
      this.store.putBillingGroup(ns, g);
      this.store.putTags(billingGroupArn(ns, name), tags);
      return { billingGroupName: name, billingGroupArn: billingGroupArn(ns, name), billingGroupId: g.id };
    });
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
  update(ns: Namespace, name: string, body: { billingGroupProperties?: unknown; expectedVersion?: unknown }) {
    if (body.billingGroupProperties === undefined || body.billingGroupProperties === null)
      throw invalidRequest('billingGroupProperties is required');
    const desc = description(body.billingGroupProperties);
    const expected = optionalVersion('expectedVersion', body.expectedVersion);
    return this.store.tx(() => {
      const g = this.get(ns, name);
      if (expected !== undefined && expected !== g.version)
        throw versionConflict(`The version for billing group ${name} does not match the expected version.`);
      const next = { ...g, description: desc, version: g.version + 1 };
      this.store.putBillingGroup(ns, next);
      return { version: next.version };
    });
  }

  /** Deleting a group that does not exist succeeds (the model lists no ResourceNotFoundException). */
  delete(ns: Namespace, name: string, expectedVersion?: string): Record<string, never> {
    const expected = optionalVersion('expectedVersion', expectedVersion);
    this.store.tx(() => {
      const g = this.store.billingGroup(ns, name);
      if (!g) return;
      if (expected !== undefined && expected !== g.version)
        throw versionConflict(`The version for billing group ${name} does not match the expected version.`);
      this.store.deleteBillingGroup(ns, name);
      this.store.deleteTags(billingGroupArn(ns, name));
    });
    return {};
  }

  list(ns: Namespace, q: { nextToken?: string; maxResults: number; namePrefixFilter?: string }) {
    const prefix = q.namePrefixFilter === undefined ? undefined : checkName('namePrefixFilter', q.namePrefixFilter);
    let all = this.store.billingGroups(ns);
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
  addThing(ns: Namespace, body: Ref): Record<string, never> {
    const { group, thing } = this.refs(ns, body);
    this.store.tx(() => this.put(ns, group, thing));
    return {};
  }

  /** In the caller's transaction: the thing exists, the group must. */
  put(ns: Namespace, group: string, thing: string): void {
    this.get(ns, group);
    if (!this.store.thing(ns, thing)) throw notFound(`Thing ${thing} cannot be found.`);
    this.store.setBillingGroupOf(ns, thing, group);
  }

  /** Removing a thing that is not in the group changes nothing and succeeds. */
  removeThing(ns: Namespace, body: Ref): Record<string, never> {
    const { group, thing } = this.refs(ns, body);
    this.store.tx(() => {
      this.get(ns, group);
      if (!this.store.thing(ns, thing)) throw notFound(`Thing ${thing} cannot be found.`);
      if (this.store.billingGroupOf(ns, thing) === group) this.store.setBillingGroupOf(ns, thing, null);
    });
    return {};
  }

  listThings(ns: Namespace, name: string, q: { nextToken?: string; maxResults: number }) {
    this.get(ns, name);
    const page = pageOf(this.store.billingGroupMembers(ns, name), q.maxResults, q.nextToken);
    return { things: page.items, nextToken: page.next };
  }
}
