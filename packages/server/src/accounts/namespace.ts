/**
 * Every resource lives in a namespace: an AWS account id and a region (DESIGN §1.7). ARNs carry
 * both; MQTT connections get the namespace's broker mount point, so topic spaces never meet.
 */

export interface Namespace {
  readonly accountId: string;
  readonly region: string;
}

export const DEFAULT_ACCOUNT_ID = '123456789012';
export const DEFAULT_REGION = 'us-east-1';

const ACCOUNT_ID = /^\d{12}$/;
const REGION = /^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$/;

export function isAccountId(s: string): boolean {
  return ACCOUNT_ID.test(s);
}

/** Region names as AWS forms them (`us-east-1`, `eu-central-2`, `us-gov-west-1`, ...). */
export function isRegion(s: string): boolean {
  return REGION.test(s);
}

/** The broker mount point of a namespace. */
export function mountOf(ns: Namespace): string {
  return `${ns.accountId}/${ns.region}`;
}

export function namespaceOfMount(mount: string): Namespace | undefined {
  const [accountId, region, ...rest] = mount.split('/');
  if (!accountId || !region || rest.length) return undefined;
  return { accountId, region };
}

/** `arn:aws:iot:<region>:<account>:<resource>`. */
export function iotArn(ns: Namespace, resource: string): string {
  return `arn:aws:iot:${ns.region}:${ns.accountId}:${resource}`;
}

export interface ParsedArn extends Namespace {
  service: string;
  /** The part after the account: `thing/lamp`, `cert/<id>`, ... */
  resource: string;
}

export function parseArn(arn: string): ParsedArn | undefined {
  const m = /^arn:aws[a-z-]*:([a-z0-9-]+):([a-z0-9-]*):(\d{12}):(.+)$/.exec(arn);
  if (!m) return undefined;
  return { service: m[1]!, region: m[2]!, accountId: m[3]!, resource: m[4]! };
}
