/** Authentication on every transport: client certificates over TLS/WSS, development mode, refusals. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import mqtt from 'mqtt';
import { ensurePki, issueClientCertificate } from '@thicket/server';
import { startTestServer, tempDir } from './helpers.js';

async function refusal(url: string, opts: mqtt.IClientOptions): Promise<number | undefined> {
  try {
    const c = await mqtt.connectAsync(url, { ...opts, reconnectPeriod: 0, connectTimeout: 5000 });
    await c.endAsync();
    return undefined;
  } catch (err) {
    return (err as { code?: number }).code;
  }
}

test('mutual TLS: a certificate from the server CA connects on MQTTS and WSS, in MQTT 3.1.1 and 5', async () => {
  const server = await startTestServer();
  try {
    const issued = await issueClientCertificate(server.pki, { commonName: 'device-1' });
    const tlsOpts = { key: issued.privateKeyPem!, cert: issued.certificatePem, ca: server.pki.caCertPem, servername: 'localhost' };
    for (const protocolVersion of [4, 5] as const) {
      for (const url of [`mqtts://localhost:${server.ports.mqtts}`, `wss://localhost:${server.ports.https}/mqtt`]) {
        const sub = await mqtt.connectAsync(url, { ...tlsOpts, protocolVersion, clientId: `sub-${protocolVersion}`, reconnectPeriod: 0 });
        await sub.subscribeAsync('tls/test', { qos: 1 });
        const got = new Promise<string>((r) => sub.on('message', (_t, p) => r(p.toString())));
        const pub = await mqtt.connectAsync(url, { ...tlsOpts, protocolVersion, clientId: `pub-${protocolVersion}`, reconnectPeriod: 0 });
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

test('a certificate from another CA is refused, also in development mode', async () => {
  const server = await startTestServer();
  const devServer = await startTestServer({ dev: true });
  const otherDir = tempDir();
  try {
    const other = await ensurePki(otherDir, { hostnames: ['localhost'] });
    const foreign = await issueClientCertificate(other, { commonName: 'intruder' });
    const opts = { key: foreign.privateKeyPem!, cert: foreign.certificatePem, ca: server.pki.caCertPem, servername: 'localhost' };
    assert.equal(await refusal(`mqtts://localhost:${server.ports.mqtts}`, { ...opts, protocolVersion: 5 }), 0x87);
    assert.equal(await refusal(`mqtts://localhost:${server.ports.mqtts}`, { ...opts, protocolVersion: 4 }), 5);
    assert.equal(
      await refusal(`mqtts://localhost:${devServer.ports.mqtts}`, { ...opts, ca: devServer.pki.caCertPem, protocolVersion: 5 }),
      0x87,
    );
  } finally {
    await server.close();
    await devServer.close();
    rmSync(otherDir, { recursive: true, force: true });
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
