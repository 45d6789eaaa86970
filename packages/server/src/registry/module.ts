/** The registry: things, thing types, thing groups, billing groups, tags and the registry events. */
import { defineCapability } from '../platform/capability.js';
import { BillingGroups } from './billing-groups.js';
import { RegistryEvents } from './events.js';
import { RegistryStore, registryMigrations } from './registry-store.js';
import { THING, THING_GROUP, THING_PRINCIPAL } from './registry-schema.js';
import { registryRoutes } from './routes.js';
import { ThingGroups } from './thing-groups.js';
import { ThingTypes } from './thing-types.js';
import { Things } from './things.js';

export interface RegistryServices {
  store: RegistryStore;
  events: RegistryEvents;
  things: Things;
  thingTypes: ThingTypes;
  thingGroups: ThingGroups;
  billingGroups: BillingGroups;
}

declare module '../platform/capability.js' {
  interface Services {
    registry: RegistryServices;
  }
}

export const registryCapability = defineCapability(
  'registry',
  async (ctx) => {
    const store = await RegistryStore.open(ctx.sql);
    // A change of attributes, types or groups changes what thing policy variables resolve to.
    const events = new RegistryEvents(store, ctx.publish, (ns) => ctx.use('authz').authorizer.invalidate(ns));
    const billingGroups = new BillingGroups(store, ctx.tags);
    const things = new Things(store, events, ctx.tags, billingGroups);
    const thingTypes = new ThingTypes(store, events, ctx.tags);
    const thingGroups = new ThingGroups(store, events, ctx.tags);
    return {
      services: { store, events, things, thingTypes, thingGroups, billingGroups },
      routes: registryRoutes({ store, things, thingTypes, thingGroups, billingGroups, events }),
      resources: {
        thing: (ns, name) => store.thing(ns, name) !== undefined,
        thingtype: (ns, name) => store.thingType(ns, name) !== undefined,
        thinggroup: (ns, name) => store.group(ns, name) !== undefined,
        billinggroup: (ns, name) => store.billing.billingGroup(ns, name) !== undefined,
      },
      clear: () => store.clear(),
      // Another node changed the registry: read it again; thing policy variables may resolve differently now.
      reload: {
        tables: [
          'things',
          'thing_types',
          'thing_groups',
          'thing_group_members',
          'billing_groups',
          'billing_group_members',
          'thing_principals',
          'event_configurations',
        ],
        async run() {
          await store.reload();
          ctx.use('authz').authorizer.invalidateAll();
        },
        rows: {
          [THING]: (ns, name) => store.refreshThing(ns, name).then(() => ctx.use('authz').authorizer.invalidate(ns)),
          [THING_PRINCIPAL]: (ns, principal) =>
            store.refreshPrincipal(ns, principal).then(() => ctx.use('authz').authorizer.invalidate(ns)),
          [THING_GROUP]: (ns, name) => store.refreshGroup(ns, name).then(() => ctx.use('authz').authorizer.invalidate(ns)),
        },
      },
    };
  },
  { migrations: registryMigrations },
);
