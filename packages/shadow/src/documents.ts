/**
 * Response documents, field for field as AWS IoT publishes them. Keys are emitted in the order
 * AWS uses in its published examples; JSON consumers do not depend on it, but logs compare easier.
 * Every document is built from fresh objects, so callers may cache or mutate them freely.
 */
import { computeDelta } from './delta.js';
import type { ShadowError } from './errors.js';
import { cloneJson, isJsonObject, type JsonObject } from './json.js';
import { conformObject, requestMetadata } from './metadata.js';
import type { ShadowMetadata, ShadowState, StoredShadow, UpdateRequest } from './types.js';

function withToken(doc: JsonObject, clientToken: string | undefined): JsonObject {
  if (clientToken !== undefined) doc['clientToken'] = clientToken;
  return doc;
}

/**
 * A section with no properties does not exist (see `mergeState`); one stored empty by an older
 * version of the merge is left out here too, so GET and `/update/documents` never show it.
 */
function present(section: JsonObject | undefined): section is JsonObject {
  return section !== undefined && Object.keys(section).length > 0;
}

function stateDocument(state: ShadowState): JsonObject {
  const doc: JsonObject = {};
  if (present(state.desired)) doc['desired'] = cloneJson(state.desired);
  if (present(state.reported)) doc['reported'] = cloneJson(state.reported);
  return doc;
}

/** Metadata for output; copied through `conformObject` so it always has the state's shape. */
function metadataDocument(state: ShadowState, metadata: ShadowMetadata, fallback: number): JsonObject {
  const doc: JsonObject = {};
  if (present(state.desired)) doc['desired'] = conformObject(state.desired, metadata.desired, fallback);
  if (present(state.reported)) doc['reported'] = conformObject(state.reported, metadata.reported, fallback);
  return doc;
}

/** `{state, metadata, version}` as inside `/update/documents` (no delta there). */
export function snapshot(shadow: StoredShadow, fallback: number): JsonObject {
  return {
    state: stateDocument(shadow.state),
    metadata: metadataDocument(shadow.state, shadow.metadata, fallback),
    version: shadow.version,
  };
}

/** `/get/accepted` and the REST GET body: full state, `state.delta` only when non-empty, full metadata. */
export function getResponse(shadow: StoredShadow, timestamp: number, clientToken?: string): JsonObject {
  const state = stateDocument(shadow.state);
  const delta = computeDelta(shadow);
  if (delta !== undefined) state['delta'] = delta.state;
  const doc: JsonObject = {
    state,
    metadata: metadataDocument(shadow.state, shadow.metadata, timestamp),
    version: shadow.version,
    timestamp,
  };
  return withToken(doc, clientToken);
}

/** `/delete/accepted` and the REST DELETE body; `version` is the deleted shadow's last version. */
export function deleteResponse(version: number, timestamp: number, clientToken?: string): JsonObject {
  return withToken({ version, timestamp }, clientToken);
}

/** The `*\/rejected` document. */
export function errorDocument(error: ShadowError, timestamp: number, clientToken?: string): JsonObject {
  return withToken({ code: error.code, message: error.message, timestamp }, clientToken);
}

/** The `/update/delta` document with every currently differing key, or undefined when there is none. */
export function deltaDocument(shadow: StoredShadow, timestamp: number, clientToken?: string): JsonObject | undefined {
  const delta = computeDelta(shadow);
  if (delta === undefined) return undefined;
  return withToken({ version: shadow.version, timestamp, state: delta.state, metadata: delta.metadata }, clientToken);
}

/**
 * `/update/accepted` and the REST POST body: the request's state exactly as sent, nulls included,
 * with metadata of the same shape. For `"state": null` AWS answers
 * `{"state":null,"metadata":{"timestamp":T},...}` (captured from the service in getmoto/moto#9237),
 * and a section set to null likewise gets a bare `{timestamp}`.
 */
export function acceptedDocument(request: UpdateRequest, version: number, timestamp: number): JsonObject {
  const patch = request.state;
  let state: JsonObject | null = null;
  let metadata: JsonObject = { timestamp };
  if (patch !== null) {
    state = {};
    metadata = {};
    for (const name of ['desired', 'reported'] as const) {
      const section = patch[name];
      if (section === undefined) continue;
      state[name] = section === null ? null : cloneJson(section);
      metadata[name] = isJsonObject(section) ? requestMetadata(section, timestamp) : { timestamp };
    }
  }
  return withToken({ state, metadata, version, timestamp }, request.clientToken);
}
