/** Requests waiting for their answer, by clientToken, each with its own timeout. */
import { randomUUID } from 'node:crypto';
import { RequestTimeoutError } from '../errors.js';

/** A fresh client token: unique, and well within AWS's 64 bytes. */
export const newClientToken = (): string => randomUUID();

interface Pending<T> {
  resolve(v: T): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

export class PendingRequests<T> {
  private readonly pending = new Map<string, Pending<T>>();

  /** Waits for the answer to `clientToken`; rejects with RequestTimeoutError after `timeoutMs`. */
  wait(clientToken: string, topic: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(clientToken);
        reject(new RequestTimeoutError(topic, clientToken, timeoutMs));
      }, timeoutMs);
      this.pending.set(clientToken, { resolve, reject, timer });
    });
  }

  /** Settles the request with this token; false when none waits (someone else's answer, or too late). */
  settle(clientToken: string | undefined, outcome: { value: T } | { error: Error }): boolean {
    if (clientToken === undefined) return false;
    const p = this.pending.get(clientToken);
    if (!p) return false;
    this.pending.delete(clientToken);
    clearTimeout(p.timer);
    if ('error' in outcome) p.reject(outcome.error);
    else p.resolve(outcome.value);
    return true;
  }

  /** Fails the request with this token (its publish failed). */
  fail(clientToken: string, error: Error): void {
    this.settle(clientToken, { error });
  }

  get size(): number {
    return this.pending.size;
  }
}

/** Parses a JSON object payload; undefined for anything else (answers that are not ours to read). */
export function parseJsonObject(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
