// The bytes an action receives for an evaluation result.
import type { EvaluationResult } from './types.js';

const EMPTY = new Uint8Array(0);

/**
 * JSON text for objects and values, the raw bytes for `SELECT *` over a non-JSON payload, and the
 * empty string for Undefined (AWS: "serialized alone it becomes the empty string").
 */
export function outputBytes(result: EvaluationResult): Uint8Array {
  if (result.kind === 'binary') return result.binary ?? EMPTY;
  if (result.kind === 'undefined' || result.output === undefined) return EMPTY;
  return Buffer.from(JSON.stringify(result.output), 'utf8');
}
