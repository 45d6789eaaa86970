/** Reconnect delays: exponential from `minDelayMs`, capped at `maxDelayMs`, jittered so a fleet that lost its broker together does not return together. */

export interface BackoffOptions {
  /** Default 1000. */
  minDelayMs?: number;
  /** Default 60000. */
  maxDelayMs?: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first): uniformly random between
 * `minDelayMs` and `min(maxDelayMs, minDelayMs × 2^attempt)`.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const min = Math.max(0, options.minDelayMs ?? 1000);
  const max = Math.max(min, options.maxDelayMs ?? 60_000);
  const ceiling = Math.min(max, min * 2 ** Math.min(attempt, 30));
  return Math.round(min + random() * (ceiling - min));
}
