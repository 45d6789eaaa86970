/**
 * Back-pressure across nodes: a QoS 1 publisher on node B waits for its PUBACKs while the
 * subscriber it publishes to on node A does not take its messages, as it would on one node, and
 * gets them all once the subscriber reads again; nothing is lost or reordered meanwhile.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { HOLD_MAX_MS, RemoteHolds, type HoldNote } from '../src/cluster/remote-holds.js';
import { startTwoNodes, until, type TwoNodes } from './two-broker-nodes.js';

let nodes: TwoNodes;

before(async () => {
  nodes = await startTwoNodes();
});

after(() => nodes.close());

test('a publisher on node B is held while the subscriber on node A is congested, and released when it drains', async () => {
  const { a, b } = nodes;
  // Ten messages in flight at most, and none acknowledged while `stalled`: the rest queue on node A.
  const sub = await nodes.client(a, { properties: { receiveMaximum: 10 } });
  const got: number[] = [];
  let stalled: Array<() => void> | null = [];
  sub.handleMessage = (packet, done) => {
    got.push(Number(packet.payload.toString()));
    if (stalled) stalled.push(() => done());
    else done();
  };
  await sub.subscribeAsync('slow/#', { qos: 1 });
  const other = await nodes.client(a);
  const otherGot: string[] = [];
  other.on('message', (_t, p) => otherGot.push(p.toString()));
  await other.subscribeAsync('elsewhere/#', { qos: 1 });
  await nodes.settled();

  const pub = await nodes.client(b);
  const N = 1000;
  let acked = 0;
  // Twenty in flight at a time, as a device keeping within a Receive Maximum.
  let sent = 0;
  const more = (): void => {
    while (sent < N && sent - acked < 20)
      void pub.publishAsync('slow/t', String(sent++), { qos: 1 }).then(() => {
        acked++;
        more();
      });
  };
  more();
  await until(() => b.link.holds.size === 1, 'the hold from node A');
  await new Promise((r) => setTimeout(r, 800));
  // Held: what node A queued past its congestion bound is not acknowledged (without the hold all were, at once).
  assert.ok(acked < N / 2, `the publisher was acknowledged ${acked} of ${N} while the subscriber took none`);
  // Publishers of topics the congested session does not take are not held.
  const side = await nodes.client(b);
  await side.publishAsync('elsewhere/x', 'free', { qos: 1 });
  await until(() => otherGot.length === 1, 'the message for the other subscriber');

  const release = stalled;
  stalled = null;
  for (const done of release) done();
  await until(
    () => acked === N && got.length >= N,
    `every message acknowledged and delivered (acked ${acked}, delivered ${got.length})`,
    15_000,
  );
  assert.deepEqual(
    got,
    Array.from({ length: N }, (_, i) => i),
  );
  await until(() => b.link.holds.size === 0, 'the hold released');
});

test('a hold whose release never comes ends by itself; malformed holds are refused; a dead node’s holds go with it', () => {
  const holds = new RemoteHolds();
  assert.equal(holds.apply({ o: 'x/1', m: '', c: 'c', f: ['a/#'] }, 0), true);
  assert.equal(holds.wait('', 'b/c'), undefined, 'a topic the session does not take');
  assert.equal(holds.wait('other', 'a/b'), undefined, 'another account');
  let result: boolean | undefined;
  holds.wait('', 'a/b')!.then((ok) => (result = ok));
  holds.sweep(HOLD_MAX_MS);
  assert.equal(result, undefined);
  holds.sweep(HOLD_MAX_MS + 1);
  assert.equal(result, true);
  assert.equal(holds.size, 0);

  for (const bad of [
    { o: 'x/1', m: '', c: 'c', f: [1] },
    { o: 1, m: '', c: 'c' },
    { o: 'x/1', m: '', c: 'c', f: 'a/#' },
  ])
    assert.equal(holds.apply(bad as unknown as HoldNote), false);
  assert.equal(holds.size, 0);

  holds.apply({ o: 'y/boot', m: '', c: 'c', f: ['#'] });
  let gone: boolean | undefined;
  holds.wait('', 'any')!.then((ok) => (gone = ok));
  holds.dropNode('y');
  assert.equal(gone, true);
});
