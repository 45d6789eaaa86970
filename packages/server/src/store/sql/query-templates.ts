/**
 * Queries built and compiled once per shape. Building a query with Kysely and compiling it costs tens
 * of microseconds, more than SQLite takes to run a point query; the stores' hot paths (a device's
 * job or shadow request runs ten of them) would spend most of their time there. A template is built
 * once per engine with stand-ins for its arguments; each call then only puts the arguments in their
 * places in the compiled parameters.
 *
 * The arguments must only ever be bound values: a build that branches on one (an `is null` for a
 * null, an `in` list of varying length) is not a template; such queries are built per call.
 */
import type { Compilable, CompiledQuery, Kysely } from 'kysely';
import type { SqlEngine } from './engine.js';

type Slot = { arg: number } | { value: unknown };

interface Compiled {
  slots: Slot[];
  /** The compiled stand-in query: its text and operation node (which the change feed reads) serve every call. */
  compiled: CompiledQuery;
}

/** Stand-ins no argument of a real call can be equal to (compared by identity). */
const standIns = Array.from({ length: 32 }, (_, i) => `\u0000thicket-template-argument-${i}\u0000`);

export type Template<A extends unknown[], R> = (engine: SqlEngine, ...args: A) => CompiledQuery<R>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function template<A extends unknown[], R>(build: (db: Kysely<any>, ...args: A) => Compilable<R>): Template<A, R> {
  const byEngine = new WeakMap<SqlEngine, Compiled>();
  return (engine, ...args) => {
    let c = byEngine.get(engine);
    if (!c) {
      if (args.length > standIns.length) throw new Error(`a query template takes at most ${standIns.length} arguments`);
      const compiled = build(engine.db, ...(standIns.slice(0, args.length) as A)).compile();
      const slots: Slot[] = compiled.parameters.map((p) => {
        const i = standIns.indexOf(p as string);
        return i >= 0 ? { arg: i } : { value: p };
      });
      const used = new Set(slots.flatMap((s) => ('arg' in s ? [s.arg] : [])));
      for (let i = 0; i < args.length; i++)
        if (!used.has(i)) throw new Error(`query template argument ${i} is not a bound value (it changed the query's shape or was unused)`);
      c = { slots, compiled };
      byEngine.set(engine, c);
    }
    const parameters = c.slots.map((s) => ('arg' in s ? args[s.arg] : s.value));
    return { ...c.compiled, parameters } as CompiledQuery<R>;
  };
}
