/** `thicket domains ...` and `thicket domains certs ...` against a running server; the MQTTS listener answers by SNI. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { cliWithHttpServer } from './helpers.js';
import { makeCa, makeServerCert } from '../../server/test/domains-helpers.js';

const { thicket, fails, dataDir, server } = cliWithHttpServer({ serveArgs: ['--mqtts-port', '0'] });

function presented(servername: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: server().ports.mqtts!, servername, rejectUnauthorized: false }, () => {
      const san = new X509Certificate(s.getPeerCertificate().raw).subjectAltName;
      s.destroy();
      resolve(san);
    });
    s.on('error', reject);
  });
}

test('domains: create with --cert/--key, list, describe, disable, delete; certs list and delete; errors as one line', async () => {
  const ca = makeCa();
  const pem = makeServerCert({ dnsNames: ['cli.example.com'], ca });
  const certFile = join(dataDir(), 'cli.pem');
  const keyFile = join(dataDir(), 'cli.key');
  writeFileSync(certFile, pem.cert);
  writeFileSync(keyFile, pem.key, { mode: 0o600 });

  assert.equal(
    await thicket('domains', 'create', 'cli', '--domain', 'cli.example.com', '--cert', certFile, '--key', keyFile),
    'created domain configuration cli for cli.example.com\n',
  );
  assert.equal(await presented('cli.example.com'), 'DNS:cli.example.com');
  assert.equal(
    await thicket('domains', 'create', 'own', '--domain', 'own.example.com'),
    'created domain configuration own for own.example.com\n',
  );
  assert.equal(await presented('own.example.com'), 'DNS:own.example.com');

  const list = await thicket('domains', 'list');
  assert.match(list, /^DOMAINCONFIGURATIONNAME\s+DOMAINNAME\s+DOMAINCONFIGURATIONSTATUS\s+DOMAINTYPE\s+DEFAULTAUTHORIZER\n/);
  assert.match(list, /cli\s+cli\.example\.com\s+ENABLED\s+CUSTOMER_MANAGED/);
  assert.match(list, /own\s+own\.example\.com\s+ENABLED\s+CUSTOMER_MANAGED/);
  const described = await thicket('domains', 'describe', 'cli');
  assert.match(described, /serverCertificate\s+arn:aws:acm:us-east-1:123456789012:certificate\/[0-9a-f-]{36} \(VALID\)/);

  const certs = await thicket('domains', 'certs', 'list');
  assert.match(certs, /IMPORTED\s+\S+\s+cli\n/);
  assert.match(certs, /ISSUED\s+\S+\s+own\n/);
  assert.ok(!certs.includes('PRIVATE KEY'));
  const imported = JSON.parse(await thicket('domains', 'certs', 'list', '--json')) as {
    certificates: Array<{ certificateArn: string; origin: string }>;
  };
  const arn = imported.certificates.find((c) => c.origin === 'IMPORTED')!.certificateArn;

  assert.match(
    await fails('domains', 'create', 'wild', '--domain', '*.example.com'),
    /InvalidRequestException: The domain name \*\.example\.com contains a wildcard/,
  );
  assert.match(
    await fails('domains', 'create', 'other', '--domain', 'other.example.com', '--certificate-arn', arn),
    /InvalidRequestException: The server certificate .* does not cover the domain name other\.example\.com \(its subjectAltName names: cli\.example\.com\)/,
  );
  assert.match(
    await fails('domains', 'delete', 'cli'),
    /InvalidRequestException: Domain configuration cli is ENABLED; set its status to DISABLED before deleting it/,
  );
  assert.match(
    await fails('domains', 'certs', 'delete', arn),
    /DeleteConflictException: Server certificate .* is used by domain configuration cli/,
  );

  assert.equal(await thicket('domains', 'disable', 'cli'), 'domain configuration cli is DISABLED\n');
  await assert.rejects(presented('cli.example.com'));
  assert.equal(await thicket('domains', 'delete', 'cli'), 'deleted domain configuration cli\n');
  assert.equal(await thicket('domains', 'delete', 'own', '--force'), 'deleted domain configuration own\n');
  assert.equal(await thicket('domains', 'certs', 'delete', arn), `deleted server certificate ${arn.split('/')[1]}\n`);
});
