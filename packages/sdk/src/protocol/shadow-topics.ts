/**
 * Device Shadow topics (reference dataplane §2.1): `$aws/things/{thing}/shadow[/name/{shadow}]/{op}`.
 * `op` is the whole suffix after the shadow prefix, so one builder and one parser cover requests,
 * responses and notifications alike.
 */
import { isShadowName, isThingName } from './names.js';

export type ShadowRequestOp = 'get' | 'update' | 'delete';

export type ShadowTopicOp =
  | ShadowRequestOp
  | 'get/accepted'
  | 'get/rejected'
  | 'update/accepted'
  | 'update/rejected'
  | 'update/delta'
  | 'update/documents'
  | 'delete/accepted'
  | 'delete/rejected';

export const SHADOW_TOPIC_OPS: readonly ShadowTopicOp[] = [
  'get',
  'get/accepted',
  'get/rejected',
  'update',
  'update/accepted',
  'update/rejected',
  'update/delta',
  'update/documents',
  'delete',
  'delete/accepted',
  'delete/rejected',
];
const OPS = new Set<string>(SHADOW_TOPIC_OPS);

export interface ShadowTopic {
  thingName: string;
  /** Absent for the classic (unnamed) shadow. */
  shadowName?: string;
  op: ShadowTopicOp;
}

/** `$aws/things/{thing}/shadow` or `$aws/things/{thing}/shadow/name/{shadow}`. */
export function shadowTopicPrefix(thingName: string, shadowName?: string): string {
  return shadowName === undefined || shadowName === ''
    ? `$aws/things/${thingName}/shadow`
    : `$aws/things/${thingName}/shadow/name/${shadowName}`;
}

export function shadowTopic(thingName: string, op: ShadowTopicOp, shadowName?: string): string {
  return `${shadowTopicPrefix(thingName, shadowName)}/${op}`;
}

/** Filters a shadow service subscribes to: the three request topics of every classic and named shadow. */
export const SHADOW_REQUEST_FILTERS: readonly string[] = (['get', 'update', 'delete'] as const).flatMap((op) => [
  `$aws/things/+/shadow/${op}`,
  `$aws/things/+/shadow/name/+/${op}`,
]);

/**
 * The thing, shadow and operation a topic addresses; undefined when it is no shadow topic. Names are
 * not validated here (a service answers bad names with an error document; see `isThingName`).
 */
export function parseShadowTopic(topic: string): ShadowTopic | undefined {
  const parts = topic.split('/');
  if (parts[0] !== '$aws' || parts[1] !== 'things' || parts[3] !== 'shadow' || !parts[2]) return undefined;
  let shadowName: string | undefined;
  let rest: string[];
  if (parts[4] === 'name') {
    if (!parts[5]) return undefined;
    shadowName = parts[5];
    rest = parts.slice(6);
  } else rest = parts.slice(4);
  const op = rest.join('/');
  if (!OPS.has(op)) return undefined;
  return shadowName === undefined
    ? { thingName: parts[2], op: op as ShadowTopicOp }
    : { thingName: parts[2], shadowName, op: op as ShadowTopicOp };
}

/** Why these names cannot address a shadow; undefined when they can. */
export function shadowAddressError(thingName: string, shadowName?: string): string | undefined {
  if (!isThingName(thingName))
    return `Invalid thing name '${thingName}': 1 to 128 characters of a-z, A-Z, 0-9, colon, underscore and hyphen`;
  if (shadowName !== undefined && shadowName !== '' && !isShadowName(shadowName))
    return `Invalid shadow name '${shadowName}': 1 to 64 characters of a-z, A-Z, 0-9, $, colon, underscore and hyphen`;
  return undefined;
}
