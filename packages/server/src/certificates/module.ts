/** Device and CA certificates, and the principals (certificates) attached to things. */
import { defineCapability } from '../platform/capability.js';
import { CaCertificates } from './ca-certificates.js';
import { CertificateStore } from './cert-store.js';
import { Certificates } from './certificates.js';
import { ThingPrincipals } from './principals.js';
import { certificateRoutes } from './routes.js';

declare module '../platform/capability.js' {
  interface Services {
    certificates: { store: CertificateStore; certificates: Certificates; caCertificates: CaCertificates; principals: ThingPrincipals };
  }
}

export const certificatesCapability = defineCapability('certificates', (ctx) => {
  const store = new CertificateStore(ctx.db);
  const registry = () => ctx.use('registry').store;
  const certificates = new Certificates(store, ctx.pki, {
    thingsOf: (ns, arn) =>
      registry()
        .thingsOf(ns, arn)
        .map((t) => t.thingName),
    policiesOf: (ns, arn) => ctx.use('policies').store.policiesOf(ns, arn),
    detachAllPolicies: (ns, arn) => ctx.use('policies').policies.detachAll(ns, arn),
    deactivated: (ns, id) => ctx.disconnect(ns, (a) => a.certificateId === id, `certificate ${id} is no longer ACTIVE`),
  });
  const caCertificates = new CaCertificates(store, (ns, id) =>
    ctx.disconnect(ns, (a) => a.caCertificateId === id, `the CA certificate ${id} is no longer ACTIVE`),
  );
  const principals = new ThingPrincipals(registry(), certificates, (ns) => ctx.use('authz').authorizer.invalidate(ns));
  return {
    services: { store, certificates, caCertificates, principals },
    routes: certificateRoutes(certificates, caCertificates, principals),
    resources: {
      cert: (ns, id) => store.certificate(ns, id) !== undefined,
      cacert: (ns, id) => store.caCertificate(ns, id) !== undefined,
    },
    clear: () => store.clear(),
  };
});
