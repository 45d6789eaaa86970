/** Device and CA certificates, and the principals (certificates) attached to things. */
import type { Namespace } from '../accounts/namespace.js';
import { defineCapability, type Capability, type CapabilityContext, type Services } from '../platform/capability.js';
import { CaCertificates } from './ca-certificates.js';
import { CERTIFICATE, CertificateStore, certificateMigrations } from './cert-store.js';
import { Certificates } from './certificates.js';
import { ThingPrincipals } from './principals.js';
import { certificateRoutes } from './routes.js';

declare module '../platform/capability.js' {
  interface Services {
    certificates: { store: CertificateStore; certificates: Certificates; caCertificates: CaCertificates; principals: ThingPrincipals };
  }
}

export const certificatesCapability = defineCapability('certificates', createCertificates, { migrations: certificateMigrations });

async function createCertificates(ctx: CapabilityContext): Promise<Capability<Services['certificates']>> {
  // Every certificate and CA certificate read at open (the device authorizer reads them on CONNECT).
  const store = await CertificateStore.open(ctx.sql);
  const deactivated = (ns: Namespace, id: string): void =>
    ctx.disconnect(ns, (a) => a.certificateId === id, `certificate ${id} is no longer ACTIVE`);
  const caDeactivated = (ns: Namespace, id: string): void =>
    ctx.disconnect(ns, (a) => a.caCertificateId === id, `the CA certificate ${id} is no longer ACTIVE`);
  const registry = () => ctx.use('registry').store;
  const certificates = new Certificates(store, ctx.pki, {
    thingsOf: (ns, arn) =>
      registry()
        .thingsOf(ns, arn)
        .map((t) => t.thingName),
    policiesOf: (ns, arn) => ctx.use('policies').store.policiesOf(ns, arn),
    detachAllPolicies: (ns, arn) => ctx.use('policies').policies.detachAll(ns, arn),
    deactivated,
  });
  const caCertificates = new CaCertificates(store, caDeactivated, (ns, config) =>
    ctx.use('provisioning').checkRegistrationConfig(ns, config),
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
    // Another node changed certificates: read them again; connections of those it deactivated close here too.
    reload: {
      tables: ['certificates', 'ca_certificates', 'registration_codes'],
      async run() {
        const gone = await store.reload();
        for (const c of gone.certificates) deactivated(c.ns, c.certificateId);
        for (const c of gone.caCertificates) caDeactivated(c.ns, c.caCertificateId);
      },
      rows: {
        async [CERTIFICATE](ns, certificateId) {
          const was = store.certificate(ns, certificateId)?.status;
          const now = await store.refreshCertificate(ns, certificateId);
          if (was === 'ACTIVE' && now?.status !== 'ACTIVE') deactivated(ns, certificateId);
        },
      },
    },
  };
}
