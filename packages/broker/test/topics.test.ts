/** Topic names and filters: matching rules, the subscription and retained indexes, validation, and on the wire. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AWS_PROFILE, hasWildcard, MQTT_DEFAULTS, parseFilter, topicMatches, topicNameError, TopicTree, Message } from '@thicket/broker';
import { RetainedIndex } from '../src/retained.js';
import { collect, publish, rawPacket, reasonOf, str, uid, withBroker } from './helpers.js';

/** An independent reading of MQTT 5 §4.7 (and AWS's `#` rule), to check the implementations against. */
function reference(filter: string, topic: string, hashMatchesParent: boolean): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  const m = (i: number, j: number): boolean => {
    if (i === f.length) return j === t.length;
    if (f[i] === '#') return hashMatchesParent || j < t.length;
    if (j === t.length) return false;
    return (f[i] === '+' || f[i] === t[j]) && m(i + 1, j + 1);
  };
  return m(0, 0);
}

/** Deterministic pseudo-random numbers (xorshift), so a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const LEVELS = ['a', 'b', '', '$x', 'é'];
function randomTopic(r: () => number): string {
  const n = 1 + Math.floor(r() * 4);
  return Array.from({ length: n }, () => LEVELS[Math.floor(r() * LEVELS.length)]!).join('/');
}
function randomFilter(r: () => number): string {
  const n = 1 + Math.floor(r() * 4);
  const levels: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = r();
    if (i === n - 1 && x < 0.2) levels.push('#');
    else if (x < 0.45) levels.push('+');
    else levels.push(LEVELS[Math.floor(r() * LEVELS.length)]!);
  }
  return levels.join('/');
}

describe('topics (unit)', () => {
  test('topicMatches: the MQTT rules and the AWS `#` rule', () => {
    const cases: Array<[string, string, boolean, boolean]> = [
      // filter, topic, MQTT, AWS
      ['a/b', 'a/b', true, true],
      ['a/b', 'a/c', false, false],
      ['a/+', 'a/b', true, true],
      ['a/+', 'a/b/c', false, false],
      ['a/+', 'a/', true, true],
      ['a/+', 'a', false, false],
      ['a/#', 'a', true, false],
      ['a/#', 'a/', true, true],
      ['a/#', 'a/b/c', true, true],
      ['#', 'a', true, true],
      ['#', '/', true, true],
      ['+', '/a', false, false],
      ['+/a', '/a', true, true],
      ['+/+', '/', true, true],
      ['a//b', 'a//b', true, true],
      ['a/+/b', 'a//b', true, true],
      ['+/#', 'a', true, false],
      ['#', '$SYS/x', false, false],
      ['+/x', '$SYS/x', false, false],
      ['$SYS/#', '$SYS/x', true, true],
      ['$SYS/#', '$SYS', true, false],
      ['$SYS/+', '$SYS/x', true, true],
      ['a/$x', 'a/$x', true, true],
      ['+/$x', 'a/$x', true, true],
      ['A', 'a', false, false],
    ];
    for (const [filter, topic, mqtt, aws] of cases) {
      assert.equal(topicMatches(filter, topic, true), mqtt, `${filter} ~ ${topic} (MQTT)`);
      assert.equal(topicMatches(filter, topic, false), aws, `${filter} ~ ${topic} (AWS)`);
      assert.equal(reference(filter, topic, true), mqtt, `reference ${filter} ~ ${topic}`);
    }
  });

  for (const hashMatchesParent of [true, false]) {
    test(`TopicTree and RetainedIndex agree with the reference on random filters and topics (hashMatchesParent=${hashMatchesParent})`, () => {
      const r = rng(hashMatchesParent ? 12345 : 54321);
      const filters = [...new Set(Array.from({ length: 300 }, () => randomFilter(r)))];
      const topics = [...new Set(Array.from({ length: 300 }, () => randomTopic(r)))];
      const tree = new TopicTree<string>(hashMatchesParent);
      for (const f of filters) tree.add(f, f);
      const retained = new RetainedIndex(hashMatchesParent);
      for (const t of topics) retained.set(t, new Message(t, Buffer.from(t), 0, true));
      assert.equal(retained.size, topics.length);
      for (const t of topics) {
        const got: string[] = [];
        tree.match(t, { onSubscription: (s) => got.push(s), onSharedGroup: () => {} });
        const want = filters.filter((f) => reference(f, t, hashMatchesParent));
        assert.deepEqual(got.sort(), want.sort(), `tree match for ${JSON.stringify(t)}`);
        for (const f of filters) assert.equal(topicMatches(f, t, hashMatchesParent), reference(f, t, hashMatchesParent), `${f} ~ ${t}`);
      }
      for (const f of filters) {
        const got = retained.match(f).map((m) => m.topic);
        const want = topics.filter((t) => reference(f, t, hashMatchesParent));
        assert.deepEqual(got.sort(), want.sort(), `retained match for ${JSON.stringify(f)}`);
      }
      // Removing every subscription empties the tree.
      for (const f of filters) assert.equal(tree.remove(f, f), true);
      assert.equal(tree.size, 0);
      const none: string[] = [];
      for (const t of topics) tree.match(t, { onSubscription: (s) => none.push(s), onSharedGroup: () => {} });
      assert.deepEqual(none, []);
    });
  }

  test('TopicTree: duplicates, removal of what is absent, shared groups with a round-robin cursor', () => {
    const tree = new TopicTree<string>();
    tree.add('a/+', 's1');
    tree.add('a/+', 's2');
    tree.add('a/+', 'm1', 'g');
    tree.add('a/+', 'm2', 'g');
    tree.add('a/#', 'n1', 'h');
    assert.equal(tree.size, 5);
    assert.equal(tree.remove('a/+', 'nope'), false);
    assert.equal(tree.remove('x/y', 's1'), false);
    assert.equal(tree.remove('a/+', 'm1', 'other-group'), false);
    const subs: string[] = [];
    const groups: Array<{ name: string; members: string[] }> = [];
    tree.match('a/b', {
      onSubscription: (s) => subs.push(s),
      onSharedGroup: (g) => groups.push({ name: g.name, members: [...g.members] }),
    });
    assert.deepEqual(subs.sort(), ['s1', 's2']);
    assert.deepEqual(
      groups.sort((x, y) => x.name.localeCompare(y.name)),
      [
        { name: 'g', members: ['m1', 'm2'] },
        { name: 'h', members: ['n1'] },
      ],
    );
    assert.equal(tree.remove('a/+', 'm1', 'g'), true);
    assert.equal(tree.remove('a/+', 'm2', 'g'), true);
    const after: string[] = [];
    tree.match('a/b', { onSubscription: () => {}, onSharedGroup: (g) => after.push(g.name) });
    assert.deepEqual(after, ['h']);
  });

  test('RetainedIndex: set, replace, delete, all, clear', () => {
    const idx = new RetainedIndex();
    const m = (t: string, p: string): Message => new Message(t, Buffer.from(p), 0, true);
    idx.set('a/b', m('a/b', '1'));
    idx.set('a/b', m('a/b', '2'));
    idx.set('a', m('a', '3'));
    assert.equal(idx.size, 2);
    assert.equal(idx.get('a/b')?.payload.toString(), '2');
    idx.set('a/b', null);
    idx.set('a/b', null);
    idx.set('zz', null);
    assert.equal(idx.size, 1);
    assert.equal(idx.get('a/b'), null);
    assert.equal(idx.get('a')?.payload.toString(), '3');
    assert.deepEqual(
      [...idx.all()].map((x) => x.topic),
      ['a'],
    );
    idx.clear();
    assert.equal(idx.size, 0);
    assert.deepEqual(idx.match('#'), []);
  });

  test('parseFilter: valid and invalid filters, shared subscription parsing', () => {
    for (const f of ['a', 'a/b', '+', '#', 'a/+/b', 'a/#', '+/+/#', '/', '//', 'a//b', '$SYS/#', 'ü/+']) {
      const p = parseFilter(f, MQTT_DEFAULTS);
      assert.deepEqual(p, { filter: f, group: undefined }, f);
    }
    for (const f of ['', 'a/#/b', '#/a', 'a#', 'a/b#', '+a', 'a/+b', 'a/#/', '##']) {
      assert.equal(typeof parseFilter(f, MQTT_DEFAULTS), 'string', `invalid: ${JSON.stringify(f)}`);
    }
    assert.deepEqual(parseFilter('$share/grp/a/+/#', MQTT_DEFAULTS), { filter: 'a/+/#', group: 'grp' });
    assert.deepEqual(parseFilter('$share/g/#', MQTT_DEFAULTS), { filter: '#', group: 'g' });
    for (const f of ['$share/g', '$share//a', '$share/g+/a', '$share/g#/a', '$share/g/', '$share/g/a/#/b']) {
      assert.equal(typeof parseFilter(f, MQTT_DEFAULTS), 'string', `invalid: ${f}`);
    }
    // `$sharex/...` is an ordinary filter.
    assert.deepEqual(parseFilter('$sharex/a', MQTT_DEFAULTS), { filter: '$sharex/a', group: undefined });
  });

  test('length and level limits (AWS: 256 bytes, 8 levels, not counting `$share/g/` and `$aws/rules/r/`)', () => {
    const eight = 'a/b/c/d/e/f/g/h';
    const nine = `${eight}/i`;
    assert.equal(topicNameError(eight, AWS_PROFILE as typeof MQTT_DEFAULTS), null);
    assert.match(topicNameError(nine, AWS_PROFILE as typeof MQTT_DEFAULTS) ?? '', /levels/);
    assert.equal(topicNameError(nine, MQTT_DEFAULTS), null);
    assert.equal(topicNameError(`$aws/rules/myrule/${eight}`, AWS_PROFILE as typeof MQTT_DEFAULTS), null);
    assert.notEqual(topicNameError(`$aws/rules/myrule/${nine}`, AWS_PROFILE as typeof MQTT_DEFAULTS), null);
    assert.equal(typeof parseFilter(`$share/g/${eight}`, AWS_PROFILE as typeof MQTT_DEFAULTS), 'object');
    assert.equal(typeof parseFilter(nine, AWS_PROFILE as typeof MQTT_DEFAULTS), 'string');
    assert.equal(typeof parseFilter(`${eight.slice(0, -1)}#`, AWS_PROFILE as typeof MQTT_DEFAULTS), 'object');
    assert.equal(topicNameError('x'.repeat(256), AWS_PROFILE as typeof MQTT_DEFAULTS), null);
    assert.match(topicNameError('x'.repeat(257), AWS_PROFILE as typeof MQTT_DEFAULTS) ?? '', /bytes/);
    // The limit is in UTF-8 bytes, not characters.
    assert.match(topicNameError('é'.repeat(129), AWS_PROFILE as typeof MQTT_DEFAULTS) ?? '', /bytes/);
    assert.equal(typeof parseFilter(`$share/g/${'x'.repeat(256)}`, AWS_PROFILE as typeof MQTT_DEFAULTS), 'object');
  });

  test('topicNameError and hasWildcard', () => {
    assert.equal(topicNameError('a/b', MQTT_DEFAULTS), null);
    assert.equal(topicNameError('/', MQTT_DEFAULTS), null);
    assert.notEqual(topicNameError('', MQTT_DEFAULTS), null);
    assert.notEqual(topicNameError('a/+', MQTT_DEFAULTS), null);
    assert.notEqual(topicNameError('a/#', MQTT_DEFAULTS), null);
    assert.notEqual(topicNameError('a+b', MQTT_DEFAULTS), null);
    assert.equal(hasWildcard('a/b'), false);
    assert.equal(hasWildcard('a/+'), true);
    assert.equal(hasWildcard('#'), true);
  });
});

describe('topics (wire)', { concurrency: true }, () => {
  test('PUBLISH to a topic with a wildcard: v5 QoS 1 PUBACK 0x90, QoS 0 DISCONNECT 0x90; v3.1.1 closed', () =>
    withBroker({}, async (tb) => {
      const { client } = await tb.rawConnected(5);
      client.send({ cmd: 'publish', topic: 'a/+', payload: 'x', qos: 1, messageId: 1, dup: false, retain: false });
      assert.equal(reasonOf(await client.next('puback')), 0x90);
      client.send({ cmd: 'publish', topic: 'a/#', payload: 'x', qos: 0, dup: false, retain: false });
      const [d] = await client.closedWith();
      assert.equal(reasonOf(d!), 0x90);
      for (const topic of ['a/+', 'a/#', 'x+y']) {
        const { client: v4 } = await tb.rawConnected(4);
        v4.send({ cmd: 'publish', topic, payload: 'x', qos: 0, dup: false, retain: false });
        assert.deepEqual(await v4.closedWith(), []);
      }
    }));

  test('invalid filters: SUBACK 0x8F (v5) / 0x80 (v3.1.1) per filter; valid ones in the same SUBSCRIBE are granted', () =>
    withBroker({}, async (tb) => {
      const subscriptions = [
        { topic: 'ok/+', qos: 1 as const },
        { topic: 'bad/#/x', qos: 1 as const },
        { topic: 'a+', qos: 0 as const },
        { topic: 'ok/#', qos: 2 as const },
      ];
      const { client: v5 } = await tb.rawConnected(5);
      v5.send({ cmd: 'subscribe', messageId: 3, subscriptions });
      assert.deepEqual((await v5.next('suback')).granted, [1, 0x8f, 0x8f, 2]);
      const { client: v4 } = await tb.rawConnected(4);
      v4.send({ cmd: 'subscribe', messageId: 3, subscriptions });
      assert.deepEqual((await v4.next('suback')).granted, [1, 0x80, 0x80, 2]);
      // The connection stays usable.
      v4.send({ cmd: 'pingreq' });
      await v4.next('pingresp');
      // UNSUBSCRIBE: v5 reason codes per filter.
      v5.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['ok/+', 'bad/#/x', 'never'] });
      assert.deepEqual((await v5.next('unsuback')).granted, [0x00, 0x8f, 0x11]);
      v4.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['ok/+'] });
      assert.equal((await v4.next('unsuback')).messageId, 4);
    }));

  for (const version of [4, 5] as const) {
    test(`v${version}: invalid UTF-8 or U+0000 in a topic or filter closes the connection${version === 5 ? ' with DISCONNECT 0x81' : ''}`, () =>
      withBroker({}, async (tb) => {
        const bad = [Buffer.from([0x61, 0xff]), Buffer.from([0x61, 0x00]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('é\u0000', 'utf8')];
        const props = version === 5 ? Buffer.from([0]) : Buffer.alloc(0);
        for (const topic of bad) {
          const { client } = await tb.rawConnected(version);
          client.send(rawPacket(0x30, Buffer.concat([str(topic), props, Buffer.from('x')])));
          const got = await client.closedWith();
          if (version === 5)
            assert.deepEqual(
              got.map((p) => [p.cmd, reasonOf(p)]),
              [['disconnect', 0x81]],
              topic.toString('hex'),
            );
          else assert.deepEqual(got, [], topic.toString('hex'));
          const { client: sub } = await tb.rawConnected(version);
          sub.send(rawPacket(0x82, Buffer.concat([Buffer.from([0, 1]), props, str(topic), Buffer.from([0])])));
          const got2 = await sub.closedWith();
          if (version === 5)
            assert.deepEqual(
              got2.map((p) => [p.cmd, reasonOf(p)]),
              [['disconnect', 0x81]],
            );
          else assert.deepEqual(got2, []);
        }
        assert.equal(tb.broker.stats.protocolErrors.malformed, bad.length * 2);
      }));
  }

  test('AWS profile: 8 levels accepted, 9 refused (PUBACK 0x90 / SUBACK 0x8F; v3.1.1 close / 0x80)', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      const eight = `l/${uid()}/c/d/e/f/g/h`;
      const nine = `${eight}/i`;
      const { client: sub, got } = await tb.connectCollect({ protocolVersion: 5 });
      await sub.subscribeAsync(eight, { qos: 1 });
      const { client } = await tb.rawConnected(5);
      client.send({ cmd: 'publish', topic: eight, payload: 'ok', qos: 1, messageId: 1, dup: false, retain: false });
      assert.equal(reasonOf(await client.next('puback')), 0);
      client.send({ cmd: 'publish', topic: nine, payload: 'x', qos: 1, messageId: 2, dup: false, retain: false });
      assert.equal(reasonOf(await client.next('puback')), 0x90);
      client.send({
        cmd: 'subscribe',
        messageId: 3,
        subscriptions: [
          { topic: nine, qos: 1 },
          { topic: `$share/g/${eight}`, qos: 1 },
        ],
      });
      assert.deepEqual((await client.next('suback')).granted, [0x8f, 1]);
      const { client: v4 } = await tb.rawConnected(4);
      v4.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: nine, qos: 1 }] });
      assert.deepEqual((await v4.next('suback')).granted, [0x80]);
      v4.send({ cmd: 'publish', topic: nine, payload: 'x', qos: 1, messageId: 2, dup: false, retain: false });
      assert.deepEqual(await v4.closedWith(), []);
      assert.deepEqual(
        (await got.count(1)).map((m) => m.payload.toString()),
        ['ok'],
      );
    }));

  test('AWS profile: only `$aws/` reserved topics may be used', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      const { client } = await tb.rawConnected(5);
      client.send({
        cmd: 'subscribe',
        messageId: 1,
        subscriptions: [
          { topic: '$SYS/#', qos: 0 },
          { topic: '$aws/things/t/shadow/get/+', qos: 1 },
          { topic: '#', qos: 0 },
        ],
      });
      assert.deepEqual((await client.next('suback')).granted, [0x87, 1, 0]);
      client.send({ cmd: 'publish', topic: '$aws/things/t/shadow/get', payload: '{}', qos: 1, messageId: 2, dup: false, retain: false });
      assert.equal(reasonOf(await client.next('puback')), 0);
      client.send({ cmd: 'publish', topic: '$foo/bar', payload: '{}', qos: 1, messageId: 3, dup: false, retain: false });
      assert.equal(reasonOf(await client.next('puback')), 0x87);
    }));

  test('default profile: `$` topics are ordinary topics for publish and exact subscriptions', () =>
    withBroker({}, async (tb) => {
      const { client: sub, got } = await tb.connectCollect({ protocolVersion: 4 });
      await sub.subscribeAsync('$SYS/x', { qos: 1 });
      const pub = await tb.connect({ protocolVersion: 5 });
      await publish(pub, '$SYS/x', 'sys', { qos: 1 });
      assert.equal((await got.next()).payload.toString(), 'sys');
    }));

  test('topics with empty levels and non-ASCII characters route exactly', () =>
    withBroker({}, async (tb) => {
      const base = uid();
      const topics = [`/${base}`, `${base}//x`, `${base}/ü/日本`, `${base}/`];
      const subs = await Promise.all(topics.map(() => tb.connect({ protocolVersion: 5 })));
      const cols = subs.map((s) => collect(s));
      for (const [i, s] of subs.entries()) await s.subscribeAsync(topics[i]!, { qos: 1 });
      const pub = await tb.connect({ protocolVersion: 4 });
      for (const t of topics) await publish(pub, t, t, { qos: 1 });
      for (const [i, col] of cols.entries()) {
        assert.deepEqual(
          (await col.count(1)).map((m) => m.topic),
          [topics[i]],
        );
        assert.equal((await col.settle(50)).length, 1, topics[i]);
      }
    }));
});
