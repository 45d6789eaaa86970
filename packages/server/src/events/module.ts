/** Lifecycle events: presence and subscription events published into each client's namespace. */
import { defineCapability } from '../platform/capability.js';
import { publishLifecycleEvents } from './presence.js';

declare module '../platform/capability.js' {
  interface Services {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    events: {};
  }
}

export const eventsCapability = defineCapability('events', (ctx) => ({
  services: {},
  start: (broker) => publishLifecycleEvents(broker, { thingName: (c) => ctx.use('authz').lifecycleThingName(c.context) }),
}));
