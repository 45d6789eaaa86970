// Per-evaluation state shared by the compiled closures and the function library.
import type { SqlFunctionError } from './errors.js';
import type { SqlHost, SqlMessage } from './types.js';
import type { Version } from './values.js';

export interface EvalContext {
  version: Version;
  /** The version string the rule was created with ('beta' included), for sql_version(). */
  versionName: string;
  message: SqlMessage;
  /** Raw payload bytes. */
  raw: Uint8Array;
  /** The parsed JSON payload, or undefined when the payload is not JSON. */
  root: unknown;
  json: boolean;
  /** The object field names resolve against: the payload, or the element of a nested SELECT. */
  current: unknown;
  vars: Record<string, unknown>;
  errors: SqlFunctionError[];
  host: SqlHost | undefined;
  /** Results (or failures) of external calls already made for this message, by call key. */
  hostResults: Map<string, HostOutcome>;
  /** Evaluation time, fixed once per message so re-runs agree. */
  now: number;
}

export type HostOutcome = { ok: true; value: unknown } | { ok: false; message: string };

/** Thrown (internally) when an external call needs the async host; the driver awaits it and re-runs. */
export class NeedsHost {
  constructor(
    readonly key: string,
    readonly name: string,
    readonly args: unknown[],
  ) {}
}

export function fail(ctx: EvalContext, fn: string, message: string): undefined {
  ctx.errors.push({ function: fn, message });
  return undefined;
}
