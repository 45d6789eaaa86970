/**
 * Shadows with the official device SDKs, unchanged: aws-iot-device-sdk v1 `thingShadow` (MQTT 3.1.1
 * over mutual TLS) and aws-iot-device-sdk-v2's IotShadowClientv2 over MQTT 5 and MQTT 3.1.1.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { IoTDataPlaneClient, UpdateThingShadowCommand } from '@aws-sdk/client-iot-data-plane';
import { iotshadow, mqtt } from 'aws-iot-device-sdk-v2';
import { provision, startTestServer, type TestServer } from './helpers.js';
import { modeledError, mqtt311Connection, mqtt5Client, once, rrOptions, stopMqtt5, v1Options } from './sdk-helpers.js';

const require = createRequire(import.meta.url);

let server: TestServer;
let data: IoTDataPlaneClient;

before(async () => {
  server = await startTestServer();
  data = new IoTDataPlaneClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
});
after(async () => {
  data.destroy();
  await server.close();
});

interface ThingShadowV1 extends EventEmitter {
  register(thing: string, options: object, cb: (err?: Error) => void): void;
  update(thing: string, state: object): string | null;
  get(thing: string, clientToken?: string): string | null;
  delete(thing: string, clientToken?: string): string | null;
  end(force: boolean, cb?: () => void): void;
}

type Status = [
  thing: string,
  stat: string,
  clientToken: string,
  doc: { version?: number; state?: Record<string, unknown>; code?: number; message?: string },
];

test('aws-iot-device-sdk v1 thingShadow: register, update (accepted + delta), get, foreign change, delete, rejected', async () => {
  const d = await provision(server, 'v1-lamp');
  const awsIot = require('aws-iot-device-sdk') as { thingShadow(opts: object): ThingShadowV1 };
  const shadows = awsIot.thingShadow(v1Options(server, d));
  const statuses: Status[] = [];
  const deltas: Array<{ state: Record<string, unknown>; version: number }> = [];
  const foreign: string[] = [];
  const waiters: Array<() => void> = [];
  const wake = (): void => {
    for (const w of waiters.splice(0)) w();
  };
  shadows.on('status', (...s: Status) => {
    statuses.push(s);
    wake();
  });
  shadows.on('delta', (_t: string, doc: { state: Record<string, unknown>; version: number }) => {
    deltas.push(doc);
    wake();
  });
  shadows.on('foreignStateChange', (_t: string, op: string) => {
    foreign.push(op);
    wake();
  });
  const until = async (cond: () => boolean): Promise<void> => {
    const deadline = Date.now() + 5000;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out; statuses ${JSON.stringify(statuses)}`);
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  try {
    await once(shadows, 'connect', 10_000);
    await new Promise<void>((resolve, reject) =>
      shadows.register('v1-lamp', { persistentSubscribe: true }, (err) => (err ? reject(err) : resolve())),
    );
    const token = shadows.update('v1-lamp', { state: { desired: { power: 'on', level: 7 } } });
    assert.ok(token);
    await until(() => statuses.length === 1 && deltas.length === 1);
    assert.deepEqual(statuses[0]!.slice(0, 3), ['v1-lamp', 'accepted', token]);
    assert.equal(statuses[0]![3].version, 1);
    assert.deepEqual(deltas[0]!.state, { power: 'on', level: 7 });

    // Another writer (HTTP) changes the shadow: the SDK reports it as a foreign state change.
    await data.send(
      new UpdateThingShadowCommand({ thingName: 'v1-lamp', payload: Buffer.from(JSON.stringify({ state: { desired: { level: 9 } } })) }),
    );
    await until(() => foreign.includes('update'));

    // The SDK sends the last version it saw; the service accepts it as current.
    const reported = shadows.update('v1-lamp', { state: { reported: { power: 'on', level: 9 } } });
    await until(() => statuses.length === 2);
    assert.deepEqual(statuses[1]!.slice(0, 3), ['v1-lamp', 'accepted', reported]);
    assert.equal(statuses[1]![3].version, 3);

    const got = shadows.get('v1-lamp');
    await until(() => statuses.length === 3);
    assert.equal(statuses[2]![2], got);
    assert.deepEqual(statuses[2]![3].state, { desired: { power: 'on', level: 9 }, reported: { power: 'on', level: 9 } });

    const del = shadows.delete('v1-lamp');
    await until(() => statuses.length === 4);
    assert.deepEqual(statuses[3]!.slice(0, 3), ['v1-lamp', 'accepted', del]);
    const missing = shadows.get('v1-lamp');
    await until(() => statuses.length === 5);
    assert.deepEqual(statuses[4]!.slice(0, 3), ['v1-lamp', 'rejected', missing]);
    assert.equal(statuses[4]![3].code, 404);
  } finally {
    await new Promise<void>((r) => shadows.end(true, r));
  }
});

test('aws-iot-device-sdk-v2 IotShadowClientv2 over MQTT 5: named shadows, clientToken correlation, delta stream, errors', async () => {
  const d = await provision(server, 'v2-pump');
  const client = await mqtt5Client(server, d);
  const shadow = iotshadow.IotShadowClientv2.newFromMqtt5(client, rrOptions);
  try {
    // Delta events through the SDK's event-style IotShadowClient on the same MQTT 5 connection. (The v2
    // client's streaming operations keep aws-crt's native loop alive after close, so the test process
    // would never exit; the topic and payload are the same.)
    const events = iotshadow.IotShadowClient.newFromMqtt5Client(client);
    const deltas: iotshadow.model.ShadowDeltaUpdatedEvent[] = [];
    await events.subscribeToNamedShadowDeltaUpdatedEvents({ thingName: 'v2-pump', shadowName: 'flow' }, mqtt.QoS.AtLeastOnce, (err, e) => {
      if (!err && e) deltas.push(e);
    });

    const up = await shadow.updateNamedShadow({ thingName: 'v2-pump', shadowName: 'flow', state: { desired: { rpm: 1200 } } });
    assert.equal(up.version, 1);
    assert.ok(up.clientToken, 'the SDK correlates by the clientToken we echo');
    assert.deepEqual(up.state?.desired, { rpm: 1200 });

    // Concurrent requests on two shadows resolve each with its own answer (correlated by clientToken).
    await shadow.updateNamedShadow({ thingName: 'v2-pump', shadowName: 'aux', state: { reported: { valve: 'open' } } });
    const [a, b] = await Promise.all([
      shadow.updateNamedShadow({ thingName: 'v2-pump', shadowName: 'flow', state: { reported: { rpm: 1100 } } }),
      shadow.getNamedShadow({ thingName: 'v2-pump', shadowName: 'aux' }),
    ]);
    assert.equal(a.version, 2);
    assert.deepEqual(a.state?.reported, { rpm: 1100 });
    assert.equal(b.version, 1);
    assert.deepEqual(b.state?.reported, { valve: 'open' });
    const flow = await shadow.getNamedShadow({ thingName: 'v2-pump', shadowName: 'flow' });
    assert.deepEqual(flow.state?.delta, { rpm: 1200 });

    const deadline = Date.now() + 3000;
    while (deltas.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(deltas[0]?.state, { rpm: 1200 });
    assert.equal(deltas[0]?.version, 1);

    const conflict = await modeledError(
      shadow.updateNamedShadow({ thingName: 'v2-pump', shadowName: 'flow', state: { reported: { rpm: 1 } }, version: 1 }),
    );
    assert.deepEqual([conflict.code, conflict.message], [409, 'Version conflict']);

    const del = await shadow.deleteNamedShadow({ thingName: 'v2-pump', shadowName: 'flow' });
    assert.equal(del.version, 2);
    const gone = await modeledError(shadow.getNamedShadow({ thingName: 'v2-pump', shadowName: 'flow' }));
    assert.deepEqual([gone.code, gone.message], [404, "No shadow exists with name: 'v2-pump~flow'"]);
  } finally {
    shadow.close();
    await stopMqtt5(client);
  }
});

test('aws-iot-device-sdk-v2 IotShadowClientv2 over MQTT 3.1.1: the classic shadow', async () => {
  const d = await provision(server, 'v2-classic');
  const connection = await mqtt311Connection(server, d);
  const shadow = iotshadow.IotShadowClientv2.newFromMqtt311(connection, rrOptions);
  try {
    const up = await shadow.updateShadow({ thingName: 'v2-classic', state: { reported: { online: true } } });
    assert.equal(up.version, 1);
    const got = await shadow.getShadow({ thingName: 'v2-classic' });
    assert.deepEqual(got.state?.reported, { online: true });
    assert.equal(got.state?.delta, undefined);
    assert.equal((await shadow.deleteShadow({ thingName: 'v2-classic' })).version, 1);
  } finally {
    shadow.close();
    await connection.disconnect();
  }
});
