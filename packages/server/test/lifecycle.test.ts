/** Presence and subscription lifecycle events (reference §4.1) published through the broker. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startTestServer } from './helpers.js';

interface Event {
  clientId: string;
  eventType: string;
  timestamp: number;
  sessionIdentifier: string;
  principalIdentifier: string;
  ipAddress?: string;
  versionNumber?: number;
  clientInitiatedDisconnect?: boolean;
  disconnectReason?: string;
  topics?: string[];
}

test('connected, subscribed, unsubscribed and disconnected events carry the AWS fields', async () => {
  const server = await startTestServer({ dev: true });
  try {
    const url = `mqtt://127.0.0.1:${server.ports.mqtt}`;
    const watcher = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'watcher' });
    await watcher.subscribeAsync(['$aws/events/presence/+/device-7', '$aws/events/subscriptions/+/device-7'], { qos: 1 });
    const events: Array<{ topic: string; body: Event }> = [];
    watcher.on('message', (topic, payload) => events.push({ topic, body: JSON.parse(payload.toString()) as Event }));
    const waitFor = async (n: number): Promise<void> => {
      for (let i = 0; i < 100 && events.length < n; i++) await new Promise((r) => setTimeout(r, 20));
      assert.ok(events.length >= n, `expected ${n} events, got ${events.length}`);
    };

    const device = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: 'device-7' });
    await device.subscribeAsync(['a/b', 'c/#']);
    await device.unsubscribeAsync('a/b');
    await device.endAsync();
    await waitFor(4);
    const again = await mqtt.connectAsync(url, { protocolVersion: 5, clientId: 'device-7', reconnectPeriod: 0 });
    again.on('error', () => {});
    (again as unknown as { stream: { destroy(): void } }).stream.destroy();
    await waitFor(6);
    again.end(true);

    const [connected, subscribed, unsubscribed, disconnected, connected2, lost] = events;
    assert.equal(connected!.topic, '$aws/events/presence/connected/device-7');
    assert.equal(connected!.body.eventType, 'connected');
    assert.equal(connected!.body.clientId, 'device-7');
    assert.equal(connected!.body.ipAddress, '127.0.0.1');
    assert.equal(connected!.body.versionNumber, 0);
    assert.equal(typeof connected!.body.sessionIdentifier, 'string');
    assert.ok(Math.abs(connected!.body.timestamp - Date.now()) < 10_000, 'timestamp in milliseconds');
    assert.equal(subscribed!.topic, '$aws/events/subscriptions/subscribed/device-7');
    assert.deepEqual(subscribed!.body.topics, ['a/b', 'c/#']);
    assert.equal(unsubscribed!.topic, '$aws/events/subscriptions/unsubscribed/device-7');
    assert.deepEqual(unsubscribed!.body.topics, ['a/b']);
    assert.equal(disconnected!.topic, '$aws/events/presence/disconnected/device-7');
    assert.equal(disconnected!.body.clientInitiatedDisconnect, true);
    assert.equal(disconnected!.body.disconnectReason, 'CLIENT_INITIATED_DISCONNECT');
    assert.equal(disconnected!.body.versionNumber, 0);
    assert.equal(disconnected!.body.sessionIdentifier, connected!.body.sessionIdentifier);
    assert.equal(connected2!.body.versionNumber, 1);
    assert.equal(lost!.body.clientInitiatedDisconnect, false);
    assert.equal(lost!.body.disconnectReason, 'CONNECTION_LOST');
    await watcher.endAsync();
  } finally {
    await server.close();
  }
});

test('a refused connection publishes connect_failed; a takeover reports DUPLICATE_CLIENTID', async () => {
  const server = await startTestServer({ dev: false });
  const dev = await startTestServer({ dev: true });
  try {
    // Without credentials nobody may connect to `server`, so watch from an in-process subscriber.
    const failed: Event[] = [];
    server.broker.subscribeService('$aws/events/presence/connect_failed/+', (m) => failed.push(JSON.parse(m.payload.toString()) as Event));
    await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId: 'nobody', reconnectPeriod: 0 }).catch(() => undefined);
    for (let i = 0; i < 50 && failed.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(failed[0]?.eventType, 'connect_failed');
    assert.equal(failed[0]?.clientId, 'nobody');

    const reasons: string[] = [];
    dev.broker.subscribeService('$aws/events/presence/disconnected/twin', (m) =>
      reasons.push((JSON.parse(m.payload.toString()) as Event).disconnectReason!),
    );
    const url = `mqtt://127.0.0.1:${dev.ports.mqtt}`;
    const a = await mqtt.connectAsync(url, { clientId: 'twin', reconnectPeriod: 0 });
    a.on('error', () => {});
    const b = await mqtt.connectAsync(url, { clientId: 'twin', reconnectPeriod: 0 });
    for (let i = 0; i < 50 && reasons.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(reasons, ['DUPLICATE_CLIENTID']);
    await b.endAsync();
    a.end(true);
  } finally {
    await server.close();
    await dev.close();
  }
});
