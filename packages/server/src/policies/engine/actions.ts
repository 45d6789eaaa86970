/**
 * The action names a device policy may name — the one list to extend when a new data-plane action
 * appears. Control-plane actions are left out on purpose: these documents authorise devices.
 */

export const KNOWN_ACTIONS: Readonly<Record<string, readonly string[]>> = {
  iot: [
    // MQTT broker
    'Connect',
    'Publish',
    'Subscribe',
    'Receive',
    'RetainPublish',
    'GetRetainedMessage',
    'ListRetainedMessages',
    // Device Shadow (HTTPS)
    'GetThingShadow',
    'UpdateThingShadow',
    'DeleteThingShadow',
    'ListNamedShadowsForThing',
    // Jobs (HTTPS device API)
    'DescribeJobExecution',
    'GetPendingJobExecutions',
    'StartNextPendingJobExecution',
    'UpdateJobExecution',
    // Credentials provider
    'AssumeRoleWithCertificate',
  ],
  // Greengrass core devices are authorised by their IoT policy for these calls, so a Greengrass
  // device policy copied from AWS must parse here too.
  greengrass: [
    'Discover',
    'GetComponentVersionArtifact',
    'ResolveComponentCandidates',
    'GetDeploymentConfiguration',
    'ListThingGroupsForCoreDevice',
    'GetConnectivityInfo',
    'UpdateConnectivityInfo',
    'PutCertificateAuthorities',
    'VerifyClientDeviceIdentity',
    'VerifyClientDeviceIoTCertificateAssociation',
  ],
};

/** Lower-cased `service:name` of every known action; IAM compares action names case-insensitively. */
const KNOWN = new Set(Object.entries(KNOWN_ACTIONS).flatMap(([svc, names]) => names.map((n) => `${svc}:${n}`.toLowerCase())));

/** Every known action in its canonical spelling, e.g. to pre-index compiled statements. */
export const ALL_KNOWN_ACTIONS: readonly string[] = Object.entries(KNOWN_ACTIONS).flatMap(([svc, names]) =>
  names.map((n) => `${svc}:${n}`),
);

const ACTION_SYNTAX = /^([A-Za-z0-9-]+):([A-Za-z*?]+)$/;

/**
 * Why `action` is not acceptable in a policy, or undefined when it is. Wildcard patterns are taken
 * as written (IAM accepts a pattern matching nothing); a plain name must be a known action.
 */
export function actionProblem(action: string): string | undefined {
  if (action === '*') return undefined;
  const m = ACTION_SYNTAX.exec(action);
  if (!m) return `Invalid action ${JSON.stringify(action)}: expected "iot:<ActionName>" or a wildcard pattern such as "iot:*"`;
  const service = m[1]!.toLowerCase();
  if (!Object.keys(KNOWN_ACTIONS).includes(service))
    return `Invalid action ${JSON.stringify(action)}: unsupported service prefix "${m[1]}"`;
  if (/[*?]/.test(m[2]!)) return undefined;
  if (!KNOWN.has(action.toLowerCase())) return `Invalid action ${JSON.stringify(action)}: unknown action name "${m[2]}"`;
  return undefined;
}
