/** HTTP routes of custom authorizers (reference controlplane §8.2); paths and methods as the SDK sends them. */
import type { ApiRoute } from '../api/aws-api.js';
import type { CustomAuthorizers } from './custom-authorizers.js';

export function authorizerRoutes(authorizers: CustomAuthorizers): ApiRoute[] {
  const list: ApiRoute['handler'] = (r) => authorizers.list(r.ctx.ns, r.query);
  return [
    {
      method: 'POST',
      path: '/authorizer/:authorizerName',
      service: 'iot',
      operation: 'CreateAuthorizer',
      handler: (r) => authorizers.create(r.ctx.ns, r.params.authorizerName, r.body),
    },
    {
      method: 'GET',
      path: '/authorizer/:authorizerName',
      service: 'iot',
      operation: 'DescribeAuthorizer',
      readOnly: true,
      handler: (r) => authorizers.describe(r.ctx.ns, r.params.authorizerName),
    },
    {
      method: 'PUT',
      path: '/authorizer/:authorizerName',
      service: 'iot',
      operation: 'UpdateAuthorizer',
      handler: (r) => authorizers.update(r.ctx.ns, r.params.authorizerName, r.body),
    },
    {
      method: 'DELETE',
      path: '/authorizer/:authorizerName',
      service: 'iot',
      operation: 'DeleteAuthorizer',
      handler: (r) => authorizers.delete(r.ctx.ns, r.params.authorizerName),
    },
    // The current SDK sends `/authorizers`; older models (and the reference) write `/authorizers/`.
    { method: 'GET', path: '/authorizers', service: 'iot', operation: 'ListAuthorizers', readOnly: true, handler: list },
    { method: 'GET', path: '/authorizers/', service: 'iot', operation: 'ListAuthorizers', readOnly: true, handler: list },
    {
      method: 'POST',
      path: '/default-authorizer',
      service: 'iot',
      operation: 'SetDefaultAuthorizer',
      handler: (r) => authorizers.setDefault(r.ctx.ns, r.body),
    },
    {
      method: 'GET',
      path: '/default-authorizer',
      service: 'iot',
      operation: 'DescribeDefaultAuthorizer',
      readOnly: true,
      handler: (r) => authorizers.describeDefault(r.ctx.ns),
    },
    {
      method: 'DELETE',
      path: '/default-authorizer',
      service: 'iot',
      operation: 'ClearDefaultAuthorizer',
      handler: (r) => authorizers.clearDefault(r.ctx.ns),
    },
    {
      // Not for read-only keys: it calls the authorizer's webhook, an effect outside Thicket.
      method: 'POST',
      path: '/authorizer/:authorizerName/test',
      service: 'iot',
      operation: 'TestInvokeAuthorizer',
      handler: (r) => authorizers.testInvoke(r.ctx.ns, r.params.authorizerName, r.body),
    },
  ];
}
