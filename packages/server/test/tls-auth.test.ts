/** Authentication on every transport: registered client certificates over TLS/WSS, development mode, refusals, revocation. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { IoTClient, UpdateCertificateCommand } from '@aws-sdk/client-iot';
import { ensurePki, issueClientCertificate } from '@thicket/server';
import { provision, startTestServer, tempDir, tlsOptions } from './helpers.js';

async function refusal(url: string, opts: mqtt.IClientOptions): Promise<number | undefined> {
  try {
    const c = await mqtt.connectAsync(url, { ...opts, reconnectPeriod: 0, connectTimeout: 5000 });
    await c.endAsync();
    return undefined;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

test('a registered, ACTIVE certificate connects on MQTTS and WSS, in MQTT 3.1.1 and 5', async () => {
  const server = await startTestServer();
  try {
    const device = await provision(server, 'device-1');
    for (const protocolVersion of [4, 5] as const) {
      for (const url of [`mqtts://localhost:${server.ports.mqtts}`, `wss://localhost:${server.ports.https}/mqtt`]) {
        const opts = { ...tlsOptions(server, device), protocolVersion, reconnectPeriod: 0 };
        const sub = await mqtt.connectAsync(url, { ...opts, clientId: `sub-${protocolVersion}` });
        await sub.subscribeAsync('tls/test', { qos: 1 });
        const got = new Promise<string>((r) => sub.on('message', (_t, p) => r(p.toString())));
        const pub = await mqtt.connectAsync(url, { ...opts, clientId: `pub-${protocolVersion}` });
        await pub.publishAsync('tls/test', `hello ${url}`, { qos: 1 });
        assert.equal(await got, `hello ${url}`);
        await sub.endAsync();
        await pub.endAsync();
      }
    }
  } finally {
    await server.close();
  }
});

test('without development mode, a client without a certificate is refused (v5 0x87, v3.1.1 rc 5)', async () => {
  const server = await startTestServer();
  try {
    const ca = server.pki.caCertPem;
    assert.equal(await refusal(`mqtt://127.0.0.1:${server.ports.mqtt}`, { protocolVersion: 5 }), 0x87);
    assert.equal(await refusal(`mqtt://127.0.0.1:${server.ports.mqtt}`, { protocolVersion: 4 }), 5);
    assert.equal(await refusal(`mqtts://localhost:${server.ports.mqtts}`, { protocolVersion: 5, ca }), 0x87);
    assert.equal(await refusal(`ws://127.0.0.1:${server.ports.http}/mqtt`, { protocolVersion: 4 }), 5);
  } finally {
    await server.close();
  }
});

test('unregistered certificates are refused, from the server CA or another CA, also in development mode', async () => {
  const devServer = await startTestServer({ dev: true });
  const otherDir = tempDir();
  try {
    const url = `mqtts://localhost:${devServer.ports.mqtts}`;
    const own = await issueClientCertificate(devServer.pki, { commonName: 'never-registered' });
    const other = await ensurePki(otherDir, { hostnames: ['localhost'] });
    const foreign = await issueClientCertificate(other, { commonName: 'intruder' });
    for (const c of [own, foreign]) {
      const opts = { key: c.privateKeyPem!, cert: c.certificatePem, ca: devServer.pki.caCertPem, servername: 'localhost' };
      assert.equal(await refusal(url, { ...opts, protocolVersion: 5 }), 0x87);
      assert.equal(await refusal(url, { ...opts, protocolVersion: 4 }), 5);
    }
  } finally {
    await devServer.close();
    rmSync(otherDir, { recursive: true, force: true });
  }
});

test('an INACTIVE certificate is refused, and deactivating or revoking one closes its live connections within a second', async () => {
  const server = await startTestServer();
  const iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  try {
    const url = `mqtts://localhost:${server.ports.mqtts}`;
    for (const newStatus of ['INACTIVE', 'REVOKED'] as const) {
      const device = await provision(server, `revocable-${newStatus}`);
      const client = await mqtt.connectAsync(url, {
        ...tlsOptions(server, device),
        protocolVersion: 5,
        clientId: device.thingName,
        reconnectPeriod: 0,
      });
      const closed = new Promise<number>((resolve) => {
        const t0 = Date.now();
        client.on('close', () => resolve(Date.now() - t0));
      });
      const disconnect = new Promise<number | undefined>((r) => client.on('disconnect', (p) => r(p.reasonCode)));
      await iot.send(new UpdateCertificateCommand({ certificateId: device.certificateId, newStatus }));
      assert.ok((await closed) < 1000, 'closed within a second');
      assert.equal(await disconnect, 0x98);
      assert.equal(await refusal(url, { ...tlsOptions(server, device), protocolVersion: 5, clientId: device.thingName }), 0x87);
    }
  } finally {
    iot.destroy();
    await server.close();
  }
});

test('development mode lets anonymous clients in on every transport', async () => {
  const server = await startTestServer({ dev: true });
  try {
    const ca = server.pki.caCertPem;
    for (const url of [
      `mqtt://127.0.0.1:${server.ports.mqtt}`,
      `mqtts://localhost:${server.ports.mqtts}`,
      `ws://127.0.0.1:${server.ports.http}/mqtt`,
      `wss://localhost:${server.ports.https}/mqtt`,
    ]) {
      for (const protocolVersion of [4, 5] as const) {
        const c = await mqtt.connectAsync(url, { protocolVersion, ca, reconnectPeriod: 0 });
        assert.ok(c.connected, url);
        await c.endAsync();
      }
    }
  } finally {
    await server.close();
  }
});
