/** Last Will and Testament: when it is (not) sent, delay interval, retain, properties, takeover. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IConnectPacket } from 'mqtt-packet';
import { AWS_PROFILE } from '@thicket/broker';
import { collect, rawPacket, sleep, TRANSPORTS, uid, userPropertyBytes, waitFor, withBroker, type TestBroker } from './helpers.js';

type Will = NonNullable<IConnectPacket['will']>;

function will(topic: string, payload = 'gone', extra: Partial<Will> = {}): Will {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, ...extra };
}

async function watch(tb: TestBroker, topic: string, protocolVersion: 4 | 5 = 5): Promise<ReturnType<typeof collect>> {
  const w = await tb.connect({ protocolVersion });
  const got = collect(w);
  await w.subscribeAsync(topic, { qos: 1 });
  return got;
}

describe('will', { concurrency: true }, () => {
  for (const transport of TRANSPORTS) {
    for (const version of [4, 5] as const) {
      test(`${transport} v${version}: the will is published when the connection drops without DISCONNECT`, () =>
        withBroker({}, async (tb) => {
          const topic = `will/${uid()}`;
          const got = await watch(tb, topic, version === 5 ? 4 : 5);
          const { client } = await tb.rawConnected(version, { will: will(topic, `bye-${version}`) }, transport);
          client.destroy();
          const m = await got.next();
          assert.equal(m.payload.toString(), `bye-${version}`);
          assert.equal(m.packet.qos, 1);
          assert.equal(m.packet.retain, false);
        }));

      test(`${transport} v${version}: no will after a normal DISCONNECT`, () =>
        withBroker({}, async (tb) => {
          const topic = `will/${uid()}`;
          const got = await watch(tb, topic);
          const c = await tb.connect({ protocolVersion: version, transport, will: will(topic) });
          await c.endAsync();
          assert.deepEqual(await got.settle(200), []);
        }));
    }
  }

  test('v5 DISCONNECT with reason 0x04 publishes the will', () =>
    withBroker({}, async (tb) => {
      const topic = `will/${uid()}`;
      const got = await watch(tb, topic);
      const { client } = await tb.rawConnected(5, { will: will(topic, 'with will') });
      client.send({ cmd: 'disconnect', reasonCode: 0x04 });
      await client.waitClosed();
      assert.equal((await got.next()).payload.toString(), 'with will');
    }));

  test('the will is published when the server closes the connection for a protocol error or keep-alive', () =>
    withBroker({}, async (tb) => {
      const topic = `will/${uid()}`;
      const got = await watch(tb, topic);
      const { client: bad } = await tb.rawConnected(4, { will: will(topic, 'malformed') });
      bad.send(rawPacket(0x30, [0x00])); // PUBLISH with a truncated topic length
      await bad.waitClosed();
      assert.equal((await got.next()).payload.toString(), 'malformed');
      await tb.rawConnected(5, { keepalive: 1, will: will(topic, 'silent') });
      assert.equal((await got.next(5000)).payload.toString(), 'silent');
    }));

  test('will delay: sent after the delay, not before', () =>
    withBroker({}, async (tb) => {
      const topic = `will/${uid()}`;
      const got = await watch(tb, topic);
      const { client } = await tb.rawConnected(5, {
        clientId: uid(),
        clean: false,
        properties: { sessionExpiryInterval: 30 },
        will: will(topic, 'late', { properties: { willDelayInterval: 1 } }),
      });
      const t0 = Date.now();
      client.destroy();
      await got.next(3000);
      assert.ok(Date.now() - t0 >= 900, `sent after ${Date.now() - t0} ms`);
    }));

  test('will delay: not sent when the client reconnects within the delay', () =>
    withBroker({}, async (tb) => {
      const topic = `will/${uid()}`;
      const id = uid();
      const got = await watch(tb, topic);
      const opts = {
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 30 },
        will: will(topic, 'should not', { properties: { willDelayInterval: 1 } }),
      };
      const { client } = await tb.rawConnected(5, opts);
      client.destroy();
      await client.waitClosed();
      await sleep(200);
      const { client: again } = await tb.rawConnected(5, { ...opts, will: undefined });
      assert.deepEqual(await got.settle(1500), []);
      // A clean disconnect of the new connection has no will of its own.
      again.send({ cmd: 'disconnect' });
      await again.waitClosed();
      assert.deepEqual(await got.settle(100), []);
    }));

  test('will delay longer than the session expiry: the will goes when the session ends', () =>
    withBroker({}, async (tb) => {
      const topic = `will/${uid()}`;
      const got = await watch(tb, topic);
      const { client } = await tb.rawConnected(5, {
        clientId: uid(),
        properties: { sessionExpiryInterval: 1 },
        will: will(topic, 'at expiry', { properties: { willDelayInterval: 60 } }),
      });
      const t0 = Date.now();
      client.destroy();
      assert.equal((await got.next(3000)).payload.toString(), 'at expiry');
      assert.ok(Date.now() - t0 >= 900);
      // With session expiry 0 the session ends at once, and so the delay too.
      const { client: c2 } = await tb.rawConnected(5, { will: will(topic, 'now', { properties: { willDelayInterval: 60 } }) });
      c2.destroy();
      assert.equal((await got.next(500)).payload.toString(), 'now');
    }));

  test('will delay: a clean-start reconnect ends the session and publishes the pending will at once', () =>
    withBroker({}, async (tb) => {
      const topic = `will/${uid()}`;
      const id = uid();
      const got = await watch(tb, topic);
      const { client } = await tb.rawConnected(5, {
        clientId: id,
        clean: false,
        properties: { sessionExpiryInterval: 60 },
        will: will(topic, 'session ended', { properties: { willDelayInterval: 30 } }),
      });
      client.destroy();
      await client.waitClosed();
      await tb.rawConnected(5, { clientId: id, clean: true });
      assert.equal((await got.next(1000)).payload.toString(), 'session ended');
    }));

  test('will retain: the will is stored as a retained message', () =>
    withBroker({}, async (tb) => {
      const topic = `will/${uid()}`;
      const { client } = await tb.rawConnected(4, { will: will(topic, 'retained will', { retain: true }) });
      client.destroy();
      const { client: later, got } = await tb.connectCollect({ protocolVersion: 5 });
      await waitFor(() => tb.broker.retained('', topic) !== null, 'the will to be retained');
      await later.subscribeAsync(topic, { qos: 1 });
      const m = await got.next();
      assert.equal(m.payload.toString(), 'retained will');
      assert.equal(m.packet.retain, true);
    }));

  test('will properties (user properties in order, content type, response topic, correlation data, format, expiry) are forwarded', () =>
    withBroker({}, async (tb) => {
      const topic = `will/${uid()}`;
      const { client: watcher } = await tb.rawConnected(5);
      watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
      await watcher.next('suback');
      const { client } = await tb.rawConnected(5, {
        will: will(topic, 'props', {
          properties: {
            contentType: 'application/json',
            responseTopic: 'reply/here',
            correlationData: Buffer.from('corr'),
            payloadFormatIndicator: true,
            messageExpiryInterval: 100,
            userProperties: { z: ['1', '2'], a: 'x' },
          },
        }),
      });
      client.destroy();
      const p = await watcher.next('publish');
      const props = p.properties ?? {};
      assert.equal(props.contentType, 'application/json');
      assert.equal(props.responseTopic, 'reply/here');
      assert.deepEqual(props.correlationData, Buffer.from('corr'));
      assert.equal(props.payloadFormatIndicator, true);
      assert.ok(props.messageExpiryInterval! <= 100 && props.messageExpiryInterval! >= 95);
      assert.ok(
        watcher.bytes.includes(
          userPropertyBytes([
            ['z', '1'],
            ['z', '2'],
            ['a', 'x'],
          ]),
        ),
        'user properties in their original order',
      );
    }));

  for (const version of [4, 5] as const) {
    test(`v${version}: a session takeover publishes the old connection's will`, () =>
      withBroker({}, async (tb) => {
        const topic = `will/${uid()}`;
        const id = uid();
        const got = await watch(tb, topic);
        await tb.rawConnected(version, { clientId: id, will: will(topic, 'taken over') });
        await tb.rawConnected(version, { clientId: id });
        assert.equal((await got.next()).payload.toString(), 'taken over');
        assert.deepEqual(await got.settle(100), got.messages.slice(0, 1));
      }));
  }

  test('the will follows the publish rules: AWS reserved topics (0x87 / rc 5), retain not available (0x9A)', async () => {
    await withBroker({ ...AWS_PROFILE }, async (tb) => {
      const v5 = await tb.raw(5);
      assert.equal((await v5.connect({ will: will('$SYS/x') })).reasonCode, 0x87);
      const v4 = await tb.raw(4);
      assert.equal((await v4.connect({ will: will('$SYS/x') })).returnCode, 5);
      const retained = await tb.raw(5);
      assert.equal((await retained.connect({ will: will('$aws/things/t/shadow/update', '{}', { retain: true }) })).reasonCode, 0x87);
      const ok = await tb.raw(5);
      assert.equal((await ok.connect({ will: will('$aws/things/t/x', '{}', { qos: 1 }) })).reasonCode, 0);
      assert.equal(tb.broker.openConnections, 1);
    });
    await withBroker({ retainAvailable: false }, async (tb) => {
      const c = await tb.raw(5);
      assert.equal((await c.connect({ will: will('w', 'x', { retain: true }) })).reasonCode, 0x9a);
    });
  });

  test('a will from one client reaches v3.1.1 and v5 subscribers on both transports', () =>
    withBroker({}, async (tb) => {
      const topic = `will/${uid()}`;
      const cols = [];
      for (const transport of TRANSPORTS) {
        for (const protocolVersion of [4, 5] as const) {
          const c = await tb.connect({ transport, protocolVersion });
          cols.push(collect(c));
          await c.subscribeAsync(`will/#`, { qos: 1 });
        }
      }
      const { client } = await tb.rawConnected(5, { will: will(topic, 'fan-out') }, 'ws');
      client.destroy();
      for (const col of cols) assert.equal((await col.next()).payload.toString(), 'fan-out');
    }));
});
