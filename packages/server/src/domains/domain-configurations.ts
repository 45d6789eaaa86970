/**
 * Domain configurations (reference controlplane §8.3) with Thicket's meaning: further host names
 * the server answers to, each with its own server certificate (imported, or issued by the
 * server's CA), a status, and optionally a default custom authorizer for clients that connect
 * through it. TLS connections find their configuration by SNI (see tls-contexts.ts).
 */
import type { TagWriter } from '../tags/tag-writer.js';
import { randomBytes, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { pageOf, pageSize } from '../api/pagination.js';
import { alreadyExists, invalidRequest, limitExceeded, notFound } from '../aws/errors.js';
import { certificateInvalid } from '../certificates/x509-check.js';
import { checkTags, constraint } from '../registry/validation.js';
import { untilApplied, type DomainRow, type DomainStore, type ServerCertificateRow } from './domain-store.js';
import { DEFAULT_SECURITY_POLICY, securityPolicyOf, type SecurityPolicy } from './security-policies.js';
import { acmArn, covers, dnsNamesOf, parseAcmArn, ServerCertificates } from './server-certificates.js';
import {
  APPLICATION_PROTOCOLS,
  AUTHENTICATION_TYPES,
  checkDomainConfigurationName,
  checkDomainName,
  MAX_DOMAIN_CONFIGURATIONS,
  optionalAuthorizerConfig,
  optionalBoolean,
  optionalCertificateArns,
  optionalClientCertificateConfig,
  optionalEnum,
  optionalSecurityPolicy,
  optionalServerCertificateConfig,
  SERVICE_TYPES,
} from './validation.js';

export interface DomainConfigurationsOptions {
  store: DomainStore;
  certificates: ServerCertificates;
  authorizerExists(ns: Namespace, name: string): boolean;
  /** Host names the server's own certificate serves; no configuration may take them over. */
  reservedHostnames(): string[];
  /** The parent name of generated (AWS_MANAGED) domain names, e.g. the server's public host. */
  managedDomainSuffix(): string;
  tags?: TagWriter;
  /** Something SNI depends on changed (the TLS contexts must be looked up again). */
  changed(): void;
  /** A domain was disabled: connections made through it are closed. */
  disabled(ns: Namespace, domainName: string): void;
  now?: () => number;
}

/** What a connection through a domain's host name is subject to. */
export interface ConnectionDomain {
  ns: Namespace;
  name: string;
  domainName: string;
  enabled: boolean;
  defaultAuthorizerName: string | undefined;
  allowAuthorizerOverride: boolean;
  /** The TLS rules a connection through the host name must meet. */
  securityPolicy: SecurityPolicy;
  /** The certificate and key presented for the host name (undefined when it has gone missing). */
  certificate: ServerCertificateRow | undefined;
}

export const domainConfigurationArn = (ns: Namespace, d: Pick<DomainRow, 'name' | 'id'>): string =>
  iotArn(ns, `domainconfiguration/${d.name}/${d.id}`);

const randomId = (length: number): string => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join('');
};

/** Host names as SNI carries them compare case-insensitively and without a trailing dot. */
export const normalizeHost = (host: string): string => host.toLowerCase().replace(/\.$/, '');

export class DomainConfigurations {
  private readonly store: DomainStore;
  private readonly now: () => number;

  constructor(private readonly opts: DomainConfigurationsOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
  }

  private get(ns: Namespace, name: string): DomainRow {
    const d = this.store.domain(ns, name);
    if (!d) throw notFound(`Domain configuration ${name} does not exist`);
    return d;
  }

  /** Refuses a host name that is the server's own or another configuration's, whichever account it belongs to. */
  private checkAvailable(domainName: string): void {
    const reserved = new Set(this.opts.reservedHostnames().map(normalizeHost));
    if (reserved.has(domainName)) {
      throw invalidRequest(
        `The domain name ${domainName} is one of the server's own host names; it is served with the default certificate`,
      );
    }
    // No resourceId/Arn: the configuration may be another account's.
    if (this.store.byDomainName(domainName)) throw alreadyExists(`The domain name ${domainName} is already used by a domain configuration`);
  }

  async create(ns: Namespace, rawName: unknown, body: Record<string, unknown>) {
    const name = checkDomainConfigurationName(rawName, true);
    const customDomain = body.domainName === undefined || body.domainName === null ? undefined : checkDomainName(body.domainName);
    const arns = optionalCertificateArns(body.serverCertificateArns);
    if (body.validationCertificateArn !== undefined && body.validationCertificateArn !== null) {
      // Accepted for compatibility; possession of the certificate's key is Thicket's proof of the name.
      const v = body.validationCertificateArn;
      if (typeof v !== 'string' || !parseAcmArn(v)) {
        constraint(
          'validationCertificateArn',
          v,
          'Member must satisfy regular expression pattern: arn:aws:acm:[a-z]{2}-(gov-)?[a-z]{4,9}-\\d{1}:\\d{12}:certificate/?[a-zA-Z0-9/-]+',
        );
      }
    }
    const authorizer = optionalAuthorizerConfig(body.authorizerConfig);
    if (authorizer?.defaultAuthorizerName !== undefined && !this.opts.authorizerExists(ns, authorizer.defaultAuthorizerName)) {
      throw invalidRequest(`Authorizer ${authorizer.defaultAuthorizerName} does not exist`);
    }
    const serviceType = optionalEnum('serviceType', body.serviceType, SERVICE_TYPES) ?? 'DATA';
    const tags = checkTags(body.tags);
    const securityPolicy = optionalSecurityPolicy(body.tlsConfig) ?? DEFAULT_SECURITY_POLICY;
    const serverCertificateConfig = optionalServerCertificateConfig(body.serverCertificateConfig) ?? null;
    const authenticationType = optionalEnum('authenticationType', body.authenticationType, AUTHENTICATION_TYPES) ?? 'DEFAULT';
    const applicationProtocol = optionalEnum('applicationProtocol', body.applicationProtocol, APPLICATION_PROTOCOLS) ?? 'DEFAULT';
    const clientCertificateConfig = optionalClientCertificateConfig(body.clientCertificateConfig) ?? null;
    if (customDomain === undefined && arns?.length) {
      throw invalidRequest('serverCertificateArns needs a domainName: the certificate is presented for that host name');
    }
    // A generated name hangs below the server's public host name (an IP address cannot be a parent).
    const host = this.opts.managedDomainSuffix();
    const domainName = customDomain ?? normalizeHost(`${randomId(14)}-ats.iot.${ns.region}.${isIP(host) === 0 ? host : 'localhost'}`);
    const arnOfCertificate = arns?.[0];
    let imported: ServerCertificateRow | undefined;
    if (arnOfCertificate !== undefined) {
      imported = this.opts.certificates.byArn(ns, arnOfCertificate);
      const cert = new X509Certificate(imported.certificatePem);
      if (!covers(cert, domainName)) {
        throw invalidRequest(
          `The server certificate ${arnOfCertificate} does not cover the domain name ${domainName} (its subjectAltName names: ${dnsNamesOf(cert).join(', ') || 'none'})`,
        );
      }
      const status = ServerCertificates.status(imported);
      if (status.status !== 'VALID') throw certificateInvalid(`The server certificate ${arnOfCertificate} is not valid: ${status.detail}`);
    }
    const preflight = async (): Promise<void> => {
      const existing = this.store.domain(ns, name);
      if (existing) throw alreadyExists(`Domain configuration ${name} already exists`, name, domainConfigurationArn(ns, existing));
      this.checkAvailable(domainName);
      if ((await this.store.count(ns)) >= MAX_DOMAIN_CONFIGURATIONS) {
        throw limitExceeded(
          `You have reached the maximum number of domain configurations (${MAX_DOMAIN_CONFIGURATIONS}) in ${ns.region} for account ${ns.accountId}`,
        );
      }
    };
    await preflight();
    // Issuing takes a key generation: done before the write, which then checks again.
    const issued = imported ? undefined : await this.opts.certificates.issue(domainName);
    const now = this.now();
    const row: DomainRow = {
      name,
      id: randomId(5),
      domainName,
      domainType: customDomain === undefined ? 'AWS_MANAGED' : 'CUSTOMER_MANAGED',
      serviceType,
      status: 'ENABLED',
      authorizerName: authorizer?.defaultAuthorizerName ?? null,
      allowAuthorizerOverride: authorizer ? (authorizer.allowAuthorizerOverride ?? false) : null,
      securityPolicy,
      serverCertificateArn: imported ? arnOfCertificate! : acmArn(ns, issued!.id),
      serverCertificateConfig,
      authenticationType,
      applicationProtocol,
      clientCertificateConfig,
      createdAt: now,
      lastStatusChange: now,
    };
    const arn = domainConfigurationArn(ns, row);
    // The count and the insert as one, against creates at once here or on other nodes.
    await this.store.sql.exclusive(`domain-configurations:${ns.accountId}:${ns.region}`, async () => {
      await preflight();
      // The configuration, the certificate issued for it and its tags in one transaction; the keys
      // (its name, and its host name across every namespace) decide between two creates at once.
      if (!(await this.store.insert(ns, row, issued, tags.length ? (this.opts.tags?.putting(arn, tags) ?? []) : []))) {
        await preflight();
        throw alreadyExists(`The domain name ${domainName} is already used by a domain configuration`);
      }
    });
    this.opts.changed();
    return { domainConfigurationName: name, domainConfigurationArn: arn };
  }

  describe(ns: Namespace, rawName: unknown) {
    const d = this.get(ns, checkDomainConfigurationName(rawName));
    const certificates = [];
    // As on AWS, an AWS-managed domain shows no certificates (Thicket's CA issued the one it presents).
    if (d.domainType !== 'AWS_MANAGED' && d.serverCertificateArn !== null) {
      const p = parseAcmArn(d.serverCertificateArn);
      const status = ServerCertificates.status(p ? this.store.certificate(ns, p.id) : undefined);
      certificates.push({
        serverCertificateArn: d.serverCertificateArn,
        serverCertificateStatus: status.status,
        ...(status.detail === undefined ? {} : { serverCertificateStatusDetail: status.detail }),
      });
    }
    return {
      domainConfigurationName: d.name,
      domainConfigurationArn: domainConfigurationArn(ns, d),
      domainName: d.domainName,
      serverCertificates: certificates,
      ...(d.authorizerName === null && d.allowAuthorizerOverride === null
        ? {}
        : {
            authorizerConfig: {
              ...(d.authorizerName === null ? {} : { defaultAuthorizerName: d.authorizerName }),
              allowAuthorizerOverride: d.allowAuthorizerOverride ?? false,
            },
          }),
      domainConfigurationStatus: d.status,
      serviceType: d.serviceType,
      domainType: d.domainType,
      lastStatusChangeDate: d.lastStatusChange / 1000,
      tlsConfig: { securityPolicy: d.securityPolicy },
      ...(d.serverCertificateConfig === null ? {} : { serverCertificateConfig: d.serverCertificateConfig }),
      authenticationType: d.authenticationType,
      applicationProtocol: d.applicationProtocol,
      ...(d.clientCertificateConfig === null ? {} : { clientCertificateConfig: d.clientCertificateConfig }),
    };
  }

  list(ns: Namespace, q: Record<string, string | undefined>) {
    const serviceType = optionalEnum('serviceType', q.serviceType, SERVICE_TYPES);
    const page = pageOf(this.store.domains(ns, serviceType), pageSize(q.pageSize, 'pageSize', 250), q.marker, 'marker');
    return {
      domainConfigurations: page.items.map((d) => ({
        domainConfigurationName: d.name,
        domainConfigurationArn: domainConfigurationArn(ns, d),
        serviceType: d.serviceType,
      })),
      nextMarker: page.next,
    };
  }

  async update(ns: Namespace, rawName: unknown, body: Record<string, unknown>) {
    const name = checkDomainConfigurationName(rawName);
    const status = optionalEnum('domainConfigurationStatus', body.domainConfigurationStatus, ['ENABLED', 'DISABLED'] as const);
    const authorizer = optionalAuthorizerConfig(body.authorizerConfig);
    const remove = optionalBoolean('removeAuthorizerConfig', body.removeAuthorizerConfig) ?? false;
    if (remove && authorizer) throw invalidRequest('authorizerConfig and removeAuthorizerConfig cannot be given together');
    if (authorizer?.defaultAuthorizerName !== undefined && !this.opts.authorizerExists(ns, authorizer.defaultAuthorizerName)) {
      throw invalidRequest(`Authorizer ${authorizer.defaultAuthorizerName} does not exist`);
    }
    if (body.serverCertificateArns !== undefined || body.domainName !== undefined) {
      throw invalidRequest(
        'The domain name and server certificate of a domain configuration cannot be changed; delete it and create it again',
      );
    }
    const securityPolicy = optionalSecurityPolicy(body.tlsConfig);
    const serverCertificateConfig = optionalServerCertificateConfig(body.serverCertificateConfig);
    const authenticationType = optionalEnum('authenticationType', body.authenticationType, AUTHENTICATION_TYPES);
    const applicationProtocol = optionalEnum('applicationProtocol', body.applicationProtocol, APPLICATION_PROTOCOLS);
    const clientCertificateConfig = optionalClientCertificateConfig(body.clientCertificateConfig);
    let disabledNow: DomainRow | undefined;
    const row = await untilApplied(`Domain configuration ${name}`, async () => {
      const current = this.get(ns, name);
      const next: DomainRow = {
        ...current,
        status: status ?? current.status,
        lastStatusChange: status !== undefined && status !== current.status ? this.now() : current.lastStatusChange,
        securityPolicy: securityPolicy ?? current.securityPolicy,
        serverCertificateConfig: serverCertificateConfig ?? current.serverCertificateConfig,
        authenticationType: authenticationType ?? current.authenticationType,
        applicationProtocol: applicationProtocol ?? current.applicationProtocol,
        clientCertificateConfig: clientCertificateConfig ?? current.clientCertificateConfig,
      };
      if (remove) {
        next.authorizerName = null;
        next.allowAuthorizerOverride = null;
      } else if (authorizer) {
        next.authorizerName = authorizer.defaultAuthorizerName ?? current.authorizerName;
        next.allowAuthorizerOverride = authorizer.allowAuthorizerOverride ?? current.allowAuthorizerOverride ?? false;
      }
      if (!(await this.store.update(ns, current, next))) return false;
      disabledNow = current.status === 'ENABLED' && next.status === 'DISABLED' ? next : undefined;
      return next;
    });
    this.opts.changed();
    if (disabledNow) this.opts.disabled(ns, disabledNow.domainName);
    return { domainConfigurationName: name, domainConfigurationArn: domainConfigurationArn(ns, row) };
  }

  async delete(ns: Namespace, rawName: unknown): Promise<Record<string, never>> {
    const name = checkDomainConfigurationName(rawName);
    await untilApplied(`Domain configuration ${name}`, async () => {
      const d = this.get(ns, name);
      // AWS: "Before you delete a domain configuration, use UpdateDomainConfiguration to set the status to DISABLED."
      if (d.status === 'ENABLED') {
        throw invalidRequest(`Domain configuration ${name} is ENABLED; set its status to DISABLED before deleting it`);
      }
      const p = d.serverCertificateArn === null ? undefined : parseAcmArn(d.serverCertificateArn);
      const cert = p ? this.store.certificate(ns, p.id) : undefined;
      // A certificate Thicket issued for this domain goes with it; an imported one stays, as in ACM.
      const issued = cert?.origin === 'ISSUED' ? cert.id : undefined;
      // The configuration, that certificate and its tags in one transaction, only while it is as checked here.
      return this.store.delete(ns, d, issued, this.opts.tags?.removing(domainConfigurationArn(ns, d)) ?? []);
    });
    this.opts.changed();
    return {};
  }

  /** DeleteAuthorizer's check: the configurations that name the authorizer as their default. */
  usingAuthorizer(ns: Namespace, authorizerName: string): string[] {
    return this.store.usingAuthorizer(ns, authorizerName);
  }

  /** The configuration serving a host name (as a TLS client sent it by SNI), enabled or not. */
  forHost(host: string): ConnectionDomain | undefined {
    const found = this.store.byDomainName(normalizeHost(host));
    if (!found) return undefined;
    const { ns, row } = found;
    const p = row.serverCertificateArn === null ? undefined : parseAcmArn(row.serverCertificateArn);
    return {
      ns,
      name: row.name,
      domainName: row.domainName,
      enabled: row.status === 'ENABLED',
      defaultAuthorizerName: row.authorizerName ?? undefined,
      allowAuthorizerOverride: row.allowAuthorizerOverride ?? false,
      securityPolicy: securityPolicyOf(row.securityPolicy),
      certificate: p ? this.store.certificate(ns, p.id) : undefined,
    };
  }
}
