/**
 * A QoS 1/2 publish is acknowledged only once every other node whose persistent sessions take it
 * has stored it: two brokers over a real nats-server, node A's store held back at will. Also the
 * bookkeeping on its own: the interest table (announcements in sequence, snapshots, boots, nodes
 * gone) and the confirmations (cumulative, several nodes, late and silent nodes).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MemoryStore, RC } from '@thicket/broker';
import mqtt from 'mqtt';
import { Confirmations } from '../src/cluster/confirmations.js';
import { LocalInterest, RemoteInterest, groupKey } from '../src/cluster/remote-interest.js';
import { collect, startTwoNodes, until, type TwoNodes } from './two-broker-nodes.js';

/** A memory store whose commits can be held: what waits for them waits until `release`. */
class HeldStore extends MemoryStore {
  private waiting: Array<() => void> | null = null;
  hold(): void {
    this.waiting ??= [];
  }
  release(): void {
    const w = this.waiting ?? [];
    this.waiting = null;
    for (const cb of w) cb();
  }
  override afterCommit(callback: () => void): void {
    if (this.waiting) this.waiting.push(callback);
    else super.afterCommit(callback);
  }
}

let nodes: TwoNodes;
const store = new HeldStore();

before(async () => {
  nodes = await startTwoNodes({ storeA: store, confirmTimeoutMs: 1500 });
});

after(async () => {
  store.release();
  await nodes.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test("a publish on node B for a persistent session on node A is acknowledged once node A's store has committed it", async () => {
  const sub = await nodes.client(nodes.a, { clientId: 'durable-a', clean: false, properties: { sessionExpiryInterval: 300 } });
  await sub.subscribeAsync('held/#', { qos: 1 });
  const got = collect(sub);
  await until(() => nodes.b.link.remote.matching('', 'held/1').length === 1, "node B to learn of node A's persistent subscription");
  const pub = await nodes.client(nodes.b);
  store.hold();
  let acked = false;
  const publishing = pub.publishAsync('held/1', 'one', { qos: 1 }).then(() => (acked = true));
  await until(() => got.length === 1, 'the delivery on node A');
  await sleep(300);
  assert.equal(acked, false, 'not acknowledged while node A has not committed');
  store.release();
  await publishing;
  assert.equal(acked, true);
  await sub.endAsync();
});

for (const from of ['b', 'a'] as const)
  test(`a publish on node ${from.toUpperCase()} for a shared group whose persistent member is on node A is acknowledged once node A has committed it`, async () => {
    const sub = await nodes.client(nodes.a, { clientId: `member-${from}`, clean: false, properties: { sessionExpiryInterval: 300 } });
    await sub.subscribeAsync(`$share/team/group-${from}/#`, { qos: 1 });
    const got = collect(sub);
    await nodes.settled();
    const pub = await nodes.client(nodes[from]);
    store.hold();
    let acked = false;
    const publishing = pub.publishAsync(`group-${from}/1`, 'one', { qos: 1 }).then(() => (acked = true));
    try {
      await until(() => got.length === 1, 'the delivery on node A');
      await sleep(300);
      assert.equal(acked, false, 'not acknowledged while node A has not committed');
    } finally {
      store.release();
    }
    await publishing;
    assert.equal(acked, true);
    await sub.endAsync();
  });

test('a clean session on node A holds nothing back: node B acknowledges without asking node A', async () => {
  const sub = await nodes.client(nodes.a, { clientId: 'clean-a' });
  await sub.subscribeAsync('loose/#', { qos: 1 });
  const got = collect(sub);
  await nodes.settled();
  const pub = await nodes.client(nodes.b);
  store.hold();
  try {
    await pub.publishAsync('loose/1', 'one', { qos: 1 });
    await until(() => got.length === 1, 'the delivery on node A');
  } finally {
    store.release();
  }
  await sub.endAsync();
});

test('node A not confirming in time: the MQTT 5 publisher gets 0x80 and may send again; an MQTT 3.1.1 publisher is disconnected', async () => {
  const sub = await nodes.client(nodes.a, { clientId: 'stuck-a', clean: false, properties: { sessionExpiryInterval: 300 } });
  await sub.subscribeAsync('stuck/#', { qos: 1 });
  await until(() => nodes.b.link.remote.matching('', 'stuck/1').length === 1, "node B to learn of node A's persistent subscription");
  const pub = await nodes.client(nodes.b);
  store.hold();
  try {
    await assert.rejects(pub.publishAsync('stuck/1', 'one', { qos: 1 }), (err: Error & { code?: number }) => {
      assert.equal(err.code, RC.UNSPECIFIED_ERROR);
      return true;
    });
    const v3 = await mqtt.connectAsync(`mqtt://127.0.0.1:${nodes.b.port}`, { reconnectPeriod: 0, protocolVersion: 4 });
    const closed = new Promise<void>((resolve) => v3.once('close', () => resolve()));
    v3.publish('stuck/2', 'two', { qos: 1 });
    await closed;
    v3.end(true);
  } finally {
    store.release();
  }
  // Committing again, node A confirms again.
  await pub.publishAsync('stuck/3', 'three', { qos: 1 });
  await sub.endAsync();
});

test("node A asked whether it is there confirms what of node B's reached it, unless a session moving to it holds its confirmations", async () => {
  const sub = await nodes.client(nodes.a, { clientId: 'asked-a', clean: false, properties: { sessionExpiryInterval: 300 } });
  await sub.subscribeAsync('asked/#', { qos: 1 });
  await until(() => nodes.b.link.remote.matching('', 'asked/1').length === 1, "node B to learn of node A's persistent subscription");
  const [origin] = nodes.b.link.remote.matching('', 'asked/1') as [string];
  // As a message sent just as node A dropped the filter, which NATS then no longer delivers to it: numbered, never received.
  const link = nodes.b.link as unknown as { seq: number };
  const b = nodes.b.link.exchange;
  const waitFor = (): { result: boolean | undefined } => {
    const out: { result: boolean | undefined } = { result: undefined };
    b.expect([origin], ++link.seq).then((ok) => (out.result = ok));
    b.probe(origin);
    return out;
  };
  const lost = waitFor();
  await until(() => lost.result !== undefined, 'the answer', 1000);
  assert.equal(lost.result, true, 'confirmed by the answer, long before the timeout (1.5 s)');
  // Node A is catching messages for a session moving to it: they are in memory only, so it confirms nothing.
  const unhold = nodes.a.link.holdConfirmations();
  try {
    const held = waitFor();
    await sleep(500);
    assert.equal(held.result, undefined, 'no confirmation while they are held');
    await until(() => held.result !== undefined, 'the timeout');
    assert.equal(held.result, false);
  } finally {
    unhold();
  }
  await sub.endAsync();
});

test('the interest table: announcements in sequence, a gap asks for a snapshot, a newer boot replaces the older, gone and bye', () => {
  const dropped: string[] = [];
  const table = new RemoteInterest('me/1', (o) => dropped.push(o));
  const a = new LocalInterest('a/1', 'a');
  assert.equal(table.apply(a.change('m', 'x/#', true)), 'resync', 'an origin first heard of mid-stream');
  assert.equal(table.apply(a.snapshot()), 'ok');
  assert.deepEqual(table.matching('m', 'x/1'), ['a/1']);
  assert.deepEqual(table.matching('other', 'x/1'), [], 'per mount');
  assert.deepEqual(table.matching('m', '$aws/x'), [], 'a wildcard does not match $ topics');
  a.change('m', 'y/+', true); // lost on the way
  assert.equal(table.apply(a.change('m', 'x/#', false)), 'resync', 'one announcement was lost');
  assert.deepEqual(table.matching('m', 'x/1'), ['a/1'], 'unchanged until the snapshot');
  table.apply(a.snapshot());
  assert.deepEqual(table.matching('m', 'x/1'), []);
  assert.deepEqual(table.matching('m', 'y/2'), ['a/1']);
  assert.equal(table.apply(a.change('m', 'y/+', false)), 'ok');
  assert.equal(table.apply({ o: 'a/1', n: 'a', s: 1, a: 1, m: 'm', f: 'old' }), 'ok', 'an old announcement is ignored');
  assert.deepEqual(table.matching('m', 'old'), []);

  const again = new LocalInterest('a/2', 'a');
  again.change('m', 'z', true);
  table.apply(again.snapshot());
  assert.deepEqual(dropped, ['a/1'], 'the newer boot of node a replaced the older');
  assert.deepEqual(table.matching('m', 'z'), ['a/2']);
  table.apply({ o: 'a/2', n: 'a', bye: 1, p: true });
  assert.deepEqual(table.matching('m', 'z'), ['a/2'], 'left persistent sessions behind: still waited for');
  table.apply({ gone: 'a' });
  assert.deepEqual(table.matching('m', 'z'), [], 'taken over by the cluster');
  assert.ok(table.empty);
  const b = new LocalInterest('b/1', 'b');
  b.change('m', 'w', true);
  table.apply(b.snapshot());
  table.apply({ o: 'b/1', n: 'b', bye: 1, p: false });
  assert.ok(table.empty, 'left without persistent sessions: dropped at once');
  assert.equal(table.apply(new LocalInterest('me/1', 'me').change('m', 'q', true)), 'ok', 'its own announcements are ignored');
  assert.ok(table.empty);
});

test('the interest table: shared groups with persistent members, in announcements and snapshots, apart from plain filters', () => {
  const table = new RemoteInterest('me/1');
  const c = new LocalInterest('c/1', 'c');
  table.apply(c.snapshot());
  const groups = (topic: string): string[] => {
    const out = new Set<string>();
    table.durableGroups('m', topic, out);
    return [...out];
  };
  assert.equal(table.apply(c.change('m', 'g/#', true, 'team')), 'ok');
  assert.deepEqual(groups('g/1'), [groupKey('m', 'team', 'g/#')]);
  assert.deepEqual(table.matching('m', 'g/1'), [], 'not a plain filter: no node-wide cumulative confirmation is waited for');
  c.change('m', 'g/+', true, 'other');
  const here = new Set<string>();
  c.durableGroups('m', 'g/1', here);
  assert.deepEqual([...here].sort(), [groupKey('m', 'other', 'g/+'), groupKey('m', 'team', 'g/#')], 'this node matches its own groups');
  const fresh = new RemoteInterest('me/1');
  fresh.apply(c.snapshot());
  const fromSnapshot = new Set<string>();
  fresh.durableGroups('m', 'g/1', fromSnapshot);
  assert.equal(fromSnapshot.size, 2, 'the snapshot carries them');
  table.apply(c.snapshot());
  assert.equal(table.apply(c.change('m', 'g/#', false, 'team')), 'ok');
  assert.deepEqual(groups('g/1'), [groupKey('m', 'other', 'g/+')]);
});

test('confirmations: cumulative, from every node asked, late ones time out, a silent node fails new waits for a while', () => {
  let now = 0;
  const c = new Confirmations({ timeoutMs: 1000, probeAfterMs: 300, unresponsiveMs: 500, clock: () => now });
  const results: Array<[string, boolean]> = [];
  const watch = (name: string, conf: ReturnType<Confirmations['expect']>): void => conf.then((ok) => results.push([name, ok]));
  watch('m1', c.expect(['a'], 1));
  watch('m2', c.expect(['a', 'b'], 2));
  watch('m3', c.expect(['a'], 3));
  c.confirmed('a', 2);
  assert.deepEqual(results, [['m1', true]], 'm2 still waits for b');
  c.confirmed('b', 2);
  assert.deepEqual(results, [
    ['m1', true],
    ['m2', true],
  ]);
  now = 400;
  assert.deepEqual(c.sweep(), ['a'], 'a is late: asked whether it is there');
  now = 1000;
  c.sweep();
  assert.deepEqual(results.at(-1), ['m3', false], 'timed out');
  watch('m4', c.expect(['b'], 4));
  c.unanswered('b');
  assert.deepEqual(results.at(-1), ['m4', false], 'b did not answer the probe');
  watch('m5', c.expect(['b'], 5));
  assert.deepEqual(results.at(-1), ['m5', false], 'failed at once');
  now = 1600;
  watch('m6', c.expect(['b'], 6));
  assert.equal(results.length, 5, 'waited for again after a while');
  c.confirmed('b', 6);
  assert.deepEqual(results.at(-1), ['m6', true]);
  watch('m7', c.expect(['c'], 7));
  c.forget('c');
  assert.deepEqual(results.at(-1), ['m7', false]);
  assert.equal(c.size, 0);
  assert.equal(c.failed, 4);
});

test('confirmations of shared groups: any node confirms, a node whose members did not take it fails the wait, late ones time out', () => {
  let now = 0;
  const c = new Confirmations({ timeoutMs: 1000, probeAfterMs: 300, clock: () => now });
  const results: Array<[string, boolean]> = [];
  const watch = (name: string, conf: ReturnType<Confirmations['expect']>): void => conf.then((ok) => results.push([name, ok]));
  watch('m1', c.expect(['a'], 1, new Set(['g1', 'g2'])));
  c.groupConfirmed(1, 'g1', true);
  c.confirmed('a', 1);
  assert.deepEqual(results, [], 'g2 not yet');
  c.groupConfirmed(1, 'g2', true);
  assert.deepEqual(results, [['m1', true]]);
  watch('m2', c.expect([], 2, new Set(['g1'])));
  c.groupConfirmed(2, 'g1', false);
  assert.deepEqual(results.at(-1), ['m2', false], 'no member there took it');
  c.groupConfirmed(3, 'g1', true);
  watch('m3', c.expect([], 3, new Set(['g1'])));
  assert.equal(results.length, 2, 'a confirmation before the wait (or of another message) does not count');
  now = 1000;
  c.sweep();
  assert.deepEqual(results.at(-1), ['m3', false], 'timed out');
  assert.equal(c.size, 0);
});
