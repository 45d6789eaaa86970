/** Parsing of command-line values that several commands share. */
import { readFileSync } from 'node:fs';

/** A text argument: inline, `@file`, or `-` for standard input. */
export function textArgument(value: string): string {
  if (value === '-') return readFileSync(0, 'utf8');
  if (!value.startsWith('@')) return value;
  const path = value.slice(1);
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`cannot read ${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { cause: err });
  }
}

/** A JSON argument: inline, `@file`, or `-` for standard input. */
export function jsonArgument(value: string, what: string): unknown {
  const text = textArgument(value);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/** `name=value` pairs of a repeatable option (`option` names it in errors). */
export function namedValues(pairs: string[] | undefined, option: string): Record<string, string> | undefined {
  if (!pairs) return undefined;
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const eq = p.indexOf('=');
    if (eq < 1) throw new Error(`${option} expects name=value, got "${p}"`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}

/** A number option: a number or an error naming the option (the API checks the range). */
export function numberOption(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`${option} expects a number, got "${value}"`);
  return n;
}
