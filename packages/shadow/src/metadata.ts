/**
 * Metadata trees. Metadata mirrors state node for node: an object maps to an object with the same
 * keys, an array to an array of the same length (an array of scalars therefore becomes one
 * `{timestamp}` per element, as in the AWS examples; nested containers keep mirroring), a scalar
 * to `{timestamp}`.
 */
import { getOwn, isJsonObject, setOwn, type Json, type JsonObject } from './json.js';
import type { MetadataNode, MetadataObject } from './types.js';

/**
 * The metadata of `value`, reusing the timestamps of `existing` wherever its shape matches and
 * stamping `timestamp` everywhere else. With no `existing` this stamps the whole tree; with the
 * stored metadata it is a repairing copy, so the result always has exactly the shape of `value`.
 */
export function conform(value: Json, existing: unknown, timestamp: number): MetadataNode {
  if (Array.isArray(value)) {
    const prior = Array.isArray(existing) ? (existing as unknown[]) : undefined;
    return value.map((v, i) => conform(v, prior?.[i], timestamp));
  }
  if (isJsonObject(value)) return conformObject(value, existing, timestamp);
  if (isJsonObject(existing)) {
    const t = getOwn(existing, 'timestamp');
    if (typeof t === 'number') return { timestamp: t };
  }
  return { timestamp: timestamp };
}

export function conformObject(value: JsonObject, existing: unknown, timestamp: number): MetadataObject {
  const prior = isJsonObject(existing) ? existing : undefined;
  const out: MetadataObject = {};
  for (const key of Object.keys(value)) setOwn(out, key, conform(value[key]!, getOwn(prior, key), timestamp));
  return out;
}

/** Fresh metadata for a value written now. */
export function stamp(value: Json, timestamp: number): MetadataNode {
  return conform(value, undefined, timestamp);
}

/**
 * Metadata of a request section as `/update/accepted` reports it: the request's own shape, where
 * a key set to null (a deletion) is stamped like any other write.
 */
export function requestMetadata(patch: JsonObject, timestamp: number): MetadataObject {
  const out: MetadataObject = {};
  for (const key of Object.keys(patch)) {
    const v = patch[key]!;
    setOwn(out, key, isJsonObject(v) ? requestMetadata(v, timestamp) : stamp(v, timestamp));
  }
  return out;
}
