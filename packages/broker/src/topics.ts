/** Topic name and topic filter rules (MQTT 5 §4.7), shared subscriptions (§4.8.2) and matching. */

export interface TopicLimits {
  /** Longest topic or filter in UTF-8 bytes (after removing a `$share/{group}/` prefix). */
  maxTopicLength: number;
  /** Most levels in a topic or filter; 0 means no limit. */
  maxTopicLevels: number;
}

/** Levels of a topic, not counting the AWS Basic Ingest prefix `$aws/rules/{rule}/`, which AWS does not count. */
function countedLevels(topic: string): number {
  let levels = 1;
  for (let i = 0; i < topic.length; i++) if (topic.charCodeAt(i) === 47) levels++;
  if (topic.startsWith('$aws/rules/')) levels -= 3;
  return levels;
}

function checkSize(topic: string, limits: TopicLimits, what: string): string | null {
  if (topic.length === 0) return `${what} must not be empty`;
  const bytes = Buffer.byteLength(topic, 'utf8');
  if (bytes > limits.maxTopicLength) return `${what} is ${bytes} bytes, more than the limit of ${limits.maxTopicLength}`;
  if (limits.maxTopicLevels > 0 && countedLevels(topic) > limits.maxTopicLevels) {
    return `${what} has more than ${limits.maxTopicLevels} levels`;
  }
  return null;
}

/** Returns why `topic` is not a valid topic name for PUBLISH, or null when it is. */
export function topicNameError(topic: string, limits: TopicLimits): string | null {
  const size = checkSize(topic, limits, 'topic name');
  if (size) return size;
  for (let i = 0; i < topic.length; i++) {
    const c = topic.charCodeAt(i);
    if (c === 43 || c === 35) return `topic name "${topic}" contains a wildcard character`;
  }
  return null;
}

export interface ParsedFilter {
  /** The filter matched against topics (without `$share/{group}/`). */
  filter: string;
  /** Share name of a shared subscription. */
  group: string | undefined;
}

/** Parses a subscription filter; returns an error string when the filter is invalid. */
export function parseFilter(raw: string, limits: TopicLimits): ParsedFilter | string {
  let filter = raw;
  let group: string | undefined;
  if (raw.startsWith('$share/')) {
    const slash = raw.indexOf('/', 7);
    if (slash < 0) return `shared subscription "${raw}" has no topic filter`;
    group = raw.slice(7, slash);
    if (group.length === 0) return `shared subscription "${raw}" has an empty share name`;
    if (/[+#]/.test(group)) return `share name "${group}" must not contain wildcards`;
    filter = raw.slice(slash + 1);
  }
  const size = checkSize(filter, limits, 'topic filter');
  if (size) return size;
  let levelStart = 0;
  for (let i = 0; i <= filter.length; i++) {
    const c = i < filter.length ? filter.charCodeAt(i) : 47;
    if (c !== 47) continue;
    const level = filter.slice(levelStart, i);
    if (level.length > 1 && (level.includes('+') || level.includes('#'))) {
      return `topic filter "${filter}": a wildcard must occupy a whole level`;
    }
    if (level === '#' && i !== filter.length) return `topic filter "${filter}": "#" must be the last level`;
    levelStart = i + 1;
  }
  return { filter, group };
}

export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/**
 * Whether `topic` matches `filter`. With `hashMatchesParent` (the MQTT rule) `a/#` also matches `a`;
 * AWS IoT does not do that. Topics starting with `$` are not matched by a leading wildcard.
 */
export function topicMatches(filter: string, topic: string, hashMatchesParent = true): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i]!;
    if (level === '#') return hashMatchesParent || i < t.length;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
