/**
 * Writes conditional on what a node read, for stores that several nodes share: the condition makes
 * a write that lost a race change nothing, and the caller reads again and decides anew.
 */
import type { ExpressionBuilder } from 'kysely';
import { AwsError } from '../../aws/errors.js';

/** Every column equal to what the row holds: a write conditional on the row being unchanged. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export const unchanged = (row: object) => (eb: ExpressionBuilder<any, any>) =>
  eb.and(Object.entries(row).map(([column, value]) => (value === null ? eb(column, 'is', null) : eb(column, '=', value))));

const ATTEMPTS = 10;

/**
 * Runs a conditional write until it applies: each `false` means another writer changed the rows
 * first (the store has read them again), so `attempt` decides anew on what is there now.
 */
export async function untilApplied<T>(what: string, attempt: () => Promise<T | false>): Promise<T> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const done = await attempt();
    if (done !== false) return done;
  }
  throw new AwsError('ConflictingResourceUpdateException', 409, `${what} is being changed by another request; try again`);
}
