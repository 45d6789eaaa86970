/**
 * IAM wildcard patterns: `*` is any run of characters (including `/` — IoT resources are not
 * level-bounded), `?` exactly one character, everything else literal (MQTT `+` and `#` included).
 * A pattern is a list of pieces so that text substituted from a policy variable, or from a `${*}`
 * escape, stays literal even when it contains `*` or `?`.
 */

export interface PatternPiece {
  text: string;
  /** True for substituted values and escapes: `*`/`?` in them match only themselves. */
  literal: boolean;
}

export type Matcher = (value: string) => boolean;

// Only ECMAScript syntax characters (and `/`): under the `u` flag escaping anything else is an error.
const REGEX_SPECIAL = /[\\^$.*+?()[\]{}|/]/g;
const escapeRegex = (s: string) => s.replace(REGEX_SPECIAL, '\\$&');

const ALWAYS: Matcher = () => true;

/**
 * Compiles pieces into the cheapest matcher that does the job: plain equality, a prefix test for the
 * common `.../prefix/*` shape, a catch-all for `*`, otherwise an anchored RegExp.
 */
export function compileWildcard(pieces: readonly PatternPiece[], options: { ignoreCase?: boolean } = {}): Matcher {
  const ignoreCase = options.ignoreCase ?? false;
  let hasWildcard = false;
  let plain = '';
  for (const p of pieces) {
    if (!p.literal && /[*?]/.test(p.text)) hasWildcard = true;
    plain += p.text;
  }
  if (!hasWildcard) {
    if (ignoreCase) {
      const lower = plain.toLowerCase();
      return (v) => v.toLowerCase() === lower;
    }
    return (v) => v === plain;
  }
  const last = pieces[pieces.length - 1]!;
  const onlyTrailingStar =
    !ignoreCase &&
    !last.literal &&
    last.text.endsWith('*') &&
    pieces.every((p, i) => p.literal || !/[*?]/.test(i === pieces.length - 1 ? p.text.slice(0, -1) : p.text));
  if (onlyTrailingStar) {
    const prefix = plain.slice(0, -1);
    return prefix === '' ? ALWAYS : (v) => v.startsWith(prefix);
  }
  let source = '';
  for (const p of pieces) {
    if (p.literal) source += escapeRegex(p.text);
    else
      source += p.text
        .split(/([*?])/)
        .map((part) => (part === '*' ? '.*' : part === '?' ? '.' : escapeRegex(part)))
        .join('');
  }
  // `s`: `*` must also cross newlines; `u`: `?` is one character, not one UTF-16 unit.
  const re = new RegExp(`^${source}$`, ignoreCase ? 'isu' : 'su');
  return (v) => re.test(v);
}

/** A pattern written directly in a policy (no variables), e.g. an action name. */
export function compilePlainWildcard(pattern: string, options: { ignoreCase?: boolean } = {}): Matcher {
  return compileWildcard([{ text: pattern, literal: false }], options);
}
