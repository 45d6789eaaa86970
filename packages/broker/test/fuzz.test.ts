/**
 * Bounded fuzzing over real sockets: 50 connections send random bytes and mutated valid packets
 * while well-behaved clients publish and subscribe. Every QoS 1 message of the good clients must
 * arrive once and in order; afterwards no connection or session is left and the heap is back near
 * its baseline. The seed is printed on failure (set FUZZ_SEED to replay, FUZZ_MS to run longer).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Packet } from 'mqtt-packet';
import {
  collect,
  connectPacket,
  gen,
  publish,
  sleep,
  TestBroker,
  uid,
  waitFor,
  withTimeout,
  type TransportName,
  type Version,
} from './helpers.js';

v8.setFlagsFromString('--expose_gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

type R = () => number;
const int = (r: R, n: number): number => Math.floor(r() * n);
const pick = <T>(r: R, xs: readonly T[]): T => xs[int(r, xs.length)]!;
const bytes = (r: R, n: number): Buffer => Buffer.from(Array.from({ length: n }, () => int(r, 256)));

const TOPICS = ['fz/a', 'fz/b/c', 'fz', '$SYS/x', 'fz/ü', 'a/b/c/d/e/f/g/h/i'];
const FILTERS = ['#', 'fz/#', 'fz/+', '+/+', '$share/g/fz/#', '$share/h/#', 'fz/a', '$SYS/#'];

function randomConnect(r: R, version: Version): Packet {
  const v5 = version === 5;
  return connectPacket(version, {
    clientId: r() < 0.1 ? '' : `fz-${int(r, 40)}`,
    clean: r() < 0.7 || version !== 5 ? r() < 0.8 : false,
    keepalive: pick(r, [0, 1, 60]),
    username: r() < 0.3 ? 'u?SDK=x' : undefined,
    password: r() < 0.2 ? Buffer.from('p') : undefined,
    will:
      r() < 0.3
        ? {
            topic: pick(r, TOPICS),
            payload: bytes(r, int(r, 20)),
            qos: pick(r, [0, 1, 2] as const),
            retain: r() < 0.3,
            properties: v5 && r() < 0.5 ? { willDelayInterval: int(r, 3), messageExpiryInterval: 1 + int(r, 5) } : undefined,
          }
        : undefined,
    properties: v5
      ? {
          sessionExpiryInterval: pick(r, [0, 1, 0xffffffff]),
          receiveMaximum: 1 + int(r, 5),
          maximumPacketSize: pick(r, [20, 200, 100_000]),
          topicAliasMaximum: int(r, 4),
          requestProblemInformation: r() < 0.5,
        }
      : undefined,
  });
}

function randomPacket(r: R, version: Version): Packet {
  const v5 = version === 5;
  const id = 1 + int(r, 5);
  switch (int(r, 9)) {
    case 0:
    case 1: {
      const qos = pick(r, [0, 1, 2] as const);
      return {
        cmd: 'publish',
        topic: pick(r, TOPICS),
        payload: bytes(r, int(r, 64)),
        qos,
        messageId: qos ? id : undefined,
        dup: false,
        retain: r() < 0.2,
        properties:
          v5 && r() < 0.5 ? { topicAlias: 1 + int(r, 3), messageExpiryInterval: 1 + int(r, 3), userProperties: { k: 'v' } } : undefined,
      };
    }
    case 2:
      return {
        cmd: 'subscribe',
        messageId: id,
        subscriptions: [
          { topic: pick(r, FILTERS), qos: pick(r, [0, 1, 2] as const), ...(v5 ? { nl: r() < 0.2, rap: r() < 0.5, rh: int(r, 3) } : {}) },
        ],
        properties: v5 && r() < 0.3 ? { subscriptionIdentifier: 1 + int(r, 1000) } : undefined,
      };
    case 3:
      return { cmd: 'unsubscribe', messageId: id, unsubscriptions: [pick(r, FILTERS)] };
    case 4:
      return { cmd: 'puback', messageId: id };
    case 5:
      return { cmd: 'pubrec', messageId: id };
    case 6:
      return { cmd: 'pubrel', messageId: id };
    case 7:
      return { cmd: 'pubcomp', messageId: id };
    default:
      return r() < 0.8
        ? { cmd: 'pingreq' }
        : {
            cmd: 'disconnect',
            reasonCode: v5 ? pick(r, [0, 4]) : undefined,
            properties: v5 ? { sessionExpiryInterval: int(r, 2) } : undefined,
          };
  }
}

/** Bit flips, truncation, Remaining Length tampering, byte overwrites, appended garbage. */
function mutate(r: R, b: Buffer): Buffer {
  const c = Buffer.from(b);
  if (c.length === 0) return bytes(r, 1 + int(r, 8));
  switch (int(r, 5)) {
    case 0:
      for (let i = 0, n = 1 + int(r, 4); i < n; i++) c[int(r, c.length)]! ^= 1 << int(r, 8);
      return c;
    case 1:
      return c.subarray(0, int(r, c.length));
    case 2:
      if (c.length > 1) c[1] = pick(r, [0, 1, 0x7f, 0x80, 0xff, int(r, 256)]);
      return c;
    case 3:
      c[int(r, c.length)] = int(r, 256);
      return c;
    default:
      return Buffer.concat([c, bytes(r, 1 + int(r, 16))]);
  }
}

function encode(p: Packet, version: Version): Buffer | null {
  try {
    return gen(p, version);
  } catch {
    return null;
  }
}

async function fuzzer(tb: TestBroker, r: R, deadline: number, counts: { connections: number }): Promise<void> {
  while (Date.now() < deadline) {
    const version = pick(r, [3, 4, 5] as const);
    const transport: TransportName = r() < 0.6 ? 'tcp' : 'ws';
    const c = await tb.raw(version, transport).catch(() => null);
    if (!c) continue;
    counts.connections++;
    try {
      const plan = r();
      if (plan < 0.2) {
        c.send(bytes(r, 1 + int(r, 200)));
      } else {
        let connect = encode(randomConnect(r, version), version) ?? bytes(r, 20);
        if (plan < 0.4) connect = mutate(r, connect);
        c.send(connect);
        for (let i = 0, n = int(r, 15); i < n && !c.isClosed; i++) {
          let p = encode(randomPacket(r, version), version);
          if (!p) continue;
          if (r() < 0.4) p = mutate(r, p);
          c.send(p);
          if (r() < 0.3) await sleep(int(r, 5));
        }
      }
      await Promise.race([c.waitClosed(1000).catch(() => {}), sleep(int(r, 60))]);
    } finally {
      c.destroy();
      tb.raws.delete(c);
    }
  }
}

/** A good client publishes QoS 1 messages to its own topic and must get them all back, once, in order. */
async function goodClient(tb: TestBroker, version: 4 | 5, transport: TransportName): Promise<(deadline: number) => Promise<void>> {
  const topic = `good/${uid()}`;
  const client = await tb.connect({ protocolVersion: version, transport });
  const got = collect(client, (t) => t === topic);
  await client.subscribeAsync(topic, { qos: 1 });
  return async (deadline) => {
    let n = 0;
    while (Date.now() < deadline) {
      await withTimeout(publish(client, topic, String(n), { qos: 1 }), 5000, `PUBACK for message ${n}`);
      n++;
    }
    const msgs = await got.count(n, 10_000);
    await sleep(50);
    assert.deepEqual(
      got.messages.map((m) => Number(m.payload.toString())),
      Array.from({ length: n }, (_, i) => i),
      'every message once, in order',
    );
    assert.ok(msgs.every((m) => m.packet.qos === 1));
    assert.ok(n > 50, `the good client got through (${n} messages)`);
    // Release what the test itself kept, so the heap check weighs the broker.
    client.removeAllListeners('message');
    got.messages.length = 0;
  };
}

test('fuzz: 50 connections of random and mutated input; good clients unaffected; nothing leaks', { timeout: 60_000 }, async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
  const ms = Number(process.env.FUZZ_MS ?? 9000);
  t.diagnostic(`seed ${seed}`);
  const tb = await TestBroker.start({ maxSessionExpiry: 1, connectTimeout: 1, maxPacketSize: 64 * 1024, maxInflight: 10, maxQueued: 50 });
  try {
    const goods = [await goodClient(tb, 5, 'tcp'), await goodClient(tb, 4, 'ws')];
    const baseline = heapAfterGc();
    const deadline = Date.now() + ms;
    const counts = { connections: 0 };
    const root = rng(seed);
    const fuzzers = Array.from({ length: 50 }, () => fuzzer(tb, rng(int(root, 2 ** 31)), deadline, counts));
    const checks = goods.map((g) => g(deadline));
    await Promise.all(fuzzers);
    await Promise.all(checks);
    t.diagnostic(`${counts.connections} fuzz connections; protocol errors ${JSON.stringify(tb.broker.stats.protocolErrors)}`);
    assert.ok(counts.connections > 200, `enough fuzz connections (${counts.connections})`);

    // Nothing left behind: only the two good connections and their sessions (fuzz sessions expire after 1 s).
    await waitFor(() => tb.broker.connectionCount === 2 && tb.broker.openConnections === 2, 'fuzz connections to close', 5000);
    await waitFor(() => tb.broker.sessionCount === 2, `fuzz sessions to expire (have ${tb.broker.sessionCount})`, 5000);
    assert.equal(tb.broker.queuedCount, 0);
    // Retained messages the fuzzers left are legitimate state; drop them before weighing the heap.
    const retained = tb.broker.retainedCount;
    await sleep(200);
    const after = heapAfterGc();
    const grown = (after - baseline) / 1024 / 1024;
    t.diagnostic(
      `heap ${(baseline / 1048576).toFixed(1)} MB -> ${(after / 1048576).toFixed(1)} MB (+${grown.toFixed(1)} MB), ${retained} retained`,
    );
    assert.ok(grown < 24, `heap grew by ${grown.toFixed(1)} MB (seed ${seed})`);
  } catch (err) {
    t.diagnostic(`failed with seed ${seed}`);
    throw err;
  } finally {
    await tb.close();
  }
});
