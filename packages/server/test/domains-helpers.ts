/** Test helpers for domain configurations: certificates made with the openssl CLI, and the server-certificate API. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminRequest, type AccessKey } from '@thicket/server';
import type { TestServer } from './helpers.js';

const MIN_CONFIG = '[req]\ndistinguished_name=dn\n[dn]\n';

export interface Pem {
  cert: string;
  key: string;
}

/** Runs openssl in a scratch directory and returns the files it wrote. */
function openssl(run: (dir: string, cfg: string) => string[][], read: string[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'thicket-domains-'));
  try {
    const cfg = join(dir, 'min.cnf');
    writeFileSync(cfg, MIN_CONFIG);
    for (const args of run(dir, cfg)) execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    return read.map((f) => readFileSync(join(dir, f), 'utf8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A throw-away CA for the test's own server certificates. */
export function makeCa(cn = 'Domains Test CA'): Pem {
  const [cert, key] = openssl(
    (dir, cfg) => [
      // prettier-ignore
      ['req', '-config', cfg, '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'), '-subj', `/CN=${cn}`, '-days', '30',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=keyCertSign'],
    ],
    ['ca.pem', 'ca.key'],
  );
  return { cert: cert!, key: key! };
}

export interface LeafOptions {
  dnsNames: string[];
  /** Extended key usage; none when null. */
  eku?: string | null;
  ca?: Pem;
}

/** A server certificate for `dnsNames` signed by `ca`, with a P-256 key. */
export function makeServerCert(opts: LeafOptions): Pem {
  const ca = opts.ca ?? makeCa();
  const eku = opts.eku === undefined ? 'serverAuth' : opts.eku;
  const [cert, key] = openssl(
    (dir, cfg) => {
      writeFileSync(join(dir, 'ca.pem'), ca.cert);
      writeFileSync(join(dir, 'ca.key'), ca.key);
      return [
        // prettier-ignore
        ['req', '-config', cfg, '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
          '-keyout', join(dir, 'leaf.key'), '-out', join(dir, 'leaf.pem'), '-subj', `/CN=${opts.dnsNames[0]}`, '-days', '30',
          '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'),
          '-addext', `subjectAltName=${opts.dnsNames.map((n) => `DNS:${n}`).join(',')}`, '-addext', 'basicConstraints=CA:FALSE',
          ...(eku ? ['-addext', `extendedKeyUsage=${eku}`] : [])],
      ];
    },
    ['leaf.pem', 'leaf.key'],
  );
  return { cert: cert!, key: key! };
}

export const api = (server: TestServer, credentials: AccessKey = server.adminKey, region = 'us-east-1') => ({
  endpoint: `http://127.0.0.1:${server.ports.http}`,
  region,
  credentials,
});

/** Imports a certificate into the server's store; returns its ACM-shaped ARN. */
export async function importServerCert(
  server: TestServer,
  pem: Pem & { chain?: string },
  credentials: AccessKey = server.adminKey,
): Promise<string> {
  const r = await adminRequest<{ certificateArn: string }>({
    ...api(server, credentials),
    method: 'POST',
    path: '/_thicket/server-certificates',
    body: { certificate: pem.cert, privateKey: pem.key, ...(pem.chain ? { certificateChain: pem.chain } : {}) },
  });
  return r.certificateArn;
}

/** The error name and message of a rejected promise, or 'no error'. */
export async function failure(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  return p.then(
    () => ({ name: 'no error', message: '' }),
    (e: { name: string; message: string }) => ({ name: e.name, message: e.message }),
  );
}
