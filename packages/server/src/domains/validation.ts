/**
 * Checks of domain-configuration input, worded as AWS words its validation errors (API reference
 * CreateDomainConfiguration / UpdateDomainConfiguration), plus Thicket's rules for host names.
 */
import { isIP } from 'node:net';
import { invalidRequest } from '../aws/errors.js';
import { constraint } from '../registry/validation.js';
import { isSecurityPolicyName, SECURITY_POLICY_NAMES } from './security-policies.js';

export const MAX_DOMAIN_CONFIGURATIONS = 10;
export const SERVICE_TYPES = ['DATA', 'CREDENTIAL_PROVIDER', 'JOBS'] as const;
export const AUTHENTICATION_TYPES = ['CUSTOM_AUTH_X509', 'CUSTOM_AUTH', 'AWS_X509', 'AWS_SIGV4', 'DEFAULT'] as const;
export const APPLICATION_PROTOCOLS = ['SECURE_MQTT', 'MQTT_WSS', 'HTTPS', 'DEFAULT'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Names of existing configurations may contain `:` (AWS's reserved `iot:Data-ATS` and friends);
 * names given to CreateDomainConfiguration may not (`[\w.-]+`).
 */
export function checkDomainConfigurationName(value: unknown, creating = false): string {
  const member = 'domainConfigurationName';
  if (typeof value !== 'string' || value.length === 0)
    return constraint(member, value, 'Member must have length greater than or equal to 1');
  if (value.length > 128) constraint(member, `${value.slice(0, 40)}...`, 'Member must have length less than or equal to 128');
  const [pattern, shown] = creating ? [/^[\w.-]+$/, '[\\w.-]+'] : [/^[\w.:-]+$/, '[\\w.:-]+'];
  if (!pattern.test(value)) constraint(member, value, `Member must satisfy regular expression pattern: ${shown}`);
  return value;
}

/**
 * A host name a TLS client can ask for by SNI: lower case, no trailing dot, letters, digits and
 * hyphens in labels of at most 63 characters, at least two labels. Wildcards and IP literals are
 * refused: SNI carries one exact host name, and clients never send an IP address in it.
 */
export function checkDomainName(value: unknown): string {
  const member = 'domainName';
  if (typeof value !== 'string' || value.length === 0)
    return constraint(member, value, 'Member must have length greater than or equal to 1');
  if (value.length > 253) constraint(member, `${value.slice(0, 40)}...`, 'Member must have length less than or equal to 253');
  const name = value.toLowerCase().replace(/\.$/, '');
  if (name.includes('*')) {
    throw invalidRequest(
      `The domain name ${value} contains a wildcard; a domain configuration serves one host name (its certificate may be a wildcard one)`,
    );
  }
  if (isIP(name.replace(/^\[(.*)\]$/, '$1')) !== 0)
    throw invalidRequest(`The domain name ${value} is an IP address; TLS clients send only host names as SNI`);
  const labels = name.split('.');
  const label = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
  if (labels.length < 2 || !labels.every((l) => label.test(l))) {
    throw invalidRequest(
      `The domain name ${value} is not a fully qualified host name (labels of letters, digits and hyphens, at most 63 characters each; use punycode for international names)`,
    );
  }
  return name;
}

export function optionalEnum<T extends string>(member: string, value: unknown, allowed: readonly T[]): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    return constraint(member, value, `Member must satisfy enum value set: [${allowed.join(', ')}]`);
  }
  return value as T;
}

export function optionalBoolean(member: string, value: unknown): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') return constraint(member, value, 'Member must be a boolean');
  return value;
}

function optionalString(member: string, value: unknown, max: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0)
    return constraint(member, value, 'Member must have length greater than or equal to 1');
  if (value.length > max) constraint(member, `${value.slice(0, 40)}...`, `Member must have length less than or equal to ${max}`);
  return value;
}

export function optionalStructure(member: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return constraint(member, JSON.stringify(value), 'Member must be a structure');
  return value;
}

export interface AuthorizerConfigInput {
  defaultAuthorizerName: string | undefined;
  allowAuthorizerOverride: boolean | undefined;
}

export function optionalAuthorizerConfig(value: unknown): AuthorizerConfigInput | undefined {
  const o = optionalStructure('authorizerConfig', value);
  if (!o) return undefined;
  const name = o.defaultAuthorizerName;
  if (name !== undefined && name !== null) {
    const member = 'authorizerConfig.defaultAuthorizerName';
    if (typeof name !== 'string' || name.length === 0) constraint(member, name, 'Member must have length greater than or equal to 1');
    if (name.length > 128) constraint(member, `${name.slice(0, 40)}...`, 'Member must have length less than or equal to 128');
    if (!/^[\w=,@-]+$/.test(name)) constraint(member, name, 'Member must satisfy regular expression pattern: [\\w=,@-]+');
  }
  return {
    defaultAuthorizerName: (name as string | undefined | null) ?? undefined,
    allowAuthorizerOverride: optionalBoolean('authorizerConfig.allowAuthorizerOverride', o.allowAuthorizerOverride),
  };
}

/** One of AWS's predefined policies: AWS IoT Core has no custom ones. */
export function optionalSecurityPolicy(value: unknown): string | undefined {
  const o = optionalStructure('tlsConfig', value);
  const name = o ? optionalString('tlsConfig.securityPolicy', o.securityPolicy, 128) : undefined;
  if (name !== undefined && !isSecurityPolicyName(name)) {
    throw invalidRequest(
      `The security policy ${name} is not one of AWS IoT Core's predefined security policies (${SECURITY_POLICY_NAMES.join(', ')})`,
    );
  }
  return name;
}

export function optionalServerCertificateConfig(value: unknown): Record<string, unknown> | undefined {
  const o = optionalStructure('serverCertificateConfig', value);
  if (!o) return undefined;
  const out: Record<string, unknown> = {};
  const ocsp = optionalBoolean('serverCertificateConfig.enableOCSPCheck', o.enableOCSPCheck);
  if (ocsp !== undefined) out.enableOCSPCheck = ocsp;
  const lambda = optionalString('serverCertificateConfig.ocspLambdaArn', o.ocspLambdaArn, 170);
  if (lambda !== undefined) out.ocspLambdaArn = lambda;
  const responder = optionalString('serverCertificateConfig.ocspAuthorizedResponderArn', o.ocspAuthorizedResponderArn, 2048);
  if (responder !== undefined) out.ocspAuthorizedResponderArn = responder;
  return out;
}

export function optionalClientCertificateConfig(value: unknown): Record<string, unknown> | undefined {
  const o = optionalStructure('clientCertificateConfig', value);
  if (!o) return undefined;
  const arn = optionalString('clientCertificateConfig.clientCertificateCallbackArn', o.clientCertificateCallbackArn, 170);
  return arn === undefined ? {} : { clientCertificateCallbackArn: arn };
}

/** serverCertificateArns: at most one ARN (AWS: "Currently you can specify only one certificate ARN"). */
export function optionalCertificateArns(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) return constraint('serverCertificateArns', JSON.stringify(value), 'Member must be a list');
  if (value.length > 1) constraint('serverCertificateArns', JSON.stringify(value), 'Member must have length less than or equal to 1');
  for (const v of value) {
    if (typeof v !== 'string' || v.length === 0 || v.length > 2048) {
      constraint(
        'serverCertificateArns',
        JSON.stringify(value),
        'Member must satisfy constraint: [Member must have length between 1 and 2048]',
      );
    }
  }
  return value as string[];
}
