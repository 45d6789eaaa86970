/**
 * Policy variables: `${name}` placeholders in Resource and Condition values, replaced per connection.
 *
 * An unresolvable placeholder makes the string that holds it match nothing. AWS leaves the `${...}`
 * text in place in that case ("will result in an access denied error"), and literal `${...}` text can
 * never equal a real topic or key value, so "matches nothing" is the same outcome stated directly:
 * a Resource entry no longer matches, a NotResource entry no longer excludes, a condition value
 * no longer equals.
 */
import type { PolicyVariables, PolicyVersion } from './types.js';
import type { PatternPiece } from './wildcard.js';

export type TemplateToken = { kind: 'text'; text: string } | { kind: 'escape'; text: string } | { kind: 'variable'; name: string };

// A Map, not an object literal: `${toString}` must not find Object.prototype.toString.
const ESCAPES = new Map([
  ['*', '*'],
  ['?', '?'],
  ['$', '$'],
]);

/** Certificate attributes AWS will not substitute (reference dataplane §5.6, cert-policy-variables). */
const CERTIFICATE_PREFIX = 'iot:Certificate.';
const CERTIFICATE_UNSAFE = /[*$+?#]/;
const CERTIFICATE_MAX_LENGTH = 1024;
/** What strict mode refuses in any variable: the characters that are wildcards somewhere. */
const STRICT_UNSAFE = /[+#*?]/;

/** Splits a policy string into text, `${*}`-style escapes and variable references. */
export function parseTemplate(value: string, version: PolicyVersion): TemplateToken[] {
  // The 2008-10-17 language predates variables: `${...}` there is ordinary text.
  if (version !== '2012-10-17' || !value.includes('${')) return [{ kind: 'text', text: value }];
  const tokens: TemplateToken[] = [];
  let i = 0;
  while (i < value.length) {
    const open = value.indexOf('${', i);
    const close = open < 0 ? -1 : value.indexOf('}', open + 2);
    if (open < 0 || close < 0) {
      tokens.push({ kind: 'text', text: value.slice(i) });
      break;
    }
    if (open > i) tokens.push({ kind: 'text', text: value.slice(i, open) });
    const name = value.slice(open + 2, close);
    const escape = ESCAPES.get(name);
    tokens.push(escape !== undefined ? { kind: 'escape', text: escape } : { kind: 'variable', name });
    i = close + 1;
  }
  return tokens;
}

export function hasVariables(tokens: readonly TemplateToken[]): boolean {
  return tokens.some((t) => t.kind === 'variable');
}

/** The value a placeholder takes, or undefined when it cannot be resolved (see the module comment). */
export function resolveVariable(name: string, vars: PolicyVariables, strict: boolean): string | undefined {
  const raw = Object.hasOwn(vars, name) ? vars[name] : undefined;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (typeof value !== 'string') return undefined;
  if (name.startsWith(CERTIFICATE_PREFIX) && (CERTIFICATE_UNSAFE.test(value) || value.length > CERTIFICATE_MAX_LENGTH)) return undefined;
  if (strict && STRICT_UNSAFE.test(value)) return undefined;
  return value;
}

/**
 * Substitutes variables, keeping substituted text and escapes marked literal so that a client id of
 * `*` cannot act as a wildcard. Undefined when a variable is unresolved.
 */
export function substitute(tokens: readonly TemplateToken[], vars: PolicyVariables, strict: boolean): PatternPiece[] | undefined {
  const pieces: PatternPiece[] = [];
  for (const t of tokens) {
    if (t.kind === 'text') pieces.push({ text: t.text, literal: false });
    else if (t.kind === 'escape') pieces.push({ text: t.text, literal: true });
    else {
      const value = resolveVariable(t.name, vars, strict);
      if (value === undefined) return undefined;
      pieces.push({ text: value, literal: true });
    }
  }
  return pieces;
}

export const piecesToString = (pieces: readonly PatternPiece[]): string => pieces.map((p) => p.text).join('');
