// Compile-time errors become AWS's SqlParseException (HTTP 400) in the rules API; runtime function
// failures never throw: they evaluate to Undefined and are listed in EvaluationResult.errors.

export interface SqlPosition {
  /** 0-based character offset into the SQL text. */
  offset: number;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
}

export class SqlParseError extends Error {
  /** The AWS error name the rules API should answer with. */
  readonly errorName = 'SqlParseException';
  constructor(
    message: string,
    readonly position: SqlPosition,
    /** What the parser would have accepted at `position` (empty for semantic errors). */
    readonly expected: string[] = [],
    /** The text found at `position`, or undefined at end of input. */
    readonly found: string | undefined = undefined,
  ) {
    super(message);
    this.name = 'SqlParseError';
  }
}

export function positionOf(text: string, offset: number): SqlPosition {
  let line = 1;
  let column = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      column = 1;
    } else column++;
  }
  return { offset, line, column };
}

/** A runtime failure inside a function call (bad regex, external call failed, no host, ...). */
export interface SqlFunctionError {
  function: string;
  message: string;
}
