/** The data plane over HTTP: publish, retained messages, the subscribe route, and DescribeEndpoint. */
import { endpointRoutes } from '../api/endpoint-routes.js';
import { subscribeRoutes } from '../api/subscribe-route.js';
import { defineCapability } from '../platform/capability.js';
import { dataplaneRoutes } from './routes.js';

declare module '../platform/capability.js' {
  interface Services {
    // eslint-disable-next-line @typescript-eslint/no-empty-object-type
    dataplane: {};
  }
}

export const dataplaneCapability = defineCapability('dataplane', (ctx) => ({
  services: {},
  routes: [...dataplaneRoutes(ctx.broker), ...subscribeRoutes(ctx.broker), ...endpointRoutes(ctx.endpoints)],
}));
