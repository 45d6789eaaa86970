/**
 * A domain configuration's `tlsConfig.securityPolicy`: only AWS's predefined policy names are
 * accepted, and the policy's oldest TLS version is enforced during the handshake on both TLS
 * listeners for the configuration's host name (others keep the listener's TLS 1.2 floor).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import {
  CreateDomainConfigurationCommand,
  DescribeDomainConfigurationCommand,
  IoTClient,
  UpdateDomainConfigurationCommand,
} from '@aws-sdk/client-iot';
import { startTestServer, type TestServer } from './helpers.js';
import { failure } from './domains-helpers.js';

const TLS13_ONLY = 'IoTSecurityPolicy_TLS13_1_3_2022_10';
const DEFAULT_POLICY = 'IoTSecurityPolicy_TLS13_1_2_2022_10';
const AWS_POLICIES = [
  TLS13_ONLY,
  DEFAULT_POLICY,
  'IoTSecurityPolicy_TLS12_1_2_2022_10',
  'IoTSecurityPolicy_TLS12_1_0_2016_01',
  'IoTSecurityPolicy_TLS12_1_0_2015_01',
];

let server: TestServer;
let iot: IoTClient;

before(async () => {
  server = await startTestServer();
  iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  // Both certificates are issued by the server's CA, so clients can verify them by name.
  await iot.send(
    new CreateDomainConfigurationCommand({
      domainConfigurationName: 'strict',
      domainName: 'strict.example.com',
      tlsConfig: { securityPolicy: TLS13_ONLY },
    }),
  );
  await iot.send(new CreateDomainConfigurationCommand({ domainConfigurationName: 'plain', domainName: 'plain.example.com' }));
});
after(async () => {
  iot.destroy();
  await server.close();
});

type Versions = Pick<tls.ConnectionOptions, 'minVersion' | 'maxVersion'>;
const TLS12: Versions = { maxVersion: 'TLSv1.2' };
const TLS13: Versions = { minVersion: 'TLSv1.3' };

/** The TLS version a fresh handshake (no session to resume) settles on, or its error. */
function handshake(port: number, servername: string, versions: Versions): Promise<string | Error> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, ca: server.pki.caCertPem, ...versions }, () => {
      const protocol = socket.getProtocol() ?? 'unknown';
      socket.destroy();
      resolve(protocol);
    });
    socket.on('error', (err) => resolve(err));
  });
}

const tlsPorts = (): Array<[string, number]> => [
  ['MQTT over TLS', server.ports.mqtts!],
  ['HTTPS', server.ports.https!],
];

test('a TLS 1.3-only policy refuses a TLS 1.2 client during the handshake on both TLS listeners; TLS 1.3 connects', async () => {
  for (const [listener, port] of tlsPorts()) {
    const old = await handshake(port, 'strict.example.com', TLS12);
    assert.ok(old instanceof Error, `${listener}: a TLS 1.2 client is refused, got ${String(old)}`);
    assert.equal(await handshake(port, 'strict.example.com', TLS13), 'TLSv1.3', listener);
    // The policy belongs to the host name: the same client gets TLS 1.2 through the server's own name.
    assert.equal(await handshake(port, 'localhost', TLS12), 'TLSv1.2', listener);
  }
  // A request over the TLS 1.3 connection is served as usual.
  const status = await new Promise<number>((resolve, reject) => {
    https
      .get(
        { host: '127.0.0.1', port: server.ports.https!, path: '/healthz', servername: 'strict.example.com', ca: server.pki.caCertPem },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
      .on('error', reject);
  });
  assert.equal(status, 200);
});

test('the default policy (TLS13_1_2) accepts TLS 1.2 and TLS 1.3', async () => {
  const d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'plain' }));
  assert.deepEqual(d.tlsConfig, { securityPolicy: DEFAULT_POLICY });
  for (const [listener, port] of tlsPorts()) {
    assert.equal(await handshake(port, 'plain.example.com', TLS12), 'TLSv1.2', listener);
    assert.equal(await handshake(port, 'plain.example.com', TLS13), 'TLSv1.3', listener);
  }
});

test('UpdateDomainConfiguration changes the policy for new connections without a restart', async () => {
  const setPolicy = (securityPolicy: string) =>
    iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'strict', tlsConfig: { securityPolicy } }));
  await setPolicy('IoTSecurityPolicy_TLS12_1_2_2022_10');
  assert.equal(await handshake(server.ports.mqtts!, 'strict.example.com', TLS12), 'TLSv1.2');
  await setPolicy(TLS13_ONLY);
  assert.ok((await handshake(server.ports.mqtts!, 'strict.example.com', TLS12)) instanceof Error);
  assert.equal(await handshake(server.ports.mqtts!, 'strict.example.com', TLS13), 'TLSv1.3');
});

test('an unknown security policy is refused by Create and Update with InvalidRequestException naming it', async () => {
  const named = (bad: string) => new RegExp(`^The security policy ${bad} is not one of AWS IoT Core's predefined security policies \\(`);
  const created = await failure(
    iot.send(
      new CreateDomainConfigurationCommand({
        domainConfigurationName: 'weak',
        domainName: 'weak.example.com',
        tlsConfig: { securityPolicy: 'IoTSecurityPolicy_TLS10_2014' },
      }),
    ),
  );
  assert.equal(created.name, 'InvalidRequestException');
  assert.match(created.message, named('IoTSecurityPolicy_TLS10_2014'));
  assert.match(created.message, new RegExp(AWS_POLICIES.join(', ')));
  assert.equal(
    (await failure(iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'weak' })))).name,
    'ResourceNotFoundException',
  );

  // Names are exact: AWS's own spelling, case included.
  for (const bad of ['Bogus', TLS13_ONLY.toLowerCase(), `${TLS13_ONLY} `]) {
    const updated = await failure(
      iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'strict', tlsConfig: { securityPolicy: bad } })),
    );
    assert.equal(updated.name, 'InvalidRequestException', bad);
    assert.match(updated.message, named(bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  }
  const d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'strict' }));
  assert.deepEqual(d.tlsConfig, { securityPolicy: TLS13_ONLY }, 'a refused update changes nothing');
});

test("every one of AWS's predefined policy names is accepted and echoed", async () => {
  for (const securityPolicy of AWS_POLICIES) {
    await iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'plain', tlsConfig: { securityPolicy } }));
    const d = await iot.send(new DescribeDomainConfigurationCommand({ domainConfigurationName: 'plain' }));
    assert.equal(d.tlsConfig?.securityPolicy, securityPolicy);
  }
  await iot.send(new UpdateDomainConfigurationCommand({ domainConfigurationName: 'plain', tlsConfig: { securityPolicy: DEFAULT_POLICY } }));
});

/** A TLS 1.2 session from `first`, then an attempt to resume it under `second`: the second handshake's version or error. */
async function resumeUnder(port: number, first: string, second: string): Promise<{ resumed: boolean; result: string | Error }> {
  const session = await new Promise<Buffer | undefined>((resolve, reject) => {
    let saved: Buffer | undefined;
    const socket = tls.connect({ host: '127.0.0.1', port, servername: first, ca: server.pki.caCertPem, ...TLS12 });
    socket.on('session', (s: Buffer) => (saved = s));
    socket.on('secureConnect', () => setTimeout(() => (socket.destroy(), resolve(saved)), 50));
    socket.on('error', reject);
  });
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: second, ca: server.pki.caCertPem, session, ...TLS12 }, () => {
      const result = socket.getProtocol() ?? 'unknown';
      const resumed = socket.isSessionReused();
      socket.destroy();
      resolve({ resumed, result });
    });
    socket.on('error', (err) => resolve({ resumed: false, result: err }));
  });
}

// Resuming skips the SNI callback, where both the policy and the DISABLED check are made: a session
// from another host name must not carry a client past them. AWS IoT does not offer session tickets either.
test('a TLS 1.2 session from another host name cannot be resumed past a strict domain policy', async () => {
  for (const [listener, port] of tlsPorts()) {
    const { resumed, result } = await resumeUnder(port, 'localhost', 'strict.example.com');
    assert.equal(resumed, false, `${listener}: no session is resumed`);
    assert.ok(result instanceof Error, `${listener}: the TLS 1.2 client is refused, got ${String(result)}`);
  }
});
