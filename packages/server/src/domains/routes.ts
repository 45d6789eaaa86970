/**
 * HTTP routes of domain configurations (reference controlplane §8.3, paths as the SDK sends them)
 * and of Thicket's server-certificate store, which stands in for ACM (`/_thicket/server-certificates`).
 */
import type { ApiRoute } from '../api/aws-api.js';
import type { DomainConfigurations } from './domain-configurations.js';
import type { ServerCertificates } from './server-certificates.js';

export function domainRoutes(domains: DomainConfigurations, certificates: ServerCertificates): ApiRoute[] {
  return [
    {
      method: 'POST',
      path: '/domainConfigurations/:domainConfigurationName',
      service: 'iot',
      operation: 'CreateDomainConfiguration',
      handler: (r) => domains.create(r.ctx.ns, r.params.domainConfigurationName, r.body),
    },
    {
      method: 'GET',
      path: '/domainConfigurations/:domainConfigurationName',
      service: 'iot',
      operation: 'DescribeDomainConfiguration',
      readOnly: true,
      handler: (r) => domains.describe(r.ctx.ns, r.params.domainConfigurationName),
    },
    {
      method: 'PUT',
      path: '/domainConfigurations/:domainConfigurationName',
      service: 'iot',
      operation: 'UpdateDomainConfiguration',
      handler: (r) => domains.update(r.ctx.ns, r.params.domainConfigurationName, r.body),
    },
    {
      method: 'DELETE',
      path: '/domainConfigurations/:domainConfigurationName',
      service: 'iot',
      operation: 'DeleteDomainConfiguration',
      handler: (r) => domains.delete(r.ctx.ns, r.params.domainConfigurationName),
    },
    {
      method: 'GET',
      path: '/domainConfigurations',
      service: 'iot',
      operation: 'ListDomainConfigurations',
      readOnly: true,
      handler: (r) => domains.list(r.ctx.ns, r.query),
    },
    {
      method: 'POST',
      path: '/_thicket/server-certificates',
      service: 'iot',
      operation: 'ImportServerCertificate',
      handler: (r) => certificates.import(r.ctx.ns, r.body),
    },
    {
      method: 'GET',
      path: '/_thicket/server-certificates',
      service: 'iot',
      operation: 'ListServerCertificates',
      readOnly: true,
      handler: (r) => certificates.list(r.ctx.ns),
    },
    {
      method: 'GET',
      path: '/_thicket/server-certificates/:serverCertificateId',
      service: 'iot',
      operation: 'DescribeServerCertificate',
      readOnly: true,
      handler: (r) => certificates.describe(r.ctx.ns, r.params.serverCertificateId!),
    },
    {
      method: 'DELETE',
      path: '/_thicket/server-certificates/:serverCertificateId',
      service: 'iot',
      operation: 'DeleteServerCertificate',
      handler: (r) => certificates.delete(r.ctx.ns, r.params.serverCertificateId!),
    },
  ];
}
