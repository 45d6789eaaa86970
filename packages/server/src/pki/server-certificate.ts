/** The server's TLS certificate: which names it must carry, issuing it, and deciding when to re-issue it. */
import { X509Certificate as NodeX509Certificate, createPublicKey } from 'node:crypto';
import { isIP } from 'node:net';
import { commonNameSubject, signLeafCertificate, type Pki } from './ca.js';
import { generateKeyPair, privateKeyToPem, publicKeyDerOfPrivateKey } from './keys.js';
import { x509 } from './x509.js';

const SERVER_VALIDITY_DAYS = 825;
const RENEW_BEFORE_MS = 30 * 24 * 60 * 60 * 1000;

export interface ServerNames {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
}

/**
 * One spelling per address (`::0:1` and `::1` are the same SAN), so that comparing the names a
 * certificate carries with the ones asked for is a plain set lookup.
 */
export function canonicalIp(ip: string): string {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const family = isIP(bare);
  try {
    if (family === 4) return new URL(`http://${bare}/`).hostname;
    if (family === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  } catch {
    // isIP accepts zone ids (fe80::1%eth0), which cannot go into a certificate
  }
  throw new Error(`"${ip}" is not an IP address that a certificate can carry`);
}

function canonicalDnsName(name: string): string {
  const lower = name.trim().toLowerCase().replace(/\.$/, '');
  if (!/^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(lower)) {
    throw new Error(`"${name}" is not a valid DNS host name for the server certificate (use punycode for international names)`);
  }
  return lower;
}

/** Splits the requested names into DNS and IP SANs (IP literals among the host names go to IP), always including the loopback names. */
export function serverNames(hostnames: readonly string[], ipAddresses: readonly string[] = []): ServerNames {
  const dns = new Set<string>(['localhost']);
  const ips = new Set<string>(['127.0.0.1', '::1']);
  let commonName: string | undefined;
  for (const host of hostnames) {
    const bare = host.trim();
    const isLiteral = isIP(bare.replace(/^\[(.*)\]$/, '$1')) !== 0;
    const name = isLiteral ? canonicalIp(bare) : canonicalDnsName(bare);
    (isLiteral ? ips : dns).add(name);
    commonName ??= name;
  }
  for (const ip of ipAddresses) ips.add(canonicalIp(ip));
  return { commonName: commonName ?? 'localhost', dnsNames: [...dns], ipAddresses: [...ips] };
}

export async function issueServerCertificate(
  ca: Pick<Pki, 'caCertPem' | 'caKeyPem'>,
  names: ServerNames,
): Promise<{ serverCertPem: string; serverKeyPem: string }> {
  const keys = await generateKeyPair();
  const serverCertPem = await signLeafCertificate(ca, {
    subject: commonNameSubject(names.commonName),
    publicKey: keys.publicKey,
    days: SERVER_VALIDITY_DAYS,
    extendedKeyUsage: x509.ExtendedKeyUsage.serverAuth,
    subjectAltNames: [
      ...names.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...names.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ],
  });
  return { serverCertPem, serverKeyPem: await privateKeyToPem(keys.privateKey) };
}

/**
 * Why the stored server certificate cannot be kept, or undefined if it can. It is derived
 * material, so anything wrong with it (unreadable, from another CA, a key that is not its own —
 * as a crash between writing the two files leaves it — missing names, near expiry) is repaired
 * by issuing a new one rather than by refusing to start.
 */
export function serverCertificateProblem(
  pki: Pick<Pki, 'caCertPem' | 'serverCertPem' | 'serverKeyPem'>,
  names: ServerNames,
  now = new Date(),
): string | undefined {
  let cert: NodeX509Certificate;
  let keyDer: Buffer;
  try {
    cert = new NodeX509Certificate(pki.serverCertPem);
    keyDer = publicKeyDerOfPrivateKey(pki.serverKeyPem);
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
  if (!cert.verify(createPublicKey(pki.caCertPem))) return 'not signed by the current CA';
  if (!cert.publicKey.export({ type: 'spki', format: 'der' }).equals(keyDer)) return 'server.key does not belong to server.pem';
  if (new Date(cert.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return `expires ${new Date(cert.validTo).toISOString()}`;

  const san = new x509.X509Certificate(cert.raw).getExtension(x509.SubjectAlternativeNameExtension);
  const have = new Set<string>();
  for (const name of san?.names.items ?? []) {
    if (name.type === 'dns') have.add(`dns:${name.value.toLowerCase()}`);
    else if (name.type === 'ip') {
      try {
        have.add(`ip:${canonicalIp(name.value)}`);
      } catch {}
    }
  }
  const missing = [...names.dnsNames.map((n) => `dns:${n}`), ...names.ipAddresses.map((n) => `ip:${n}`)].filter((n) => !have.has(n));
  return missing.length ? `does not cover ${missing.join(', ')}` : undefined;
}
