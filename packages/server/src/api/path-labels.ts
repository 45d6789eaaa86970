/**
 * Path labels checked against AWS's patterns before any route runs, so that no handler ever sees a
 * name such as `../../etc/passwd`, `%00` or a CR/LF, and every route answers such a name as AWS
 * does: InvalidRequestException with the member, value and constraint.
 */
import { invalidRequest } from '../aws/errors.js';

interface LabelRule {
  pattern: RegExp;
  /** The pattern as AWS's message prints it. */
  shown: string;
  max: number;
}

const rule = (shown: string, max: number, pattern = new RegExp(`^${shown}$`)): LabelRule => ({ pattern, shown, max });

const REGISTRY_NAME = rule('[a-zA-Z0-9:_-]+', 128);
const JOB_ID = rule('[a-zA-Z0-9_-]+', 64);
const CERTIFICATE_ID = rule('(0x)?[a-fA-F0-9]+', 64);

/** AWS's constraints, by the label's name in the route path. Labels not listed are left to their handler. */
const RULES: Record<string, LabelRule> = {
  thingName: REGISTRY_NAME,
  thingTypeName: REGISTRY_NAME,
  thingGroupName: REGISTRY_NAME,
  billingGroupName: REGISTRY_NAME,
  dynamicThingGroupName: REGISTRY_NAME,
  jobId: JOB_ID,
  jobTemplateId: JOB_ID,
  policyName: rule('[\\w+=,.@-]+', 128),
  policyVersionId: rule('[0-9]+', 20),
  authorizerName: rule('[\\w=,@-]+', 128),
  roleAlias: rule('[\\w=,@-]+', 128),
  domainConfigurationName: rule('[\\w.:-]+', 128),
  certificateId: CERTIFICATE_ID,
  caCertificateId: CERTIFICATE_ID,
  executionNumber: rule('[0-9]+', 19),
  ruleName: rule('^[a-zA-Z0-9_]+$', 128, /^[a-zA-Z0-9_]+$/),
};

/** The jobs data plane's `$next` stands for the next pending execution (GetPendingJobExecutions' sibling). */
const JOBS_NEXT = '$next';

/** Throws InvalidRequestException, worded as AWS words it, for the first label that breaks its rule. */
export function checkPathLabels(params: Record<string, string>, service: string): void {
  for (const [name, value] of Object.entries(params)) {
    const r = RULES[name];
    if (!r) continue;
    if (name === 'jobId' && service === 'iot-jobs-data' && value === JOBS_NEXT) continue;
    if (value.length === 0) fail(name, value, 'Member must have length greater than or equal to 1');
    if (value.length > r.max) fail(name, value, `Member must have length less than or equal to ${r.max}`);
    if (!r.pattern.test(value)) fail(name, value, `Member must satisfy regular expression pattern: ${r.shown}`);
  }
}

function fail(member: string, value: string, constraint: string): never {
  // JSON escapes control characters in the answer; the value is cut so that a hostile one stays short.
  const shown = value.length > 256 ? `${value.slice(0, 256)}...` : value;
  throw invalidRequest(`1 validation error detected: Value '${shown}' at '${member}' failed to satisfy constraint: ${constraint}`);
}
