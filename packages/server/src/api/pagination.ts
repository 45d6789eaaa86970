/** `nextToken`/`maxResults` and `marker`/`pageSize` paging with opaque tokens (reference controlplane §2.1). */
import { invalidRequest } from '../aws/errors.js';

export interface Page<T> {
  items: T[];
  next: string | undefined;
}

/** Reads a page size from the query: 1..max, `fallback` when absent. */
export function pageSize(raw: string | undefined, name: string, max: number, fallback = max): number {
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw invalidRequest(`${name} must be a whole number from 1 to ${max}, not '${raw}'`);
  return n;
}

export function encodeToken(value: string | number): string {
  return Buffer.from(JSON.stringify({ v: value })).toString('base64url');
}

export function decodeToken<T extends string | number>(token: string | undefined, name: string): T | undefined {
  if (token === undefined || token === '') return undefined;
  try {
    const o = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: unknown };
    if (typeof o.v === 'string' || typeof o.v === 'number') return o.v as T;
  } catch {}
  throw invalidRequest(`The ${name} is not valid`);
}

/** Pages a sorted list by position. */
export function pageOf<T>(all: T[], size: number, token: string | undefined, name = 'nextToken'): Page<T> {
  const start = decodeToken<number>(token, name) ?? 0;
  if (typeof start !== 'number' || start < 0) throw invalidRequest(`The ${name} is not valid`);
  const items = all.slice(start, start + size);
  return { items, next: start + size < all.length ? encodeToken(start + size) : undefined };
}

export function parseBool(raw: string | undefined, name: string): boolean | undefined {
  if (raw === undefined) return undefined;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw invalidRequest(`${name} must be true or false, not '${raw}'`);
}
