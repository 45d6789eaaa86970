/**
 * Fleet provisioning topics (reference dataplane §6): `$aws/certificates/create/{fmt}`,
 * `$aws/certificates/create-from-csr/{fmt}` and `$aws/provisioning-templates/{name}/provision/{fmt}`,
 * each answered on `/accepted` or `/rejected`. `{fmt}` is `json` or `cbor` (same field names).
 */
import type { ResponseKind } from './names.js';

export type PayloadFormat = 'json' | 'cbor';
export type CertificateOp = 'create' | 'create-from-csr';

export type ProvisioningTopic =
  | { op: CertificateOp; format: PayloadFormat; response?: ResponseKind }
  | { op: 'provision'; templateName: string; format: PayloadFormat; response?: ResponseKind };

/** `$aws/certificates/create/{fmt}` or `$aws/certificates/create-from-csr/{fmt}`, optionally with the response suffix. */
export function certificatesTopic(op: CertificateOp, format: PayloadFormat = 'json', response?: ResponseKind): string {
  const base = `$aws/certificates/${op}/${format}`;
  return response ? `${base}/${response}` : base;
}

/** `$aws/provisioning-templates/{templateName}/provision/{fmt}`, optionally with the response suffix. */
export function provisionTopic(templateName: string, format: PayloadFormat = 'json', response?: ResponseKind): string {
  const base = `$aws/provisioning-templates/${templateName}/provision/${format}`;
  return response ? `${base}/${response}` : base;
}

/** Filters a provisioning service subscribes to for requests. */
export const PROVISIONING_REQUEST_FILTERS: readonly string[] = [
  '$aws/certificates/create/+',
  '$aws/certificates/create-from-csr/+',
  '$aws/provisioning-templates/+/provision/+',
];

const isFormat = (s: string | undefined): s is PayloadFormat => s === 'json' || s === 'cbor';
const isResponse = (s: string | undefined): s is ResponseKind => s === 'accepted' || s === 'rejected';

/** Parses a fleet provisioning topic (request or response); undefined for anything else. */
export function parseProvisioningTopic(topic: string): ProvisioningTopic | undefined {
  const parts = topic.split('/');
  if (parts[0] !== '$aws') return undefined;
  let found: ProvisioningTopic;
  let rest: string[];
  if (parts[1] === 'certificates' && (parts[2] === 'create' || parts[2] === 'create-from-csr') && isFormat(parts[3])) {
    found = { op: parts[2], format: parts[3] };
    rest = parts.slice(4);
  } else if (parts[1] === 'provisioning-templates' && parts[2] && parts[3] === 'provision' && isFormat(parts[4])) {
    found = { op: 'provision', templateName: parts[2], format: parts[4] };
    rest = parts.slice(5);
  } else return undefined;
  if (rest.length === 0) return found;
  if (rest.length === 1 && isResponse(rest[0])) return { ...found, response: rest[0] };
  return undefined;
}
