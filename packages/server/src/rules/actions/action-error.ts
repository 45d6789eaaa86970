/** An action that failed; `resource` names what it failed on (AWS's `failedResource`), when known per message. */
export class ActionError extends Error {
  constructor(
    message: string,
    readonly resource?: string,
  ) {
    super(message);
  }
}
