/**
 * @thicket/shadow: the AWS IoT Device Shadow document algebra (validation, merge, metadata, delta,
 * response documents), pure and dependency-free, shared by the server and the edge runtime.
 * Timestamps are epoch seconds. Nothing here mutates its inputs; every returned document is a
 * fresh tree that callers may cache or mutate.
 *
 *   parseUpdateRequest(payload: Uint8Array | string, limits?): UpdateRequest        throws 400 / 415
 *   validateUpdateRequest(value: unknown, limits?): UpdateRequest                    same checks, parsed input
 *   parseTokenRequest(payload, limits?): { clientToken?: string }                    /get, /delete; '' -> {}
 *   clientTokenOf(payload, limits?): string | undefined                              never throws; for rejections
 *   applyUpdate(current: StoredShadow | undefined, request, { timestamp, baseVersion?, limits? })
 *       : { next, accepted, delta?, documents }                                      throws 409 / 413
 *   getResponse(shadow, timestamp, clientToken?)      /get/accepted, REST GET
 *   deleteResponse(version, timestamp, clientToken?)  /delete/accepted, REST DELETE
 *   errorDocument(error, timestamp, clientToken?)     .../rejected: {code, message, timestamp, clientToken?}
 *   deltaDocument(shadow, timestamp, clientToken?)    /update/delta for a stored shadow, or undefined
 *   computeDelta(shadow): { state, metadata } | undefined
 *   stateBytes(state): number                          size checked against maxStateBytes
 *   ShadowError(code, message) + factories: invalidJson() missingState() stateNotObject()
 *       desiredNotObject() reportedNotObject() invalidVersion() invalidClientToken() tooDeep(max)
 *       invalidStateNode() unauthorized() forbidden() thingNotFound() noShadow(name)
 *       versionConflict() payloadTooLarge() unsupportedEncoding() throttled() internalFailure()
 *   SHADOW_ERROR_MESSAGES, tooDeepMessage(max), noShadowMessage(name)
 *   DEFAULT_SHADOW_LIMITS = { maxStateBytes: 8192, maxDepth: 6, maxClientTokenBytes: 64 }
 *
 * `limits` accept a partial object (missing fields take the defaults), so a settings object that
 * extends ShadowLimits can be passed as is. Depth counts containers with the section object as
 * level 1. Choices where AWS is silent are explained next to the code that makes them.
 */
export type { Json, JsonObject } from './json.js';
export type {
  ShadowDeleteAccepted,
  ShadowDelta,
  ShadowDocuments,
  ShadowErrorDocument,
  ShadowGetAccepted,
  ShadowMetadataDocument,
  ShadowMetadataNode,
  ShadowMetadataObject,
  ShadowSnapshot,
  ShadowStateDocument,
  ShadowTokenRequest,
  ShadowUpdateAccepted,
  ShadowUpdateRequest,
} from './payloads.js';
export type {
  MetadataLeaf,
  MetadataNode,
  MetadataObject,
  ShadowLimits,
  ShadowMetadata,
  ShadowState,
  StoredShadow,
  UpdateRequest,
} from './types.js';
export { DEFAULT_SHADOW_LIMITS } from './types.js';
export { ShadowError, SHADOW_ERROR_MESSAGES, noShadowMessage, tooDeepMessage } from './errors.js';
export { clientTokenOf, parseTokenRequest, parseUpdateRequest, validateUpdateRequest } from './validate.js';
export { applyUpdate, stateBytes, type UpdateOptions, type UpdateResult } from './update.js';
export { deleteResponse, deltaDocument, errorDocument, getResponse } from './documents.js';
export { computeDelta, type Delta } from './delta.js';
