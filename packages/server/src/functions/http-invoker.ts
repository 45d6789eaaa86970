/**
 * Functions that are HTTP(S) endpoints: the event is POSTed as JSON and the response body is the
 * result. Every failure (unreachable, slow, redirected, non-2xx, oversized) is a FunctionError, and
 * no call outlives the function's timeout.
 */
import { readLimited } from '../authorizers/jwks.js';
import { FunctionError, MAX_RESULT_BYTES, parseResult, type InvocationContext } from './function-error.js';

export async function invokeUrl(url: string, event: string, ctx: InvocationContext): Promise<unknown> {
  const started = Date.now();
  const signal = AbortSignal.timeout(ctx.timeoutMs);
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
    if (signal.aborted) throw new FunctionError('Sandbox.Timedout', `Task timed out after ${(ctx.timeoutMs / 1000).toFixed(2)} seconds`);
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
