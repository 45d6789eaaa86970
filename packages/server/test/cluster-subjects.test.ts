/** Topics as NATS subjects: every valid topic round-trips, and a filter's subjects carry exactly what it matches. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { topicMatches } from '@thicket/broker';
import { filterToSubjects, subjectToTopic, topicToSubject } from '../src/cluster/subjects.js';

const P = 'thicket.m';

/** NATS subject matching: `*` is one token, a trailing `>` one or more. */
function natsMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

/** A valid NATS subject: tokens non-empty, no whitespace. */
function validSubject(subject: string): boolean {
  return subject.split('.').every((t) => t.length > 0 && !/\s/.test(t));
}

const HOSTILE = [
  'a/b/c',
  'a//b',
  '/',
  '//',
  '',
  '/a',
  'a/',
  'a.b/c.d',
  'a*/>b/*/>',
  '~/~7E/~~',
  'sp ace/tab\there/new\nline',
  'ünï/çødé/🙂',
  '$aws/things/t1/shadow/update',
  '$SYS/x',
  '\u0000/\u007f',
  'a.~2E/b',
];

function randomTopic(rnd: () => number): string {
  const alphabet = ['a', 'b', '.', '*', '>', '~', ' ', '$', 'é', '🙂', '\t', '2E', '~2'];
  const levels = Math.floor(rnd() * 5) + 1;
  const out: string[] = [];
  for (let i = 0; i < levels; i++) {
    let l = '';
    const n = Math.floor(rnd() * 4);
    for (let j = 0; j < n; j++) l += alphabet[Math.floor(rnd() * alphabet.length)];
    out.push(l);
  }
  return out.join('/');
}

function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
}

test('every topic and mount round-trips through a valid subject, and different topics get different subjects', () => {
  const rnd = seeded(7);
  const topics = [...HOSTILE, ...Array.from({ length: 3000 }, () => randomTopic(rnd))];
  const seen = new Map<string, string>();
  for (const mount of ['', '123456789012/us-east-1/', 'odd.mount *>']) {
    for (const topic of topics) {
      const subject = topicToSubject(P, mount, topic);
      assert.ok(validSubject(subject), `${JSON.stringify(topic)} -> ${JSON.stringify(subject)}`);
      assert.deepEqual(subjectToTopic(P, subject), { mount, topic });
      const key = `${mount}\u0000${topic}`;
      const before = seen.get(subject);
      assert.ok(before === undefined || before === key, `${JSON.stringify(key)} and ${JSON.stringify(before)} share ${subject}`);
      seen.set(subject, key);
    }
  }
  assert.equal(subjectToTopic(P, 'other.prefix.x.y'), undefined);
});

test('a filter subscribes to subjects that carry every topic it matches (and the router filters the rest)', () => {
  const rnd = seeded(11);
  const topics = [...HOSTILE, ...Array.from({ length: 400 }, () => randomTopic(rnd))];
  const filters = ['#', '+', 'a/#', 'a/+', '+/+', 'a/+/#', '+/b/#', 'a//#', '/#', 'a.b/c.d', 'a*/>b/*/>', '$aws/things/+/shadow/#', '~/#'];
  for (const filter of filters) {
    const subjects = filterToSubjects(P, 'm/', filter);
    for (const s of subjects) assert.ok(validSubject(s), s);
    for (const topic of topics) {
      const carried = subjects.some((s) => natsMatches(s, topicToSubject(P, 'm/', topic)));
      // MQTT's own $-rule (no wildcard at the first level matches a $ topic) is the router's: NATS may carry more.
      if (topicMatches(filter, topic)) assert.ok(carried, `${filter} matches ${JSON.stringify(topic)} but no subject carries it`);
      else if (!topic.startsWith('$')) assert.ok(!carried, `${filter} does not match ${JSON.stringify(topic)}, yet it is carried`);
    }
    // Another mount's messages never reach this one's subscriptions.
    assert.ok(!subjects.some((s) => natsMatches(s, topicToSubject(P, 'n/', 'a/b'))));
  }
});
