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

/** A template's arguments at most: a multi-row insert binds a few per row. */
const MAX_ARGUMENTS = 2048;

/** Stand-ins no argument of a real call can be equal to, made as templates need them. */
const standIns: string[] = [];
const standInIndex = new Map<string, number>();
function standInsFor(n: number): string[] {
  for (let i = standIns.length; i < n; i++) {
    const s = `\u0000thicket-template-argument-${i}\u0000`;
    standIns.push(s);
    standInIndex.set(s, i);
  }
  return standIns.slice(0, n);
}

export type Template<A extends unknown[], R> = (engine: SqlEngine, ...args: A) => CompiledQuery<R>;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function template<A extends unknown[], R>(build: (db: Kysely<any>, ...args: A) => Compilable<R>): Template<A, R> {
  const byEngine = new WeakMap<SqlEngine, Compiled>();
  return (engine, ...args) => {
    let c = byEngine.get(engine);
    if (!c) {
      if (args.length > MAX_ARGUMENTS) throw new Error(`a query template takes at most ${MAX_ARGUMENTS} arguments`);
      const compiled = build(engine.db, ...(standInsFor(args.length) as A)).compile();
      const slots: Slot[] = compiled.parameters.map((p) => {
        const i = typeof p === 'string' ? standInIndex.get(p) : undefined;
        return i !== undefined ? { arg: i } : { value: p };
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
