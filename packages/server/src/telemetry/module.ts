/** Rule tables as a capability: the rows table actions write, their retention task, and the query routes. */
import { defineCapability } from '../platform/capability.js';
import { telemetryRoutes } from './routes.js';
import { Telemetry } from './telemetry.js';

declare module '../platform/capability.js' {
  interface Services {
    telemetry: Telemetry;
  }
}

export const telemetryCapability = defineCapability('telemetry', (ctx) => {
  const telemetry = new Telemetry({ dataDir: ctx.pki.dataDir, settings: ctx.options.ruleTables, log: ctx.log('tables') });
  return {
    services: telemetry,
    routes: telemetryRoutes(telemetry),
    start: () => telemetry.start(),
    cleared: () => telemetry.clear(),
    stop: () => telemetry.close(),
  };
});
