/** Roles, role aliases and the credentials provider: one module object for platform.ts to list. */
import type { Namespace } from '../accounts/namespace.js';
import type { Db } from '../store/database.js';
import { CredentialsProvider } from './credentials-provider.js';
import { RoleAliases } from './role-aliases.js';
import { RoleStore } from './role-store.js';
import { Roles } from './roles.js';
import { roleRoutes } from './routes.js';
import type { ApiRoute } from '../api/aws-api.js';
import { iotArn } from '../accounts/namespace.js';
import { defineCapability, type SyncTagWriter } from '../platform/capability.js';

export { CredentialsProvider } from './credentials-provider.js';
export { RoleAliases, roleAliasArn } from './role-aliases.js';
export { RoleStore } from './role-store.js';
export { Roles, roleArn } from './roles.js';
export { authorizeRoleRequest, iamRequest } from './role-actions.js';

export interface RoleModuleDeps {
  db: Db;
  thingsOf(ns: Namespace, certificateId: string): string[];
  thingTypeOf(ns: Namespace, thingName: string): string | null | undefined;
  certificateActive(ns: Namespace, certificateId: string): boolean;
  tags?: SyncTagWriter;
}

export interface RoleModule {
  store: RoleStore;
  roles: Roles;
  aliases: RoleAliases;
  provider: CredentialsProvider;
  routes: ApiRoute[];
  /** Test-mode reset (inside the platform's transaction). */
  clear(): void;
}

export function createRoleModule(deps: RoleModuleDeps): RoleModule {
  const store = new RoleStore(deps.db);
  const roles = new Roles({ store });
  const aliases = new RoleAliases({ store, tags: deps.tags });
  const provider = new CredentialsProvider({
    store,
    roles,
    aliases,
    thingsOf: deps.thingsOf,
    thingTypeOf: deps.thingTypeOf,
    certificateActive: deps.certificateActive,
  });
  return {
    store,
    roles,
    aliases,
    provider,
    routes: roleRoutes({ roles, aliases, provider }),
    clear() {
      store.clear();
      roles.clearCache();
      provider.clearCache();
    },
  };
}

declare module '../platform/capability.js' {
  interface Services {
    roles: RoleModule;
  }
}

export const rolesCapability = defineCapability('roles', (ctx) => {
  const registry = () => ctx.use('registry').store;
  const roles = createRoleModule({
    db: ctx.db,
    thingsOf: (ns, id) =>
      registry()
        .thingsOf(ns, iotArn(ns, `cert/${id}`))
        .map((t) => t.thingName),
    thingTypeOf: (ns, thingName) => registry().thing(ns, thingName)?.thingTypeName,
    certificateActive: (ns, id) => ctx.use('certificates').store.certificate(ns, id)?.status === 'ACTIVE',
    tags: ctx.syncTags,
  });
  // Requests signed with temporary credentials are checked by the credentials provider.
  ctx.use('accounts').store.sessions = roles.provider;
  return {
    services: roles,
    routes: roles.routes,
    resources: { rolealias: (ns, name) => roles.aliases.get(ns, name) !== undefined },
    clear: () => roles.clear(),
  };
});
