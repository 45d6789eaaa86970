import type { JsonObject } from './json.js';

/** Metadata mirrors the state tree: every scalar becomes `{timestamp}` (epoch seconds of its last write). */
export type MetadataLeaf = { timestamp: number };
export type MetadataNode = MetadataLeaf | MetadataObject | MetadataNode[];
export type MetadataObject = { [key: string]: MetadataNode };

/** A section is absent until a property is written to it, after it was set to `null`, and once its last property is deleted; never `{}`. */
export interface ShadowState {
  desired?: JsonObject;
  reported?: JsonObject;
}

export interface ShadowMetadata {
  desired?: MetadataObject;
  reported?: MetadataObject;
}

export interface StoredShadow {
  state: ShadowState;
  metadata: ShadowMetadata;
  version: number;
}

export interface ShadowLimits {
  /** UTF-8 bytes of desired + reported (see `stateBytes`); metadata does not count. */
  maxStateBytes: number;
  /** Nesting levels of desired and of reported, the section object itself being level 1. */
  maxDepth: number;
  maxClientTokenBytes: number;
}

/**
 * AWS: 8 KB state; depth 6 as in the service's error message (the quota page has said 5, and
 * lately 8, so it is configurable); 64-byte client tokens.
 */
export const DEFAULT_SHADOW_LIMITS: Readonly<ShadowLimits> = Object.freeze({ maxStateBytes: 8192, maxDepth: 6, maxClientTokenBytes: 64 });

export function resolveLimits(limits: Partial<ShadowLimits> | undefined): ShadowLimits {
  return {
    maxStateBytes: limits?.maxStateBytes ?? DEFAULT_SHADOW_LIMITS.maxStateBytes,
    maxDepth: limits?.maxDepth ?? DEFAULT_SHADOW_LIMITS.maxDepth,
    maxClientTokenBytes: limits?.maxClientTokenBytes ?? DEFAULT_SHADOW_LIMITS.maxClientTokenBytes,
  };
}

/** A validated `/update` request. Nulls are deletions; arrays never contain null. */
export interface UpdateRequest {
  state: { desired?: JsonObject | null; reported?: JsonObject | null } | null;
  clientToken?: string;
  version?: number;
}
