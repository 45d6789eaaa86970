/** First-start creation and later re-use of the CA and server certificate kept in the data directory. */
import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createRootCa, type Pki } from './ca.js';
import { readIfExists, writeFileAtomic } from './files.js';
import { publicKeyDerOfPrivateKey } from './keys.js';
import { issueServerCertificate, serverCertificateProblem, serverNames } from './server-certificate.js';

export interface EnsurePkiOptions {
  /** Names the server is reached by; the first one is the certificate's CN. IP literals become IP SANs. */
  hostnames: string[];
  ipAddresses?: string[];
}

const PRIVATE = 0o600;
const PUBLIC = 0o644;

/**
 * Returns the CA and server certificate of `dataDir`, creating them on first start. The CA is
 * never re-created behind the operator's back: every device certificate chains to it, so a CA
 * file that has gone missing is an error. The server certificate is re-issued whenever it no
 * longer fits (see serverCertificateProblem).
 */
export async function ensurePki(dataDir: string, opts: EnsurePkiOptions): Promise<Pki> {
  // Validate names before touching the disk, so a typo in the configuration changes nothing.
  const names = serverNames(opts.hostnames, opts.ipAddresses);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const path = (file: string) => join(dataDir, file);
  let [caCertPem, caKeyPem, serverCertPem, serverKeyPem] = await Promise.all(
    ['ca.pem', 'ca.key', 'server.pem', 'server.key'].map((file) => readIfExists(path(file))),
  );

  if (caCertPem === undefined && caKeyPem === undefined) {
    const stray = [serverCertPem !== undefined && 'server.pem', serverKeyPem !== undefined && 'server.key'].filter(Boolean).join(' and ');
    if (stray) {
      throw new Error(
        `${dataDir} holds ${stray} but not the CA they were issued by (ca.pem and ca.key are missing): ` +
          `restore ca.pem and ca.key from a backup, or remove ${stray} to start over with a new CA`,
      );
    }
    ({ caCertPem, caKeyPem } = await createRootCa());
    // Key first: a crash in between leaves ca.key without ca.pem, which the next start reports.
    await writeFileAtomic(path('ca.key'), caKeyPem, PRIVATE, 'create');
    await writeFileAtomic(path('ca.pem'), caCertPem, PUBLIC, 'create');
  } else if (caKeyPem === undefined) {
    throw missingCaFile(dataDir, 'ca.key', 'ca.pem');
  } else if (caCertPem === undefined) {
    throw missingCaFile(dataDir, 'ca.pem', 'ca.key');
  }
  checkCaPair(dataDir, caCertPem, caKeyPem);

  const problem =
    serverCertPem === undefined || serverKeyPem === undefined
      ? 'missing'
      : serverCertificateProblem({ caCertPem, serverCertPem, serverKeyPem }, names);
  if (problem !== undefined) {
    ({ serverCertPem, serverKeyPem } = await issueServerCertificate({ caCertPem, caKeyPem }, names));
    // Key first: a crash in between leaves a key that does not match server.pem, which the next start repairs.
    await writeFileAtomic(path('server.key'), serverKeyPem, PRIVATE, 'replace');
    await writeFileAtomic(path('server.pem'), serverCertPem, PUBLIC, 'replace');
  }
  return { caCertPem, caKeyPem, serverCertPem: serverCertPem!, serverKeyPem: serverKeyPem!, dataDir };
}

function missingCaFile(dataDir: string, missing: string, present: string): Error {
  return new Error(
    `${join(dataDir, missing)} is missing but ${present} is present. Every device certificate was issued by this CA, ` +
      `so Thicket does not create a new one by itself: restore ${missing} from a backup, or remove ${present}, ` +
      `server.pem and server.key to start over with a new CA (existing device certificates will stop working).`,
  );
}

function checkCaPair(dataDir: string, caCertPem: string, caKeyPem: string): void {
  let cert: NodeX509Certificate;
  try {
    cert = new NodeX509Certificate(caCertPem);
  } catch (err) {
    throw new Error(`${join(dataDir, 'ca.pem')} is not a readable certificate: ${(err as Error).message}`, { cause: err });
  }
  if (!cert.ca) throw new Error(`${join(dataDir, 'ca.pem')} is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  let keyDer: Buffer;
  try {
    keyDer = publicKeyDerOfPrivateKey(caKeyPem);
  } catch (err) {
    throw new Error(`${join(dataDir, 'ca.key')} is not a readable private key: ${(err as Error).message}`, { cause: err });
  }
  if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(keyDer)) {
    throw new Error(`${join(dataDir, 'ca.key')} is not the private key of ${join(dataDir, 'ca.pem')}`);
  }
}
