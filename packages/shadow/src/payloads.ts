/**
 * The Device Shadow documents as they travel over MQTT and HTTP (reference dataplane §2.2–§2.3):
 * the one definition the service that builds them and the device SDK that reads them share.
 */
import type { JsonObject } from './json.js';

/** Metadata mirrors the state tree; every leaf becomes `{timestamp}` (epoch seconds). */
export type ShadowMetadataNode = { timestamp: number } | { [key: string]: ShadowMetadataNode } | ShadowMetadataNode[];
export type ShadowMetadataObject = { [key: string]: ShadowMetadataNode };

export interface ShadowStateDocument<S extends JsonObject = JsonObject> {
  desired?: S;
  reported?: S;
  /** Only in `/get/accepted`, when desired and reported differ. */
  delta?: JsonObject;
}

export interface ShadowMetadataDocument {
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
  state: ShadowStateDocument;
  metadata: ShadowMetadataDocument;
  version: number;
  timestamp: number;
  clientToken?: string;
}

/** `/update/accepted`: only the parts the request wrote. */
export interface ShadowUpdateAccepted {
  state: { desired?: JsonObject | null; reported?: JsonObject | null } | null;
  metadata?: ShadowMetadataDocument;
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
  metadata: ShadowMetadataDocument;
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
