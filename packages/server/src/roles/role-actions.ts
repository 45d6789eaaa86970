/**
 * What a request is in IAM's terms, so a role's policy can decide it: the action from the route's
 * service and operation, the resource from the first resource label of its path.
 *
 * Actions: the control plane is `iot:<Operation>`; the data plane is `iot:<Operation>` as in AWS's
 * IAM reference (`iot:GetThingShadow`, `iot:Publish`), also accepted as `iotdata:<Operation>`; the
 * jobs data plane is `iotjobsdata:<Operation>`; Thicket's own API (`/_thicket/...`: accounts, access
 * keys, roles) is `thicket:<Operation>`, so that `iot:*` never reaches it — a device's credentials
 * must not be able to mint long-term keys or widen their own role.
 */
import { iotArn, type Namespace } from '../accounts/namespace.js';
import type { RoleSession } from '../accounts/session-credentials.js';
import { AwsError } from '../aws/errors.js';
import { roleArn } from './roles.js';

export interface RouteIdentity {
  path: string;
  service: string;
  operation: string;
}

/** Path labels that name a resource, and its ARN; a path's first such label is the request's resource. */
const RESOURCES: Record<string, (ns: Namespace, value: string) => string> = {
  thingName: (ns, v) => iotArn(ns, `thing/${v}`),
  thingTypeName: (ns, v) => iotArn(ns, `thingtype/${v}`),
  thingGroupName: (ns, v) => iotArn(ns, `thinggroup/${v}`),
  dynamicThingGroupName: (ns, v) => iotArn(ns, `thinggroup/${v}`),
  billingGroupName: (ns, v) => iotArn(ns, `billinggroup/${v}`),
  policyName: (ns, v) => iotArn(ns, `policy/${v}`),
  certificateId: (ns, v) => iotArn(ns, `cert/${v}`),
  caCertificateId: (ns, v) => iotArn(ns, `cacert/${v}`),
  roleAlias: (ns, v) => iotArn(ns, `rolealias/${v}`),
  authorizerName: (ns, v) => iotArn(ns, `authorizer/${v}`),
  jobId: (ns, v) => iotArn(ns, `job/${v}`),
  jobTemplateId: (ns, v) => iotArn(ns, `jobtemplate/${v}`),
  domainConfigurationName: (ns, v) => iotArn(ns, `domainconfiguration/${v}`),
  topic: (ns, v) => iotArn(ns, `topic/${v}`),
  roleName: (ns, v) => roleArn(ns.accountId, v),
};

const labelsCache = new Map<string, string[]>();

function labelsOf(path: string): string[] {
  let labels = labelsCache.get(path);
  if (!labels) {
    labels = [...path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    labelsCache.set(path, labels);
  }
  return labels;
}

function resourceOf(route: RouteIdentity, params: Record<string, string>, ns: Namespace): string {
  // `/topics/*`, `/retainedMessage/*`: the whole rest of the path is the topic.
  const rest = params['*'];
  if (route.service === 'iotdata' && route.path.endsWith('/*') && rest !== undefined) return iotArn(ns, `topic/${rest}`);
  for (const label of labelsOf(route.path)) {
    const arn = RESOURCES[label];
    const value = params[label];
    if (arn && value !== undefined) return arn(ns, value);
  }
  return '*';
}

/** The IAM actions (spellings of one) and the resource ARN of a request to `route`. */
export function iamRequest(route: RouteIdentity, params: Record<string, string>, ns: Namespace): { actions: string[]; resource: string } {
  const op = route.operation;
  let actions: string[];
  if (route.path.startsWith('/_thicket/')) actions = [`thicket:${op}`];
  else if (route.service === 'iot') actions = [`iot:${op}`];
  else if (route.service === 'iotdata') actions = [`iot:${op}`, `iotdata:${op}`];
  else if (route.service === 'iot-jobs-data') actions = [`iotjobsdata:${op}`];
  else actions = [`${route.service.replace(/-/g, '')}:${op}`];
  return { actions, resource: resourceOf(route, params, ns) };
}

/** Throws AccessDeniedException, worded as AWS words it, unless the session's role allows the request. */
export function authorizeRoleRequest(session: RoleSession, route: RouteIdentity, params: Record<string, string>, ns: Namespace): void {
  const { actions, resource } = iamRequest(route, params, ns);
  const decision = session.decide(actions, resource);
  if (decision === 'allow') return;
  const action = actions[0]!;
  const why =
    decision === 'deny'
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${action} action`;
  throw new AwsError(
    'AccessDeniedException',
    403,
    `User: ${session.assumedRoleArn} is not authorized to perform: ${action} on resource: ${resource} ${why}`,
  );
}
