/**
 * Just-in-time registration and provisioning: a device certificate registered nowhere, signed by a
 * registered ACTIVE CA certificate whose auto-registration is enabled, is registered on its first
 * connection, and `$aws/events/certificates/registered/<caCertificateId>` is published as AWS does.
 * Without a provisioning template the certificate waits PENDING_ACTIVATION for something (a rule,
 * an operator) to activate it: the connection is refused, as on AWS. With one (the CA's
 * `registrationConfig.templateBody`, or a JITP template named by `templateName`) the template runs
 * with the certificate's subject as its parameters; the device is then connected at once (AWS
 * refuses that first connection and expects the device to come back).
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { Namespace } from '../accounts/namespace.js';
import type { CaCertificateRow, CertificateRow } from '../certificates/cert-store.js';
import { canonicalPem, issuedBy, validNow } from '../certificates/x509-check.js';
import type { Services } from '../platform/capability.js';
import { certificateId } from '../pki/index.js';
import type { Provisioner } from './provisioner.js';
import { parseTemplate, resolveTemplate, type Template } from './template-body.js';
import type { Templates } from './templates.js';

export interface JustInTimeDeps {
  certificates(): Services['certificates'];
  templates: Templates;
  provisioner: Provisioner;
  publish(ns: Namespace, topic: string, payload: object): void;
  log: Logger;
}

/** The certificate fields JITP templates read, by pseudo parameter (AWS's names). */
const SUBJECT_FIELDS: Record<string, string> = {
  CN: 'CommonName',
  C: 'Country',
  O: 'Organization',
  OU: 'OrganizationalUnit',
  ST: 'StateName',
  L: 'Locality',
  dnQualifier: 'DistinguishedNameQualifier',
  serialNumber: 'SerialNumber',
};

export class JustInTime {
  /** Registrations under way, by certificate id: a device connecting twice at once registers once. */
  private readonly running = new Map<string, Promise<void>>();

  constructor(private readonly deps: JustInTimeDeps) {}

  register(der: Buffer, within: Namespace | undefined): Promise<void> {
    const cert = new X509Certificate(der);
    const pem = canonicalPem(cert);
    const id = certificateId(pem);
    const running = this.running.get(id);
    if (running) return running;
    const run = this.run(cert, pem, id, within).finally(() => this.running.delete(id));
    this.running.set(id, run);
    return run;
  }

  private async run(cert: X509Certificate, pem: string, id: string, within: Namespace | undefined): Promise<void> {
    if (!validNow(cert)) return;
    const { store } = this.deps.certificates();
    const signer = store
      .allCaCertificates()
      .filter((c) => !within || (c.accountId === within.accountId && c.region === within.region))
      .find((c) => c.status === 'ACTIVE' && c.autoRegistration === 'ENABLE' && issuedBy(cert, new X509Certificate(c.pem)));
    if (!signer) return;
    const ns: Namespace = { accountId: signer.accountId, region: signer.region };
    const template = this.templateOf(ns, signer);
    const now = Date.now();
    const row: CertificateRow = {
      certificateId: id,
      pem,
      status: 'PENDING_ACTIVATION',
      caCertificateId: signer.certificateId,
      mode: 'DEFAULT',
      createdAt: now,
      lastModified: now,
      customerVersion: 1,
      generationId: randomBytes(16).toString('hex'),
    };
    // Refused when another node registered it first, or the CA stopped being ACTIVE: nothing to do then.
    if (!(await store.insertCertificate(ns, row, signer))) return;
    this.deps.log.info({ certificateId: id, caCertificateId: signer.certificateId }, 'certificate registered just in time');
    this.deps.publish(ns, `$aws/events/certificates/registered/${signer.certificateId}`, {
      certificateId: id,
      caCertificateId: signer.certificateId,
      timestamp: now,
      certificateStatus: 'PENDING_ACTIVATION',
      awsAccountId: ns.accountId,
      certificateRegistrationTimestamp: now,
    });
    if (!template) return;
    try {
      const resolved = resolveTemplate(template, {}, this.pseudoParameters(cert, row, signer));
      await this.deps.provisioner.provision(ns, resolved, { ownedCertificate: row });
      this.deps.log.info({ certificateId: id }, 'device provisioned just in time');
    } catch (err) {
      // The device tries again with the template fixed; its certificate must not stay half-made.
      this.deps.log.warn({ certificateId: id, err: (err as Error).message }, 'just-in-time provisioning failed');
      const held = store.certificate(ns, id);
      if (held?.status === 'PENDING_ACTIVATION') await store.deleteCertificate(ns, held);
    }
  }

  /** The CA's JITP template: its own body, or a JITP template it names. */
  private templateOf(ns: Namespace, ca: CaCertificateRow): Template | undefined {
    const config = ca.registrationConfig;
    if (!config) return undefined;
    try {
      if (typeof config.templateBody === 'string' && config.templateBody !== '') return parseTemplate(config.templateBody, 'JITP');
      if (typeof config.templateName === 'string') {
        const row = this.deps.templates.store.template(ns, config.templateName);
        if (!row || row.type !== 'JITP') {
          this.deps.log.warn(
            { caCertificateId: ca.certificateId, template: config.templateName },
            'the CA names no JITP template of that name',
          );
          return undefined;
        }
        return this.deps.templates.body(ns, config.templateName).template;
      }
    } catch (err) {
      this.deps.log.warn({ caCertificateId: ca.certificateId, err: (err as Error).message }, 'the CA’s provisioning template is invalid');
    }
    return undefined;
  }

  private pseudoParameters(cert: X509Certificate, row: CertificateRow, ca: CaCertificateRow): Record<string, string> {
    const out: Record<string, string> = {
      'AWS::IoT::Certificate::Id': row.certificateId,
      'AWS::IoT::Certificate::CertificatePem': row.pem,
      'AWS::IoT::Certificate::CACertificatePem': ca.pem,
      'AWS::IoT::Certificate::SerialNumber': cert.serialNumber,
    };
    for (const line of cert.subject.split('\n')) {
      const eq = line.indexOf('=');
      const field = SUBJECT_FIELDS[line.slice(0, eq)];
      if (eq > 0 && field) out[`AWS::IoT::Certificate::${field}`] = line.slice(eq + 1);
    }
    return out;
  }
}
