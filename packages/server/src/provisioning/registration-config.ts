/**
 * A CA certificate's `registrationConfig` (RegisterCACertificate, UpdateCACertificate): how the
 * certificates it signs are provisioned just in time. Checked when it is set, so that a template
 * that cannot work is refused then rather than on each device's first connection.
 */
import type { Namespace } from '../accounts/namespace.js';
import { invalidRequest } from '../aws/errors.js';
import { parseTemplate } from './template-body.js';
import type { Templates } from './templates.js';

const KEYS = ['templateBody', 'roleArn', 'templateName'];

export function checkRegistrationConfig(templates: Templates, ns: Namespace, v: unknown): Record<string, string> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw invalidRequest('registrationConfig must be an object with templateBody and roleArn, or templateName');
  }
  const config = v as Record<string, unknown>;
  for (const k of Object.keys(config)) if (!KEYS.includes(k)) throw invalidRequest(`registrationConfig has an unknown member ${k}`);
  for (const k of KEYS) {
    if (config[k] !== undefined && typeof config[k] !== 'string') throw invalidRequest(`registrationConfig.${k} must be a string`);
  }
  const { templateBody, roleArn, templateName } = config as Record<string, string | undefined>;
  if (templateBody !== undefined && templateName !== undefined) {
    throw invalidRequest('registrationConfig takes templateBody or templateName, not both');
  }
  if (templateBody !== undefined) parseTemplate(templateBody, 'JITP');
  if (templateName !== undefined) {
    const row = templates.store.template(ns, templateName);
    if (!row) throw invalidRequest(`registrationConfig.templateName: the provisioning template ${templateName} does not exist`);
    if (row.type !== 'JITP') throw invalidRequest(`registrationConfig.templateName: ${templateName} is a ${row.type} template, not JITP`);
  }
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries({ templateBody, roleArn, templateName })) if (x !== undefined) out[k] = x;
  return out;
}
