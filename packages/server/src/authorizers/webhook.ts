/**
 * Webhook authorizer functions: the AWS authorizer event POSTed as JSON, the AWS authorizer
 * response expected back. Every failure (unreachable, slow, non-2xx, oversized, not JSON) becomes a
 * WebhookError with a reason fit for a log line, and the call never outlives its timeout: a
 * connecting device must get an answer even when the webhook hangs.
 */
import type { AuthorizerEvent } from './authorizer-event.js';
import { readLimited } from './jwks.js';

/** AWS gives an authorizer Lambda 5 seconds. */
export const DEFAULT_WEBHOOK_TIMEOUT_MS = 5_000;
const MAX_RESPONSE_BYTES = 256 * 1024;

export class WebhookError extends Error {
  override readonly name = 'WebhookError';
}

export interface WebhookOptions {
  timeoutMs: number;
  /** Sent as `x-thicket-authorizer-arn`, so one webhook can serve several authorizers. */
  authorizerArn: string;
}

/** Calls the webhook; resolves to its decoded JSON answer (not yet validated). */
export async function invokeWebhook(url: string, event: AuthorizerEvent, opts: WebhookOptions): Promise<unknown> {
  const started = Date.now();
  const signal = AbortSignal.timeout(opts.timeoutMs);
  let text: string;
  let status: number;
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', 'x-thicket-authorizer-arn': opts.authorizerArn },
      body: JSON.stringify(event),
      // A redirect would resend the token to wherever the webhook points; treat it as a failure.
      redirect: 'manual',
      signal,
    });
    status = res.status;
    text = await readLimited(res, MAX_RESPONSE_BYTES);
  } catch (err) {
    if (signal.aborted) throw new WebhookError(`the webhook did not answer within ${opts.timeoutMs} ms`);
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new WebhookError(`the webhook could not be called: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (status < 200 || status > 299) throw new WebhookError(`the webhook answered HTTP ${status} after ${Date.now() - started} ms`);
  try {
    return JSON.parse(text);
  } catch {
    throw new WebhookError(`the webhook answer is not JSON (HTTP ${status}, ${text.length} characters)`);
  }
}
