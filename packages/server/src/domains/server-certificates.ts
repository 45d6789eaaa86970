/**
 * Server certificates for domain configurations: what AWS keeps in ACM, Thicket keeps itself.
 * An operator imports a certificate with its key (and chain), or Thicket issues one from its CA
 * for a domain name; either is referred to by an ACM-shaped ARN
 * (`arn:aws:acm:<region>:<account>:certificate/<id>`), so that AWS-shaped CreateDomainConfiguration
 * calls work unchanged. Keys are checked against their certificate on import and never returned.
 */
import { createPrivateKey, randomUUID, X509Certificate, type KeyObject } from 'node:crypto';
import type { Namespace } from '../accounts/namespace.js';
import { deleteConflict, invalidRequest, notFound } from '../aws/errors.js';
import { certificateInvalid, issuedBy, parseCertificate, validNow } from '../certificates/x509-check.js';
import type { Pki } from '../pki/index.js';
import { issueServerCertificate } from '../pki/server-certificate.js';
import { untilApplied, type DomainStore, type ServerCertificateRow } from './domain-store.js';

const SERVER_AUTH_OID = '1.3.6.1.5.5.7.3.1';
/** AWS IoT's limits on a domain's certificate chain. */
const MAX_CHAIN_CERTIFICATES = 5;
const MAX_CHAIN_BYTES = 16 * 1024;
const ACM_ARN = /^arn:aws:acm:([a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]{4,9}-\d):(\d{12}):certificate\/([a-zA-Z0-9-]{1,128})$/;

export const acmArn = (ns: Namespace, id: string): string => `arn:aws:acm:${ns.region}:${ns.accountId}:certificate/${id}`;

export function parseAcmArn(arn: string): { ns: Namespace; id: string } | undefined {
  const m = ACM_ARN.exec(arn);
  return m ? { ns: { region: m[1]!, accountId: m[2]! }, id: m[3]! } : undefined;
}

/** The DNS names a certificate carries (subjectAltName), lower case. */
export function dnsNamesOf(cert: X509Certificate): string[] {
  return (cert.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((n) => n.startsWith('DNS:'))
    .map((n) => n.slice(4).toLowerCase());
}

/** Whether the certificate's subjectAltName covers `host` (a `*.` name covers one label, as TLS clients check). */
export function covers(cert: X509Certificate, host: string): boolean {
  return cert.checkHost(host, { subject: 'never', wildcards: true, partialWildcards: false }) !== undefined;
}

function splitPem(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

function keyOf(pem: unknown): KeyObject {
  if (typeof pem !== 'string' || !pem.includes('PRIVATE KEY-----')) throw certificateInvalid('privateKey is not a PEM-encoded private key');
  try {
    return createPrivateKey(pem);
  } catch {
    // The parser's message may quote key material; say only what is wrong.
    throw certificateInvalid('privateKey is not a readable private key (unencrypted PKCS#8, PKCS#1 or SEC1 PEM)');
  }
}

/** AWS IoT accepts RSA 2048 and EC P-256 for domain certificates; larger RSA and P-384 are no weaker. */
function checkKeyStrength(key: KeyObject): void {
  const d = key.asymmetricKeyDetails ?? {};
  const ok =
    (key.asymmetricKeyType === 'rsa' && (d.modulusLength ?? 0) >= 2048) ||
    (key.asymmetricKeyType === 'ec' && (d.namedCurve === 'prime256v1' || d.namedCurve === 'secp384r1'));
  if (!ok) {
    throw certificateInvalid(
      `The certificate's key (${key.asymmetricKeyType} ${d.modulusLength ?? d.namedCurve ?? ''}) is not supported; use RSA of at least 2048 bits or EC P-256/P-384`,
    );
  }
}

export interface ServerCertificateSummary {
  certificateArn: string;
  domainName: string;
  subjectAlternativeNames: string[];
  origin: string;
  notBefore: number;
  notAfter: number;
  inUseBy: string[];
}

export class ServerCertificates {
  constructor(
    private readonly store: DomainStore,
    private readonly pki: Pick<Pki, 'caCertPem' | 'caKeyPem'>,
    private readonly changed: () => void,
  ) {}

  /** Checks and stores an operator's certificate, key and chain; returns its ARN. */
  async import(ns: Namespace, body: Record<string, unknown>): Promise<{ certificateArn: string }> {
    const cert = parseCertificate(body.certificate, 'certificate');
    const key = keyOf(body.privateKey);
    if (!cert.checkPrivateKey(key))
      throw certificateInvalid('The private key does not belong to the certificate (their public keys differ)');
    checkKeyStrength(key);
    if (cert.ca)
      throw certificateInvalid('The certificate is a CA certificate (basicConstraints CA:TRUE); import a server (leaf) certificate');
    if (!validNow(cert)) throw certificateInvalid(`The certificate is not valid now (valid from ${cert.validFrom} to ${cert.validTo})`);
    if (!(cert.keyUsage ?? []).includes(SERVER_AUTH_OID)) {
      throw certificateInvalid('The certificate must have the extended key usage serverAuth (TLS Web Server Authentication)');
    }
    if (dnsNamesOf(cert).length === 0) throw certificateInvalid('The certificate has no DNS names in its subjectAltName');
    const chainPem = body.certificateChain === undefined || body.certificateChain === null ? '' : body.certificateChain;
    if (typeof chainPem !== 'string') throw certificateInvalid('certificateChain must be PEM text');
    if (Buffer.byteLength(chainPem) > MAX_CHAIN_BYTES) throw certificateInvalid(`certificateChain is larger than ${MAX_CHAIN_BYTES} bytes`);
    const chain = splitPem(chainPem).map((p, i) => parseCertificate(p, `certificateChain[${i}]`));
    if (chainPem.trim() !== '' && chain.length === 0) throw certificateInvalid('certificateChain holds no PEM certificate');
    if (chain.length + 1 > MAX_CHAIN_CERTIFICATES) {
      throw certificateInvalid(`The chain is deeper than ${MAX_CHAIN_CERTIFICATES} certificates`);
    }
    let child = cert;
    for (const [i, c] of chain.entries()) {
      if (!issuedBy(child, c)) throw certificateInvalid(`certificateChain[${i}] did not issue the certificate before it`);
      child = c;
    }
    const id = randomUUID();
    await this.store.insertCertificate(ns, {
      id,
      certificatePem: cert.toString(),
      chainPem: chain.map((c) => c.toString()).join(''),
      privateKeyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
      origin: 'IMPORTED',
      createdAt: Date.now(),
    });
    return { certificateArn: acmArn(ns, id) };
  }

  /** A certificate for `domainName` from the server's CA (a domain configuration given none). */
  async issue(domainName: string): Promise<ServerCertificateRow> {
    const { serverCertPem, serverKeyPem } = await issueServerCertificate(this.pki, {
      commonName: domainName,
      dnsNames: [domainName],
      ipAddresses: [],
    });
    return {
      id: randomUUID(),
      certificatePem: serverCertPem,
      chainPem: '',
      privateKeyPem: serverKeyPem,
      origin: 'ISSUED',
      createdAt: Date.now(),
    };
  }

  /** The stored certificate an ARN names in `ns`, or the error CreateDomainConfiguration answers with. */
  byArn(ns: Namespace, arn: string, member = 'serverCertificateArns'): ServerCertificateRow {
    const p = parseAcmArn(arn);
    if (!p) {
      throw invalidRequest(
        `1 validation error detected: Value '${arn}' at '${member}' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws:acm:[a-z]{2}-(gov-)?[a-z]{4,9}-\\d{1}:\\d{12}:certificate/?[a-zA-Z0-9/-]+`,
      );
    }
    const row = p.ns.accountId === ns.accountId && p.ns.region === ns.region ? this.store.certificate(ns, p.id) : undefined;
    // Another namespace's certificate is as unknown as a missing one: its key is not ours to serve.
    if (!row) throw certificateInvalid(`The server certificate ${arn} does not exist in account ${ns.accountId} and region ${ns.region}`);
    return row;
  }

  private summary(ns: Namespace, row: ServerCertificateRow): ServerCertificateSummary {
    const cert = new X509Certificate(row.certificatePem);
    const arn = acmArn(ns, row.id);
    return {
      certificateArn: arn,
      domainName: /CN=([^\n,]+)/.exec(cert.subject)?.[1] ?? dnsNamesOf(cert)[0] ?? '',
      subjectAlternativeNames: dnsNamesOf(cert),
      origin: row.origin,
      notBefore: Date.parse(cert.validFrom) / 1000,
      notAfter: Date.parse(cert.validTo) / 1000,
      inUseBy: this.store.usingCertificate(ns, arn),
    };
  }

  list(ns: Namespace): { certificates: ServerCertificateSummary[] } {
    return { certificates: this.store.certificates(ns).map((r) => this.summary(ns, r)) };
  }

  describe(ns: Namespace, id: string) {
    const row = this.store.certificate(ns, id);
    if (!row) throw notFound(`Server certificate ${id} does not exist`);
    return { certificate: { ...this.summary(ns, row), certificatePem: row.certificatePem, certificateChain: row.chainPem } };
  }

  async delete(ns: Namespace, id: string): Promise<Record<string, never>> {
    const arn = acmArn(ns, id);
    await untilApplied(`Server certificate ${id}`, async () => {
      const row = this.store.certificate(ns, id);
      if (!row) throw notFound(`Server certificate ${id} does not exist`);
      const users = this.store.usingCertificate(ns, arn);
      if (users.length) throw deleteConflict(`Server certificate ${id} is used by domain configuration ${users.join(', ')}`);
      // Only while no configuration presents it (one created meanwhile, here or on another node, keeps it).
      return this.store.deleteCertificate(ns, id, arn);
    });
    this.changed();
    return {};
  }

  /** VALID, or INVALID with why (the describe output's serverCertificateStatus and Detail). */
  static status(row: ServerCertificateRow | undefined): { status: 'VALID' | 'INVALID'; detail?: string } {
    if (!row) return { status: 'INVALID', detail: 'The certificate no longer exists' };
    const cert = new X509Certificate(row.certificatePem);
    if (!validNow(cert)) return { status: 'INVALID', detail: `The certificate expired on ${new Date(cert.validTo).toISOString()}` };
    return { status: 'VALID' };
  }
}
