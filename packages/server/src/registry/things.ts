/** Things: CreateThing, DescribeThing, UpdateThing, DeleteThing, ListThings (reference controlplane §2.2). */
import { randomUUID } from 'node:crypto';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { alreadyExists, invalidRequest, notFound, versionConflict } from '../aws/errors.js';
import { decodeToken, encodeToken } from '../api/pagination.js';
import { BillingGroups } from './billing-groups.js';
import type { RegistryEvents } from './events.js';
import type { TagWriter } from '../tags/tag-writer.js';
import { untilApplied, type RegistryStore, type ThingRow } from './registry-store.js';
import { checkAttributeCount, checkAttributes, checkName, optionalVersion } from './validation.js';

export interface AttributePayload {
  attributes?: Record<string, string>;
  merge?: boolean;
}

export const thingArn = (ns: Namespace, name: string): string => iotArn(ns, `thing/${name}`);

export class Things {
  /** Called after a thing is deleted (the Jobs service ends its pending executions). */
  deleted: (ns: Namespace, thingName: string) => void | Promise<void> = () => {};

  constructor(
    private readonly store: RegistryStore,
    private readonly events: RegistryEvents,
    /** The tags capability's writer: a thing's tags go with it. */
    private readonly tags: TagWriter,
    private readonly billingGroups = new BillingGroups(store, tags),
  ) {}

  get(ns: Namespace, name: string): ThingRow {
    const t = this.store.thing(ns, name);
    if (!t) throw notFound(`Thing ${name} cannot be found.`);
    return t;
  }

  async create(ns: Namespace, name: unknown, body: { thingTypeName?: unknown; attributePayload?: unknown; billingGroupName?: unknown }) {
    const thingName = checkName('thingName', name);
    const payload = (body.attributePayload ?? {}) as AttributePayload;
    const attributes = checkAttributes('attributePayload.attributes', payload.attributes);
    const typeName = body.thingTypeName === undefined ? null : checkName('thingTypeName', body.thingTypeName);
    const billingGroup = body.billingGroupName === undefined ? undefined : checkName('billingGroupName', body.billingGroupName);
    const created = await untilApplied(`Thing ${thingName}`, async () => {
      if (typeName !== null) this.usableType(ns, typeName);
      if (billingGroup !== undefined) this.billingGroups.require(ns, billingGroup);
      checkAttributeCount(Object.keys(attributes).length, typeName !== null);
      const existing = this.store.thing(ns, thingName);
      if (existing) {
        // CreateThing is idempotent for an identical request (reference controlplane §1.2); a billing
        // group, when named, must be the one the thing is in.
        if (
          existing.thingTypeName === typeName &&
          sameMap(existing.attributes, attributes) &&
          (billingGroup === undefined || this.store.billing.billingGroupOf(ns, thingName) === billingGroup)
        ) {
          return { row: existing, created: false };
        }
        throw alreadyExists(
          `Thing ${thingName} already exists in account with different attributes`,
          existing.thingId,
          thingArn(ns, thingName),
        );
      }
      const t: ThingRow = { thingName, thingId: randomUUID(), thingTypeName: typeName, attributes, version: 1, createdAt: Date.now() };
      // The name taken meanwhile, or the type or billing group gone: decided again on what is there now.
      return (await this.store.insertThing(ns, t, billingGroup)) && { row: t, created: true };
    });
    const t = created.row;
    if (created.created) {
      this.emit(ns, 'created', t);
      if (typeName) this.emitAssociation(ns, t, typeName, 'added');
    }
    return { thingName, thingArn: thingArn(ns, thingName), thingId: t.thingId };
  }

  describe(ns: Namespace, name: string) {
    const t = this.get(ns, name);
    return {
      defaultClientId: t.thingName,
      thingName: t.thingName,
      thingId: t.thingId,
      thingArn: thingArn(ns, t.thingName),
      thingTypeName: t.thingTypeName ?? undefined,
      attributes: t.attributes,
      version: t.version,
      billingGroupName: this.store.billing.billingGroupOf(ns, t.thingName),
    };
  }

  async update(
    ns: Namespace,
    name: string,
    body: { thingTypeName?: unknown; attributePayload?: unknown; expectedVersion?: unknown; removeThingType?: unknown },
  ): Promise<Record<string, never>> {
    const payload = body.attributePayload as AttributePayload | undefined;
    const given = payload ? checkAttributes('attributePayload.attributes', payload.attributes) : undefined;
    const expected = optionalVersion('expectedVersion', body.expectedVersion);
    const removeType = body.removeThingType === true;
    if (removeType && body.thingTypeName !== undefined) throw invalidRequest('Cannot set thingTypeName and removeThingType together');
    const newType = body.thingTypeName === undefined ? undefined : checkName('thingTypeName', body.thingTypeName);
    // A merge applies to the attributes as they are when the write lands: a concurrent change makes it read and merge again.
    const { oldType, next } = await untilApplied(`Thing ${name}`, async () => {
      const t = this.get(ns, name);
      if (expected !== undefined && expected !== t.version) {
        throw versionConflict(`The version for thing ${name} does not match the expected version.`);
      }
      let attributes = t.attributes;
      if (given) {
        if (payload?.merge) {
          attributes = { ...t.attributes };
          // With merge, an empty value removes the attribute.
          for (const [k, v] of Object.entries(given)) {
            if (v === '') delete attributes[k];
            else attributes[k] = v;
          }
        } else {
          // Without merge the map replaces the attributes, and an empty value is never stored.
          attributes = Object.fromEntries(Object.entries(given).filter(([, v]) => v !== ''));
        }
      }
      const oldType = t.thingTypeName;
      let typeName = oldType;
      if (removeType) typeName = null;
      if (newType !== undefined && newType !== oldType) {
        this.usableType(ns, newType);
        typeName = newType;
      }
      checkAttributeCount(Object.keys(attributes).length, typeName !== null);
      const next: ThingRow = { ...t, attributes, thingTypeName: typeName, version: t.version + 1 };
      return (await this.store.updateThing(ns, t, next)) && { oldType, next };
    });
    this.emit(ns, 'updated', next);
    if (oldType !== next.thingTypeName) {
      if (oldType) this.emitAssociation(ns, next, oldType, 'removed');
      if (next.thingTypeName) this.emitAssociation(ns, next, next.thingTypeName, 'added');
    }
    return {};
  }

  async delete(ns: Namespace, name: string, expectedVersion?: string): Promise<Record<string, never>> {
    const expected = optionalVersion('expectedVersion', expectedVersion);
    const deleted = await untilApplied(`Thing ${name}`, async () => {
      const t = this.store.thing(ns, name);
      // Deleting a thing that does not exist succeeds (model documentation).
      if (!t) return null;
      if (expected !== undefined && expected !== t.version) {
        throw versionConflict(`The version for thing ${name} does not match the expected version.`);
      }
      if (this.store.principalsOf(ns, name).length > 0) {
        throw invalidRequest(`Cannot delete. Thing ${name} is still attached to one or more principals`);
      }
      return (await this.store.deleteThing(ns, t, this.tags.removing(thingArn(ns, name)))) && t;
    });
    if (deleted) {
      this.emit(ns, 'deleted', deleted);
      await this.deleted(ns, name);
    }
    return {};
  }

  list(
    ns: Namespace,
    q: {
      nextToken?: string;
      maxResults: number;
      attributeName?: string;
      attributeValue?: string;
      thingTypeName?: string;
      usePrefixAttributeValue?: boolean;
    },
  ) {
    if (q.attributeValue !== undefined && q.attributeName === undefined) throw invalidRequest('attributeValue needs attributeName');
    const matches = (t: ThingRow): boolean => {
      if (q.attributeName === undefined) return true;
      const v = t.attributes[q.attributeName];
      if (v === undefined) return false;
      if (q.attributeValue === undefined) return true;
      return q.usePrefixAttributeValue ? v.startsWith(q.attributeValue) : v === q.attributeValue;
    };
    // Keyset paging over names; filters apply while scanning, and one match beyond the page says there is more.
    const after = decodeToken<string>(q.nextToken, 'nextToken');
    if (after !== undefined && typeof after !== 'string') throw invalidRequest('The nextToken is not valid');
    const out: ThingRow[] = [];
    let more = false;
    for (const t of this.store.thingsByName(ns, { after, thingTypeName: q.thingTypeName })) {
      if (!matches(t)) continue;
      if (out.length === q.maxResults) {
        more = true;
        break;
      }
      out.push(t);
    }
    return {
      things: out.map((t) => ({
        thingName: t.thingName,
        thingTypeName: t.thingTypeName ?? undefined,
        thingArn: thingArn(ns, t.thingName),
        attributes: t.attributes,
        version: t.version,
      })),
      nextToken: more ? encodeToken(out[out.length - 1]!.thingName) : undefined,
    };
  }

  private usableType(ns: Namespace, typeName: string): void {
    const type = this.store.thingType(ns, typeName);
    if (!type) throw notFound(`Thing Type ${typeName} cannot be found.`);
    if (type.deprecated) throw invalidRequest(`Can not create new thing with deprecated thing type: ${typeName}`);
  }

  private emit(ns: Namespace, op: 'created' | 'updated' | 'deleted', t: ThingRow): void {
    this.events.emit(ns, 'THING', `$aws/events/thing/${t.thingName}/${op}`, {
      operation: op.toUpperCase(),
      thingId: t.thingId,
      thingName: t.thingName,
      versionNumber: t.version,
      thingTypeName: t.thingTypeName,
      attributes: t.attributes,
    });
  }

  private emitAssociation(ns: Namespace, t: ThingRow, typeName: string, op: 'added' | 'removed'): void {
    this.events.emit(ns, 'THING_TYPE_ASSOCIATION', `$aws/events/thingTypeAssociation/thing/${t.thingName}/thingType/${typeName}/${op}`, {
      operation: op.toUpperCase(),
      thingId: t.thingId,
      thingName: t.thingName,
      thingTypeName: typeName,
    });
  }
}

function sameMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a[k] === b[k]);
}
