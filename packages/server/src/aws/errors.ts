/**
 * AWS restJson1 errors: status, `x-amzn-ErrorType` header and `{"__type","message"}` body, which the
 * AWS SDKs (and the aws CLI) turn into the named exception (reference controlplane §1.2).
 */
import type { FastifyReply } from 'fastify';

export class AwsError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    /** Modelled members copied into the body (e.g. resourceId, resourceArn). */
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = code;
  }
}

export const invalidRequest = (message: string): AwsError => new AwsError('InvalidRequestException', 400, message);
export const notFound = (message: string): AwsError => new AwsError('ResourceNotFoundException', 404, message);
export const alreadyExists = (message: string, resourceId?: string, resourceArn?: string): AwsError =>
  new AwsError('ResourceAlreadyExistsException', 409, message, { resourceId, resourceArn });
export const versionConflict = (message: string): AwsError => new AwsError('VersionConflictException', 409, message);
export const deleteConflict = (message: string): AwsError => new AwsError('DeleteConflictException', 409, message);
export const limitExceeded = (message: string): AwsError => new AwsError('LimitExceededException', 410, message);
export const unauthorized = (message: string): AwsError => new AwsError('UnauthorizedException', 401, message);
export const forbidden = (message: string): AwsError => new AwsError('ForbiddenException', 403, message);
export const internalFailure = (message = 'An internal error occurred'): AwsError => new AwsError('InternalFailureException', 500, message);

export function sendAwsError(reply: FastifyReply, err: AwsError): FastifyReply {
  const body: Record<string, unknown> = { __type: err.code, message: err.message };
  for (const [k, v] of Object.entries(err.extra)) if (v !== undefined) body[k] = v;
  return reply
    .status(err.status)
    .header('x-amzn-ErrorType', err.code)
    .header('content-type', 'application/json')
    .send(JSON.stringify(body));
}
