/** Thing types: create, describe, list, update, deprecate (and undo), delete (reference controlplane §2.3). */
import { randomUUID } from 'node:crypto';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { alreadyExists, invalidRequest, notFound } from '../aws/errors.js';
import { pageOf } from '../api/pagination.js';
import type { RegistryEvents } from './events.js';
import type { TagWriter } from '../tags/tag-writer.js';
import { untilApplied, type RegistryStore, type ThingTypeRow } from './registry-store.js';
import { checkName, checkTags, constraint, optionalString } from './validation.js';

const MAX_SEARCHABLE_ATTRIBUTES = 3;

export const thingTypeArn = (ns: Namespace, name: string): string => iotArn(ns, `thingtype/${name}`);

interface Properties {
  thingTypeDescription?: unknown;
  searchableAttributes?: unknown;
  mqtt5Configuration?: unknown;
}

function properties(p: unknown): { description: string | null; searchable: string[]; mqtt5: unknown } {
  const props = (p ?? {}) as Properties;
  const description = optionalString('thingTypeProperties.thingTypeDescription', props.thingTypeDescription, 2028) ?? null;
  const searchable = props.searchableAttributes ?? [];
  if (!Array.isArray(searchable) || searchable.some((a) => typeof a !== 'string')) {
    constraint('thingTypeProperties.searchableAttributes', JSON.stringify(searchable), 'Member must be a list of attribute names');
  }
  if (searchable.length > MAX_SEARCHABLE_ATTRIBUTES) {
    throw invalidRequest(`A thing type may have at most ${MAX_SEARCHABLE_ATTRIBUTES} searchable attributes`);
  }
  return { description, searchable: searchable as string[], mqtt5: props.mqtt5Configuration };
}

export class ThingTypes {
  constructor(
    private readonly store: RegistryStore,
    private readonly events: RegistryEvents,
    /** The tags capability's writer: a type's tags are stored and removed with it. */
    private readonly tags: TagWriter,
  ) {}

  private get(ns: Namespace, name: string): ThingTypeRow {
    const t = this.store.thingType(ns, name);
    if (!t) throw notFound(`Thing Type ${name} cannot be found.`);
    return t;
  }

  async create(ns: Namespace, name: unknown, body: { thingTypeProperties?: unknown; tags?: unknown }) {
    const typeName = checkName('thingTypeName', name);
    const { description, searchable, mqtt5 } = properties(body.thingTypeProperties);
    const tags = checkTags(body.tags);
    const arn = thingTypeArn(ns, typeName);
    const t = await untilApplied(`Thing type ${typeName}`, async () => {
      const existing = this.store.thingType(ns, typeName);
      if (existing) throw alreadyExists(`Thing Type ${typeName} already exists`, existing.id, arn);
      const t: ThingTypeRow = {
        name: typeName,
        id: randomUUID(),
        description,
        searchableAttributes: searchable,
        mqtt5Configuration: mqtt5,
        deprecated: false,
        deprecatedAt: null,
        createdAt: Date.now(),
      };
      return (await this.store.insertThingType(ns, t, this.tags.putting(arn, tags))) && t;
    });
    this.emit(ns, 'created', t);
    return { thingTypeName: typeName, thingTypeArn: arn, thingTypeId: t.id };
  }

  private definition(ns: Namespace, t: ThingTypeRow) {
    return {
      thingTypeName: t.name,
      thingTypeArn: thingTypeArn(ns, t.name),
      thingTypeProperties: {
        thingTypeDescription: t.description ?? undefined,
        searchableAttributes: t.searchableAttributes,
        mqtt5Configuration: t.mqtt5Configuration,
      },
      thingTypeMetadata: {
        deprecated: t.deprecated,
        deprecationDate: t.deprecatedAt === null ? undefined : t.deprecatedAt / 1000,
        creationDate: t.createdAt / 1000,
      },
    };
  }

  describe(ns: Namespace, name: string) {
    const t = this.get(ns, name);
    return { ...this.definition(ns, t), thingTypeId: t.id };
  }

  list(ns: Namespace, q: { nextToken?: string; maxResults: number; thingTypeName?: string }) {
    const all = this.store.thingTypes(ns).filter((t) => q.thingTypeName === undefined || t.name === q.thingTypeName);
    const page = pageOf(all, q.maxResults, q.nextToken);
    return { thingTypes: page.items.map((t) => this.definition(ns, t)), nextToken: page.next };
  }

  async update(ns: Namespace, name: string, body: { thingTypeProperties?: unknown }): Promise<Record<string, never>> {
    const { description, searchable, mqtt5 } = properties(body.thingTypeProperties);
    const next = await untilApplied(`Thing type ${name}`, async () => {
      const t = this.get(ns, name);
      const next = {
        ...t,
        description: description ?? t.description,
        searchableAttributes: searchable.length ? searchable : t.searchableAttributes,
      };
      if (mqtt5 !== undefined) next.mqtt5Configuration = mqtt5;
      return (await this.store.updateThingType(ns, t, next)) && next;
    });
    this.emit(ns, 'updated', next);
    return {};
  }

  async deprecate(ns: Namespace, name: string, body: { undoDeprecate?: unknown }): Promise<Record<string, never>> {
    const undo = body.undoDeprecate === true;
    const next = await untilApplied(`Thing type ${name}`, async () => {
      const t = this.get(ns, name);
      const next = { ...t, deprecated: !undo, deprecatedAt: undo ? null : Date.now() };
      return (await this.store.updateThingType(ns, t, next)) && next;
    });
    this.emit(ns, 'updated', next);
    return {};
  }

  async delete(ns: Namespace, name: string): Promise<Record<string, never>> {
    const deleted = await untilApplied(`Thing type ${name}`, async () => {
      const t = this.get(ns, name);
      if (!t.deprecated) throw invalidRequest(`Thing type ${name} must be deprecated before it can be deleted`);
      const users = await this.store.countThingsOfType(ns, name);
      if (users > 0) throw invalidRequest(`Can not delete thing type ${name}: ${users} thing(s) still use it`);
      // Changed, or given a thing, meanwhile: decided again (gone meanwhile: not found, as for a second delete).
      return (await this.store.deleteThingType(ns, t, this.tags.removing(thingTypeArn(ns, name)))) && t;
    });
    this.emit(ns, 'deleted', deleted);
    return {};
  }

  private emit(ns: Namespace, op: 'created' | 'updated' | 'deleted', t: ThingTypeRow): void {
    this.events.emit(ns, 'THING_TYPE', `$aws/events/thingType/${t.name}/${op}`, {
      operation: op.toUpperCase(),
      thingTypeId: t.id,
      thingTypeName: t.name,
      isDeprecated: t.deprecated,
      deprecationDate: t.deprecatedAt,
      searchableAttributes: t.searchableAttributes,
      description: t.description,
    });
  }
}
