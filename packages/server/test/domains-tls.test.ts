/**
 * Domain configurations on the wire: the MQTT-over-TLS and HTTPS listeners pick the certificate by
 * SNI, a DISABLED domain refuses connections (and closes those made through it), changes apply
 * without a restart, and custom-auth clients on a domain go to the domain's default authorizer.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import mqtt, { type MqttClient } from 'mqtt';
import {
  CreateAuthorizerCommand,
  CreateDomainConfigurationCommand,
  IoTClient,
  UpdateDomainConfigurationCommand,
} from '@aws-sdk/client-iot';
import { ALLOW_ALL, createAccount, provision, startTestServer, type Device, type TestServer } from './helpers.js';
import { importServerCert, makeCa, makeServerCert, type Pem } from './domains-helpers.js';

const ARN = 'arn:aws:iot:us-east-1:123456789012';
let server: TestServer;
let iot: IoTClient;
let device: Device;
let ownCa: Pem;
let hook: http.Server;
/** Which authorizer webhook path each call reached, in order. */
const calls: string[] = [];
const clients: MqttClient[] = [];

/** A webhook: token `good-<name>` authenticates principal <name>, allowed to connect as client id <name> and use `dom/<name>/*`. */
function startHook(): Promise<number> {
  hook = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      calls.push(req.url ?? '');
      const event = JSON.parse(body) as { token?: string; protocolData?: { tls?: { serverName?: string } } };
      const name = event.token?.startsWith('good-') ? event.token.slice(5) : undefined;
      res.setHeader('content-type', 'application/json');
      if (!name) return res.end(JSON.stringify({ isAuthenticated: false }));
      res.end(
        JSON.stringify({
          isAuthenticated: true,
          principalId: name,
          disconnectAfterInSeconds: 3600,
          refreshAfterInSeconds: 3600,
          policyDocuments: [
            JSON.stringify({
              Version: '2012-10-17',
              Statement: [
                { Effect: 'Allow', Action: 'iot:Connect', Resource: `${ARN}:client/${name}` },
                { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive', 'iot:Subscribe'], Resource: '*' },
              ],
            }),
          ],
        }),
      );
    });
  });
  return new Promise((r) => hook.listen(0, '127.0.0.1', () => r((hook.address() as AddressInfo).port)));
}

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  device = await provision(server, 'dom-dev');
  ownCa = makeCa('Fleet Web PKI');
  const arn = await importServerCert(server, makeServerCert({ dnsNames: ['fleet.example.com', '*.fleet.example.com'], ca: ownCa }));
  await iot.send(
    new CreateDomainConfigurationCommand({
      domainConfigurationName: 'fleet',
      domainName: 'fleet.example.com',
      serverCertificateArns: [arn],
    }),
  );
  await iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'issued', domainName: 'issued.example.org' }));
  const port = await startHook();
  for (const name of ['domain-auth', 'other-auth']) {
    await iot.send(
      new CreateAuthorizerCommand({
        authorizerName: name,
        authorizerFunctionArn: `http://127.0.0.1:${port}/${name}`,
        tokenKeyName: 'token',
        signingDisabled: true,
        status: 'ACTIVE',
      }),
    );
  }
  await iot.send(
    new CreateDomainConfigurationCommand({
      domainConfigurationName: 'custom',
      domainName: 'custom.example.com',
      authorizerConfig: { defaultAuthorizerName: 'domain-auth', allowAuthorizerOverride: false },
    }),
  );
});
after(async () => {
  for (const c of clients) c.end(true);
  iot.destroy();
  hook.close();
  await server.close();
});

/** The certificate a TLS listener presents for `servername` (undefined: no SNI), or the handshake's error. */
function peerCertificate(port: number, servername: string | undefined): Promise<X509Certificate | Error> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerCertificate(false).raw;
      socket.destroy();
      resolve(new X509Certificate(raw));
    });
    socket.on('error', (err) => resolve(err));
  });
}

async function mqttsConnect(opts: mqtt.IClientOptions): Promise<MqttClient> {
  const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${server.ports.mqtts}`, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 3000,
    ...opts,
  });
  c.on('error', () => {});
  clients.push(c);
  return c;
}

const refusedWith = (opts: mqtt.IClientOptions): Promise<unknown> =>
  mqttsConnect(opts).then(
    () => 'connected',
    (e: { code?: number; message?: string }) => e.code ?? e.message,
  );

test('MQTT over TLS: the SNI of a domain configuration gets its certificate; other or no SNI gets the default one', async () => {
  const port = server.ports.mqtts!;
  const fleet = (await peerCertificate(port, 'fleet.example.com')) as X509Certificate;
  assert.equal(fleet.subjectAltName, 'DNS:fleet.example.com, DNS:*.fleet.example.com');
  assert.ok(fleet.checkIssued(new X509Certificate(ownCa.cert)));
  // Case and a trailing dot do not matter; a name the certificate's wildcard covers but no configuration has gets the default.
  assert.equal(((await peerCertificate(port, 'FLEET.Example.COM')) as X509Certificate).fingerprint256, fleet.fingerprint256);
  for (const other of ['a.fleet.example.com', 'unknown.example.com', 'localhost', undefined]) {
    const c = (await peerCertificate(port, other)) as X509Certificate;
    assert.match(c.subjectAltName ?? '', /DNS:localhost/, `default certificate for ${other}`);
  }
  const issued = (await peerCertificate(port, 'issued.example.org')) as X509Certificate;
  assert.equal(issued.subjectAltName, 'DNS:issued.example.org');
  assert.ok(issued.verify(new X509Certificate(server.pki.caCertPem).publicKey));
});

test('a device connects with its client certificate through the domain, verifying the domain certificate by name', async () => {
  const c = await mqttsConnect({
    clientId: 'dom-dev',
    cert: device.cert,
    key: device.key,
    ca: ownCa.cert,
    servername: 'fleet.example.com',
    rejectUnauthorized: true,
  });
  const socket = c.stream as tls.TLSSocket;
  assert.equal(new X509Certificate(socket.getPeerCertificate().raw).subjectAltName, 'DNS:fleet.example.com, DNS:*.fleet.example.com');
  await c.publishAsync('things/dom-dev/x', 'hi', { qos: 1 });
  c.end(true);
  // The server-CA-issued domain verifies against the server CA.
  const d = await mqttsConnect({
    clientId: 'dom-dev',
    cert: device.cert,
    key: device.key,
    ca: server.pki.caCertPem,
    servername: 'issued.example.org',
    rejectUnauthorized: true,
  });
  assert.ok(d.connected);
  d.end(true);
});

test("a domain's host name selects its account: another account's device certificate is refused through it", async () => {
  const stranger = await provision(server, 'stranger', ALLOW_ALL, { credentials: await createAccount(server, '210987654321') });
  const tlsOpts = { clientId: 'stranger', cert: stranger.cert, key: stranger.key, ca: ownCa.cert, servername: 'fleet.example.com' };
  assert.equal(await refusedWith(tlsOpts), 135);
  // Through the default host name its own account's registration applies.
  const c = await mqttsConnect({ ...tlsOpts, ca: server.pki.caCertPem, servername: 'localhost' });
  assert.ok(c.connected);
  c.end(true);
  // The same over HTTPS (publish with the device certificate): the domain's host name selects the account.
  const publish = (servername: string, ca: string) =>
    new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = https.request(
        {
          host: '127.0.0.1',
          port: server.ports.https!,
          method: 'POST',
          path: '/topics/t?qos=1',
          cert: stranger.cert,
          key: stranger.key,
          ca,
          servername,
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => (text += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode!, text }));
        },
      );
      req.on('error', reject);
      req.end('x');
    });
  const viaDomain = await publish('fleet.example.com', ownCa.cert);
  assert.equal(viaDomain.status, 401);
  assert.match(viaDomain.text, /not registered in the account of this domain/);
  assert.equal((await publish('localhost', server.pki.caCertPem)).status, 200);
});

test('HTTPS picks the certificate by SNI too', async () => {
  const fleet = (await peerCertificate(server.ports.https!, 'fleet.example.com')) as X509Certificate;
  assert.equal(fleet.subjectAltName, 'DNS:fleet.example.com, DNS:*.fleet.example.com');
  const status = await new Promise<number>((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port: server.ports.https!, path: '/healthz', servername: 'fleet.example.com', ca: ownCa.cert }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
  assert.equal(status, 200);
  assert.match(
    ((await peerCertificate(server.ports.https!, 'elsewhere.example.com')) as X509Certificate).subjectAltName ?? '',
    /DNS:localhost/,
  );
});

test('a DISABLED domain refuses TLS connections and closes those made through it; ENABLED again works without a restart', async () => {
  const live = await mqttsConnect({
    clientId: 'dom-dev',
    cert: device.cert,
    key: device.key,
    ca: ownCa.cert,
    servername: 'fleet.example.com',
  });
  const closed = new Promise<number | undefined>((resolve) => {
    live.once('disconnect', (packet) => resolve(packet.reasonCode));
    live.once('close', () => resolve(undefined));
  });
  await iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'fleet', domainConfigurationStatus: 'DISABLED' }));
  assert.equal(await closed, 0x87, 'MQTT 5 DISCONNECT: not authorized');
  for (const port of [server.ports.mqtts!, server.ports.https!]) {
    const refused = await peerCertificate(port, 'fleet.example.com');
    assert.ok(refused instanceof Error, `port ${port} refuses the handshake`);
  }
  // Other names are unaffected.
  assert.ok((await peerCertificate(server.ports.mqtts!, 'issued.example.org')) instanceof X509Certificate);
  await iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'fleet', domainConfigurationStatus: 'ENABLED' }));
  const back = (await peerCertificate(server.ports.mqtts!, 'fleet.example.com')) as X509Certificate;
  assert.equal(back.subjectAltName, 'DNS:fleet.example.com, DNS:*.fleet.example.com');
});

test("a custom-auth client on a domain is authenticated by the domain's default authorizer; override only when allowed", async () => {
  const base = { ca: server.pki.caCertPem, servername: 'custom.example.com' };
  calls.length = 0;
  const c = await mqttsConnect({ ...base, clientId: 'alice', username: 'alice?token=good-alice' });
  assert.ok(c.connected);
  assert.deepEqual(calls, ['/domain-auth']);
  c.end(true);

  // The same client on the default host name: no default authorizer in the account, so nothing decides for it.
  calls.length = 0;
  assert.equal(
    await refusedWith({ ca: server.pki.caCertPem, servername: 'localhost', clientId: 'alice', username: 'alice?token=good-alice' }),
    135,
  );
  assert.deepEqual(calls, []);

  // Naming another authorizer does not escape the domain's while override is not allowed.
  calls.length = 0;
  const named = await mqttsConnect({ ...base, clientId: 'bob', username: 'bob?x-amz-customauthorizer-name=other-auth&token=good-bob' });
  assert.ok(named.connected);
  assert.deepEqual(calls, ['/domain-auth']);
  named.end(true);
  // A bad token is refused by the domain's authorizer.
  assert.equal(await refusedWith({ ...base, clientId: 'mallory', username: 'mallory?token=bad' }), 135);

  await iot.send(
    new UpdateDomainConfigurationCommand({
      domainConfigurationName: 'custom',
      authorizerConfig: { defaultAuthorizerName: 'domain-auth', allowAuthorizerOverride: true },
    }),
  );
  calls.length = 0;
  const overridden = await mqttsConnect({
    ...base,
    clientId: 'bob',
    username: 'bob?x-amz-customauthorizer-name=other-auth&token=good-bob',
  });
  assert.ok(overridden.connected);
  assert.deepEqual(calls, ['/other-auth']);
  overridden.end(true);

  // Without an authorizer config, the domain leaves custom-auth clients to the account's default (none here).
  await iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'custom', removeAuthorizerConfig: true }));
  calls.length = 0;
  assert.equal(await refusedWith({ ...base, clientId: 'alice', username: 'alice?token=good-alice' }), 135);
  assert.deepEqual(calls, []);
});

test("MQTT over WSS on a domain's host name uses the domain's certificate and default authorizer", async () => {
  await iot.send(
    new UpdateDomainConfigurationCommand({
      domainConfigurationName: 'custom',
      authorizerConfig: { defaultAuthorizerName: 'domain-auth', allowAuthorizerOverride: false },
    }),
  );
  calls.length = 0;
  const c = await mqtt.connectAsync(`wss://127.0.0.1:${server.ports.https}/mqtt`, {
    protocolVersion: 5,
    reconnectPeriod: 0,
    connectTimeout: 3000,
    clientId: 'carol',
    username: 'carol?token=good-carol',
    // ws hands these to tls.connect (its typings leave servername out).
    wsOptions: { servername: 'custom.example.com', ca: server.pki.caCertPem } as tls.ConnectionOptions as mqtt.IClientOptions['wsOptions'],
  });
  clients.push(c);
  assert.ok(c.connected);
  assert.deepEqual(calls, ['/domain-auth']);
  c.end(true);
});
