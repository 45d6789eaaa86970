/** IoT policies: documents, versions, attachments, and the cache the device authorizer decides with. */
import { parseArn } from '../accounts/namespace.js';
import { defineCapability } from '../platform/capability.js';
import { Policies } from './policies.js';
import { POLICY, POLICY_TARGET, PolicyStore, policyMigrations } from './policy-store.js';
import { policyRoutes } from './routes.js';

declare module '../platform/capability.js' {
  interface Services {
    policies: { store: PolicyStore; policies: Policies };
  }
}

export const policiesCapability = defineCapability(
  'policies',
  async (ctx) => {
    const store = await PolicyStore.open(ctx.sql);
    const groups = () => ctx.use('registry').thingGroups;
    const policies = new Policies(store, {
      targetExists: (ns, arn) => ctx.resourceExists(arn) && parseArn(arn)?.accountId === ns.accountId,
      groupAncestors: (ns, group) => groups().lineage(ns, group).slice(0, -1),
      groupsOfThing: (ns, thing) => groups().groupsReaching(ns, thing),
      changed: (ns) => ctx.use('authz').authorizer.invalidate(ns),
      changedAll: () => ctx.use('authz').authorizer.invalidateAll(),
    });
    return {
      services: { store, policies },
      routes: policyRoutes(policies),
      resources: { policy: (ns, name) => store.policy(ns, name) !== undefined },
      clear: () => store.clear(),
      cleared: () => policies.clearCache(),
      // Another node changed policies: read them again, and the device authorizer decides anew.
      reload: {
        tables: ['policies', 'policy_versions', 'policy_targets'],
        run: () => policies.reload(),
        rows: { [POLICY]: (ns, name) => policies.refresh(ns, name), [POLICY_TARGET]: (ns, target) => policies.refreshTarget(ns, target) },
      },
    };
  },
  { migrations: policyMigrations },
);
