/** Name rules of the AWS IoT data plane (reference dataplane §2.7, §3.7), shared by devices and the service. */

/** Thing names: 1–128 characters of a-z, A-Z, 0-9, colon, underscore and hyphen. */
export const THING_NAME_PATTERN = /^[a-zA-Z0-9:_-]{1,128}$/;
/** Shadow names: like thing names plus `$` (AWS-managed shadows such as `$package`), at most 64. */
export const SHADOW_NAME_PATTERN = /^[$a-zA-Z0-9:_-]{1,64}$/;
/** Job ids: 1–64 characters of a-z, A-Z, 0-9, underscore and hyphen. */
export const JOB_ID_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;
/** Fleet provisioning template names (CreateProvisioningTemplate). */
export const TEMPLATE_NAME_PATTERN = /^[0-9A-Za-z_-]{1,36}$/;

/** AWS refuses longer client tokens in shadow requests ("Invalid clientToken"). */
export const MAX_CLIENT_TOKEN_BYTES = 64;

export const isThingName = (s: string): boolean => THING_NAME_PATTERN.test(s);
export const isShadowName = (s: string): boolean => SHADOW_NAME_PATTERN.test(s);
export const isJobId = (s: string): boolean => JOB_ID_PATTERN.test(s);
export const isTemplateName = (s: string): boolean => TEMPLATE_NAME_PATTERN.test(s);

/** Response topics end in one of these (`/update/delta` and `/update/documents` are shadow-only). */
export type ResponseKind = 'accepted' | 'rejected';
