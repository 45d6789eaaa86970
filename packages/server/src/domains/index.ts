/** Domain configurations: host names with their own certificate, status and default custom authorizer, matched by SNI. */
export { DomainStore, domainMigrations, type DomainRow, type ServerCertificateRow } from './domain-store.js';
export {
  DomainConfigurations,
  domainConfigurationArn,
  normalizeHost,
  type ConnectionDomain,
  type DomainConfigurationsOptions,
} from './domain-configurations.js';
export { ServerCertificates, acmArn, parseAcmArn } from './server-certificates.js';
export { SniContexts } from './tls-contexts.js';
export { domainRoutes } from './routes.js';
export { MAX_DOMAIN_CONFIGURATIONS } from './validation.js';
export { createDomains, type Domains, type DomainsDeps } from './module.js';
