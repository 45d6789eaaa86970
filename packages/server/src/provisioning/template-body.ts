/**
 * Provisioning template bodies (reference dataplane §6): checked when a template or a version is
 * created (a template that cannot work is refused then, not on a device's first try), and resolved
 * with a device's parameters into what to provision: a thing, a certificate, policies, and the
 * device configuration handed back to the device.
 */
import { invalidRequest } from '../aws/errors.js';
import { Evaluator, intrinsicName, isKnownFunction, isObject, TemplateError, type Scope } from './template-intrinsics.js';

export type TemplateType = 'FLEET_PROVISIONING' | 'JITP';
export type Override = 'DO_NOTHING' | 'REPLACE' | 'FAIL' | 'MERGE';

/** AWS's limit on `templateBody`. */
export const MAX_TEMPLATE_BODY = 10_240;

const THING = 'AWS::IoT::Thing';
const CERTIFICATE = 'AWS::IoT::Certificate';
const POLICY = 'AWS::IoT::Policy';

const SECTIONS = new Set(['Parameters', 'Mappings', 'Conditions', 'Resources', 'DeviceConfiguration']);
const PROPERTIES: Record<string, readonly string[]> = {
  [THING]: ['ThingName', 'AttributePayload', 'ThingTypeName', 'ThingGroups', 'BillingGroup'],
  [CERTIFICATE]: ['CertificateId', 'CertificateSigningRequest', 'CertificatePem', 'CACertificatePem', 'Status'],
  [POLICY]: ['PolicyName', 'PolicyDocument'],
};
/** What OverrideSettings may name per resource type, and which of them may MERGE. */
const OVERRIDABLE: Record<string, readonly string[]> = {
  [THING]: ['AttributePayload', 'ThingTypeName', 'ThingGroups', 'BillingGroup'],
  [CERTIFICATE]: ['Status'],
  [POLICY]: [],
};
const MERGEABLE = new Set(['AttributePayload', 'ThingGroups']);
const OVERRIDES = new Set<Override>(['DO_NOTHING', 'REPLACE', 'FAIL', 'MERGE']);

interface ResourceDecl {
  type: string;
  properties: Record<string, unknown>;
  overrides: Record<string, Override>;
  condition: string | undefined;
}

export interface Template {
  type: TemplateType;
  parameters: Record<string, { type: string; default: string | undefined }>;
  mappings: Record<string, unknown>;
  conditions: Record<string, unknown>;
  resources: Record<string, ResourceDecl>;
  deviceConfiguration: Record<string, unknown>;
}

export interface ThingSpec {
  thingName: string;
  attributes: Record<string, string> | undefined;
  thingTypeName: string | undefined;
  thingGroups: string[] | undefined;
  billingGroup: string | undefined;
  overrides: Record<string, Override>;
}

export type CertificateSource =
  { kind: 'id'; certificateId: string } | { kind: 'csr'; csr: string } | { kind: 'pem'; pem: string; caPem: string | undefined };

export interface CertificateSpec {
  source: CertificateSource;
  status: 'ACTIVE' | 'INACTIVE';
  overrides: Record<string, Override>;
}

export type PolicySpec = { policyName: string } | { policyDocument: string };

export interface Provisioning {
  thing: ThingSpec | undefined;
  certificate: CertificateSpec | undefined;
  policies: PolicySpec[];
  deviceConfiguration: Record<string, string>;
}

const bad = (message: string) => invalidRequest(`The provisioning template is invalid: ${message}`);

/** Parses and checks a template body; throws InvalidRequestException naming what is wrong. */
export function parseTemplate(body: unknown, type: TemplateType): Template {
  if (typeof body !== 'string' || body.length === 0) throw invalidRequest('templateBody is required');
  if (body.length > MAX_TEMPLATE_BODY) throw invalidRequest(`templateBody is longer than ${MAX_TEMPLATE_BODY} characters`);
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (err) {
    throw bad(`the body is not JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) throw bad('the body must be a JSON object');
  for (const k of Object.keys(doc)) if (!SECTIONS.has(k)) throw bad(`unknown section ${k}`);
  const fleet = type === 'FLEET_PROVISIONING';
  if (!fleet && doc.Mappings !== undefined) throw bad('Mappings are for fleet provisioning templates only');
  if (!fleet && doc.DeviceConfiguration !== undefined) throw bad('DeviceConfiguration is for fleet provisioning templates only');

  const parameters: Template['parameters'] = {};
  for (const [name, p] of Object.entries(section(doc, 'Parameters'))) {
    if (!isObject(p) || typeof p.Type !== 'string') throw bad(`parameter ${name} must be an object with a Type`);
    if (p.Type !== 'String' && p.Type !== 'Number') throw bad(`parameter ${name} has Type ${p.Type}; String or Number are supported`);
    const d = p.Default;
    if (d !== undefined && typeof d !== 'string' && typeof d !== 'number') throw bad(`the Default of parameter ${name} must be a string`);
    parameters[name] = { type: p.Type, default: d === undefined ? undefined : String(d) };
  }
  const mappings = section(doc, 'Mappings');
  for (const [name, m] of Object.entries(mappings)) {
    if (!isObject(m) || !Object.values(m).every(isObject)) throw bad(`mapping ${name} must be a map of maps`);
  }
  const conditions = section(doc, 'Conditions');
  const conditionNames = new Set(Object.keys(conditions));

  const resourcesIn = section(doc, 'Resources');
  if (Object.keys(resourcesIn).length === 0) throw bad('Resources must declare at least one resource');
  const resources: Template['resources'] = {};
  const counts: Record<string, number> = {};
  for (const [logical, r] of Object.entries(resourcesIn)) {
    resources[logical] = resource(logical, r, fleet, conditionNames);
    counts[resources[logical].type] = (counts[resources[logical].type] ?? 0) + 1;
  }
  if ((counts[THING] ?? 0) > 1) throw bad('a template provisions at most one thing');
  if ((counts[CERTIFICATE] ?? 0) > 1) throw bad('a template provisions at most one certificate');

  const deviceConfiguration = section(doc, 'DeviceConfiguration');
  for (const [k, v] of Object.entries(deviceConfiguration)) {
    if (isObject(v) && intrinsicName(v) === undefined) throw bad(`DeviceConfiguration.${k} is an object; its values must be flat`);
    if (Array.isArray(v)) throw bad(`DeviceConfiguration.${k} is a list; its values must be flat`);
  }
  checkFunctions(doc.Resources, 'Resources');
  checkFunctions(doc.DeviceConfiguration, 'DeviceConfiguration');
  checkFunctions(doc.Conditions, 'Conditions');
  return { type, parameters, mappings, conditions, resources, deviceConfiguration };
}

function section(doc: Record<string, unknown>, name: string): Record<string, unknown> {
  const s = doc[name];
  if (s === undefined) return {};
  if (!isObject(s)) throw bad(`${name} must be an object`);
  return s;
}

function resource(logical: string, r: unknown, fleet: boolean, conditions: ReadonlySet<string>): ResourceDecl {
  if (!isObject(r)) throw bad(`resource ${logical} must be an object`);
  const type = r.Type;
  if (typeof type !== 'string' || !(type in PROPERTIES)) {
    throw bad(`resource ${logical} has Type ${String(type)}; one of ${Object.keys(PROPERTIES).join(', ')} is required`);
  }
  for (const k of Object.keys(r)) {
    if (!['Type', 'Properties', 'OverrideSettings', 'Condition'].includes(k)) throw bad(`resource ${logical} has an unknown key ${k}`);
  }
  const properties = r.Properties === undefined ? {} : r.Properties;
  if (!isObject(properties)) throw bad(`the Properties of resource ${logical} must be an object`);
  for (const k of Object.keys(properties)) {
    if (!PROPERTIES[type]!.includes(k)) throw bad(`${type} resource ${logical} has an unknown property ${k}`);
  }
  const overrides: Record<string, Override> = {};
  if (r.OverrideSettings !== undefined) {
    if (!isObject(r.OverrideSettings)) throw bad(`the OverrideSettings of resource ${logical} must be an object`);
    for (const [k, v] of Object.entries(r.OverrideSettings)) {
      if (!OVERRIDABLE[type]!.includes(k)) throw bad(`OverrideSettings of ${type} resource ${logical} cannot name ${k}`);
      if (typeof v !== 'string' || !OVERRIDES.has(v as Override))
        throw bad(`OverrideSettings.${k} of resource ${logical} must be one of ${[...OVERRIDES].join(', ')}`);
      if (v === 'MERGE' && !MERGEABLE.has(k)) throw bad(`OverrideSettings.${k} of resource ${logical} cannot be MERGE`);
      overrides[k] = v as Override;
    }
  }
  const condition = r.Condition;
  if (condition !== undefined && (typeof condition !== 'string' || !conditions.has(condition))) {
    throw bad(`resource ${logical} names a Condition that Conditions does not define`);
  }
  if (type === THING && properties.ThingName === undefined) throw bad(`thing resource ${logical} needs a ThingName`);
  if (type === CERTIFICATE) {
    const given = ['CertificateId', 'CertificateSigningRequest', 'CertificatePem'].filter((k) => properties[k] !== undefined);
    if (given.length !== 1)
      throw bad(`certificate resource ${logical} needs exactly one of CertificateId, CertificateSigningRequest, CertificatePem`);
    if (fleet && given[0] !== 'CertificateId') {
      throw bad(`certificate resource ${logical}: a fleet provisioning template names its certificate by CertificateId`);
    }
    if (properties.CACertificatePem !== undefined && given[0] !== 'CertificatePem') {
      throw bad(`certificate resource ${logical}: CACertificatePem goes with CertificatePem`);
    }
  }
  if (type === POLICY && (properties.PolicyName === undefined) === (properties.PolicyDocument === undefined)) {
    throw bad(`policy resource ${logical} needs exactly one of PolicyName and PolicyDocument`);
  }
  return { type, properties, overrides, condition: condition as string | undefined };
}

/** Every `Fn::` key anywhere is a function the engine knows. */
function checkFunctions(node: unknown, where: string): void {
  if (Array.isArray(node)) node.forEach((n, i) => checkFunctions(n, `${where}[${i}]`));
  else if (isObject(node)) {
    for (const [k, v] of Object.entries(node)) {
      if (k.startsWith('Fn::') && !isKnownFunction(k)) throw bad(`${where} uses ${k}, which provisioning templates do not support`);
      checkFunctions(v, `${where}.${k}`);
    }
  }
}

/**
 * The resources a template provisions with `parameters` (a device's, else each parameter's
 * Default) and the pseudo parameters (`AWS::IoT::Certificate::Id`, ...). Throws TemplateError.
 */
export function resolveTemplate(t: Template, parameters: Record<string, string>, pseudo: Record<string, string>): Provisioning {
  const values = new Map<string, string>();
  for (const [name, p] of Object.entries(t.parameters)) {
    const v = Object.hasOwn(parameters, name) ? parameters[name] : p.default;
    if (v !== undefined) values.set(name, v);
  }
  for (const [k, v] of Object.entries(pseudo)) values.set(k, v);
  const scope: Scope = { values, mappings: t.mappings, conditions: t.conditions };
  const ev = new Evaluator(scope);
  const out: Provisioning = { thing: undefined, certificate: undefined, policies: [], deviceConfiguration: {} };
  for (const [logical, r] of Object.entries(t.resources)) {
    if (r.condition !== undefined && !ev.condition(r.condition)) continue;
    const props = ev.value(r.properties) as Record<string, unknown>;
    const where = (p: string) => `${logical}.${p}`;
    const str = (p: string) => (props[p] === undefined ? undefined : ev.string(props[p], where(p)));
    if (r.type === THING) {
      out.thing = {
        thingName: str('ThingName')!,
        attributes: props.AttributePayload === undefined ? undefined : stringMap(props.AttributePayload, where('AttributePayload')),
        thingTypeName: str('ThingTypeName'),
        thingGroups: props.ThingGroups === undefined ? undefined : stringList(props.ThingGroups, where('ThingGroups')),
        billingGroup: str('BillingGroup'),
        overrides: r.overrides,
      };
    } else if (r.type === CERTIFICATE) {
      const status = (str('Status') ?? 'ACTIVE').toUpperCase();
      if (status !== 'ACTIVE' && status !== 'INACTIVE')
        throw new TemplateError(`${where('Status')} must be ACTIVE or INACTIVE, not ${status}`);
      const source: CertificateSource =
        props.CertificateId !== undefined
          ? { kind: 'id', certificateId: str('CertificateId')! }
          : props.CertificateSigningRequest !== undefined
            ? { kind: 'csr', csr: str('CertificateSigningRequest')! }
            : { kind: 'pem', pem: str('CertificatePem')!, caPem: str('CACertificatePem') };
      out.certificate = { source, status, overrides: r.overrides };
    } else {
      const doc = props.PolicyDocument;
      if (doc === undefined) out.policies.push({ policyName: str('PolicyName')! });
      else if (typeof doc === 'string') out.policies.push({ policyDocument: doc });
      else if (isObject(doc)) out.policies.push({ policyDocument: JSON.stringify(doc) });
      else throw new TemplateError(`${where('PolicyDocument')} must be a policy document or its JSON text`);
    }
  }
  const config = ev.value(t.deviceConfiguration) as Record<string, unknown>;
  for (const [k, v] of Object.entries(config)) out.deviceConfiguration[k] = ev.string(v, `DeviceConfiguration.${k}`);
  return out;
}

function stringMap(v: unknown, where: string): Record<string, string> {
  if (!isObject(v)) throw new TemplateError(`${where} must be a map of names to values`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v)) {
    if (typeof x !== 'string' && typeof x !== 'number' && typeof x !== 'boolean') throw new TemplateError(`${where}.${k} must be a string`);
    out[k] = String(x);
  }
  return out;
}

function stringList(v: unknown, where: string): string[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new TemplateError(`${where} must be a list of names`);
  return v as string[];
}
