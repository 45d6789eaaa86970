/** MQTT topic filter matching, for dispatching received messages to the handlers that asked for them. */

/**
 * Whether `filter` matches `topic` (MQTT 3.1.1 §4.7): `+` one level, `#` the rest including the
 * parent level; wildcards at the first level do not match topics starting with `$`.
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (filter === topic) return true;
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    const level = f[i];
    if (level === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}
