/**
 * Which rows a write changed, said by the store that wrote them, so that the other nodes of a
 * cluster re-read those rows rather than whole tables. A store marks a write (one statement or one
 * batch) with the keys whose refresh re-reads everything it changed in the tables its capability
 * holds in memory; writes without a mark make the other nodes re-read the tables they wrote.
 */
import type { Namespace } from '../../accounts/namespace.js';
import type { Statement } from './engine.js';

/** A row (or rows) a capability can re-read by itself: `kind` names its refresh, `key` the row. */
export interface ChangedKey {
  readonly kind: string;
  readonly ns: Namespace;
  readonly key: string;
}

const claims = new WeakMap<object, readonly ChangedKey[]>();

/** Marks a write: refreshing `keys` re-reads everything it changes. Returns the write itself. */
export function refreshedBy<W extends Statement | readonly Statement[]>(write: W, ...keys: ChangedKey[]): W {
  claims.set(write, keys);
  return write;
}

/** The keys a write was marked with (`refreshedBy`), or undefined. */
export function claimOf(write: Statement | readonly Statement[]): readonly ChangedKey[] | undefined {
  return claims.get(write);
}

/** A key of `kind` in `ns`. */
export const changedKey = (kind: string, ns: Namespace, key: string): ChangedKey => ({ kind, ns, key });
