/**
 * The update merge: state and metadata are merged in one pass so that every written node gets a
 * fresh timestamp, untouched nodes keep theirs and deleted nodes lose theirs. The result is built
 * from fresh objects; neither the stored shadow nor the request is modified or shared.
 */
import { cloneJson, getOwn, hasOwn, isJsonObject, setOwn, type JsonObject } from './json.js';
import { conform, conformObject, stamp } from './metadata.js';
import type { MetadataObject, ShadowMetadata, ShadowState, StoredShadow, UpdateRequest } from './types.js';

export interface Merged {
  state: ShadowState;
  metadata: ShadowMetadata;
}

const SECTIONS = ['desired', 'reported'] as const;

/**
 * Merges a request state into the stored one. `state: null` clears everything (the shadow itself
 * stays, only the caller's version bump marks the change); `desired: null` / `reported: null`
 * drop that section. A top-level section with no properties does not exist: AWS documents that a
 * shadow "contains a `desired` property only if it has a desired state" (device-shadow-document,
 * "Empty shadow document properties"), so a section whose last key is deleted, one that receives
 * only deletions of keys it never had, and `"desired": {}` sent to a shadow without desired state
 * all leave the section (and its metadata) absent. Below the section, objects are values: one
 * emptied by deletion or written as `{}` stays as `{}`.
 */
export function mergeState(current: StoredShadow | undefined, patch: UpdateRequest['state'], timestamp: number): Merged {
  const merged: Merged = { state: {}, metadata: {} };
  if (patch === null) return merged;
  for (const name of SECTIONS) {
    const stored = current?.state[name];
    const storedMeta = current?.metadata[name];
    const p = patch[name];
    if (p === undefined) {
      // An empty section stored before sections were dropped when emptied is dropped on the next write.
      if (stored === undefined || Object.keys(stored).length === 0) continue;
      merged.state[name] = cloneJson(stored);
      merged.metadata[name] = conformObject(stored, storedMeta, timestamp);
    } else if (p !== null) {
      const m = mergeObject(stored, storedMeta, p, timestamp);
      if (Object.keys(m.value).length === 0) continue;
      merged.state[name] = m.value;
      merged.metadata[name] = m.meta;
    }
  }
  return merged;
}

/**
 * Deep merge of `patch` into `stored`: null deletes, objects merge recursively, arrays and scalars
 * replace. A patch object landing where there is no object is merged into an empty one, so
 * `{"a":{"b":null}}` leaves `a` as `{}` whether or not `a` existed: the same result as deleting
 * the last key of an existing `a`. Existing keys keep their order; new keys follow in patch order.
 */
function mergeObject(
  stored: JsonObject | undefined,
  storedMeta: unknown,
  patch: JsonObject,
  timestamp: number,
): { value: JsonObject; meta: MetadataObject } {
  const value: JsonObject = {};
  const meta: MetadataObject = {};
  const priorMeta = isJsonObject(storedMeta) ? storedMeta : undefined;

  const write = (key: string, old: unknown, oldMeta: unknown): void => {
    const p = patch[key]!;
    if (p === null) return;
    if (isJsonObject(p)) {
      const isObj = isJsonObject(old);
      const sub = mergeObject(isObj ? old : undefined, isObj ? oldMeta : undefined, p, timestamp);
      setOwn(value, key, sub.value);
      setOwn(meta, key, sub.meta);
    } else {
      setOwn(value, key, cloneJson(p));
      setOwn(meta, key, stamp(p, timestamp));
    }
  };

  if (stored !== undefined) {
    for (const key of Object.keys(stored)) {
      const old = stored[key]!;
      const oldMeta = getOwn(priorMeta, key);
      if (hasOwn(patch, key)) write(key, old, oldMeta);
      else {
        setOwn(value, key, cloneJson(old));
        setOwn(meta, key, conform(old, oldMeta, timestamp));
      }
    }
  }
  for (const key of Object.keys(patch)) if (!hasOwn(stored, key)) write(key, undefined, undefined);
  return { value, meta };
}
