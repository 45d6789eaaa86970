/**
 * Who a connection is: its namespace, certificate, associated thing and the policy variables and
 * condition keys that follow from them (reference dataplane §5.1, §5.6).
 */
import { X509Certificate } from 'node:crypto';
import type { Namespace } from '../accounts/namespace.js';
import type { PolicyVariables, ConditionContext } from '../policies/engine/index.js';
import type { RegistryStore } from '../registry/registry-store.js';

export interface ThingBinding {
  thingName: string;
  /** The principal is attached to this thing only (AWS's exclusive attachment). */
  exclusive: boolean;
}

/**
 * The connection's thing: the one the certificate is attached to exclusively, else the thing named
 * like the client id when the connection's principal is attached to it. As on AWS, a thing the
 * principal is not attached to binds nothing: its thing policy variables stay unresolved, so a
 * certificate cannot borrow another thing's identity by choosing that thing's name as client id.
 */
export function bindThing(
  registry: RegistryStore,
  ns: Namespace,
  principal: string | undefined,
  clientId: string,
): ThingBinding | undefined {
  if (!principal) return undefined;
  const attachments = registry.thingsOf(ns, principal);
  const exclusive = attachments.find((t) => t.exclusive);
  if (exclusive) return { thingName: exclusive.thingName, exclusive: true };
  if (!attachments.some((t) => t.thingName === clientId)) return undefined;
  return { thingName: clientId, exclusive: false };
}

const SUBJECT_FIELDS: Record<string, string> = {
  CN: 'CommonName',
  C: 'Country',
  O: 'Organization',
  OU: 'OrganizationalUnit',
  ST: 'State',
  L: 'Locality',
  serialNumber: 'SerialNumber',
  title: 'Title',
  SN: 'Surname',
  GN: 'GivenName',
  initials: 'Initials',
  pseudonym: 'Pseudonym',
  generationQualifier: 'GenerationQualifier',
  dnQualifier: 'DistinguishedNameQualifier',
};

const SAN_FIELDS: Record<string, string> = {
  DNS: 'DNSName',
  'IP Address': 'IPAddress',
  email: 'RFC822Name',
  URI: 'UniformResourceIdentifier',
  DirName: 'DirectoryName',
};

/** `iot:Certificate.Subject.*`, `iot:Certificate.Issuer.*`, `...AlternativeName.*`, `iot:Certificate.SerialNumber`. */
export function certificateVariables(cert: X509Certificate): PolicyVariables {
  const vars: Record<string, string[]> = {};
  const add = (k: string, v: string): void => {
    (vars[k] ??= []).push(v);
  };
  for (const [part, text] of [
    ['Subject', cert.subject],
    ['Issuer', cert.issuer],
  ] as const) {
    for (const line of text.split('\n')) {
      const eq = line.indexOf('=');
      const field = SUBJECT_FIELDS[line.slice(0, eq)];
      if (eq > 0 && field) add(`iot:Certificate.${part}.${field}`, line.slice(eq + 1));
    }
  }
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    const colon = entry.indexOf(':');
    const field = SAN_FIELDS[entry.slice(0, colon)];
    if (colon > 0 && field) add(`iot:Certificate.Subject.AlternativeName.${field}`, entry.slice(colon + 1));
  }
  const out: PolicyVariables = {};
  // A multi-valued attribute resolves to its first value; `.List` gives them all (for conditions).
  for (const [k, v] of Object.entries(vars)) {
    out[k] = v[0];
    out[`${k}.List`] = v;
  }
  out['iot:Certificate.SerialNumber'] = cert.serialNumber;
  return out;
}

export interface IdentityInput {
  ns: Namespace;
  clientId: string;
  sourceIp: string;
  certificate: X509Certificate | undefined;
  thing: ThingBinding | undefined;
  thingTypeName: string | null | undefined;
  thingAttributes: Record<string, string> | undefined;
  /** Extra variables (custom authorizer context). */
  extra?: PolicyVariables;
}

/** Policy variables and the condition keys they double as. */
export function identityVariables(i: IdentityInput): { vars: PolicyVariables; context: ConditionContext } {
  const vars: PolicyVariables = {
    'iot:ClientId': i.clientId,
    'aws:SourceIp': i.sourceIp,
    ...(i.certificate ? certificateVariables(i.certificate) : {}),
    ...i.extra,
  };
  if (i.thing) {
    vars['iot:Connection.Thing.ThingName'] = i.thing.thingName;
    vars['iot:Connection.Thing.IsAttached'] = 'true';
    if (i.thingTypeName) vars['iot:Connection.Thing.ThingTypeName'] = i.thingTypeName;
    for (const [k, v] of Object.entries(i.thingAttributes ?? {})) vars[`iot:Connection.Thing.Attributes[${k}]`] = v;
  } else {
    vars['iot:Connection.Thing.IsAttached'] = 'false';
  }
  const context: ConditionContext = { ...vars };
  return { vars, context };
}
