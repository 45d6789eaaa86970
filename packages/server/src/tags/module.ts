/** Tags of any capability's resources: their table, the tagging API, and the TagWriter every capability is given. */
import { defineCapability } from '../platform/capability.js';
import { tagRoutes } from './routes.js';
import { TagStore, tagMigrations } from './tag-store.js';

declare module '../platform/capability.js' {
  interface Services {
    tags: { store: TagStore };
  }
}

export const tagsCapability = defineCapability(
  'tags',
  (ctx) => {
    const store = new TagStore(ctx.sql);
    return { services: { store }, routes: tagRoutes(store, ctx.resourceExists), clear: () => store.clear() };
  },
  { migrations: tagMigrations },
);
