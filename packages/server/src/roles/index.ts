/** Roles, role aliases and the credentials provider: one module object for platform.ts to list. */
import type { Logger } from 'pino';
import type { Namespace } from '../accounts/namespace.js';
import type { SqlEngine } from '../store/sql/engine.js';
import { CredentialStore, credentialMigrations } from './credential-store.js';
import { CredentialsProvider, PURGE_INTERVAL_MS } from './credentials-provider.js';
import { RoleAliases } from './role-aliases.js';
import { RoleStore, roleMigrations } from './role-store.js';
import { Roles } from './roles.js';
import { roleRoutes } from './routes.js';
import type { ApiRoute } from '../api/aws-api.js';
import { iotArn } from '../accounts/namespace.js';
import { defineCapability } from '../platform/capability.js';
import type { TagWriter } from '../tags/tag-writer.js';

export { CredentialsProvider } from './credentials-provider.js';
export { RoleAliases, roleAliasArn } from './role-aliases.js';
export { RoleStore, roleMigrations } from './role-store.js';
export { CredentialStore, credentialMigrations } from './credential-store.js';
export { Roles, roleArn } from './roles.js';
export { authorizeRoleRequest, iamRequest } from './role-actions.js';

export interface RoleModuleDeps {
  /** Roles, role aliases and issued credentials. */
  sql: SqlEngine;
  log?: Logger;
  thingsOf(ns: Namespace, certificateId: string): string[];
  thingTypeOf(ns: Namespace, thingName: string): string | null | undefined;
  certificateActive(ns: Namespace, certificateId: string): boolean;
  tags?: TagWriter;
}

export interface RoleModule {
  store: RoleStore;
  credentials: CredentialStore;
  roles: Roles;
  aliases: RoleAliases;
  provider: CredentialsProvider;
  routes: ApiRoute[];
  /** Test-mode reset (inside the platform's transaction). */
  clear(): Promise<unknown>;
  /** Reads roles and aliases again (another node changed them). */
  reload(): Promise<void>;
}

export async function createRoleModule(deps: RoleModuleDeps): Promise<RoleModule> {
  const store = await RoleStore.open(deps.sql);
  const credentials = new CredentialStore(deps.sql);
  const roles = new Roles({ store });
  const aliases = new RoleAliases({ store, tags: deps.tags });
  const provider = new CredentialsProvider({
    credentials,
    roles,
    aliases,
    thingsOf: deps.thingsOf,
    thingTypeOf: deps.thingTypeOf,
    certificateActive: deps.certificateActive,
    log: deps.log,
  });
  return {
    store,
    credentials,
    roles,
    aliases,
    provider,
    routes: roleRoutes({ roles, aliases, provider }),
    clear() {
      roles.clearCache();
      provider.clearCache();
      return Promise.all([credentials.clear(), store.clear()]);
    },
    reload: () => store.reload(),
  };
}

declare module '../platform/capability.js' {
  interface Services {
    roles: RoleModule;
  }
}

export const rolesCapability = defineCapability(
  'roles',
  async (ctx) => {
    const registry = () => ctx.use('registry').store;
    const roles = await createRoleModule({
      sql: ctx.sql,
      log: ctx.log('roles'),
      thingsOf: (ns, id) =>
        registry()
          .thingsOf(ns, iotArn(ns, `cert/${id}`))
          .map((t) => t.thingName),
      thingTypeOf: (ns, thingName) => registry().thing(ns, thingName)?.thingTypeName,
      certificateActive: (ns, id) => ctx.use('certificates').store.certificate(ns, id)?.status === 'ACTIVE',
      tags: ctx.tags,
    });
    // Requests signed with temporary credentials are checked by the credentials provider.
    ctx.use('accounts').store.sessions = roles.provider;
    return {
      services: roles,
      routes: roles.routes,
      resources: { rolealias: (ns, name) => roles.aliases.get(ns, name) !== undefined },
      clear: () => roles.clear(),
      start() {
        // Credentials expired long ago are deleted now and then (every node may; the delete is idempotent).
        const log = ctx.log('roles');
        const purge = setInterval(() => {
          roles.provider.purge().catch((err: Error) => log.warn({ err: err.message }, 'deleting expired credentials failed'));
        }, PURGE_INTERVAL_MS);
        purge.unref();
        return () => clearInterval(purge);
      },
      reload: { tables: ['roles', 'role_aliases'], run: () => roles.reload() },
    };
  },
  { migrations: { ...roleMigrations, ...credentialMigrations } },
);
