/** A function invocation that failed, with Lambda's error type (`Sandbox.Timedout`, the handler's error name, ...). */
export class FunctionError extends Error {
  constructor(
    readonly errorType: string,
    message: string,
  ) {
    super(message);
  }
}

/** The largest result a function may return (Lambda's synchronous response limit). */
export const MAX_RESULT_BYTES = 6 * 1024 * 1024;
/** The largest event a function is given (Lambda's synchronous request limit). */
export const MAX_EVENT_BYTES = 6 * 1024 * 1024;

/** What an invocation gets besides its event. */
export interface InvocationContext {
  functionName: string;
  functionArn: string;
  requestId: string;
  timeoutMs: number;
  memoryMb: number;
}

/** A parsed result: the function's JSON answer (null when it returned nothing). */
export function parseResult(text: string): unknown {
  if (text.trim() === '') return null;
  try {
    return JSON.parse(text);
  } catch {
    // An HTTP endpoint may answer plain text; it is the result as a string.
    return text;
  }
}
