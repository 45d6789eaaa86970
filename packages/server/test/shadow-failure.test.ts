/**
 * A shadow request that fails inside the server (here: its table vanished from the database under
 * it) is answered with AWS's 500, on `/rejected` with the clientToken over MQTT and as
 * InternalFailureException over HTTP; the connection and the rest of the server keep working.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import mqtt from 'mqtt';
import { GetThingShadowCommand, IoTDataPlaneClient } from '@aws-sdk/client-iot-data-plane';
import { awsError, startTestServer, type TestServer } from './helpers.js';
import { Inbox } from './shadow-helpers.js';

let server: TestServer;

before(async () => {
  server = await startTestServer({ dev: true });
});
after(async () => {
  await server.close();
});

test('an internal failure is a 500 on /rejected and over HTTP, and the server goes on', async () => {
  const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId: 'failing-device', reconnectPeriod: 0 });
  const data = new IoTDataPlaneClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: server.adminKey,
  });
  try {
    const inbox = new Inbox(client);
    const prefix = '$aws/things/f1/shadow/update';
    await client.subscribeAsync([`${prefix}/accepted`, `${prefix}/rejected`, 'plain/topic'], { qos: 1 });
    await client.publishAsync(prefix, JSON.stringify({ state: { reported: { on: true } } }), { qos: 1 });
    assert.equal((await inbox.next(`${prefix}/accepted`)).version, 1);

    // Another process (an operator's sqlite3 shell, say) drops the table while the server runs.
    const db = new Database(join(server.dataDir, 'thicket.db'));
    db.exec('DROP TABLE shadows');
    db.close();

    await client.publishAsync(prefix, JSON.stringify({ state: { reported: { on: false } }, clientToken: 'tok-500' }), { qos: 1 });
    const rejected = await inbox.next(`${prefix}/rejected`);
    assert.equal(rejected.code, 500);
    assert.equal(rejected.message, 'Internal service failure');
    assert.equal(rejected.clientToken, 'tok-500');
    assert.equal(typeof rejected.timestamp, 'number');

    const err = await awsError(data.send(new GetThingShadowCommand({ thingName: 'f1' })));
    assert.equal(err.name, 'InternalFailureException');
    assert.equal(err.status, 500);

    // The device's connection and ordinary messaging are unaffected.
    await client.publishAsync('plain/topic', 'still here', { qos: 1 });
    assert.deepEqual(await inbox.next('plain/topic'), { raw: 'still here' });
  } finally {
    data.destroy();
    await client.endAsync();
  }
});
