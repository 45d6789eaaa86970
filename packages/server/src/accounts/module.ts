/** Accounts and their access keys: the store every request's credentials are checked against, and the admin routes. */
import { defineCapability } from '../platform/capability.js';
import { AccountStore, accountMigrations } from './account-store.js';
import { adminRoutes } from './admin-routes.js';

declare module '../platform/capability.js' {
  interface Services {
    accounts: { store: AccountStore };
  }
}

export const accountsCapability = defineCapability(
  'accounts',
  async (ctx) => {
    const store = await AccountStore.open(ctx.sql);
    await store.ensureDefault(ctx.options.adminKey, ctx.options.defaultNamespace.accountId);
    return {
      services: { store },
      routes: adminRoutes(store),
      reload: { tables: ['accounts', 'access_keys'], run: () => store.reload() },
    };
  },
  { migrations: accountMigrations },
);
