/** Files for OTA jobs: job documents reference them by placeholders (substituteFilePlaceholders). */
import { defineCapability } from '../platform/capability.js';
import { fileRoutes } from './file-routes.js';
import { FileService } from './file-service.js';
import { contentMigrations } from './content-table.js';
import { fileMigrations } from './file-store.js';

declare module '../platform/capability.js' {
  interface Services {
    files: { files: FileService };
  }
}

export const filesCapability = defineCapability(
  'files',
  async (ctx) => {
    const files = await FileService.open({
      sql: ctx.sql,
      // The PKI's directory is the data directory (a temporary one with --ephemeral).
      dataDir: ctx.pki.dataDir,
      endpoints: ctx.endpoints,
      log: ctx.log('files'),
      inUse: (ns, fileName) => ctx.use('jobs').jobs.fileUser(ns, fileName),
      leader: (name) => ctx.leader(name),
    });
    return {
      services: { files },
      routes: fileRoutes(files),
      clear: () => files.clear(),
      cleared: () => files.cleared(),
      stop: () => files.stop(),
    };
  },
  { migrations: { ...fileMigrations, ...contentMigrations } },
);
