/**
 * The reserved shadow topics (reference dataplane §2.1) as the service sees them: the topics and
 * name rules themselves are the protocol module's, shared with the device SDK; here a shadow is
 * addressed with `''` for the classic one.
 */
import { parseShadowTopic, SHADOW_REQUEST_FILTERS, shadowAddressError, shadowTopicPrefix as prefixOf } from '@thicket/sdk/protocol';

export { SHADOW_REQUEST_FILTERS };

export type ShadowOperation = 'get' | 'update' | 'delete';

export interface ShadowAddress {
  thingName: string;
  /** '' for the classic shadow. */
  shadowName: string;
}

export interface ShadowRequestTopic extends ShadowAddress {
  operation: ShadowOperation;
}

/** Parses a request topic matched by one of SHADOW_REQUEST_FILTERS. */
export function parseRequestTopic(topic: string): ShadowRequestTopic | undefined {
  const t = parseShadowTopic(topic);
  if (!t || (t.op !== 'get' && t.op !== 'update' && t.op !== 'delete')) return undefined;
  return { thingName: t.thingName, shadowName: t.shadowName ?? '', operation: t.op };
}

/** `$aws/things/{thing}/shadow` or `$aws/things/{thing}/shadow/name/{shadow}`. */
export function shadowTopicPrefix(a: ShadowAddress): string {
  return prefixOf(a.thingName, a.shadowName);
}

/** How AWS names a shadow in "No shadow exists with name" messages: the thing, or `thing~shadow`. */
export function shadowDisplayName(a: ShadowAddress): string {
  return a.shadowName === '' ? a.thingName : `${a.thingName}~${a.shadowName}`;
}

/** Why the names cannot address a shadow, or undefined when they can. */
export function addressError(a: ShadowAddress): string | undefined {
  return shadowAddressError(a.thingName, a.shadowName);
}
