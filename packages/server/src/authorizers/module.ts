/** Custom authorizers: their control plane and the calls that decide custom-auth connections and requests. */
import { defineCapability } from '../platform/capability.js';
import { AuthorizerStore, authorizerMigrations } from './authorizer-store.js';
import { CustomAuthorizers } from './custom-authorizers.js';
import { authorizerRoutes } from './routes.js';

declare module '../platform/capability.js' {
  interface Services {
    authorizers: { store: AuthorizerStore; customAuthorizers: CustomAuthorizers };
  }
}

export const authorizersCapability = defineCapability(
  'authorizers',
  async (ctx) => {
    const store = await AuthorizerStore.open(ctx.sql);
    const customAuthorizers = new CustomAuthorizers({
      store,
      policyDocumentsFor: (ns, names) => ctx.use('policies').policies.documents(ns, names),
      log: ctx.log('custom-auth'),
      tags: ctx.tags,
      domainsUsing: (ns, name) => ctx.use('domains').configurations.usingAuthorizer(ns, name),
    });
    return {
      services: { store, customAuthorizers },
      routes: authorizerRoutes(customAuthorizers),
      resources: { authorizer: (ns, name) => store.authorizer(ns, name) !== undefined },
      clear: () => store.clear(),
      reload: { tables: ['authorizers', 'default_authorizers'], run: () => store.reload() },
    };
  },
  { migrations: authorizerMigrations },
);
