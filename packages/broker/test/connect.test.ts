/** CONNECT / CONNACK: reason codes, session present, client ids, authentication, keep-alive, timeouts. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AWS_PROFILE, type AuthResult, type ConnectRequest } from '@thicket/broker';
import { connectBytes, errorCode, gen, rawPacket, reasonOf, TRANSPORTS, uid, waitFor, withBroker } from './helpers.js';

describe('connect', { concurrency: true }, () => {
  for (const transport of TRANSPORTS) {
    for (const protocolVersion of [3, 4, 5] as const) {
      test(`${transport}: MQTT level ${protocolVersion} client connects and gets a successful CONNACK`, () =>
        withBroker({}, async (tb) => {
          const c = await tb.connect({ transport, protocolVersion, protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT' });
          assert.equal(c.connected, true);
          assert.equal(tb.broker.openConnections, 1);
        }));
    }

    test(`${transport}: session present is 0 for a new session and 1 when resuming (v3.1.1 and v5)`, () =>
      withBroker({}, async (tb) => {
        const id4 = uid();
        const a = await tb.raw(4, transport);
        const ack1 = await a.connect({ clientId: id4, clean: false });
        assert.equal(ack1.sessionPresent, false);
        a.destroy();
        await a.waitClosed();
        const b = await tb.raw(4, transport);
        const ack2 = await b.connect({ clientId: id4, clean: false });
        assert.equal(ack2.sessionPresent, true);
        b.destroy();
        await b.waitClosed();
        // A clean session discards the stored one and never reports it present.
        const c = await tb.raw(4, transport);
        const ack3 = await c.connect({ clientId: id4, clean: true });
        assert.equal(ack3.sessionPresent, false);

        const id5 = uid();
        const d = await tb.raw(5, transport);
        assert.equal((await d.connect({ clientId: id5, clean: true, properties: { sessionExpiryInterval: 60 } })).sessionPresent, false);
        d.destroy();
        await d.waitClosed();
        const e = await tb.raw(5, transport);
        assert.equal((await e.connect({ clientId: id5, clean: false, properties: { sessionExpiryInterval: 60 } })).sessionPresent, true);
      }));
  }

  test('v5 session with expiry 0 is not present on the next connection', () =>
    withBroker({}, async (tb) => {
      const id = uid();
      const a = await tb.raw(5);
      await a.connect({ clientId: id, clean: false });
      a.destroy();
      await a.waitClosed();
      const b = await tb.raw(5);
      assert.equal((await b.connect({ clientId: id, clean: false })).sessionPresent, false);
    }));

  test('v5 empty client id: the server assigns one, returns it in CONNACK and it works', () =>
    withBroker({}, async (tb) => {
      const { client, connack } = await tb.rawConnected(5, { clientId: '' });
      const assigned = connack.properties?.assignedClientIdentifier;
      assert.ok(assigned && assigned.length > 0, 'Assigned Client Identifier present');
      client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'e/1', qos: 0 }] });
      await client.next('suback');
      tb.broker.publish({ topic: 'e/1', payload: 'x' });
      const p = await client.next('publish');
      assert.equal(p.topic, 'e/1');
      // Two empty-id clients get different ids.
      const { connack: other } = await tb.rawConnected(5, { clientId: '' });
      assert.notEqual(other.properties?.assignedClientIdentifier, assigned);
    }));

  test('v3.1.1 empty client id: accepted with clean session, refused with rc 2 when persistent', () =>
    withBroker({}, async (tb) => {
      const ok = await tb.raw(4);
      const ack = await ok.connect({ clientId: '', clean: true });
      assert.equal(ack.returnCode, 0);
      assert.equal(ack.sessionPresent, false);
      const bad = await tb.raw(4);
      // mqtt-packet refuses to generate this CONNECT: clear the clean session flag by hand.
      const bytes = connectBytes(4, { clientId: '', clean: true });
      bytes[9]! &= ~0x02;
      bad.send(bytes);
      const nack = await bad.next('connack');
      assert.equal(nack.returnCode, 2);
      await bad.waitClosed();
      assert.equal(tb.broker.openConnections, 1);
    }));

  test('username with an AWS SDK query string reaches the authenticate hook split into user and parameters', async () => {
    const seen: ConnectRequest[] = [];
    await withBroker(
      {
        hooks: {
          authenticate: (r) => {
            seen.push(r);
            return { reasonCode: 0 };
          },
        },
      },
      async (tb) => {
        await tb.connect({ protocolVersion: 4, username: 'user?SDK=JavaScript&Version=2.1', password: 'pw' });
        await tb.connect({ protocolVersion: 5, username: '?SDK=JavaScript&Version=2.1&x-amz-customauthorizer-name=auth' });
        await tb.connect({ protocolVersion: 5, username: 'plain', transport: 'ws' });
        assert.equal(seen.length, 3);
        assert.equal(seen[0]!.username, 'user');
        assert.deepEqual(seen[0]!.usernameQuery, { SDK: 'JavaScript', Version: '2.1' });
        assert.deepEqual(seen[0]!.password, Buffer.from('pw'));
        assert.equal(seen[0]!.protocolVersion, 4);
        assert.equal(seen[0]!.transport.kind, 'tcp');
        assert.equal(seen[1]!.username, undefined);
        assert.equal(seen[1]!.usernameQuery['x-amz-customauthorizer-name'], 'auth');
        assert.equal(seen[2]!.username, 'plain');
        assert.deepEqual(seen[2]!.usernameQuery, {});
        assert.equal(seen[2]!.transport.kind, 'ws');
        assert.equal(seen[2]!.transport.http?.url, '/mqtt');
      },
    );
  });

  test('authenticate hook refusal: v5 gets the reason code and string, v3.1.1 the mapped return code', async () => {
    const refuse = (r: ConnectRequest): AuthResult =>
      r.username === 'bad-password'
        ? { reasonCode: 0x86, reasonString: 'wrong password' }
        : r.username === 'throws'
          ? (() => {
              throw new Error('boom');
            })()
          : { reasonCode: 0x87, reasonString: 'denied by policy' };
    await withBroker({ hooks: { authenticate: async (r) => (r.username === 'ok' ? { reasonCode: 0 } : refuse(r)) } }, async (tb) => {
      const failed: unknown[] = [];
      tb.broker.on('client:connectFailed', (e) => failed.push(e));
      for (const transport of TRANSPORTS) {
        const v5 = await tb.raw(5, transport);
        const ack = await v5.connect({ username: 'nobody' });
        assert.equal(ack.reasonCode, 0x87);
        assert.equal(ack.properties?.reasonString, 'denied by policy');
        assert.equal(ack.sessionPresent, false);
        await v5.waitClosed();

        const v5b = await tb.raw(5, transport);
        assert.equal((await v5b.connect({ username: 'bad-password' })).reasonCode, 0x86);

        const v4 = await tb.raw(4, transport);
        assert.equal((await v4.connect({ username: 'nobody' })).returnCode, 5);
        await v4.waitClosed();
        const v4b = await tb.raw(4, transport);
        assert.equal((await v4b.connect({ username: 'bad-password' })).returnCode, 4);
      }
      // A hook that throws refuses the connection as not authorized.
      const t = await tb.raw(5);
      assert.equal((await t.connect({ username: 'throws' })).reasonCode, 0x87);
      // mqtt.js sees the refusal as an error carrying the code.
      await assert.rejects(tb.connect({ protocolVersion: 5, username: 'nobody' }), (err) => errorCode(err) === 0x87);
      await assert.rejects(tb.connect({ protocolVersion: 4, username: 'nobody' }), (err) => errorCode(err) === 5);
      assert.equal(tb.broker.openConnections, 0);
      assert.ok(failed.length >= 9);
      // An accepted client still works.
      await tb.connect({ protocolVersion: 5, username: 'ok' });
    });
  });

  test('packets pipelined behind CONNECT wait for an asynchronous authenticate hook', () =>
    withBroker(
      {
        hooks: {
          authenticate: () => new Promise((resolve) => setTimeout(() => resolve({ reasonCode: 0 }), 50)),
        },
      },
      async (tb) => {
        const c = await tb.raw(5);
        c.send(
          Buffer.concat([
            connectBytes(5),
            gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'p/1', qos: 1 }] }, 5),
            gen({ cmd: 'publish', topic: 'p/1', payload: 'self', qos: 1, messageId: 2, dup: false, retain: false }, 5),
          ]),
        );
        assert.equal((await c.next('connack')).reasonCode, 0);
        assert.equal((await c.next('suback')).messageId, 1);
        const two = [await c.next(), await c.next()];
        const pub = two.find((p) => p.cmd === 'publish');
        assert.ok(pub && pub.cmd === 'publish' && pub.payload.toString() === 'self');
        assert.ok(two.some((p) => p.cmd === 'puback' && p.messageId === 2));
      },
    ));

  for (const version of [4, 5] as const) {
    test(`v${version}: a second CONNECT closes the connection${version === 5 ? ' with DISCONNECT 0x82' : ''}`, () =>
      withBroker({}, async (tb) => {
        const { client } = await tb.rawConnected(version);
        client.send(connectBytes(version));
        const before = client.pending();
        const rest = await client.closedWith();
        const all = [...before, ...rest];
        if (version === 5) {
          assert.equal(all.length, 1);
          assert.equal(all[0]!.cmd, 'disconnect');
          assert.equal(reasonOf(all[0]!), 0x82);
        } else {
          assert.equal(all.length, 0);
        }
        assert.equal(tb.broker.stats.protocolErrors.protocol_error, 1);
      }));
  }

  test('packets before CONNECT close the connection without a CONNACK', () =>
    withBroker({}, async (tb) => {
      for (const p of [
        gen({ cmd: 'pingreq' }, 4),
        gen({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a', qos: 0 }] }, 4),
        gen({ cmd: 'publish', topic: 'a', payload: 'x', qos: 0, dup: false, retain: false }, 4),
      ]) {
        const c = await tb.raw(4);
        c.send(p);
        assert.deepEqual(await c.closedWith(), []);
      }
      assert.equal(tb.broker.stats.protocolErrors.protocol_error, 3);
      assert.equal(tb.broker.connectionCount, 0);
    }));

  test('a client that sends no (or half a) CONNECT is closed after the connect timeout', () =>
    withBroker({ connectTimeout: 1 }, async (tb) => {
      const started = Date.now();
      const silent = await tb.raw(4);
      const half = await tb.raw(5, 'ws');
      half.send(connectBytes(5).subarray(0, 6));
      await Promise.all([silent.waitClosed(4000), half.waitClosed(4000)]);
      assert.ok(Date.now() - started >= 900, 'not closed before the timeout');
      assert.deepEqual(silent.pending(), []);
      assert.equal(tb.broker.connectionCount, 0);
    }));

  test('a client connecting within the connect timeout is not closed by it', () =>
    withBroker({ connectTimeout: 1 }, async (tb) => {
      const { client } = await tb.rawConnected(4);
      const t0 = Date.now();
      // Keep the connection busy past the timeout (keep-alive is off).
      while (Date.now() - t0 < 2200) {
        client.send({ cmd: 'pingreq' });
        await client.next('pingresp');
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(client.isClosed, false);
    }));

  test('maximum connections: v5 gets 0x97, v3.1.1 rc 3; a slot frees when a client leaves', () =>
    withBroker({ maxConnections: 2 }, async (tb) => {
      const a = await tb.connect({ protocolVersion: 5 });
      await tb.connect({ protocolVersion: 4, transport: 'ws' });
      const v5 = await tb.raw(5);
      assert.equal((await v5.connect()).reasonCode, 0x97);
      const v4 = await tb.raw(4, 'ws');
      assert.equal((await v4.connect()).returnCode, 3);
      await a.endAsync();
      await tb.connect({ protocolVersion: 5 });
      assert.equal(tb.broker.openConnections, 2);
      assert.equal(tb.broker.stats.connectionsRefused, 2);
    }));

  test('maximum connections holds while several clients are in an asynchronous authenticate hook', () =>
    withBroker(
      {
        maxConnections: 2,
        hooks: { authenticate: () => new Promise((resolve) => setTimeout(() => resolve({ reasonCode: 0 }), 100)) },
      },
      async (tb) => {
        const raws = await Promise.all(Array.from({ length: 5 }, () => tb.raw(5)));
        const acks = await Promise.all(raws.map((r) => r.connect()));
        const codes = acks.map((a) => a.reasonCode).sort((a, b) => a! - b!);
        assert.deepEqual(codes, [0, 0, 0x97, 0x97, 0x97]);
        assert.equal(tb.broker.openConnections, 2);
      },
    ));

  test('a client that goes away during an asynchronous authenticate hook leaves nothing behind', async () => {
    let called!: () => void;
    const hookCalled = new Promise<void>((r) => (called = r));
    let release!: (r: AuthResult) => void;
    const decided = new Promise<AuthResult>((r) => (release = r));
    await withBroker(
      {
        hooks: {
          authenticate: () => {
            called();
            return decided;
          },
        },
      },
      async (tb) => {
        const c = await tb.raw(5);
        c.send(connectBytes(5, { clientId: 'leaver', clean: false, properties: { sessionExpiryInterval: 60 } }));
        await hookCalled;
        c.destroy();
        await waitFor(() => tb.broker.connectionCount === 0, 'the connection to go');
        release({ reasonCode: 0 });
        await decided;
        await new Promise((r) => setImmediate(r));
        assert.equal(tb.broker.openConnections, 0);
        assert.equal(tb.broker.sessionCount, 0);
      },
    );
  });

  test('disconnectAfterSeconds from the authenticate hook closes the connection (v5: DISCONNECT 0xA0)', () =>
    withBroker({ hooks: { authenticate: () => ({ reasonCode: 0, disconnectAfterSeconds: 1 }) } }, async (tb) => {
      const t0 = Date.now();
      const { client } = await tb.rawConnected(5);
      const [d] = await client.closedWith(4000);
      assert.equal(reasonOf(d!), 0xa0);
      assert.ok(Date.now() - t0 >= 950);
    }));

  test('unsupported protocol level: CONNACK with return code 1, then close', () =>
    withBroker({}, async (tb) => {
      for (const level of [2, 6, 255]) {
        const c = await tb.raw(4);
        const bytes = connectBytes(4);
        // Fixed header (2 bytes) + protocol name (6 bytes), then the level byte.
        bytes[8] = level;
        c.send(bytes);
        const ack = await c.next('connack');
        assert.equal(ack.returnCode, 1);
        await c.waitClosed();
      }
      // MQIsdp is only 3.1; MQTT only 4 and 5.
      const wrongPair = await tb.raw(4);
      const bytes = connectBytes(4);
      bytes[8] = 3;
      wrongPair.send(bytes);
      assert.equal((await wrongPair.next('connack')).returnCode, 1);
      assert.equal(tb.broker.stats.protocolErrors.unsupported_protocol, 4);
    }));

  for (const transport of TRANSPORTS) {
    test(`${transport}: keep-alive is enforced at 1.5x: v5 gets DISCONNECT 0x8D, v3.1.1 a close`, () =>
      withBroker({}, async (tb) => {
        const v5 = await tb.raw(5, transport);
        const t0 = Date.now();
        await v5.connect({ keepalive: 1 });
        const v4 = await tb.raw(4, transport);
        await v4.connect({ keepalive: 1 });
        const [p5, p4] = await Promise.all([v5.closedWith(5000), v4.closedWith(5000)]);
        const elapsed = Date.now() - t0;
        assert.ok(elapsed >= 1450, `closed after ${elapsed} ms, before 1.5 x keep-alive`);
        assert.equal(p5.length, 1);
        assert.equal(p5[0]!.cmd, 'disconnect');
        assert.equal(reasonOf(p5[0]!), 0x8d);
        assert.deepEqual(p4, []);
      }));
  }

  test('a client that pings within the keep-alive stays connected', () =>
    withBroker({}, async (tb) => {
      const { client } = await tb.rawConnected(5, { keepalive: 1 });
      const t0 = Date.now();
      while (Date.now() - t0 < 2600) {
        await new Promise((r) => setTimeout(r, 600));
        client.send({ cmd: 'pingreq' });
        await client.next('pingresp');
      }
      assert.equal(client.isClosed, false);
    }));

  test('server keep-alive: maxKeepAlive replaces 0 and longer values and is announced in CONNACK', () =>
    withBroker({ maxKeepAlive: 60 }, async (tb) => {
      const cases: Array<[number, number | undefined]> = [
        [0, 60],
        [120, 60],
        [30, undefined],
        [60, undefined],
      ];
      for (const [asked, announced] of cases) {
        const { connack } = await tb.rawConnected(5, { keepalive: asked });
        assert.equal(connack.properties?.serverKeepAlive, announced, `keepalive ${asked}`);
      }
    }));

  test('AWS profile: keep-alive 1..29 is raised to 30, 0 and >1200 become 1200', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      for (const [asked, announced] of [
        [5, 30],
        [0, 1200],
        [5000, 1200],
        [300, undefined],
      ] as Array<[number, number | undefined]>) {
        const { connack } = await tb.rawConnected(5, { keepalive: asked });
        assert.equal(connack.properties?.serverKeepAlive, announced, `keepalive ${asked}`);
      }
    }));

  test('CONNACK properties announce the broker limits (default profile and AWS profile)', async () => {
    await withBroker({}, async (tb) => {
      const { connack } = await tb.rawConnected(5, { properties: { sessionExpiryInterval: 0xffffffff } });
      const p = connack.properties ?? {};
      assert.equal(p.receiveMaximum, 100);
      assert.equal(p.maximumPacketSize, 1024 * 1024);
      assert.equal(p.topicAliasMaximum, 32);
      assert.equal(p.maximumQoS, undefined);
      assert.equal(p.sessionExpiryInterval, 7 * 24 * 3600);
      assert.equal(p.subscriptionIdentifiersAvailable, undefined);
    });
    await withBroker({ ...AWS_PROFILE }, async (tb) => {
      const { connack } = await tb.rawConnected(5, { properties: { sessionExpiryInterval: 7200 } });
      const p = connack.properties ?? {};
      assert.equal(p.maximumQoS, 1);
      assert.equal(p.maximumPacketSize, 128 * 1024);
      assert.equal(p.topicAliasMaximum, 8);
      assert.equal(p.subscriptionIdentifiersAvailable, false);
      assert.equal(p.sessionExpiryInterval, 3600);
      const { connack: c2 } = await tb.rawConnected(5, { properties: { sessionExpiryInterval: 60 } });
      assert.equal(c2.properties?.sessionExpiryInterval, undefined, 'granted as asked: not repeated');
    });
  });

  test('CONNECT checks: will topic, will QoS, client id length, authentication method', () =>
    withBroker({ ...AWS_PROFILE }, async (tb) => {
      const willTopic = await tb.raw(5);
      assert.equal(
        (await willTopic.connect({ will: { topic: 'a/+', payload: Buffer.from('x'), qos: 0, retain: false } })).reasonCode,
        0x90,
      );
      const willQos = await tb.raw(5);
      assert.equal((await willQos.connect({ will: { topic: 'a', payload: Buffer.from('x'), qos: 2, retain: false } })).reasonCode, 0x9b);
      const longId = await tb.raw(5);
      assert.equal((await longId.connect({ clientId: 'x'.repeat(129) })).reasonCode, 0x85);
      const longId4 = await tb.raw(4);
      assert.equal((await longId4.connect({ clientId: 'x'.repeat(129) })).returnCode, 2);
      const okId = await tb.raw(4);
      assert.equal((await okId.connect({ clientId: 'x'.repeat(128) })).returnCode, 0);
      const auth = await tb.raw(5);
      assert.equal((await auth.connect({ properties: { authenticationMethod: 'SCRAM-SHA-1' } })).reasonCode, 0x8c);
    }));

  test('a v5 CONNECT with a protocol error gets a CONNACK with the reason code', () =>
    withBroker({}, async (tb) => {
      const c = await tb.raw(5);
      // CONNECT with Receive Maximum 0.
      const bytes = connectBytes(5, { properties: { receiveMaximum: 1 } });
      const at = bytes.indexOf(Buffer.from([0x21, 0x00, 0x01]));
      assert.ok(at > 0);
      bytes[at + 2] = 0;
      c.send(bytes);
      assert.equal((await c.next('connack')).reasonCode, 0x82);
      await c.waitClosed();
      // Same for a v3.1.1 client: just a close.
      const d = await tb.raw(4);
      const b4 = connectBytes(4);
      b4[9]! |= 0x01; // reserved connect flag
      d.send(b4);
      assert.deepEqual(await d.closedWith(), []);
    }));

  test('client:connected and client:disconnected events carry the client', () =>
    withBroker({}, async (tb) => {
      const events: string[] = [];
      tb.broker.on('client:connected', (c: { clientId: string }, present: boolean) => events.push(`+${c.clientId}:${present}`));
      tb.broker.on('client:disconnected', (c: { clientId: string }, reason: string) => events.push(`-${c.clientId}:${reason}`));
      const c = await tb.connect({ clientId: 'ev1', protocolVersion: 5 });
      await c.endAsync();
      const r = await tb.raw(4);
      await r.connect({ clientId: 'ev2' });
      r.destroy();
      await waitFor(() => events.length === 4, 'the disconnect event');
      assert.deepEqual(events, ['+ev1:false', '-ev1:CLIENT_INITIATED_DISCONNECT', '+ev2:false', '-ev2:CONNECTION_LOST']);
    }));

  test('rawPacket helper sanity: a hand-built PINGREQ is answered', () =>
    withBroker({}, async (tb) => {
      const { client } = await tb.rawConnected(4);
      client.send(rawPacket(0xc0, []));
      await client.next('pingresp');
    }));
});
