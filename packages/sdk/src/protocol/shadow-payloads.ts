/** Device Shadow JSON documents as they travel over MQTT (reference dataplane §2.2–§2.3). */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

/** Metadata mirrors the state tree; every leaf becomes `{timestamp}` (epoch seconds). */
export type ShadowMetadataNode = { timestamp: number } | { [key: string]: ShadowMetadataNode } | ShadowMetadataNode[];
export type ShadowMetadataObject = { [key: string]: ShadowMetadataNode };

export interface ShadowState<S extends JsonObject = JsonObject> {
  desired?: S;
  reported?: S;
  /** Only in `/get/accepted`, when desired and reported differ. */
  delta?: JsonObject;
}

export interface ShadowMetadata {
  desired?: ShadowMetadataObject;
  reported?: ShadowMetadataObject;
}

/** `/update` request. A key set to `null` deletes it; `desired: null` deletes the section. */
export interface ShadowUpdateRequest {
  state: { desired?: JsonObject | null; reported?: JsonObject | null } | null;
  clientToken?: string;
  /** Optimistic lock: the update is rejected (409) unless the shadow has this version. */
  version?: number;
}

/** `/get` and `/delete` requests: empty, or a client token. */
export interface ShadowTokenRequest {
  clientToken?: string;
}

/** `/get/accepted`: the whole document. */
export interface ShadowGetAccepted {
  state: ShadowState;
  metadata: ShadowMetadata;
  version: number;
  timestamp: number;
  clientToken?: string;
}

/** `/update/accepted`: only the parts the request wrote. */
export interface ShadowUpdateAccepted {
  state: { desired?: JsonObject | null; reported?: JsonObject | null } | null;
  metadata?: ShadowMetadata;
  version: number;
  timestamp: number;
  clientToken?: string;
}

/** `/update/delta`: every desired key that differs from reported. */
export interface ShadowDelta {
  state: JsonObject;
  metadata?: ShadowMetadataObject;
  version: number;
  timestamp: number;
  clientToken?: string;
}

export interface ShadowSnapshot {
  state: { desired?: JsonObject; reported?: JsonObject };
  metadata: ShadowMetadata;
  version: number;
}

/** `/update/documents`: before and after every accepted update. */
export interface ShadowDocuments {
  previous: ShadowSnapshot | null;
  current: ShadowSnapshot;
  timestamp: number;
  clientToken?: string;
}

/** `/delete/accepted`. */
export interface ShadowDeleteAccepted {
  version: number;
  timestamp: number;
  clientToken?: string;
}

/** `.../rejected`: `code` is the HTTP status as a number. */
export interface ShadowErrorDocument {
  code: number;
  message: string;
  timestamp?: number;
  clientToken?: string;
}

/** The error documents a shadow service publishes (reference dataplane §2.6). */
export const SHADOW_ERROR_MESSAGES = {
  invalidJson: 'Invalid JSON',
  missingState: 'Missing required node: state',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  versionConflict: 'Version conflict',
  payloadTooLarge: 'The payload exceeds the maximum size allowed',
  internal: 'Internal service failure',
} as const;

export function isShadowErrorDocument(v: unknown): v is ShadowErrorDocument {
  return typeof v === 'object' && v !== null && typeof (v as ShadowErrorDocument).code === 'number';
}
