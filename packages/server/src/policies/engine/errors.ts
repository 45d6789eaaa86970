/** The one error the engine throws; its message is what an AWS MalformedPolicyException would carry. */
export class PolicyDocumentError extends Error {
  override readonly name = 'PolicyDocumentError';
  /** 1-based position of a JSON syntax error, when that is what went wrong. */
  readonly line: number | undefined;
  readonly column: number | undefined;

  constructor(message: string, position?: { line: number; column: number }) {
    super(message);
    this.line = position?.line;
    this.column = position?.column;
  }
}
