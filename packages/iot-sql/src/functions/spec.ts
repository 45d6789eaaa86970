// How a library function is declared: arity, the first SQL version that has it, the implementation.
import type { EvalContext } from '../context.js';
import type { Version } from '../values.js';

export interface FunctionSpec {
  min: number;
  max: number;
  /** The first SQL version with this function ('2016-03-23' functions fail to compile in 2015-10-08). */
  since: Version;
  /** Arguments arrive evaluated (Undefined included); return undefined for Undefined. */
  fn: (args: unknown[], ctx: EvalContext) => unknown;
  /** Calls another service through the host (async allowed). */
  external?: boolean;
  /** Never constant-folded (random, clock, message-dependent). */
  volatile?: boolean;
}

export type FunctionTable = Record<string, FunctionSpec>;

export const V15: Version = '2015-10-08';
export const V16: Version = '2016-03-23';
