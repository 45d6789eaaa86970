// Java regular expressions on top of JS RegExp. Supported translations: leading inline flags
// (?i) (?s) (?m) and (?u), \A, \Z and \z. Everything else is handed to RegExp as is, so Java-only
// syntax (possessive quantifiers a*+, atomic groups (?>...), \p{Alpha} POSIX classes, \Q...\E)
// fails to compile and the function yields Undefined with an error; see README "Regular expressions".

const cache = new Map<string, RegExp | string>();
const CACHE_LIMIT = 500;

/** A global RegExp (callers reset lastIndex) or the error message when the pattern is invalid. */
export function compileJavaRegex(pattern: string): RegExp | string {
  const hit = cache.get(pattern);
  if (hit !== undefined) return hit;
  let source = pattern;
  let flags = 'g';
  const inline = /^\(\?([imsu]+)\)/.exec(source);
  if (inline) {
    source = source.slice(inline[0].length);
    for (const f of inline[1]!) if (f !== 'u' && !flags.includes(f)) flags += f;
  }
  source = source.replace(/\\\\|\\A|\\Z|\\z/g, (m) => (m === '\\\\' ? m : m === '\\A' ? '^' : '$'));
  let compiled: RegExp | string;
  try {
    compiled = new RegExp(source, flags);
  } catch (err) {
    compiled = `Invalid regular expression ${JSON.stringify(pattern)}: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(pattern, compiled);
  return compiled;
}

/** Java replacement strings: $1 and ${name} refer to groups, \$ and \\ are literal. */
export function javaReplacement(replacement: string): string {
  return replacement.replace(/\\(.)|\$\{(\w+)\}|\$(?!\d)/g, (m, escaped: string | undefined, name: string | undefined) => {
    if (escaped !== undefined) return escaped === '$' ? '$$' : escaped;
    if (name !== undefined) return `$<${name}>`;
    return '$$';
  });
}
