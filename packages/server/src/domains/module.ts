/** The domain-configuration capability as the platform wires it: its store, services, SNI contexts and routes. */
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { RC } from '@thicket/broker';
import type { Namespace } from '../accounts/namespace.js';
import type { ApiRoute } from '../api/aws-api.js';
import type { Pki } from '../pki/index.js';
import type { SqlEngine } from '../store/sql/engine.js';
import { defineCapability } from '../platform/capability.js';
import type { TagWriter } from '../tags/tag-writer.js';
import { DomainConfigurations, normalizeHost } from './domain-configurations.js';
import { DomainStore, domainMigrations } from './domain-store.js';
import { domainRoutes } from './routes.js';
import { dnsNamesOf, ServerCertificates } from './server-certificates.js';
import { SniContexts } from './tls-contexts.js';

export interface DomainsDeps {
  sql: SqlEngine;
  pki: Pick<Pki, 'caCertPem' | 'caKeyPem' | 'serverCertPem'>;
  authorizerExists(ns: Namespace, name: string): boolean;
  /** The parent of generated (AWS_MANAGED) domain names: the server's public host. */
  managedDomainSuffix(): string;
  tags: TagWriter;
  /** Closes the live connections made through a host name (its configuration was disabled). */
  disconnectHost(domainName: string, why: string): void;
  log: Logger;
}

export interface Domains {
  store: DomainStore;
  certificates: ServerCertificates;
  configurations: DomainConfigurations;
  sni: SniContexts;
  routes: ApiRoute[];
  /** Test-mode reset (inside the platform's transaction), then forget cached contexts. */
  clear(): Promise<unknown>;
  /** Reads configurations and certificates again (another node changed them); forgets cached contexts. */
  reload(): Promise<void>;
}

export async function createDomains(deps: DomainsDeps): Promise<Domains> {
  const store = await DomainStore.open(deps.sql);
  const log = deps.log;
  const sni = new SniContexts(
    (host) => configurations.forHost(host),
    deps.pki.caCertPem,
    (host, err) => log.error({ host, err: err.message }, 'cannot build the TLS context of a domain configuration'),
  );
  const changed = (): void => sni.invalidate();
  // What another node changed (found by reload, or by a write that met it) reaches new connections too.
  store.onChange(changed);
  const certificates = new ServerCertificates(store, deps.pki, changed);
  // The default certificate's names stay the server's own: a configuration cannot take them over.
  const ownNames = dnsNamesOf(new X509Certificate(deps.pki.serverCertPem));
  const configurations = new DomainConfigurations({
    store,
    certificates,
    authorizerExists: deps.authorizerExists,
    reservedHostnames: () => ownNames,
    managedDomainSuffix: deps.managedDomainSuffix,
    tags: deps.tags,
    changed,
    disabled: (_ns, domainName) => deps.disconnectHost(domainName, `the domain configuration of ${domainName} was DISABLED`),
  });
  return {
    store,
    certificates,
    configurations,
    sni,
    routes: domainRoutes(configurations, certificates),
    clear() {
      const done = store.clear();
      sni.invalidate();
      return done;
    },
    async reload() {
      // A configuration another node disabled (or deleted) closes the connections made through it here too.
      const before = store.enabledHosts();
      await store.reload();
      const after = store.enabledHosts();
      for (const host of before)
        if (!after.has(host)) deps.disconnectHost(host, `the domain configuration of ${host} was DISABLED or deleted`);
    },
  };
}

declare module '../platform/capability.js' {
  interface Services {
    domains: Domains;
  }
}

export const domainsCapability = defineCapability(
  'domains',
  async (ctx) => {
    const domains = await createDomains({
      sql: ctx.sql,
      pki: ctx.pki,
      authorizerExists: (ns, name) => ctx.use('authorizers').store.authorizer(ns, name) !== undefined,
      managedDomainSuffix: () => ctx.endpoints().host,
      tags: ctx.tags,
      disconnectHost: (host, why) =>
        ctx
          .broker()
          ?.disconnectWhere((c) => normalizeHost(c.client?.transport.tls?.servername ?? '') === host, 'AUTH_ERROR', RC.NOT_AUTHORIZED, why),
      log: ctx.log('domains'),
    });
    return {
      services: domains,
      routes: domains.routes,
      resources: { domainconfiguration: (ns, name) => domains.store.domain(ns, name.split('/')[0]!) !== undefined },
      clear: () => domains.clear(),
      reload: { tables: ['domain_configurations', 'server_certificates'], run: () => domains.reload() },
    };
  },
  { migrations: domainMigrations },
);
