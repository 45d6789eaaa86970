/**
 * Errors raised by Fastify itself (before a route runs: undecodable URLs, over-long path labels,
 * bodies over the limit) answered in the AWS shape, so that SDKs raise a named exception rather
 * than an unknown one, and logged at debug: they are the client's mistakes, not the server's.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { AwsError, sendAwsError } from '../aws/errors.js';

/** The path of a request, cut short: it is echoed in messages and logs, and may be hostile. */
const shortPath = (url: string): string => {
  const path = url.split('?')[0]!;
  return path.length > 96 ? `${path.slice(0, 96)}...` : path;
};

/** The AWS error a framework error stands for. */
export function awsErrorOf(err: FastifyError, url: string): AwsError {
  switch (err.code) {
    case 'FST_ERR_BAD_URL':
      return new AwsError('InvalidRequestException', 400, `The request path '${shortPath(url)}' has a malformed percent-escape`);
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new AwsError('InvalidRequestException', 400, `A label of the request path '${shortPath(url)}' is longer than 2048 characters`);
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new AwsError('RequestEntityTooLargeException', 413, 'The request body is larger than this operation accepts');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new AwsError('InvalidRequestException', 400, 'The request body does not match its Content-Length header');
    default: {
      const status = err.statusCode ?? 500;
      if (status >= 500) return new AwsError('InternalFailureException', 500, 'An internal error occurred');
      return new AwsError(status === 413 ? 'RequestEntityTooLargeException' : 'InvalidRequestException', status, err.message);
    }
  }
}

/** Sends `err` in the AWS shape; only a server-side failure is logged above debug. */
export function replyWithFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply, log: Logger): FastifyReply {
  const aws = awsErrorOf(err, req.url);
  if (!reply.hasHeader('x-amzn-RequestId')) reply.header('x-amzn-RequestId', randomUUID());
  if (aws.status >= 500) log.error({ err, url: shortPath(req.url) }, 'request failed');
  else log.debug({ code: err.code, status: aws.status, url: shortPath(req.url) }, 'request refused');
  return sendAwsError(reply, aws);
}
