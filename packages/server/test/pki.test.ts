import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate, createHash, createPublicKey, webcrypto } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import {
  certificateId,
  derToPem,
  ensurePki,
  issueCertificateFromCsr,
  issueClientCertificate,
  pemToDer,
  type Pki,
} from '../src/pki/index.js';

x509.cryptoProvider.set(webcrypto);

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'thicket-pki-'));
  tempDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

const mode = (file: string) => fs.statSync(file).mode & 0o777;
const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

/** One PKI for the tests that only issue certificates, created lazily. */
let shared: Promise<Pki> | undefined;
const sharedPki = () => (shared ??= ensurePki(path.join(tempDir(), 'data'), { hostnames: ['localhost'] }));

test('first start creates the data directory, CA and server files with private keys at 0600', async () => {
  const dataDir = path.join(tempDir(), 'nested', 'data');
  const pki = await ensurePki(dataDir, { hostnames: ['iot.example.com'] });
  assert.equal(mode(dataDir), 0o700);
  assert.equal(mode(path.join(dataDir, 'ca.pem')), 0o644);
  assert.equal(mode(path.join(dataDir, 'ca.key')), 0o600);
  assert.equal(mode(path.join(dataDir, 'server.pem')), 0o644);
  assert.equal(mode(path.join(dataDir, 'server.key')), 0o600);
  assert.equal(fs.readFileSync(path.join(dataDir, 'ca.pem'), 'utf8'), pki.caCertPem);
  assert.equal(fs.readFileSync(path.join(dataDir, 'ca.key'), 'utf8'), pki.caKeyPem);
  assert.equal(fs.readFileSync(path.join(dataDir, 'server.pem'), 'utf8'), pki.serverCertPem);
  assert.equal(fs.readFileSync(path.join(dataDir, 'server.key'), 'utf8'), pki.serverKeyPem);
  assert.match(pki.caKeyPem, /^-----BEGIN PRIVATE KEY-----\n/);
  assert.equal(pki.dataDir, dataDir);
  assert.deepEqual(fs.readdirSync(dataDir).sort(), ['ca.key', 'ca.pem', 'server.key', 'server.pem'], 'no temporary files are left behind');
});

test('the root CA is a self-signed P-256 CA with the required extensions', async () => {
  const pki = await sharedPki();
  const ca = new X509Certificate(pki.caCertPem);
  assert.equal(ca.ca, true);
  assert.match(ca.subject, /^O=Thicket\nCN=Thicket Root CA [0-9a-f]{8}$/);
  assert.equal(ca.issuer, ca.subject);
  assert.ok(ca.verify(ca.publicKey), 'self-signed');
  assert.equal(ca.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  const years = (Date.parse(ca.validTo) - Date.parse(ca.validFrom)) / (365.25 * 86400_000);
  assert.ok(Math.abs(years - 10) < 0.01, `validity ${years} years`);

  const parsed = new x509.X509Certificate(pki.caCertPem);
  assert.equal(parsed.serialNumber.length, 32, '16-byte serial');
  assert.ok(parseInt(parsed.serialNumber.slice(0, 2), 16) < 0x80, 'positive serial');
  const bc = parsed.getExtension(x509.BasicConstraintsExtension);
  assert.ok(bc?.ca && bc.critical);
  const ku = parsed.getExtension(x509.KeyUsagesExtension);
  assert.equal(ku?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  assert.equal(ku?.critical, true);
  assert.ok(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId);
});

test('the server certificate is signed by the CA and covers the loopback and requested names', async () => {
  const dataDir = path.join(tempDir(), 'data');
  const pki = await ensurePki(dataDir, { hostnames: ['iot.example.com', '10.1.2.3'], ipAddresses: ['192.168.7.9', '2001:db8::1'] });
  const ca = new X509Certificate(pki.caCertPem);
  const server = new X509Certificate(pki.serverCertPem);
  assert.equal(server.ca, false);
  assert.ok(server.verify(ca.publicKey));
  assert.ok(server.checkIssued(ca));
  assert.equal(server.subject, 'CN=iot.example.com');
  for (const host of ['localhost', 'iot.example.com']) assert.equal(server.checkHost(host), host);
  assert.equal(server.checkHost('other.example.com'), undefined);
  for (const ip of ['127.0.0.1', '::1', '10.1.2.3', '192.168.7.9', '2001:db8::1']) assert.equal(server.checkIP(ip), ip);
  assert.doesNotMatch(server.subjectAltName ?? '', /DNS:10\.1\.2\.3/, 'an IP literal among host names is not a DNS name');
  assert.deepEqual(server.keyUsage, ['1.3.6.1.5.5.7.3.1']);
  assert.equal(Math.round((Date.parse(server.validTo) - Date.parse(server.validFrom)) / 86400_000), 825);
  assert.equal(
    new X509Certificate(pki.serverCertPem.trim()).raw.length,
    pemToDer(pki.serverCertPem).length,
    'server.pem holds one certificate',
  );
  assert.equal(pki.serverCertPem.match(/BEGIN CERTIFICATE/g)?.length, 1);

  const parsed = new x509.X509Certificate(pki.serverCertPem);
  assert.equal(parsed.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature);
  assert.equal(
    parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    new x509.X509Certificate(pki.caCertPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
  );
  assert.equal(
    createPublicKey(pki.serverKeyPem).export({ format: 'pem', type: 'spki' }),
    server.publicKey.export({ format: 'pem', type: 'spki' }),
  );
});

test('a second start reuses the CA and the server certificate', async () => {
  const dataDir = path.join(tempDir(), 'data');
  const first = await ensurePki(dataDir, { hostnames: ['iot.example.com'] });
  const second = await ensurePki(dataDir, { hostnames: ['IOT.example.com.'] });
  assert.equal(fingerprint(second.caCertPem), fingerprint(first.caCertPem));
  assert.equal(second.caKeyPem, first.caKeyPem);
  assert.equal(fingerprint(second.serverCertPem), fingerprint(first.serverCertPem));
  assert.equal(second.serverKeyPem, first.serverKeyPem);
});

test('a new host name re-issues only the server certificate, with the same CA', async () => {
  const dataDir = path.join(tempDir(), 'data');
  const first = await ensurePki(dataDir, { hostnames: ['iot.example.com'] });
  const second = await ensurePki(dataDir, { hostnames: ['iot.example.com', 'mqtt.example.org'] });
  assert.equal(second.caKeyPem, first.caKeyPem);
  assert.equal(fingerprint(second.caCertPem), fingerprint(first.caCertPem));
  assert.notEqual(fingerprint(second.serverCertPem), fingerprint(first.serverCertPem));
  assert.notEqual(second.serverKeyPem, first.serverKeyPem);
  const server = new X509Certificate(fs.readFileSync(path.join(dataDir, 'server.pem')));
  assert.equal(server.checkHost('mqtt.example.org'), 'mqtt.example.org');
  assert.ok(server.verify(new X509Certificate(first.caCertPem).publicKey));
  assert.equal(mode(path.join(dataDir, 'server.key')), 0o600);

  const third = await ensurePki(dataDir, { hostnames: ['iot.example.com'], ipAddresses: ['10.9.8.7'] });
  assert.notEqual(fingerprint(third.serverCertPem), fingerprint(second.serverCertPem), 'a new IP address re-issues too');
  assert.equal(new X509Certificate(third.serverCertPem).checkIP('10.9.8.7'), '10.9.8.7');
});

test('a server certificate that expires within 30 days is re-issued', async () => {
  const dataDir = path.join(tempDir(), 'data');
  const first = await ensurePki(dataDir, { hostnames: ['localhost'] });
  const ca = new x509.X509Certificate(first.caCertPem);
  const caKey = await webcrypto.subtle.importKey('pkcs8', pemToDer(first.caKeyPem), { name: 'ECDSA', namedCurve: 'P-256' }, false, [
    'sign',
  ]);
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const expiring = await x509.X509CertificateGenerator.create({
    subject: 'CN=localhost',
    issuer: ca.subjectName,
    notBefore: new Date(Date.now() - 86400_000),
    notAfter: new Date(Date.now() + 10 * 86400_000),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    extensions: [
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
    ],
  });
  const expiringPem = `${expiring.toString('pem')}\n`;
  fs.writeFileSync(path.join(dataDir, 'server.pem'), expiringPem);
  fs.writeFileSync(path.join(dataDir, 'server.key'), derToPem(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY'));

  const second = await ensurePki(dataDir, { hostnames: ['localhost'] });
  assert.notEqual(second.serverCertPem, expiringPem);
  assert.ok(Date.parse(new X509Certificate(second.serverCertPem).validTo) > Date.now() + 800 * 86400_000);
  assert.equal(fingerprint(second.caCertPem), fingerprint(first.caCertPem));
});

test('a missing CA file is an error that names it, and no new CA is created', async () => {
  const dataDir = path.join(tempDir(), 'data');
  const first = await ensurePki(dataDir, { hostnames: ['localhost'] });
  fs.rmSync(path.join(dataDir, 'ca.key'));
  await assert.rejects(ensurePki(dataDir, { hostnames: ['localhost'] }), (err: Error) => {
    assert.match(err.message, /ca\.key is missing/);
    return true;
  });
  assert.equal(fs.existsSync(path.join(dataDir, 'ca.key')), false);
  assert.equal(fs.readFileSync(path.join(dataDir, 'ca.pem'), 'utf8'), first.caCertPem);

  fs.writeFileSync(path.join(dataDir, 'ca.key'), first.caKeyPem, { mode: 0o600 });
  fs.rmSync(path.join(dataDir, 'ca.pem'));
  await assert.rejects(ensurePki(dataDir, { hostnames: ['localhost'] }), /ca\.pem is missing/);

  fs.rmSync(path.join(dataDir, 'ca.key'));
  await assert.rejects(ensurePki(dataDir, { hostnames: ['localhost'] }), /server\.pem and server\.key but not the CA/);
  assert.deepEqual(fs.readdirSync(dataDir).sort(), ['server.key', 'server.pem']);
});

test('a CA key that does not belong to ca.pem is an error', async () => {
  const dataDir = path.join(tempDir(), 'data');
  await ensurePki(dataDir, { hostnames: ['localhost'] });
  const other = await sharedPki();
  fs.writeFileSync(path.join(dataDir, 'ca.key'), other.caKeyPem);
  await assert.rejects(ensurePki(dataDir, { hostnames: ['localhost'] }), /ca\.key is not the private key of .*ca\.pem/);
});

test('invalid host names and IP addresses are refused before anything is written', async () => {
  const dataDir = path.join(tempDir(), 'data');
  await assert.rejects(ensurePki(dataDir, { hostnames: ['bad host'] }), /"bad host" is not a valid DNS host name/);
  await assert.rejects(ensurePki(dataDir, { hostnames: ['localhost'], ipAddresses: ['999.1.1.1'] }), /"999\.1\.1\.1" is not an IP address/);
  assert.equal(fs.existsSync(dataDir), false);
});

test('a client certificate verifies against the CA and carries the common name', async () => {
  const pki = await sharedPki();
  const ca = new X509Certificate(pki.caCertPem);
  const issued = await issueClientCertificate(pki, { commonName: 'thing-1' });
  const cert = new X509Certificate(issued.certificatePem);
  assert.ok(cert.verify(ca.publicKey));
  assert.equal(cert.subject, 'CN=thing-1');
  assert.equal(cert.ca, false);
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(Math.round((Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86400_000), 365);
  assert.ok(issued.privateKeyPem);
  assert.equal(
    createPublicKey(issued.privateKeyPem).export({ format: 'pem', type: 'spki' }),
    cert.publicKey.export({ format: 'pem', type: 'spki' }),
  );
  const parsed = new x509.X509Certificate(issued.certificatePem);
  assert.equal(parsed.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature);
  assert.equal(
    parsed.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    new x509.X509Certificate(pki.caCertPem).getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
  );
  assert.equal(parsed.serialNumber.length, 32);
  const again = await issueClientCertificate(pki, { commonName: 'thing-1', days: 30 });
  assert.notEqual(new x509.X509Certificate(again.certificatePem).serialNumber, parsed.serialNumber);
  assert.equal(Math.round((Date.parse(new X509Certificate(again.certificatePem).validTo) - Date.now()) / 86400_000), 30);
});

test('a common name with DN special characters is kept literally', async () => {
  const pki = await sharedPki();
  for (const commonName of ['dev,ice=1+x', '#not-hex "quoted" back\\slash', 'Gerät 7']) {
    const { certificatePem } = await issueClientCertificate(pki, { commonName });
    assert.deepEqual(new x509.X509Certificate(certificatePem).subjectName.getField('CN'), [commonName]);
    assert.equal(new X509Certificate(certificatePem).subject.split('\n').length, 1, `one RDN for ${commonName}`);
  }
});

test('a client certificate for a caller-held public key returns no private key', async () => {
  const pki = await sharedPki();
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
  const publicKeyPem = derToPem(await webcrypto.subtle.exportKey('spki', keys.publicKey), 'PUBLIC KEY');
  const issued = await issueClientCertificate(pki, { commonName: 'held-key', publicKeyPem });
  assert.equal(issued.privateKeyPem, undefined);
  assert.equal(new X509Certificate(issued.certificatePem).publicKey.export({ format: 'pem', type: 'spki' }), publicKeyPem);
  await assert.rejects(
    issueClientCertificate(pki, { commonName: 'x', publicKeyPem: 'nonsense' }),
    /publicKeyPem is not a readable public key/,
  );
});

test('certificateId is the SHA-256 of the certificate DER in lowercase hex', async () => {
  const pki = await sharedPki();
  const issued = await issueClientCertificate(pki, { commonName: 'thing-id' });
  const der = new X509Certificate(issued.certificatePem).raw;
  const expected = createHash('sha256').update(der).digest('hex');
  assert.equal(issued.certificateId, expected);
  assert.equal(certificateId(issued.certificatePem), expected);
  assert.match(expected, /^[0-9a-f]{64}$/);
  assert.deepEqual(pemToDer(issued.certificatePem, 'CERTIFICATE'), der);
  assert.equal(derToPem(der), issued.certificatePem);
  assert.throws(() => pemToDer(pki.caKeyPem, 'CERTIFICATE'), /expected a PEM CERTIFICATE, got PRIVATE KEY/);
  assert.throws(() => certificateId(pki.caKeyPem));
});

async function makeCsr(name: string, namedCurve = 'P-256') {
  const keys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve }, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: [{ CN: [name] }, { O: ['Acme'] }],
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  return { csr, keys };
}

test('a CSR is issued with its own subject and public key', async () => {
  const pki = await sharedPki();
  const { csr } = await makeCsr('csr-thing');
  const issued = await issueCertificateFromCsr(pki, csr.toString('pem'), {});
  const cert = new X509Certificate(issued.certificatePem);
  assert.ok(cert.verify(new X509Certificate(pki.caCertPem).publicKey));
  assert.equal(cert.subject, 'CN=csr-thing\nO=Acme');
  assert.deepEqual(Buffer.from(new x509.X509Certificate(issued.certificatePem).publicKey.rawData), Buffer.from(csr.publicKey.rawData));
  assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
  assert.equal(issued.certificateId, certificateId(issued.certificatePem));
  const short = await issueCertificateFromCsr(pki, csr.toString('pem'), { days: 7 });
  assert.equal(Math.round((Date.parse(new X509Certificate(short.certificatePem).validTo) - Date.now()) / 86400_000), 7);
});

test('a CSR with a bad signature, or no CSR at all, is refused', async () => {
  const pki = await sharedPki();
  const { csr } = await makeCsr('csr-thing');
  const der = Buffer.from(csr.rawData);
  // The signature BIT STRING is the last element: flipping its final byte breaks only the signature.
  der[der.length - 1]! ^= 0x01;
  assert.equal(await new x509.Pkcs10CertificateRequest(der).verify(), false, 'the tampered CSR still parses');
  await assert.rejects(issueCertificateFromCsr(pki, derToPem(der, 'CERTIFICATE REQUEST'), {}), /CSR signature is invalid/);

  // The subject changed after signing: the request parses, but its signature no longer matches.
  const renamed = Buffer.from(csr.rawData);
  const at = renamed.indexOf('csr-thing');
  assert.ok(at > 0);
  renamed.write('csr-thinG', at);
  assert.equal(new x509.Pkcs10CertificateRequest(renamed).subject, 'CN=csr-thinG, O=Acme');
  await assert.rejects(issueCertificateFromCsr(pki, derToPem(renamed, 'CERTIFICATE REQUEST'), {}), /CSR signature is invalid/);

  await assert.rejects(issueCertificateFromCsr(pki, 'not a csr', {}), /CSR is not a valid PKCS#10 certificate request/);
});

/** Starts a TLS server requiring client certificates; resolves with the port and the next connection's outcome. */
async function withMtlsServer(
  pki: Pki,
  rejectUnauthorized: boolean,
  run: (port: number, serverSide: Promise<{ authorized: boolean; error?: string }>) => Promise<void>,
): Promise<void> {
  let report!: (r: { authorized: boolean; error?: string }) => void;
  const serverSide = new Promise<{ authorized: boolean; error?: string }>((resolve) => (report = resolve));
  const server = tls.createServer({
    key: pki.serverKeyPem,
    cert: pki.serverCertPem,
    ca: pki.caCertPem,
    requestCert: true,
    rejectUnauthorized,
  });
  server.on('secureConnection', (socket) => {
    report({ authorized: socket.authorized, error: socket.authorizationError?.toString() });
    socket.end('hello');
  });
  server.on('tlsClientError', (err) => report({ authorized: false, error: err.message }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await run((server.address() as AddressInfo).port, serverSide);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function connect(port: number, caPem: string, client: { certificatePem: string; privateKeyPem?: string }) {
  return new Promise<{ authorized: boolean; data: string; error?: Error }>((resolve) => {
    let data = '';
    let authorized = false;
    const socket = tls.connect({ host: '127.0.0.1', port, ca: caPem, cert: client.certificatePem, key: client.privateKeyPem });
    socket.on('secureConnect', () => (authorized = socket.authorized));
    socket.on('data', (chunk: Buffer) => (data += chunk.toString()));
    socket.on('error', (error) => resolve({ authorized, data, error }));
    socket.on('close', () => resolve({ authorized, data }));
  });
}

test('mutual TLS: a client certificate from the CA is authorized on both sides', async () => {
  const pki = await ensurePki(path.join(tempDir(), 'data'), { hostnames: ['localhost'] });
  const client = await issueClientCertificate(pki, { commonName: 'tls-thing' });
  await withMtlsServer(pki, true, async (port, serverSide) => {
    const result = await connect(port, pki.caCertPem, client);
    assert.equal(result.error, undefined);
    assert.equal(result.authorized, true, 'the client trusts the server certificate for 127.0.0.1');
    assert.equal(result.data, 'hello');
    assert.deepEqual(await serverSide, { authorized: true, error: undefined });
  });
});

test('mutual TLS: a client certificate from another CA is not authorized', async () => {
  const pki = await ensurePki(path.join(tempDir(), 'data'), { hostnames: ['localhost'] });
  const otherPki = await ensurePki(path.join(tempDir(), 'data'), { hostnames: ['localhost'] });
  const stranger = await issueClientCertificate(otherPki, { commonName: 'tls-thing' });

  await withMtlsServer(pki, false, async (port, serverSide) => {
    const result = await connect(port, pki.caCertPem, stranger);
    assert.equal(result.authorized, true, 'the server itself is still trusted');
    const seen = await serverSide;
    assert.equal(seen.authorized, false);
    assert.match(seen.error ?? '', /^UNABLE_TO_VERIFY_LEAF_SIGNATURE$|^UNABLE_TO_GET_ISSUER_CERT/);
  });

  await withMtlsServer(pki, true, async (port, serverSide) => {
    const result = await connect(port, pki.caCertPem, stranger);
    assert.equal(result.data, '', 'a strict server sends nothing to a stranger');
    assert.equal((await serverSide).authorized, false);
  });
});
