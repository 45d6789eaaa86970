/**
 * MQTT topics as NATS subjects, for routing between nodes. Every valid topic maps to exactly one
 * subject and back: NATS separates tokens with `.`, forbids empty tokens and whitespace, and gives
 * `*` and `>` a meaning, while an MQTT level may be empty and hold any character but `+`, `#`
 * (and `/`). So each level is escaped: bytes outside printable ASCII and the characters `.`, `*`,
 * `>`, `~` become `~XX` (hex of each UTF-8 byte), and an empty level becomes the token `~`, which
 * no escaped level can equal.
 *
 * A subscription filter maps to the subjects that carry what it matches: `+` to `*`, and a
 * trailing `#` to `>` plus the parent itself (MQTT's `a/#` also matches `a`).
 */

const HEX = '0123456789ABCDEF';
const EMPTY = '~';

function plain(c: number): boolean {
  // Printable ASCII except space (0x20), '*' (0x2A), '.' (0x2E), '>' (0x3E) and '~' (0x7E).
  return c > 0x20 && c < 0x7f && c !== 0x2a && c !== 0x2e && c !== 0x3e && c !== 0x7e;
}

function escapeLevel(level: string): string {
  if (level === '') return EMPTY;
  let simple = true;
  for (let i = 0; i < level.length; i++) if (!plain(level.charCodeAt(i))) simple = false;
  if (simple) return level;
  let out = '';
  for (const byte of Buffer.from(level, 'utf8')) out += plain(byte) ? String.fromCharCode(byte) : `~${HEX[byte >> 4]}${HEX[byte & 15]}`;
  return out;
}

function unescapeLevel(token: string): string {
  if (token === EMPTY) return '';
  if (!token.includes('~')) return token;
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === '~') {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The subject prefix of a mount point (a namespace's topic space): its own escaped token, so the
 * topic spaces of different accounts never share a subject.
 */
function mountToken(mount: string): string {
  return escapeLevel(mount);
}

/** The subject a message published on `topic` in `mount` travels on. */
export function topicToSubject(prefix: string, mount: string, topic: string): string {
  return `${prefix}.${mountToken(mount)}.${topic.split('/').map(escapeLevel).join('.')}`;
}

/** The mount and topic a subject carries; undefined for a subject not under `prefix`. */
export function subjectToTopic(prefix: string, subject: string): { mount: string; topic: string } | undefined {
  if (!subject.startsWith(`${prefix}.`)) return undefined;
  const tokens = subject.slice(prefix.length + 1).split('.');
  if (tokens.length < 2) return undefined;
  return { mount: unescapeLevel(tokens[0]!), topic: tokens.slice(1).map(unescapeLevel).join('/') };
}

/** The NATS subscriptions that carry every message an MQTT filter (without `$share/...`) matches in `mount`. */
export function filterToSubjects(prefix: string, mount: string, filter: string): string[] {
  const levels = filter.split('/');
  const head = `${prefix}.${mountToken(mount)}`;
  const tokens = levels.map((l) => (l === '+' ? '*' : l === '#' ? '>' : escapeLevel(l)));
  if (levels.at(-1) !== '#') return [`${head}.${tokens.join('.')}`];
  const parent = tokens.slice(0, -1);
  // `#` alone matches every topic: `>` covers them all (there is no parent level).
  return parent.length === 0 ? [`${head}.>`] : [`${head}.${parent.join('.')}`, `${head}.${tokens.join('.')}`];
}
