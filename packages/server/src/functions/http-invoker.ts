/**
 * Functions that are HTTP(S) endpoints: the event is POSTed as JSON and the response body is the
 * result. Every failure (unreachable, slow, redirected, non-2xx, oversized) is a FunctionError, and
 * no call outlives the function's timeout, nor the caller's budget when that is shorter: nobody
 * waits for the answer any more, and the open request would only hold a slot and a socket.
 */
import { readLimited } from '../authorizers/jwks.js';
import { FunctionError, MAX_RESULT_BYTES, parseResult, type InvocationContext } from './function-error.js';

/**
 * Calls of one URL function in flight before more are refused (Lambda's throttling): an endpoint
 * that stops answering cannot gather sockets and waiting events without end.
 */
export const MAX_URL_CALLS_IN_FLIGHT = 100;

/** Counts each URL function's calls in flight and refuses those beyond MAX_URL_CALLS_IN_FLIGHT. */
export class UrlInvoker {
  private readonly inFlight = new Map<string, number>();

  /** `key` identifies the function (`<account>/<region>/<name>`); `waitMs`: the caller's budget, if shorter than the timeout. */
  async invoke(key: string, url: string, event: string, ctx: InvocationContext, waitMs?: number): Promise<unknown> {
    const n = this.inFlight.get(key) ?? 0;
    if (n >= MAX_URL_CALLS_IN_FLIGHT) {
      throw new FunctionError(
        'TooManyRequestsException',
        `Rate exceeded: ${MAX_URL_CALLS_IN_FLIGHT} calls of function ${ctx.functionArn} are already waiting for its endpoint`,
      );
    }
    this.inFlight.set(key, n + 1);
    try {
      return await invokeUrl(url, event, ctx, waitMs);
    } finally {
      const left = this.inFlight.get(key)! - 1;
      if (left === 0) this.inFlight.delete(key);
      else this.inFlight.set(key, left);
    }
  }
}

export async function invokeUrl(url: string, event: string, ctx: InvocationContext, waitMs?: number): Promise<unknown> {
  const started = Date.now();
  const budgeted = waitMs !== undefined && waitMs < ctx.timeoutMs;
  const signal = AbortSignal.timeout(budgeted ? waitMs : ctx.timeoutMs);
  let status: number;
  let text: string;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        'x-thicket-function-arn': ctx.functionArn,
        'x-thicket-request-id': ctx.requestId,
      },
      body: event,
      // A redirect would send the event somewhere the operator did not register.
      redirect: 'manual',
      signal,
    });
    status = res.status;
    text = await readLimited(res, MAX_RESULT_BYTES);
  } catch (err) {
    if (signal.aborted) {
      throw budgeted
        ? new FunctionError('Sandbox.Timedout', `The function did not answer within ${(waitMs / 1000).toFixed(2)} seconds`)
        : new FunctionError('Sandbox.Timedout', `Task timed out after ${(ctx.timeoutMs / 1000).toFixed(2)} seconds`);
    }
    const message = (err as Error).message;
    if (message.startsWith('the response is larger')) throw new FunctionError('Function.ResponseSizeTooLarge', `The function's ${message}`);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new FunctionError(
      'Function.Unreachable',
      `The function's endpoint could not be called: ${cause?.code ?? cause?.message ?? message}`,
    );
  }
  if (status < 200 || status > 299) {
    const excerpt = text.length > 200 ? `${text.slice(0, 200)}…` : text;
    throw new FunctionError(
      'Function.HttpError',
      `The function's endpoint answered HTTP ${status} after ${Date.now() - started} ms${excerpt ? `: ${excerpt}` : ''}`,
    );
  }
  return parseResult(text);
}
