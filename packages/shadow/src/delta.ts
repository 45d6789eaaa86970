/**
 * The delta: what `desired` asks for that `reported` does not show. It is a pure function of the
 * stored state, so it always lists every differing key, not only those the last update touched.
 */
import { cloneJson, deepEqual, getOwn, isJsonObject, setOwn, type JsonObject } from './json.js';
import { conform } from './metadata.js';
import type { MetadataObject, StoredShadow } from './types.js';

export interface Delta {
  state: JsonObject;
  /** The desired metadata of exactly the delta's nodes. */
  metadata: MetadataObject;
}

/**
 * Walks `desired`: a key absent from `reported` is copied whole; two objects are compared
 * recursively, keeping only the differing paths; anything else (scalars, arrays, mixed kinds) is
 * compared as a whole value and the desired value copied whole when it differs. Keys only in
 * `reported` never appear. Undefined when nothing differs.
 */
export function computeDelta(shadow: StoredShadow): Delta | undefined {
  const desired = shadow.state.desired;
  if (desired === undefined) return undefined;
  const delta = diff(desired, shadow.state.reported, shadow.metadata.desired);
  return Object.keys(delta.state).length > 0 ? delta : undefined;
}

function diff(desired: JsonObject, reported: JsonObject | undefined, desiredMeta: unknown): Delta {
  const out: Delta = { state: {}, metadata: {} };
  const meta = isJsonObject(desiredMeta) ? desiredMeta : undefined;
  for (const key of Object.keys(desired)) {
    const want = desired[key]!;
    const wantMeta = getOwn(meta, key);
    const have = getOwn(reported, key);
    if (have !== undefined && isJsonObject(want) && isJsonObject(have)) {
      const sub = diff(want, have, wantMeta);
      if (Object.keys(sub.state).length === 0) continue;
      setOwn(out.state, key, sub.state);
      setOwn(out.metadata, key, sub.metadata);
    } else if (have === undefined || !deepEqual(want, have)) {
      setOwn(out.state, key, cloneJson(want));
      // Stored metadata always matches its state; 0 only fills gaps in hand-built shadows.
      setOwn(out.metadata, key, conform(want, wantMeta, 0));
    }
  }
  return out;
}
