/**
 * One accepted update: version check, merge, size check, and the documents AWS publishes for it.
 */
import { acceptedDocument, deltaDocument, snapshot } from './documents.js';
import { ShadowError } from './errors.js';
import { isJsonObject, utf8Length, type JsonObject } from './json.js';
import { mergeState } from './merge.js';
import { resolveLimits, type ShadowLimits, type ShadowState, type StoredShadow, type UpdateRequest } from './types.js';

export interface UpdateOptions {
  /** Epoch seconds, used for metadata and every document of this update. */
  timestamp: number;
  /**
   * The version to continue from when no shadow exists: 0 for a shadow never seen, the last
   * version of one deleted within the retention window (AWS: 48 h). Ignored when `current` exists.
   */
  baseVersion?: number;
  limits?: Partial<ShadowLimits>;
}

export interface UpdateResult {
  /** What to persist. */
  next: StoredShadow;
  /** `/update/accepted` and the REST POST body. */
  accepted: JsonObject;
  /** `/update/delta`, present only when it is to be published. */
  delta?: JsonObject;
  /** `/update/documents`. */
  documents: JsonObject;
}

/**
 * The size the state limit applies to: the UTF-8 length of compact JSON of `desired` plus that of
 * `reported` (an absent section counts 0). Metadata does not count, as AWS documents.
 */
export function stateBytes(state: ShadowState): number {
  let n = 0;
  if (state.desired !== undefined) n += utf8Length(JSON.stringify(state.desired));
  if (state.reported !== undefined) n += utf8Length(JSON.stringify(state.reported));
  return n;
}

/**
 * Applies a validated request to the current shadow (undefined: none exists). Throws 409 when
 * `request.version` is given and differs from the current version (or `baseVersion`), 413 when the
 * merged state exceeds `maxStateBytes`; the limit applies to the result, so an update that
 * deletes keys from an oversized shadow is still accepted if it brings it under the limit.
 *
 * `/update/delta` is produced when the request carried a `desired` object and desired and
 * reported still differ afterwards. AWS documents it for changes whose request "contains
 * different values for desired and reported"; whether a reported-only update that leaves a
 * difference re-sends the delta is not documented, and not re-sending keeps devices from acting
 * twice on the same desired state when they report progress.
 *
 * On a shadow's first update `documents.previous` is null, as AWS sends it (captured
 * `/update/documents` payloads of version 1 in aws-iot-device-sdk samples and nRF Cloud tests).
 */
export function applyUpdate(current: StoredShadow | undefined, request: UpdateRequest, opts: UpdateOptions): UpdateResult {
  const limits = resolveLimits(opts.limits);
  const { timestamp } = opts;
  const version = current !== undefined ? current.version : (opts.baseVersion ?? 0);
  if (request.version !== undefined && request.version !== version) throw ShadowError.versionConflict();

  const merged = mergeState(current, request.state, timestamp);
  if (stateBytes(merged.state) > limits.maxStateBytes) throw ShadowError.payloadTooLarge();
  const next: StoredShadow = { state: merged.state, metadata: merged.metadata, version: version + 1 };

  const token = request.clientToken;
  const documents: JsonObject = {
    previous: current !== undefined ? snapshot(current, timestamp) : null,
    current: snapshot(next, timestamp),
    timestamp,
  };
  if (token !== undefined) documents['clientToken'] = token;

  const result: UpdateResult = { next, accepted: acceptedDocument(request, next.version, timestamp), documents };
  if (request.state !== null && isJsonObject(request.state.desired)) {
    const delta = deltaDocument(next, timestamp, token);
    if (delta !== undefined) result.delta = delta;
  }
  return result;
}
