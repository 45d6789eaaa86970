/**
 * CA certificates registered by the operator (reference controlplane §3.2): proof of possession
 * through a verification certificate carrying the account's registration code, then device
 * certificates they signed can be registered and connect.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import type { Namespace } from '../accounts/namespace.js';
import { alreadyExists, AwsError, invalidRequest, notFound } from '../aws/errors.js';
import { pageOf, pageSize, parseBool } from '../api/pagination.js';
import { certificateId } from '../pki/index.js';
import { untilApplied, type CaCertificateRow, type CertificateMode, type CertificateStore } from './cert-store.js';
import { caCertArn, certificateState } from './certificates.js';
import { canonicalPem, certificateInvalid, issuedBy, parseCertificate, validity } from './x509-check.js';

const MAX_CA_CERTIFICATES = 10;

function commonNameOf(cert: X509Certificate): string | undefined {
  for (const line of cert.subject.split('\n')) if (line.startsWith('CN=')) return line.slice(3);
  return undefined;
}

export class CaCertificates {
  constructor(
    private readonly store: CertificateStore,
    /** A CA was deactivated or deleted: certificates it signed must stop connecting. */
    private readonly deactivated: (ns: Namespace, caCertificateId: string) => void,
    /** Checks a registrationConfig (its template, for just-in-time provisioning); returns what to store. */
    private readonly registrationConfig: (ns: Namespace, config: unknown) => Record<string, unknown> = (_ns, c) =>
      c as Record<string, unknown>,
  ) {}

  private get(ns: Namespace, id: string): CaCertificateRow {
    const c = this.store.caCertificate(ns, id);
    if (!c) throw notFound(`The CA certificate ${id} does not exist`);
    return c;
  }

  async registrationCode(ns: Namespace) {
    return { registrationCode: await this.store.registrationCode(ns, () => randomBytes(32).toString('hex')) };
  }

  async register(
    ns: Namespace,
    body: { caCertificate?: unknown; verificationCertificate?: unknown; registrationConfig?: unknown; certificateMode?: unknown },
    q: { setAsActive?: string; allowAutoRegistration?: string },
  ) {
    const ca = parseCertificate(body.caCertificate, 'caCertificate');
    if (!ca.ca) throw certificateInvalid('caCertificate is not a CA certificate (basic constraints CA:TRUE is missing)');
    const mode = (body.certificateMode ?? 'DEFAULT') as CertificateMode;
    if (mode !== 'DEFAULT' && mode !== 'SNI_ONLY')
      throw invalidRequest(`certificateMode must be DEFAULT or SNI_ONLY, not '${String(mode)}'`);
    if (mode === 'SNI_ONLY' && body.verificationCertificate !== undefined) {
      throw invalidRequest('A CA certificate in SNI_ONLY mode is registered without a verification certificate');
    }
    if (mode === 'DEFAULT') {
      if (body.verificationCertificate === undefined)
        throw invalidRequest('verificationCertificate is required for a CA certificate in DEFAULT mode');
      const verification = parseCertificate(body.verificationCertificate, 'verificationCertificate');
      const code = await this.store.registrationCode(ns, () => randomBytes(32).toString('hex'));
      if (commonNameOf(verification) !== code) {
        throw new AwsError(
          'RegistrationCodeValidationException',
          400,
          "The verification certificate's common name must be this account's registration code",
        );
      }
      if (!issuedBy(verification, ca)) throw certificateInvalid('The verification certificate was not signed by the CA certificate');
    }
    const active = parseBool(q.setAsActive, 'setAsActive') ?? false;
    const auto = parseBool(q.allowAutoRegistration, 'allowAutoRegistration') ?? false;
    const pem = canonicalPem(ca);
    const id = certificateId(pem);
    // The key decides between two registrations at once (the loser finds the row read again); the
    // count and the insert run as one, against registrations at once here or on other nodes.
    const key = `ca-certificates:${ns.accountId}:${ns.region}`;
    return this.store.sql.exclusive(key, () =>
      untilApplied(`CA certificate ${id}`, async () => {
        if (this.store.caCertificate(ns, id)) throw alreadyExists('The CA certificate is already registered', id, caCertArn(ns, id));
        if ((await this.store.countCaCertificates(ns)) >= MAX_CA_CERTIFICATES) {
          throw new AwsError('LimitExceededException', 410, `At most ${MAX_CA_CERTIFICATES} CA certificates may be registered`);
        }
        const now = Date.now();
        const inserted = await this.store.insertCaCertificate(ns, {
          certificateId: id,
          pem,
          status: active ? 'ACTIVE' : 'INACTIVE',
          autoRegistration: auto ? 'ENABLE' : 'DISABLE',
          mode,
          registrationConfig: body.registrationConfig === undefined ? null : this.registrationConfig(ns, body.registrationConfig),
          createdAt: now,
          lastModified: now,
          customerVersion: 1,
          generationId: randomBytes(16).toString('hex'),
        });
        return inserted && { certificateArn: caCertArn(ns, id), certificateId: id };
      }),
    );
  }

  describe(ns: Namespace, id: string) {
    const c = this.get(ns, id);
    return {
      certificateDescription: {
        certificateArn: caCertArn(ns, id),
        certificateId: id,
        status: c.status,
        certificatePem: c.pem,
        ownedBy: ns.accountId,
        creationDate: c.createdAt / 1000,
        autoRegistrationStatus: c.autoRegistration,
        lastModifiedDate: c.lastModified / 1000,
        customerVersion: c.customerVersion,
        generationId: c.generationId,
        validity: validity(new X509Certificate(c.pem)),
        certificateMode: c.mode,
      },
      registrationConfig: c.registrationConfig ?? undefined,
    };
  }

  async update(
    ns: Namespace,
    id: string,
    q: { newStatus?: string; newAutoRegistrationStatus?: string },
    body: { registrationConfig?: unknown; removeAutoRegistration?: unknown },
  ) {
    if (q.newStatus !== undefined && q.newStatus !== 'ACTIVE' && q.newStatus !== 'INACTIVE') {
      throw invalidRequest(`newStatus must be ACTIVE or INACTIVE, not '${q.newStatus}'`);
    }
    if (
      q.newAutoRegistrationStatus !== undefined &&
      q.newAutoRegistrationStatus !== 'ENABLE' &&
      q.newAutoRegistrationStatus !== 'DISABLE'
    ) {
      throw invalidRequest(`newAutoRegistrationStatus must be ENABLE or DISABLE, not '${q.newAutoRegistrationStatus}'`);
    }
    // Decided on the row as read; applies only while the database still holds it.
    const applied = await untilApplied(`CA certificate ${id}`, async () => {
      const c = this.get(ns, id);
      const next: CaCertificateRow = {
        ...c,
        status: (q.newStatus as 'ACTIVE' | 'INACTIVE' | undefined) ?? c.status,
        autoRegistration: (q.newAutoRegistrationStatus as 'ENABLE' | 'DISABLE' | undefined) ?? c.autoRegistration,
        registrationConfig:
          body.removeAutoRegistration === true
            ? null
            : body.registrationConfig === undefined
              ? c.registrationConfig
              : this.registrationConfig(ns, body.registrationConfig),
        lastModified: Date.now(),
        customerVersion: c.customerVersion + 1,
      };
      if (!(await this.store.updateCaCertificate(ns, c, next))) return false;
      return { deactivated: c.status === 'ACTIVE' && next.status !== 'ACTIVE' };
    });
    if (applied.deactivated) this.deactivated(ns, id);
    return {};
  }

  async delete(ns: Namespace, id: string): Promise<Record<string, never>> {
    // Deleted only while the row is what was checked (so not made ACTIVE meanwhile).
    await untilApplied(`CA certificate ${id}`, async () => {
      const c = this.get(ns, id);
      if (c.status === 'ACTIVE') throw certificateState('A CA certificate must be INACTIVE before it can be deleted');
      return this.store.deleteCaCertificate(ns, c);
    });
    this.deactivated(ns, id);
    return {};
  }

  list(ns: Namespace, q: Record<string, string | undefined>) {
    const all = this.store.caCertificates(ns);
    if (!(parseBool(q.isAscendingOrder, 'isAscendingOrder') ?? false)) all.reverse();
    const page = pageOf(all, pageSize(q.pageSize, 'pageSize', 250), q.marker, 'marker');
    return {
      certificates: page.items.map((c) => ({
        certificateArn: caCertArn(ns, c.certificateId),
        certificateId: c.certificateId,
        status: c.status,
        creationDate: c.createdAt / 1000,
      })),
      nextMarker: page.next,
    };
  }
}
