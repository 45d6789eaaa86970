/**
 * Device Shadow errors: an HTTP status and the exact message AWS IoT publishes on `.../rejected`
 * (developer guide, "Device Shadow error messages").
 */

export const SHADOW_ERROR_MESSAGES = {
  invalidJson: 'Invalid JSON',
  missingState: 'Missing required node: state',
  stateNotObject: 'State node must be an object',
  desiredNotObject: 'Desired node must be an object',
  reportedNotObject: 'Reported node must be an object',
  invalidVersion: 'Invalid version',
  invalidClientToken: 'Invalid clientToken',
  invalidStateNode: 'State contains an invalid node',
  unauthorized: 'Unauthorized',
  forbidden: 'Forbidden',
  thingNotFound: 'Thing not found',
  versionConflict: 'Version conflict',
  payloadTooLarge: 'The payload exceeds the maximum size allowed',
  unsupportedEncoding: 'Unsupported documented encoding; supported encoding is UTF-8',
  // AWS lists this sentence, a description rather than a short message, as the 429 text.
  throttled:
    'The Device Shadow service will generate this error message when there are more than 10 in-flight requests on a single connection. An in-flight request is an in-progress request that has been started but not yet completed.',
  internalFailure: 'Internal service failure',
} as const;

export function tooDeepMessage(maxDepth: number): string {
  return `JSON contains too many levels of nesting; maximum is ${maxDepth}`;
}

/**
 * AWS fills in the thing name for a classic shadow; for a named shadow the docs show the shadow
 * name and field reports `{thing}~{shadow}`, so the caller passes whichever it reports.
 */
export function noShadowMessage(name: string): string {
  return `No shadow exists with name: '${name}'`;
}

export class ShadowError extends Error {
  /** The HTTP status, also the `code` of the error document. */
  readonly code: number;

  constructor(code: number, message: string) {
    super(message);
    this.name = 'ShadowError';
    this.code = code;
  }

  static invalidJson(): ShadowError {
    return new ShadowError(400, SHADOW_ERROR_MESSAGES.invalidJson);
  }
  static missingState(): ShadowError {
    return new ShadowError(400, SHADOW_ERROR_MESSAGES.missingState);
  }
  static stateNotObject(): ShadowError {
    return new ShadowError(400, SHADOW_ERROR_MESSAGES.stateNotObject);
  }
  static desiredNotObject(): ShadowError {
    return new ShadowError(400, SHADOW_ERROR_MESSAGES.desiredNotObject);
  }
  static reportedNotObject(): ShadowError {
    return new ShadowError(400, SHADOW_ERROR_MESSAGES.reportedNotObject);
  }
  static invalidVersion(): ShadowError {
    return new ShadowError(400, SHADOW_ERROR_MESSAGES.invalidVersion);
  }
  static invalidClientToken(): ShadowError {
    return new ShadowError(400, SHADOW_ERROR_MESSAGES.invalidClientToken);
  }
  static tooDeep(maxDepth: number): ShadowError {
    return new ShadowError(400, tooDeepMessage(maxDepth));
  }
  static invalidStateNode(): ShadowError {
    return new ShadowError(400, SHADOW_ERROR_MESSAGES.invalidStateNode);
  }
  static unauthorized(): ShadowError {
    return new ShadowError(401, SHADOW_ERROR_MESSAGES.unauthorized);
  }
  static forbidden(): ShadowError {
    return new ShadowError(403, SHADOW_ERROR_MESSAGES.forbidden);
  }
  static thingNotFound(): ShadowError {
    return new ShadowError(404, SHADOW_ERROR_MESSAGES.thingNotFound);
  }
  static noShadow(name: string): ShadowError {
    return new ShadowError(404, noShadowMessage(name));
  }
  static versionConflict(): ShadowError {
    return new ShadowError(409, SHADOW_ERROR_MESSAGES.versionConflict);
  }
  static payloadTooLarge(): ShadowError {
    return new ShadowError(413, SHADOW_ERROR_MESSAGES.payloadTooLarge);
  }
  static unsupportedEncoding(): ShadowError {
    return new ShadowError(415, SHADOW_ERROR_MESSAGES.unsupportedEncoding);
  }
  static throttled(): ShadowError {
    return new ShadowError(429, SHADOW_ERROR_MESSAGES.throttled);
  }
  static internalFailure(): ShadowError {
    return new ShadowError(500, SHADOW_ERROR_MESSAGES.internalFailure);
  }
}
