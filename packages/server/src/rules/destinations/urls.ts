/**
 * What an HTTP action or destination URL may be, and when one URL falls under another. Prefixes are
 * compared on parsed, normalised URLs with the same origin, so that `https://example.com` does not
 * cover `https://example.com.evil.net/` and a template rendering `../` cannot climb out of the
 * confirmed path.
 */

/** Whether `text` has a control character (C0 or DEL); a tab counts only unless `allowTab`. */
export function hasControlCharacter(text: string, allowTab = false): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && !(allowTab && c === 0x09)) || c === 0x7f) return true;
  }
  return false;
}

/** Why `text` is not a URL Thicket sends to, or undefined when it is one. */
export function urlProblem(text: string): string | undefined {
  if (hasControlCharacter(text) || /\s/.test(text)) return 'it contains whitespace or control characters';
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return 'it is not an absolute URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return `the scheme must be https or http, not ${u.protocol.slice(0, -1)}`;
  if (u.username !== '' || u.password !== '') return 'it must not carry credentials (user:password@)';
  if (u.hostname === '') return 'it has no host';
  if (u.hash !== '') return 'it must not have a fragment (#...)';
  return undefined;
}

/** The URL normalised (`new URL(text).href`), or undefined when it is not one Thicket sends to. */
export function normalizedUrl(text: string): string | undefined {
  return urlProblem(text) === undefined ? new URL(text).href : undefined;
}

/** Whether `url` falls under `prefix`: same origin, and the normalised URL starts with the normalised prefix. */
export function urlUnder(url: string, prefix: string): boolean {
  let u: URL;
  let p: URL;
  try {
    u = new URL(url);
    p = new URL(prefix);
  } catch {
    return false;
  }
  if (u.origin !== p.origin || u.protocol !== p.protocol) return false;
  return u.href.startsWith(p.href);
}

/** Validates the operator's trusted prefixes (config), normalised; throws naming the bad one. */
export function trustedPrefixes(list: readonly string[]): string[] {
  return list.map((p) => {
    const problem = urlProblem(p);
    if (problem) throw new Error(`rules.trustedUrlPrefixes: "${p}" is not usable: ${problem}`);
    return p;
  });
}
