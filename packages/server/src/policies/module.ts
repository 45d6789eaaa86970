/** IoT policies: documents, versions, attachments, and the cache the device authorizer decides with. */
import { parseArn } from '../accounts/namespace.js';
import { defineCapability } from '../platform/capability.js';
import { Policies } from './policies.js';
import { PolicyStore } from './policy-store.js';
import { policyRoutes } from './routes.js';

declare module '../platform/capability.js' {
  interface Services {
    policies: { store: PolicyStore; policies: Policies };
  }
}

export const policiesCapability = defineCapability('policies', (ctx) => {
  const store = new PolicyStore(ctx.db);
  const groups = () => ctx.use('registry').thingGroups;
  const policies = new Policies(store, {
    targetExists: (ns, arn) => ctx.resourceExists(arn) && parseArn(arn)?.accountId === ns.accountId,
    groupAncestors: (ns, group) => groups().lineage(ns, group).slice(0, -1),
    groupsOfThing: (ns, thing) => groups().groupsReaching(ns, thing),
    changed: (ns) => ctx.use('authz').authorizer.invalidate(ns),
  });
  return {
    services: { store, policies },
    routes: policyRoutes(policies),
    resources: { policy: (ns, name) => store.policy(ns, name) !== undefined },
    clear: () => store.clear(),
    cleared: () => policies.clearCache(),
  };
});
