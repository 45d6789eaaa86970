/**
 * How the registry holds its rows in memory: by namespace, then by name (a namespace's things are
 * listed without looking at other namespaces'), and relations between names (group members, thing
 * principals, billing group members) indexed both ways. Listings are in code-unit order (held-rows.ts).
 */
import type { Namespace } from '../accounts/namespace.js';
import { byCodeUnit, nsKey } from '../store/held-rows.js';

/** Values by namespace and name. */
export class NsMap<T> {
  private byNs = new Map<string, Map<string, T>>();

  get(ns: Namespace, name: string): T | undefined {
    return this.byNs.get(nsKey(ns))?.get(name);
  }

  set(ns: Namespace, name: string, value: T): void {
    const k = nsKey(ns);
    let names = this.byNs.get(k);
    if (!names) this.byNs.set(k, (names = new Map()));
    names.set(name, value);
  }

  delete(ns: Namespace, name: string): void {
    const k = nsKey(ns);
    const names = this.byNs.get(k);
    if (!names) return;
    names.delete(name);
    if (names.size === 0) this.byNs.delete(k);
  }

  /** The namespace's values, in no particular order. */
  values(ns: Namespace): IterableIterator<T> | T[] {
    return this.byNs.get(nsKey(ns))?.values() ?? [];
  }

  /** The namespace's values, by name. */
  sorted(ns: Namespace, nameOf: (v: T) => string): T[] {
    return [...this.values(ns)].sort((a, b) => byCodeUnit(nameOf(a), nameOf(b)));
  }

  clear(): void {
    this.byNs.clear();
  }
}

/** Pairs (`from`, `to`) of names of one namespace, each with a value, found from either end. */
export class Links<V> {
  private readonly forward = new NsMap<Map<string, V>>();
  private readonly backward = new NsMap<Map<string, V>>();

  private static put<V>(m: NsMap<Map<string, V>>, ns: Namespace, a: string, b: string, v: V): void {
    let inner = m.get(ns, a);
    if (!inner) m.set(ns, a, (inner = new Map()));
    inner.set(b, v);
  }

  private static drop<V>(m: NsMap<Map<string, V>>, ns: Namespace, a: string, b: string): void {
    const inner = m.get(ns, a);
    if (!inner) return;
    inner.delete(b);
    if (inner.size === 0) m.delete(ns, a);
  }

  private static list<V>(inner: Map<string, V> | undefined): Array<[string, V]> {
    return inner ? [...inner].sort(([a], [b]) => byCodeUnit(a, b)) : [];
  }

  link(ns: Namespace, from: string, to: string, value: V): void {
    Links.put(this.forward, ns, from, to, value);
    Links.put(this.backward, ns, to, from, value);
  }

  unlink(ns: Namespace, from: string, to: string): void {
    Links.drop(this.forward, ns, from, to);
    Links.drop(this.backward, ns, to, from);
  }

  has(ns: Namespace, from: string, to: string): boolean {
    return this.forward.get(ns, from)?.has(to) ?? false;
  }

  /** What `from` is linked to, by name. */
  from(ns: Namespace, from: string): Array<[string, V]> {
    return Links.list(this.forward.get(ns, from));
  }

  /** What is linked to `to`, by name. */
  to(ns: Namespace, to: string): Array<[string, V]> {
    return Links.list(this.backward.get(ns, to));
  }

  /** Replaces every link from `from` (as the database holds them now). */
  setFrom(ns: Namespace, from: string, links: ReadonlyArray<readonly [string, V]>): void {
    for (const [to] of this.from(ns, from)) this.unlink(ns, from, to);
    for (const [to, v] of links) this.link(ns, from, to, v);
  }

  /** Replaces every link to `to` (as the database holds them now). */
  setTo(ns: Namespace, to: string, links: ReadonlyArray<readonly [string, V]>): void {
    for (const [from] of this.to(ns, to)) this.unlink(ns, from, to);
    for (const [from, v] of links) this.link(ns, from, to, v);
  }

  clear(): void {
    this.forward.clear();
    this.backward.clear();
  }
}
