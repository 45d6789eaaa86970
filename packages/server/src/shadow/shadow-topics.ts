/** The reserved shadow topics (reference dataplane §2.1) and the names they carry. */

export type ShadowOperation = 'get' | 'update' | 'delete';

export interface ShadowAddress {
  thingName: string;
  /** '' for the classic shadow. */
  shadowName: string;
}

export interface ShadowRequestTopic extends ShadowAddress {
  operation: ShadowOperation;
}

/** Filters the service subscribes to: the three request topics, classic and named. */
export const SHADOW_REQUEST_FILTERS = ['get', 'update', 'delete'].flatMap((op) => [
  `$aws/things/+/shadow/${op}`,
  `$aws/things/+/shadow/name/+/${op}`,
]);

/** Parses a request topic matched by one of SHADOW_REQUEST_FILTERS. */
export function parseRequestTopic(topic: string): ShadowRequestTopic | undefined {
  const parts = topic.split('/');
  if (parts[0] !== '$aws' || parts[1] !== 'things' || parts[3] !== 'shadow') return undefined;
  if (parts.length === 5) return { thingName: parts[2]!, shadowName: '', operation: parts[4] as ShadowOperation };
  if (parts.length === 7 && parts[4] === 'name')
    return { thingName: parts[2]!, shadowName: parts[5]!, operation: parts[6] as ShadowOperation };
  return undefined;
}

/** `$aws/things/{thing}/shadow` or `$aws/things/{thing}/shadow/name/{shadow}`. */
export function shadowTopicPrefix(a: ShadowAddress): string {
  return a.shadowName === '' ? `$aws/things/${a.thingName}/shadow` : `$aws/things/${a.thingName}/shadow/name/${a.shadowName}`;
}

/** How AWS names a shadow in "No shadow exists with name" messages: the thing, or `thing~shadow`. */
export function shadowDisplayName(a: ShadowAddress): string {
  return a.shadowName === '' ? a.thingName : `${a.thingName}~${a.shadowName}`;
}

const THING_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const SHADOW_NAME = /^[$a-zA-Z0-9:_-]{1,64}$/;

/** Why the names cannot address a shadow, or undefined when they can. */
export function addressError(a: ShadowAddress): string | undefined {
  if (!THING_NAME.test(a.thingName))
    return `Invalid thing name '${a.thingName}': 1 to 128 characters of a-z, A-Z, 0-9, colon, underscore and hyphen`;
  if (a.shadowName !== '' && !SHADOW_NAME.test(a.shadowName))
    return `Invalid shadow name '${a.shadowName}': 1 to 64 characters of a-z, A-Z, 0-9, $, colon, underscore and hyphen`;
  return undefined;
}
