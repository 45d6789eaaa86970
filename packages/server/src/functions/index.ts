/** The function registry as the platform wires it: store, service and routes. */
import type { Logger } from 'pino';
import type { ApiRoute } from '../api/aws-api.js';
import type { Db } from '../store/database.js';
import { FunctionStore } from './function-store.js';
import { Functions, type FunctionsOptions } from './functions.js';
import { functionRoutes } from './routes.js';
import { defineCapability } from '../platform/capability.js';

export { FunctionError } from './function-error.js';
export { functionArn, parseFunctionArn, resolveFunctionRef } from './function-names.js';
export { Functions, type FunctionView } from './functions.js';

export interface FunctionsModule {
  store: FunctionStore;
  functions: Functions;
  routes: ApiRoute[];
  /** Test-mode reset (inside the platform's transaction). */
  clear(): void;
  /** Stops every module function's processes. */
  stop(): void;
}

export function createFunctions(deps: { db: Db; log: Logger } & FunctionsOptions): FunctionsModule {
  const store = new FunctionStore(deps.db);
  const functions = new Functions(store, deps.log, deps);
  return {
    store,
    functions,
    routes: functionRoutes(functions),
    clear: () => functions.clear(),
    stop: () => functions.stop(),
  };
}

declare module '../platform/capability.js' {
  interface Services {
    functions: FunctionsModule;
  }
}

export const functionsCapability = defineCapability('functions', (ctx) => {
  const m = createFunctions({
    db: ctx.db,
    log: ctx.log('functions'),
    // The rules' destinations hold the consent (and the trusted prefixes) the http action uses.
    urlAllowed: (ns, url) => ctx.use('rules').destinations.allows(ns, url),
  });
  return { services: m, routes: m.routes, clear: () => m.clear(), stop: () => m.stop() };
});
