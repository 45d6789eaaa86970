/** HTTP routes of the registry (things, thing types, thing groups, billing groups, tags, event configurations). */
import type { ApiRoute } from '../api/aws-api.js';
import { pageSize, parseBool } from '../api/pagination.js';
import { invalidRequest } from '../aws/errors.js';
import { billingGroupRoutes } from './billing-group-routes.js';
import type { BillingGroups } from './billing-groups.js';
import { EVENT_TYPES, type RegistryEvents } from './events.js';
import type { RegistryStore } from './registry-store.js';
import type { ThingGroups } from './thing-groups.js';
import type { ThingTypes } from './thing-types.js';
import type { Things } from './things.js';

export interface RegistryServices {
  store: RegistryStore;
  things: Things;
  thingTypes: ThingTypes;
  thingGroups: ThingGroups;
  billingGroups: BillingGroups;
  events: RegistryEvents;
}

const MAX_RESULTS = 250;

export function registryRoutes(s: RegistryServices): ApiRoute[] {
  const { things, thingTypes, thingGroups } = s;
  const size = (q: Record<string, string | undefined>): number => pageSize(q.maxResults, 'maxResults', MAX_RESULTS);
  return [
    // ---- things
    {
      method: 'POST',
      path: '/things/:thingName',
      service: 'iot',
      operation: 'CreateThing',
      handler: (r) => things.create(r.ctx.ns, r.params.thingName, r.body),
    },
    {
      method: 'GET',
      path: '/things/:thingName',
      service: 'iot',
      operation: 'DescribeThing',
      readOnly: true,
      handler: (r) => things.describe(r.ctx.ns, r.params.thingName!),
    },
    {
      method: 'PATCH',
      path: '/things/:thingName',
      service: 'iot',
      operation: 'UpdateThing',
      handler: (r) => things.update(r.ctx.ns, r.params.thingName!, r.body),
    },
    {
      method: 'DELETE',
      path: '/things/:thingName',
      service: 'iot',
      operation: 'DeleteThing',
      handler: (r) => things.delete(r.ctx.ns, r.params.thingName!, r.query.expectedVersion),
    },
    {
      method: 'GET',
      path: '/things',
      service: 'iot',
      operation: 'ListThings',
      readOnly: true,
      handler: (r) =>
        things.list(r.ctx.ns, {
          nextToken: r.query.nextToken,
          maxResults: size(r.query),
          attributeName: r.query.attributeName,
          attributeValue: r.query.attributeValue,
          thingTypeName: r.query.thingTypeName,
          usePrefixAttributeValue: parseBool(r.query.usePrefixAttributeValue, 'usePrefixAttributeValue'),
        }),
    },
    // ---- thing types
    {
      method: 'POST',
      path: '/thing-types/:thingTypeName',
      service: 'iot',
      operation: 'CreateThingType',
      handler: (r) => thingTypes.create(r.ctx.ns, r.params.thingTypeName, r.body),
    },
    {
      method: 'GET',
      path: '/thing-types/:thingTypeName',
      service: 'iot',
      operation: 'DescribeThingType',
      readOnly: true,
      handler: (r) => thingTypes.describe(r.ctx.ns, r.params.thingTypeName!),
    },
    {
      method: 'GET',
      path: '/thing-types',
      service: 'iot',
      operation: 'ListThingTypes',
      readOnly: true,
      handler: (r) =>
        thingTypes.list(r.ctx.ns, { nextToken: r.query.nextToken, maxResults: size(r.query), thingTypeName: r.query.thingTypeName }),
    },
    {
      method: 'PATCH',
      path: '/thing-types/:thingTypeName',
      service: 'iot',
      operation: 'UpdateThingType',
      handler: (r) => thingTypes.update(r.ctx.ns, r.params.thingTypeName!, r.body),
    },
    {
      method: 'POST',
      path: '/thing-types/:thingTypeName/deprecate',
      service: 'iot',
      operation: 'DeprecateThingType',
      handler: (r) => thingTypes.deprecate(r.ctx.ns, r.params.thingTypeName!, r.body),
    },
    {
      method: 'DELETE',
      path: '/thing-types/:thingTypeName',
      service: 'iot',
      operation: 'DeleteThingType',
      handler: (r) => thingTypes.delete(r.ctx.ns, r.params.thingTypeName!),
    },
    // ---- thing groups
    {
      method: 'POST',
      path: '/thing-groups/:thingGroupName',
      service: 'iot',
      operation: 'CreateThingGroup',
      handler: (r) => thingGroups.create(r.ctx.ns, r.params.thingGroupName, r.body),
    },
    {
      method: 'GET',
      path: '/thing-groups/:thingGroupName',
      service: 'iot',
      operation: 'DescribeThingGroup',
      readOnly: true,
      handler: (r) => thingGroups.describe(r.ctx.ns, r.params.thingGroupName!),
    },
    {
      method: 'PATCH',
      path: '/thing-groups/:thingGroupName',
      service: 'iot',
      operation: 'UpdateThingGroup',
      handler: (r) => thingGroups.update(r.ctx.ns, r.params.thingGroupName!, r.body),
    },
    {
      method: 'DELETE',
      path: '/thing-groups/:thingGroupName',
      service: 'iot',
      operation: 'DeleteThingGroup',
      handler: (r) => thingGroups.delete(r.ctx.ns, r.params.thingGroupName!, r.query.expectedVersion),
    },
    {
      method: 'GET',
      path: '/thing-groups',
      service: 'iot',
      operation: 'ListThingGroups',
      readOnly: true,
      handler: (r) =>
        thingGroups.list(r.ctx.ns, {
          nextToken: r.query.nextToken,
          maxResults: size(r.query),
          parentGroup: r.query.parentGroup,
          namePrefixFilter: r.query.namePrefixFilter,
          recursive: parseBool(r.query.recursive, 'recursive'),
        }),
    },
    {
      method: 'PUT',
      path: '/thing-groups/addThingToThingGroup',
      service: 'iot',
      operation: 'AddThingToThingGroup',
      handler: (r) => thingGroups.addThing(r.ctx.ns, r.body),
    },
    {
      method: 'PUT',
      path: '/thing-groups/removeThingFromThingGroup',
      service: 'iot',
      operation: 'RemoveThingFromThingGroup',
      handler: (r) => thingGroups.removeThing(r.ctx.ns, r.body),
    },
    {
      method: 'PUT',
      path: '/thing-groups/updateThingGroupsForThing',
      service: 'iot',
      operation: 'UpdateThingGroupsForThing',
      handler: (r) => thingGroups.updateGroupsForThing(r.ctx.ns, r.body),
    },
    {
      method: 'GET',
      path: '/thing-groups/:thingGroupName/things',
      service: 'iot',
      operation: 'ListThingsInThingGroup',
      readOnly: true,
      handler: (r) =>
        thingGroups.listThings(r.ctx.ns, r.params.thingGroupName!, {
          nextToken: r.query.nextToken,
          maxResults: size(r.query),
          recursive: parseBool(r.query.recursive, 'recursive'),
        }),
    },
    {
      method: 'GET',
      path: '/things/:thingName/thing-groups',
      service: 'iot',
      operation: 'ListThingGroupsForThing',
      readOnly: true,
      handler: (r) => thingGroups.listForThing(r.ctx.ns, r.params.thingName!, { nextToken: r.query.nextToken, maxResults: size(r.query) }),
    },
    ...billingGroupRoutes(s.billingGroups),
    // ---- event configurations
    {
      method: 'GET',
      path: '/event-configurations',
      service: 'iot',
      operation: 'DescribeEventConfigurations',
      readOnly: true,
      handler: (r) => {
        const stored = s.store.eventConfigurations(r.ctx.ns);
        const eventConfigurations: Record<string, { Enabled: boolean }> = {};
        for (const t of EVENT_TYPES) eventConfigurations[t] = { Enabled: stored.find((c) => c.type === t)?.enabled ?? false };
        const times = stored.map((c) => c.updatedAt);
        return {
          eventConfigurations,
          creationDate: times.length ? Math.min(...times) / 1000 : undefined,
          lastModifiedDate: times.length ? Math.max(...times) / 1000 : undefined,
        };
      },
    },
    {
      method: 'PATCH',
      path: '/event-configurations',
      service: 'iot',
      operation: 'UpdateEventConfigurations',
      handler: async (r) => {
        const given = r.body.eventConfigurations;
        if (given === undefined) return {};
        if (typeof given !== 'object' || given === null || Array.isArray(given)) throw invalidRequest('eventConfigurations must be a map');
        const changes: Record<string, boolean> = {};
        for (const [type, conf] of Object.entries(given as Record<string, { Enabled?: unknown }>)) {
          if (!(EVENT_TYPES as readonly string[]).includes(type))
            throw invalidRequest(`Unknown event type ${type}; known types: ${EVENT_TYPES.join(', ')}`);
          if (typeof conf?.Enabled !== 'boolean') throw invalidRequest(`eventConfigurations.${type}.Enabled must be true or false`);
          changes[type] = conf.Enabled;
        }
        await s.events.configure(r.ctx.ns, changes);
        return {};
      },
    },
  ];
}
