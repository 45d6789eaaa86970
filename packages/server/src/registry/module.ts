/** The registry: things, thing types, thing groups, billing groups, tags and the registry events. */
import { defineCapability } from '../platform/capability.js';
import { BillingGroups } from './billing-groups.js';
import { RegistryEvents } from './events.js';
import { RegistryStore } from './registry-store.js';
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

export const registryCapability = defineCapability('registry', (ctx) => {
  const store = new RegistryStore(ctx.db, ctx.syncTags);
  // A change of attributes, types or groups changes what thing policy variables resolve to.
  const events = new RegistryEvents(store, ctx.publish, (ns) => ctx.use('authz').authorizer.invalidate(ns));
  const billingGroups = new BillingGroups(store);
  const things = new Things(store, events, billingGroups);
  const thingTypes = new ThingTypes(store, events);
  const thingGroups = new ThingGroups(store, events);
  return {
    services: { store, events, things, thingTypes, thingGroups, billingGroups },
    routes: registryRoutes({ store, things, thingTypes, thingGroups, billingGroups, events }),
    resources: {
      thing: (ns, name) => store.thing(ns, name) !== undefined,
      thingtype: (ns, name) => store.thingType(ns, name) !== undefined,
      thinggroup: (ns, name) => store.group(ns, name) !== undefined,
      billinggroup: (ns, name) => store.billingGroup(ns, name) !== undefined,
    },
    clear: () => store.clear(),
    cleared: () => events.clear(),
  };
});
