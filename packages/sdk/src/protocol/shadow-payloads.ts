/**
 * Device Shadow JSON documents (reference dataplane §2.2–§2.3): defined once, in @thicket/shadow,
 * next to the code of the service that builds them.
 */
import type { ShadowErrorDocument } from '@thicket/shadow';

export type { Json as JsonValue, JsonObject } from '@thicket/shadow';
export type {
  ShadowDeleteAccepted,
  ShadowDelta,
  ShadowDocuments,
  ShadowErrorDocument,
  ShadowGetAccepted,
  ShadowMetadataDocument as ShadowMetadata,
  ShadowMetadataNode,
  ShadowMetadataObject,
  ShadowSnapshot,
  ShadowStateDocument as ShadowState,
  ShadowTokenRequest,
  ShadowUpdateAccepted,
  ShadowUpdateRequest,
} from '@thicket/shadow';
export { SHADOW_ERROR_MESSAGES } from '@thicket/shadow';

export function isShadowErrorDocument(v: unknown): v is ShadowErrorDocument {
  return typeof v === 'object' && v !== null && typeof (v as ShadowErrorDocument).code === 'number';
}
