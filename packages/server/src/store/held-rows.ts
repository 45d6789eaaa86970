/**
 * Keys and order for the stores that hold their rows in memory (read at open, written through):
 * rows by namespace and name, listed by code unit as SQLite's ORDER BY does (PostgreSQL's
 * collation may differ, and paging tokens must not depend on the engine).
 */
import { mountOf, type Namespace } from '../accounts/namespace.js';

/** The key of a namespace's rows: its mount (account and region). */
export const nsKey = (ns: Namespace): string => mountOf(ns);

/** What the keys of a namespace's named rows start with. */
export const prefixOf = (ns: Namespace): string => `${mountOf(ns)}\u0000`;

/** The key of one named row of a namespace. */
export const keyOf = (ns: Namespace, name: string): string => prefixOf(ns) + name;

export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
