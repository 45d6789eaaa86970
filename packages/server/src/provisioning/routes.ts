/** HTTP routes of fleet provisioning: templates and their versions, claims, RegisterThing (paths as the AWS SDK sends them). */
import type { ApiRoute } from '../api/aws-api.js';
import type { FleetProvisioning } from './fleet-provisioning.js';
import type { Templates } from './templates.js';

export function provisioningRoutes(templates: Templates, fleet: FleetProvisioning): ApiRoute[] {
  const body = (b: unknown) => (b ?? {}) as Record<string, unknown>;
  return [
    {
      method: 'POST',
      path: '/provisioning-templates',
      service: 'iot',
      operation: 'CreateProvisioningTemplate',
      handler: (r) => templates.create(r.ctx.ns, body(r.body)),
    },
    {
      method: 'GET',
      path: '/provisioning-templates',
      service: 'iot',
      operation: 'ListProvisioningTemplates',
      readOnly: true,
      handler: (r) => templates.list(r.ctx.ns, r.query),
    },
    {
      method: 'GET',
      path: '/provisioning-templates/:templateName',
      service: 'iot',
      operation: 'DescribeProvisioningTemplate',
      readOnly: true,
      handler: (r) => templates.describe(r.ctx.ns, r.params.templateName!),
    },
    {
      method: 'PATCH',
      path: '/provisioning-templates/:templateName',
      service: 'iot',
      operation: 'UpdateProvisioningTemplate',
      handler: (r) => templates.update(r.ctx.ns, r.params.templateName!, body(r.body)),
    },
    {
      method: 'DELETE',
      path: '/provisioning-templates/:templateName',
      service: 'iot',
      operation: 'DeleteProvisioningTemplate',
      handler: (r) => templates.delete(r.ctx.ns, r.params.templateName!),
    },
    {
      method: 'POST',
      path: '/provisioning-templates/:templateName/versions',
      service: 'iot',
      operation: 'CreateProvisioningTemplateVersion',
      handler: (r) => templates.createVersion(r.ctx.ns, r.params.templateName!, body(r.body), r.query.setAsDefault),
    },
    {
      method: 'GET',
      path: '/provisioning-templates/:templateName/versions',
      service: 'iot',
      operation: 'ListProvisioningTemplateVersions',
      readOnly: true,
      handler: (r) => templates.listVersions(r.ctx.ns, r.params.templateName!, r.query),
    },
    {
      method: 'GET',
      path: '/provisioning-templates/:templateName/versions/:versionId',
      service: 'iot',
      operation: 'DescribeProvisioningTemplateVersion',
      readOnly: true,
      handler: (r) => templates.describeVersion(r.ctx.ns, r.params.templateName!, r.params.versionId!),
    },
    {
      method: 'DELETE',
      path: '/provisioning-templates/:templateName/versions/:versionId',
      service: 'iot',
      operation: 'DeleteProvisioningTemplateVersion',
      handler: (r) => templates.deleteVersion(r.ctx.ns, r.params.templateName!, r.params.versionId!),
    },
    {
      method: 'POST',
      path: '/provisioning-templates/:templateName/provisioning-claim',
      service: 'iot',
      operation: 'CreateProvisioningClaim',
      handler: (r) => fleet.createClaim(r.ctx.ns, r.params.templateName!),
    },
    {
      method: 'POST',
      path: '/things',
      service: 'iot',
      operation: 'RegisterThing',
      handler: (r) => fleet.registerThingHttp(r.ctx.ns, body(r.body)),
    },
  ];
}
