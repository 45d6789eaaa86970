/**
 * The offline publish queue: kept in a file across a restart of the device process and sent in
 * order once connected, removed only once acknowledged, bounded in messages and bytes with its
 * drop policy, and its file compacted and robust against a torn last line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, readFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { join } from 'node:path';
import mqttPacket from 'mqtt-packet';
import { DeviceClient, MessageDroppedError, OfflineQueue, PublishRejectedError, QueueFullError, ClientClosedError } from '@thicket/sdk';
import { device, mtlsOptions, Observer, provision, scratch, startTestServer, until, type TestServer } from './helpers.js';

let server: TestServer;

before(async () => {
  server = await startTestServer({ dev: true });
});
after(async () => {
  await server.close();
});

const lines = (file: string): string[] =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');

test('messages queued while offline survive a restart of the device process and arrive in order, each once', async () => {
  const d = await device(server, 'q-restart');
  const file = join(scratch(), 'queue.jsonl');
  const observer = await Observer.start(server, ['q-restart/data']);
  try {
    // The first process never reaches the broker: it queues five messages and stops.
    const first = await DeviceClient.create(mtlsOptions(server, d, { queue: { file } }));
    const outcomes = Array.from({ length: 5 }, (_, i) => first.publish('q-restart/data', `m${i + 1}`, { qos: 1 }));
    await until(() => first.queue.size === 5, 'five queued');
    await first.close();
    for (const o of outcomes) await assert.rejects(o, ClientClosedError);
    assert.equal(lines(file).length, 5, 'five messages on disk');

    // The next process finds them, queues two more before connecting, and sends all seven in order.
    const second = await DeviceClient.create(mtlsOptions(server, d, { queue: { file } }));
    try {
      assert.deepEqual(
        second.queue.list().map((m) => m.payload.toString()),
        ['m1', 'm2', 'm3', 'm4', 'm5'],
      );
      const more = [second.publish('q-restart/data', 'm6'), second.publish('q-restart/data', 'm7')];
      await second.connect();
      await Promise.all(more);
      await second.drained();
      await until(() => observer.payloads().length >= 7, 'seven messages');
      await new Promise((r) => setTimeout(r, 200)); // anything sent twice would show up by now
      assert.deepEqual(observer.payloads(), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    } finally {
      await second.close();
    }
    const reopened = await OfflineQueue.open({ file });
    assert.equal(reopened.size, 0, 'acknowledged messages are gone from the file');
    await reopened.close();
  } finally {
    await observer.close();
  }
});

/** A broker that accepts connections and publishes but never acknowledges them. */
async function silentBroker(): Promise<{ port: number; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((socket) => {
    sockets.add(socket);
    const parser = mqttPacket.parser({ protocolVersion: 5 });
    parser.on('packet', (packet) => {
      if (packet.cmd === 'connect')
        socket.write(
          mqttPacket.generate({ cmd: 'connack', sessionPresent: false, reasonCode: 0 } as mqttPacket.IConnackPacket, {
            protocolVersion: 5,
          }),
        );
      else if (packet.cmd === 'publish') received.push(String(packet.payload));
    });
    socket.on('data', (b: Buffer) => parser.parse(b));
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return {
    port: (srv.address() as AddressInfo).port,
    received,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

test('a message sent but never acknowledged stays in the file and goes again from the next process', async () => {
  const file = join(scratch(), 'unacked.jsonl');
  const silent = await silentBroker();
  try {
    const c = await DeviceClient.create({
      url: `mqtt://127.0.0.1:${silent.port}`,
      clientId: 'q-unacked',
      queue: { file },
      reconnect: false,
    });
    void c.publish('q-unacked/data', 'a');
    void c.publish('q-unacked/data', 'b');
    await c.connect();
    await until(() => silent.received.length === 2, 'both messages on the wire');
    await c.close();
    assert.equal(lines(file).length, 2, 'still on disk: no PUBACK came');
  } finally {
    await silent.close();
  }
  const d = await device(server, 'q-unacked');
  const observer = await Observer.start(server, ['q-unacked/data']);
  try {
    const c = await DeviceClient.create(mtlsOptions(server, d, { queue: { file } }));
    await c.connect();
    await c.drained();
    await c.close();
    await until(() => observer.payloads().length === 2, 'the resent messages');
    assert.deepEqual(observer.payloads(), ['a', 'b']);
    const reopened = await OfflineQueue.open({ file });
    assert.equal(reopened.size, 0);
    await reopened.close();
  } finally {
    await observer.close();
  }
});

test('drop policies: drop-oldest evicts (its publish rejects), drop-newest refuses the new one, reject throws; bounds in messages and bytes', async () => {
  const dir = scratch();
  const msg = (payload: string) => ({ topic: 't', payload: Buffer.from(payload), qos: 1 as const, retain: false });

  const oldest = await OfflineQueue.open({ file: join(dir, 'oldest.jsonl'), maxMessages: 3, dropPolicy: 'drop-oldest' });
  for (const p of ['1', '2', '3']) await oldest.add(msg(p));
  const { evicted } = await oldest.add(msg('4'));
  assert.deepEqual(
    evicted.map((m) => m.payload.toString()),
    ['1'],
  );
  assert.deepEqual(
    oldest.list().map((m) => m.payload.toString()),
    ['2', '3', '4'],
  );
  // Messages on the wire are not evicted.
  const onWire = new Set([oldest.list()[0]!.seq]);
  assert.deepEqual(
    (await oldest.add(msg('5'), (m) => !onWire.has(m.seq))).evicted.map((m) => m.payload.toString()),
    ['3'],
  );
  await oldest.close();
  const reloaded = await OfflineQueue.open({ file: join(dir, 'oldest.jsonl') });
  assert.deepEqual(
    reloaded.list().map((m) => m.payload.toString()),
    ['2', '4', '5'],
    'evictions are on disk too',
  );
  await reloaded.close();

  const newest = await OfflineQueue.open({ maxMessages: 2, dropPolicy: 'drop-newest' });
  await newest.add(msg('1'));
  await newest.add(msg('2'));
  await assert.rejects(newest.add(msg('3')), MessageDroppedError);
  assert.deepEqual(
    newest.list().map((m) => m.payload.toString()),
    ['1', '2'],
  );

  // The byte bound counts topic and payload: 't' + 4 bytes = 5 per message.
  const reject = await OfflineQueue.open({ maxMessages: 100, maxBytes: 10, dropPolicy: 'reject' });
  await reject.add(msg('aaaa'));
  await reject.add(msg('bbbb'));
  assert.equal(reject.bytes, 10);
  await assert.rejects(reject.add(msg('c')), QueueFullError);
  await assert.rejects(reject.add(msg('x'.repeat(20))), /can never fit/);
  assert.equal(reject.size, 2);
});

test('through the client: a full queue drops the oldest, its publish rejects, and only the kept messages are sent', async () => {
  const d = await device(server, 'q-drop');
  const observer = await Observer.start(server, ['q-drop/data']);
  try {
    const c = await DeviceClient.create(mtlsOptions(server, d, { queue: { file: join(scratch(), 'drop.jsonl'), maxMessages: 3 } }));
    const dropped: string[] = [];
    c.on('dropped', (m) => dropped.push(m.payload.toString()));
    const outcomes = ['1', '2', '3', '4', '5'].map((p) => c.publish('q-drop/data', p));
    await assert.rejects(outcomes[0]!, MessageDroppedError);
    await assert.rejects(outcomes[1]!, MessageDroppedError);
    await c.connect();
    await Promise.all(outcomes.slice(2));
    await c.close();
    assert.deepEqual(dropped, ['1', '2']);
    await until(() => observer.payloads().length === 3, 'the kept messages');
    assert.deepEqual(observer.payloads(), ['3', '4', '5']);
  } finally {
    await observer.close();
  }
});

test('a publish the broker refuses (PUBACK 0x87) is removed from the queue and rejects with its reason code; the rest still go', async () => {
  const d = await provision(
    server,
    'q-refused',
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: '*' },
        { Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:us-east-1:123456789012:topic/q-refused/ok' },
      ],
    }),
  );
  const c = await DeviceClient.create(mtlsOptions(server, d, { queue: { file: join(scratch(), 'refused.jsonl') } }));
  try {
    const denied = c.publish('q-refused/denied', 'x');
    const ok = c.publish('q-refused/ok', 'y');
    await c.connect();
    await assert.rejects(denied, (e: unknown) => e instanceof PublishRejectedError && e.reasonCode === 0x87);
    await ok;
    assert.equal(c.queue.size, 0);
  } finally {
    await c.close();
  }
});

test('the queue file is compacted once acknowledged lines outnumber live ones, and a torn last line is ignored', async () => {
  const file = join(scratch(), 'compact.jsonl');
  const q = await OfflineQueue.open({ file, fsync: false });
  const msg = (payload: string) => ({ topic: 't', payload: Buffer.from(payload), qos: 1 as const, retain: false });
  for (let i = 0; i < 300; i++) {
    const { message } = await q.add(msg(`m${i}`));
    if (i < 299) await q.remove(message.seq);
  }
  assert.ok(lines(file).length < 100, `compacted: ${lines(file).length} lines`);
  await q.close();
  appendFileSync(file, '{"add":{"seq":999,"topic":"t","payl');
  const again = await OfflineQueue.open({ file });
  assert.deepEqual(
    again.list().map((m) => m.payload.toString()),
    ['m299'],
  );
  await again.add(msg('after'));
  await again.close();
  const third = await OfflineQueue.open({ file });
  assert.deepEqual(
    third.list().map((m) => m.payload.toString()),
    ['m299', 'after'],
  );
  await third.close();
});
