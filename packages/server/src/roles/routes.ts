/**
 * HTTP routes: role aliases (the AWS control plane, paths as the SDK sends them), the credentials
 * provider (devices, with their certificate), and Thicket's own roles API under `/_thicket/roles`
 * (AWS's IAM speaks another protocol on another endpoint; these paths cannot meet an AWS route).
 */
import { firstValue, type ApiContext, type ApiRoute } from '../api/aws-api.js';
import { AwsError } from '../aws/errors.js';
import type { CredentialsProvider } from './credentials-provider.js';
import type { RoleAliases } from './role-aliases.js';
import type { Roles } from './roles.js';

export interface RoleRouteDeps {
  roles: Roles;
  aliases: RoleAliases;
  provider: CredentialsProvider;
}

/** The IoT policy decision of a certificate caller, without the throw that ctx.authorize makes. */
function allows(ctx: ApiContext, action: string, resource: string): boolean {
  try {
    ctx.authorize(action, resource);
    return true;
  } catch (err) {
    if (err instanceof AwsError && err.status === 403) return false;
    throw err;
  }
}

export function roleRoutes({ roles, aliases, provider }: RoleRouteDeps): ApiRoute[] {
  return [
    {
      method: 'POST',
      path: '/role-aliases/:roleAlias',
      service: 'iot',
      operation: 'CreateRoleAlias',
      handler: (r) => aliases.create(r.ctx.ns, r.params.roleAlias, r.body),
    },
    {
      method: 'GET',
      path: '/role-aliases/:roleAlias',
      service: 'iot',
      operation: 'DescribeRoleAlias',
      readOnly: true,
      handler: (r) => aliases.describe(r.ctx.ns, r.params.roleAlias),
    },
    {
      method: 'PUT',
      path: '/role-aliases/:roleAlias',
      service: 'iot',
      operation: 'UpdateRoleAlias',
      handler: (r) => aliases.update(r.ctx.ns, r.params.roleAlias, r.body),
    },
    {
      method: 'DELETE',
      path: '/role-aliases/:roleAlias',
      service: 'iot',
      operation: 'DeleteRoleAlias',
      handler: (r) => aliases.delete(r.ctx.ns, r.params.roleAlias),
    },
    {
      method: 'GET',
      path: '/role-aliases',
      service: 'iot',
      operation: 'ListRoleAliases',
      readOnly: true,
      handler: (r) => aliases.list(r.ctx.ns, r.query),
    },
    {
      // Issuing credentials changes nothing the caller owns, but a read-only key is no device either.
      method: 'GET',
      path: '/role-aliases/:roleAlias/credentials',
      service: 'iot',
      operation: 'AssumeRoleWithCertificate',
      device: true,
      handler: (r) => {
        const certificateId = r.ctx.certificateId;
        if (certificateId === undefined) {
          throw new AwsError(
            'AccessDeniedException',
            403,
            'The credentials provider authenticates devices by their certificate: call it over HTTPS with a registered, ACTIVE client certificate and no SigV4 signature',
          );
        }
        const caller = { ns: r.ctx.ns, certificateId, allows: (action: string, resource: string) => allows(r.ctx, action, resource) };
        return provider.issue(caller, r.params.roleAlias!, firstValue(r.headers['x-amzn-iot-thingname']));
      },
    },
    {
      method: 'POST',
      path: '/_thicket/roles/:roleName',
      service: 'iot',
      operation: 'CreateRole',
      handler: (r) => roles.create(r.ctx.ns.accountId, r.params.roleName!, r.body),
    },
    {
      method: 'GET',
      path: '/_thicket/roles/:roleName',
      service: 'iot',
      operation: 'GetRole',
      readOnly: true,
      handler: (r) => roles.describe(r.ctx.ns.accountId, r.params.roleName!),
    },
    {
      method: 'PUT',
      path: '/_thicket/roles/:roleName',
      service: 'iot',
      operation: 'UpdateRole',
      handler: (r) => roles.update(r.ctx.ns.accountId, r.params.roleName!, r.body),
    },
    {
      method: 'DELETE',
      path: '/_thicket/roles/:roleName',
      service: 'iot',
      operation: 'DeleteRole',
      handler: (r) => roles.delete(r.ctx.ns.accountId, r.params.roleName!),
    },
    {
      method: 'GET',
      path: '/_thicket/roles',
      service: 'iot',
      operation: 'ListRoles',
      readOnly: true,
      handler: (r) => roles.list(r.ctx.ns.accountId),
    },
  ];
}
