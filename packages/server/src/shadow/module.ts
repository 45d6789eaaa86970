/** Device shadows: the service, its store and migrations, its MQTT topics ($aws/things/+/shadow/...) and its HTTP routes. */
import { defineCapability } from '../platform/capability.js';
import { serveShadowsOverMqtt } from './shadow-mqtt.js';
import { shadowRoutes } from './shadow-routes.js';
import { DEFAULT_SHADOW_SETTINGS, ShadowService } from './shadow-service.js';
import { ShadowStore, shadowMigrations } from './shadow-store.js';

declare module '../platform/capability.js' {
  interface Services {
    shadow: { shadows: ShadowService };
  }
}

export const shadowCapability = defineCapability(
  'shadow',
  (ctx) => {
    const shadows = new ShadowService(new ShadowStore(ctx.sql), ctx.publish, ctx.options.shadows ?? DEFAULT_SHADOW_SETTINGS);
    return {
      services: { shadows },
      routes: shadowRoutes(shadows),
      start: (broker) => serveShadowsOverMqtt(broker, shadows, ctx.log('shadow')),
      clear: () => shadows.clear(),
    };
  },
  { migrations: shadowMigrations },
);
