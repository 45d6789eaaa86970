/**
 * Bad input over real sockets: every malformed packet gets the reason code the specification names
 * (MQTT 5) or a closed connection (3.1.1), is counted, and leaves other clients unharmed.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { MqttClient } from 'mqtt';
import {
  collect,
  connectBytes,
  gen,
  publish,
  rawPacket,
  reasonOf,
  str,
  TestBroker,
  TRANSPORTS,
  uid,
  waitFor,
  type Collector,
  type TransportName,
  type Version,
} from './helpers.js';

/** A well-behaved client that must keep working whatever the others send. */
async function bystander(tb: TestBroker): Promise<{ check: () => Promise<void>; client: MqttClient; got: Collector }> {
  const topic = `good/${uid()}`;
  const client = await tb.connect({ protocolVersion: 5 });
  const got = collect(client);
  await client.subscribeAsync(topic, { qos: 1 });
  let n = 0;
  return {
    client,
    got,
    check: async () => {
      const payload = `ok-${n++}`;
      await publish(client, topic, payload, { qos: 1 });
      assert.equal((await got.next()).payload.toString(), payload);
    },
  };
}

const MAX = 4096;
const props0 = Buffer.from([0]);

/** Packets sent after a successful CONNECT, with the v5 reason code and the stats counter they hit. */
function afterConnect(v: Version): Array<{ name: string; bytes: Buffer; code: number; kind: string }> {
  const v5 = v === 5;
  const p = v5 ? props0 : Buffer.alloc(0);
  return [
    { name: 'string running past the end', bytes: rawPacket(0x30, Buffer.from([0, 50, 0x61])), code: 0x81, kind: 'malformed' },
    {
      name: 'truncated SUBSCRIBE (no options byte)',
      bytes: rawPacket(0x82, Buffer.concat([Buffer.from([0, 1]), p, str('a')])),
      code: 0x81,
      kind: 'malformed',
    },
    {
      name: 'reserved flags on SUBSCRIBE',
      bytes: rawPacket(0x80, Buffer.concat([Buffer.from([0, 1]), p, str('a'), Buffer.from([0])])),
      code: 0x81,
      kind: 'malformed',
    },
    { name: 'reserved flags on PINGREQ', bytes: Buffer.from([0xc4, 0]), code: 0x81, kind: 'malformed' },
    { name: 'PUBLISH QoS 3', bytes: rawPacket(0x36, Buffer.concat([str('t'), Buffer.from([0, 1]), p])), code: 0x81, kind: 'malformed' },
    { name: 'Remaining Length of five bytes', bytes: Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01]), code: 0x81, kind: 'malformed' },
    { name: 'packet type 0', bytes: Buffer.from([0x00, 0x00]), code: 0x81, kind: 'malformed' },
    { name: 'packet id 0', bytes: Buffer.from([0x40, 2, 0, 0]), code: 0x81, kind: 'malformed' },
    { name: 'trailing bytes on PINGREQ', bytes: Buffer.from([0xc0, 2, 0, 0]), code: 0x81, kind: 'malformed' },
    {
      name: 'invalid UTF-8 topic',
      bytes: rawPacket(0x30, Buffer.concat([str(Buffer.from([0xe2, 0x28, 0xa1])), p])),
      code: 0x81,
      kind: 'malformed',
    },
    {
      name: 'oversize packet',
      bytes: Buffer.concat([Buffer.from([0x30, 0xff, 0xff, 0x03]), Buffer.alloc(100)]),
      code: 0x95,
      kind: 'packet_too_large',
    },
    { name: 'second CONNECT', bytes: connectBytes(v), code: 0x82, kind: 'protocol_error' },
    { name: 'CONNACK from a client', bytes: Buffer.from(v5 ? [0x20, 3, 0, 0, 0] : [0x20, 2, 0, 0]), code: 0x82, kind: 'protocol_error' },
    {
      name: 'SUBSCRIBE without filters',
      bytes: rawPacket(0x82, Buffer.concat([Buffer.from([0, 1]), p])),
      code: 0x82,
      kind: 'protocol_error',
    },
    {
      name: 'PUBLISH without topic or alias',
      bytes: rawPacket(0x30, Buffer.concat([str(''), p, Buffer.from('x')])),
      code: 0x82,
      kind: 'protocol_error',
    },
    ...(v5
      ? [
          {
            name: 'duplicate property',
            bytes: rawPacket(0x30, Buffer.concat([str('t'), Buffer.from([10, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1])])),
            code: 0x82,
            kind: 'protocol_error',
          },
          { name: 'AUTH without authentication method', bytes: Buffer.from([0xf0, 0]), code: 0x82, kind: 'protocol_error' },
          {
            name: 'Topic Alias 0',
            bytes: rawPacket(0x30, Buffer.concat([str('t'), Buffer.from([3, 0x23, 0, 0])])),
            code: 0x94,
            kind: 'topic_alias_invalid',
          },
        ]
      : [{ name: 'AUTH in MQTT 3.1.1', bytes: Buffer.from([0xf0, 0]), code: 0x81, kind: 'malformed' }]),
  ];
}

describe('bad input', { concurrency: true }, () => {
  for (const transport of TRANSPORTS) {
    for (const version of [4, 5] as const) {
      test(`${transport} v${version}: malformed packets after CONNECT: ${version === 5 ? 'DISCONNECT with the reason code' : 'closed'}, counted, bystander unharmed`, async () => {
        const tb = await TestBroker.start({ maxPacketSize: MAX });
        try {
          const good = await bystander(tb);
          const expected: Record<string, number> = {};
          for (const c of afterConnect(version)) {
            const { client } = await tb.rawConnected(version, {}, transport);
            client.send(c.bytes);
            const got = await client.closedWith();
            if (version === 5) {
              assert.equal(got.length, 1, `${c.name}: one packet before the close (${JSON.stringify(got)})`);
              assert.equal(got[0]!.cmd, 'disconnect', c.name);
              assert.equal(reasonOf(got[0]!), c.code, `${c.name}: reason 0x${reasonOf(got[0]!)?.toString(16)}`);
              assert.ok((got[0] as { properties?: { reasonString?: string } }).properties?.reasonString, `${c.name}: a reason string`);
            } else {
              assert.deepEqual(got, [], c.name);
            }
            expected[c.kind] = (expected[c.kind] ?? 0) + 1;
            assert.deepEqual({ ...tb.broker.stats.protocolErrors }, expected, c.name);
            await good.check();
          }
          await waitFor(() => tb.broker.connectionCount === 1, 'only the bystander to remain');
          assert.equal(tb.broker.openConnections, 1);
        } finally {
          await tb.close();
        }
      });
    }
  }

  test('bad CONNECTs: unsupported level gets CONNACK rc 1; malformed CONNECT gets v5 CONNACK with the reason or a v3.1.1 close', async () => {
    const tb = await TestBroker.start({ maxPacketSize: MAX });
    try {
      const good = await bystander(tb);
      for (const version of [4, 5] as const) {
        for (const level of [0, 2, 6, 7]) {
          // The level is unknown, so the answer is in the 3.1.1 format: read it with a 3.1.1 parser.
          const c = await tb.raw(4);
          const bytes = connectBytes(version);
          bytes[8] = level;
          c.send(bytes);
          const ack = await c.next('connack');
          assert.deepEqual([ack.returnCode, ack.sessionPresent], [1, false]);
          assert.deepEqual(c.bytes, Buffer.from([0x20, 2, 0, 1]));
          await c.waitClosed();
        }
      }
      // A wrong protocol name: refused (or simply closed), never accepted.
      for (const version of [4, 5] as const) {
        const c = await tb.raw(4);
        const bytes = connectBytes(version);
        bytes.write('HTTP', 4, 'latin1');
        c.send(bytes);
        const got = await c.closedWith();
        assert.ok(
          got.every((p) => p.cmd === 'connack' && p.returnCode === 1),
          JSON.stringify(got),
        );
      }
      // An HTTP request on the MQTT port.
      const h = await tb.raw(4);
      h.send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      assert.deepEqual(await h.closedWith(), []);
      // Malformed v5 CONNECT (reserved flag): CONNACK 0x81; v3.1.1: close.
      for (const version of [4, 5] as const) {
        const c = await tb.raw(version);
        const bytes = connectBytes(version);
        bytes[9]! |= 0x01;
        c.send(bytes);
        const got = await c.closedWith();
        if (version === 5)
          assert.deepEqual(
            got.map((p) => [p.cmd, reasonOf(p)]),
            [['connack', 0x81]],
          );
        else assert.deepEqual(got, []);
      }
      // Oversize CONNECT: refused from its fixed header, before its protocol level is known: a close.
      const big = await tb.raw(5);
      big.send(connectBytes(5, { clientId: 'x'.repeat(MAX) }));
      assert.deepEqual(await big.closedWith(), []);
      assert.deepEqual(
        { ...tb.broker.stats.protocolErrors },
        { unsupported_protocol: 10, protocol_error: 1, malformed: 2, packet_too_large: 1 },
      );
      await good.check();
      await waitFor(() => tb.broker.connectionCount === 1, 'only the bystander to remain');
    } finally {
      await tb.close();
    }
  });

  for (const transport of TRANSPORTS) {
    test(`${transport}: a half-sent packet followed by a close leaves nothing behind`, async () => {
      const tb = await TestBroker.start();
      try {
        const good = await bystander(tb);
        for (const version of [4, 5] as const) {
          const pre = await tb.raw(version, transport);
          pre.send(connectBytes(version).subarray(0, 5));
          pre.destroy();
          const { client } = await tb.rawConnected(version, {}, transport);
          client.send(
            gen(
              { cmd: 'publish', topic: 't', payload: Buffer.alloc(1000), qos: 1, messageId: 1, dup: false, retain: false },
              version,
            ).subarray(0, 500),
          );
          client.destroy();
        }
        await waitFor(() => tb.broker.connectionCount === 1, 'the broken connections to go');
        assert.equal(tb.broker.sessionCount, 1);
        await good.check();
      } finally {
        await tb.close();
      }
    });
  }

  test('WebSocket: a text frame closes the connection; packets split across or packed into binary frames work', async () => {
    const tb = await TestBroker.start();
    try {
      const good = await bystander(tb);
      const ws = new WebSocket(`ws://127.0.0.1:${tb.wsPort}/mqtt`, 'mqtt');
      await new Promise((r, j) => ws.once('open', r).once('error', j));
      const closed = new Promise((r) => ws.once('close', r));
      ws.send(connectBytes(4).toString('latin1'));
      await closed;

      // Binary frames: CONNECT split in two frames, then SUBSCRIBE + PUBLISH in one frame.
      const raw = await tb.raw(4, 'ws');
      const c = connectBytes(4);
      raw.send(c.subarray(0, 3));
      raw.send(c.subarray(3));
      assert.equal((await raw.next('connack')).returnCode, 0);
      raw.send(
        Buffer.concat([
          gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ws/x', qos: 1 }] }, 4),
          gen({ cmd: 'publish', topic: 'ws/x', payload: 'packed', qos: 1, messageId: 2, dup: false, retain: false }, 4),
        ]),
      );
      const seen = await raw.take(3);
      assert.deepEqual(seen.map((p) => p.cmd).sort(), ['puback', 'publish', 'suback']);
      await good.check();
    } finally {
      await tb.close();
    }
  });

  test('WebSocket: an unknown path is refused; `mqttv3.1` is accepted as a sub-protocol', async () => {
    const tb = await TestBroker.start();
    try {
      const wrong = new WebSocket(`ws://127.0.0.1:${tb.wsPort}/other`, 'mqtt');
      await new Promise<void>((resolve) => {
        wrong.once('error', () => resolve());
        wrong.once('unexpected-response', () => resolve());
      });
      wrong.terminate();
      const old = new WebSocket(`ws://127.0.0.1:${tb.wsPort}/mqtt?x=1`, 'mqttv3.1');
      await new Promise((r, j) => old.once('open', r).once('error', j));
      assert.equal(old.protocol, 'mqttv3.1');
      old.terminate();
    } finally {
      await tb.close();
    }
  });

  test('a flood of garbage connections does not disturb a working client', async () => {
    const tb = await TestBroker.start();
    try {
      const good = await bystander(tb);
      const transports: TransportName[] = ['tcp', 'ws'];
      const raws = await Promise.all(Array.from({ length: 40 }, (_, i) => tb.raw(4, transports[i % 2])));
      for (const [i, r] of raws.entries()) {
        r.send(Buffer.from(Array.from({ length: 64 }, (_, k) => (i * 31 + k * 17) & 0xff)));
      }
      await good.check();
      await Promise.all(raws.map((r) => r.waitClosed(5000)));
      await waitFor(() => tb.broker.connectionCount === 1, 'the garbage connections to close');
      await good.check();
    } finally {
      await tb.close();
    }
  });
});
