/**
 * Topics as NATS subjects: every valid topic round-trips, and a filter's subjects carry exactly what
 * it matches. And the frame a routed message travels in.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { Message, topicMatches } from '@thicket/broker';
import { decodeRouted, encodeRouted } from '../src/cluster/frame.js';
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

test('a routed message crosses nodes whole in its frame: QoS, retain, expiry, publisher, MQTT 5 properties, any payload', () => {
  const msg = new Message(
    'a/b',
    Buffer.from([0, 1, 2, 255]),
    2,
    true,
    {
      contentType: 'application/json',
      correlationData: Buffer.from([9, 8, 7]),
      userProperties: [
        ['k', 'v'],
        ['k', 'ü'],
      ],
    },
    1_700_000_000_123,
    1_700_000_060_000,
  );
  msg.origin = 'dévice-1';
  const frame = encodeRouted('n1/6a1f', 2 ** 40 + 3, msg, true);
  const back = decodeRouted(new Uint8Array(frame), 'a/b')!;
  assert.equal(back.origin, 'n1/6a1f');
  assert.equal(back.seq, 2 ** 40 + 3);
  assert.equal(back.confirm, true);
  assert.deepEqual(
    [back.msg.topic, back.msg.qos, back.msg.retain, back.msg.createdAt, back.msg.expiresAt],
    ['a/b', 2, true, 1_700_000_000_123, 1_700_000_060_000],
  );
  assert.deepEqual(back.msg.payload, msg.payload);
  assert.equal(back.msg.origin, 'dévice-1');
  assert.deepEqual(back.msg.properties, msg.properties);

  const plain = decodeRouted(encodeRouted('n2/x', 1, new Message('t', Buffer.alloc(0), 0, false), false), 't')!;
  assert.deepEqual(
    [plain.msg.qos, plain.msg.retain, plain.msg.expiresAt, plain.msg.origin, plain.msg.payload.length, plain.confirm],
    [0, false, 0, undefined, 0, false],
  );
});

test('a frame that is not one (another version, cut short, lengths past its end, garbage) is refused, not thrown', () => {
  const frame = encodeRouted(
    'n1/boot',
    7,
    Object.assign(new Message('t', Buffer.from('payload'), 1, false, { contentType: 'x' }), { origin: 'c' }),
    false,
  );
  assert.equal(decodeRouted(Buffer.concat([Buffer.from([2]), frame.subarray(1)]), 't'), undefined);
  for (let cut = 0; cut < frame.length - 'payload'.length; cut++)
    assert.equal(decodeRouted(frame.subarray(0, cut), 't'), undefined, `cut at ${cut}`);
  const long = Buffer.from(frame);
  long.writeUInt16BE(60_000, 18);
  assert.equal(decodeRouted(long, 't'), undefined);
  for (let i = 0; i < 200; i++) {
    const junk = randomBytes(1 + (i % 64));
    junk[0] = 1;
    decodeRouted(junk, 't');
  }
});
