/**
 * The device authorizer: the broker's authentication and authorization hooks (CONNECT, PUBLISH,
 * SUBSCRIBE, delivery) and the HTTPS device caller, from certificates, custom authorizers and policies.
 */
import { defineCapability } from '../platform/capability.js';
import { DeviceAuthorizer, type ConnectionAuth } from './device-authorizer.js';

declare module '../platform/capability.js' {
  interface Services {
    authz: {
      authorizer: DeviceAuthorizer;
      /** The thing a connection is bound to, for lifecycle events (only with an exclusive attachment, as on AWS). */
      lifecycleThingName(context: unknown): string | undefined;
    };
  }
}

export const authzCapability = defineCapability('authz', (ctx) => {
  const { options } = ctx;
  const domains = ctx.use('domains');
  const authorizer = new DeviceAuthorizer({
    customAuthorizers: ctx.use('authorizers').customAuthorizers,
    domainOf: (servername) => domains.sni.domainOf(servername),
    disconnect: (auth, why) => ctx.disconnect(auth.ns, (a) => a === auth, why, 'CUSTOMAUTH_TTL_EXPIRATION'),
    certificates: ctx.use('certificates').store,
    registry: ctx.use('registry').store,
    policies: ctx.use('policies').policies,
    caCertPem: ctx.pki.caCertPem,
    dev: options.dev,
    devPolicy: options.devPolicy,
    defaultNamespace: options.defaultNamespace,
    log: ctx.log('authz'),
    autoRegister: (der, within) => ctx.use('provisioning').justInTime.register(der, within),
  });
  return {
    services: {
      authorizer,
      lifecycleThingName(context) {
        const auth = context as ConnectionAuth | undefined;
        return auth?.thingExclusive ? auth.thingName : undefined;
      },
    },
    start(broker) {
      const release = (client: { context?: unknown } | undefined): void => authorizer.release(client?.context);
      broker.on('client:disconnected', release);
      return () => broker.off('client:disconnected', release);
    },
    cleared: () => authorizer.invalidateAll(),
  };
});
