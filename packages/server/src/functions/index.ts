/** The function registry as the platform wires it: store, service and routes. */
import type { Logger } from 'pino';
import type { ApiRoute } from '../api/aws-api.js';
import type { SqlEngine } from '../store/sql/engine.js';
import { FunctionStore, functionMigrations } from './function-store.js';
import { Functions, type FunctionsOptions } from './functions.js';
import { functionRoutes } from './routes.js';
import { defineCapability } from '../platform/capability.js';

export { FunctionError } from './function-error.js';
export { functionArn, parseFunctionArn, resolveFunctionRef } from './function-names.js';
export { Functions, type FunctionView } from './functions.js';
export { FunctionStore, functionMigrations } from './function-store.js';

export interface FunctionsModule {
  store: FunctionStore;
  functions: Functions;
  routes: ApiRoute[];
  /** Test-mode reset (on SQLite inside the platform's transaction). */
  clear(): Promise<void>;
  /** Reads the functions again (another node sharing the database changed them). */
  reload(): Promise<void>;
  /** Stops every module function's processes. */
  stop(): void;
}

export async function createFunctions(deps: { sql: SqlEngine; log: Logger } & FunctionsOptions): Promise<FunctionsModule> {
  const store = await FunctionStore.open(deps.sql);
  const functions = new Functions(store, deps.log, deps);
  return {
    store,
    functions,
    routes: functionRoutes(functions),
    clear: () => functions.clear(),
    reload: () => functions.reload(),
    stop: () => functions.stop(),
  };
}

declare module '../platform/capability.js' {
  interface Services {
    functions: FunctionsModule;
  }
}

export const functionsCapability = defineCapability(
  'functions',
  async (ctx) => {
    const m = await createFunctions({
      sql: ctx.sql,
      log: ctx.log('functions'),
      // The rules' destinations hold the consent (and the trusted prefixes) the http action uses.
      urlAllowed: (ns, url) => ctx.use('rules').destinations.allows(ns, url),
    });
    return {
      services: m,
      routes: m.routes,
      clear: () => m.clear(),
      stop: () => m.stop(),
      reload: { tables: ['functions'], run: () => m.reload() },
    };
  },
  { migrations: functionMigrations },
);
