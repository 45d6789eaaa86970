/**
 * Temporary credentials (`ASIA...` key, secret and session token) sign requests like access keys
 * do, but act as a role: what they may do is decided per request by the role's policy. The
 * credentials provider (roles/) issues them; the API's authentication finds them through this
 * interface, so it needs to know nothing of roles.
 */
import type { Decision } from '../policies/engine/index.js';

/** A request's caller when it signed with temporary credentials. */
export interface RoleSession {
  accountId: string;
  /** `arn:aws:sts::<account>:assumed-role/<role>/<session>`, as AWS names the caller in AccessDenied. */
  assumedRoleArn: string;
  /**
   * The role policy's decision on a request that is any one of `actions` (different spellings of
   * one operation, e.g. `iot:GetThingShadow` and `iotdata:GetThingShadow`): an explicit Deny of any
   * wins, else an Allow of any.
   */
  decide(actions: readonly string[], resource: string): Decision;
}

/**
 * Temporary credentials are per-request data kept in the database (another node may have issued
 * them), so finding one may wait for it.
 */
export interface SessionCredentials {
  /** The secret of a temporary key, undefined when no such key was issued (or it was forgotten). */
  secretOf(accessKeyId: string): Promise<string | undefined>;
  /**
   * The session of a request signed with a temporary key: rejects with the AWS error when the token
   * is missing or wrong (UnrecognizedClientException), the credentials expired (ExpiredTokenException),
   * or what they were issued through (certificate, role alias) no longer stands.
   */
  open(accessKeyId: string, token: string | undefined, sourceIp: string): Promise<RoleSession>;
}
