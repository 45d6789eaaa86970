/**
 * The credentials provider (reference dataplane §0.3): a device proves itself with its certificate
 * and gets temporary credentials that act as the role its role alias names, for the alias's
 * credentialDurationSeconds. Answers and their order follow what AWS's endpoint answers: thing
 * name first (403 "Invalid thing name passed"), then the certificate's IoT policy (403 "Access
 * Denied", so that an unauthorised device learns nothing of which aliases exist), then the alias
 * (404), then the role (400).
 *
 * Each use of the credentials checks again that the certificate is ACTIVE and the alias still the
 * one it was issued through; the role is looked up by its id, so a role deleted (even if created
 * again under its name) allows nothing any more.
 *
 * Issued credentials are in the database (any node may be asked to check them); the credential
 * store keeps recently used ones in memory. Long-expired ones are deleted now and then (`purge`).
 */
import { createHash, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { Namespace } from '../accounts/namespace.js';
import type { RoleSession, SessionCredentials } from '../accounts/session-credentials.js';
import { AwsError } from '../aws/errors.js';
import type { CompiledPolicySet, Decision } from '../policies/engine/index.js';
import { roleAliasArn, type RoleAliases } from './role-aliases.js';
import type { CredentialRow, CredentialStore } from './credential-store.js';
import type { RoleRow } from './role-store.js';
import { parseRoleArn, type Roles } from './roles.js';

/** What the credentials route knows of the device: its namespace, certificate and IoT policies. */
export interface CertificateCaller {
  ns: Namespace;
  certificateId: string;
  /** The certificate's IoT policies allow `action` on `resource`. */
  allows(action: string, resource: string): boolean;
}

export interface CredentialsProviderOptions {
  credentials: CredentialStore;
  roles: Roles;
  aliases: RoleAliases;
  /** Things the certificate is attached to. */
  thingsOf(ns: Namespace, certificateId: string): string[];
  thingTypeOf(ns: Namespace, thingName: string): string | null | undefined;
  certificateActive(ns: Namespace, certificateId: string): boolean;
  now?: () => number;
  /** Where a service's credentials that could not be written are told of. */
  log?: Logger;
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** Expired credentials are kept this long, so that their use is answered "expired", not "unknown". */
const EXPIRED_KEPT_MS = 24 * 3600 * 1000;
/** How often the credentials expired longer than that are deleted. */
export const PURGE_INTERVAL_MS = 10 * 60 * 1000;
/** What newCredentials makes: other keys were never issued here, so the database is not asked about them. */
const TEMPORARY_KEY = /^ASIA[A-Z2-7]{16}$/;
const SESSION_CACHE_ENTRIES = 10_000;

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** `2018-01-18T09:18:06Z`: AWS's expiration has no fraction of a second. */
const isoSeconds = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

const providerError = (code: string, status: number, message: string): AwsError => new AwsError(code, status, message);
export const invalidToken = (): AwsError =>
  new AwsError('UnrecognizedClientException', 403, 'The security token included in the request is invalid.');

function newCredentials(): { accessKeyId: string; secretAccessKey: string; sessionToken: string } {
  let accessKeyId = 'ASIA';
  for (let i = 0; i < 16; i++) accessKeyId += BASE32[randomInt(32)];
  const secretAccessKey = randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B');
  const sessionToken = randomBytes(96).toString('base64');
  return { accessKeyId, secretAccessKey, sessionToken };
}

export class CredentialsProvider implements SessionCredentials {
  /** The clock for issuing and expiry; replaceable so tests can move time without waiting. */
  now: () => number;
  /** Compiled role policies per credential, rebuilt when the role changes. */
  private readonly sessions = new Map<string, { key: string; set: CompiledPolicySet }>();

  constructor(private readonly opts: CredentialsProviderOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** GET /role-aliases/{alias}/credentials for a device authenticated by its certificate. */
  async issue(caller: CertificateCaller, alias: string, thingName: string | undefined) {
    const { ns, certificateId } = caller;
    let thingTypeName: string | null = null;
    if (thingName !== undefined) {
      if (!this.opts.thingsOf(ns, certificateId).includes(thingName))
        throw providerError('AccessDeniedException', 403, 'Invalid thing name passed');
      thingTypeName = this.opts.thingTypeOf(ns, thingName) ?? null;
    }
    if (!caller.allows('iot:AssumeRoleWithCertificate', roleAliasArn(ns, alias)))
      throw providerError('AccessDeniedException', 403, 'Access Denied');
    const a = this.opts.aliases.get(ns, alias);
    if (!a) throw providerError('ResourceNotFoundException', 404, 'Role alias does not exist');
    const role = this.opts.roles.byArn(a.roleArn);
    // Roles of another account cannot be assumed here (no trust policies), as if they did not exist.
    if (!role || role.accountId !== ns.accountId) {
      throw providerError('InvalidRequestException', 400, 'Unable to assume the role, or the role to assume does not exist');
    }
    if (a.credentialDurationSeconds > role.maxSessionDuration) {
      throw providerError(
        'InvalidRequestException',
        400,
        'The requested CredentialDurationSeconds exceeds the MaxSessionDuration set for the role',
      );
    }
    const c = this.made({
      ns,
      alias,
      aliasCreatedAt: a.createdAt,
      roleArn: a.roleArn,
      roleId: role.roleId,
      certificateId,
      thingName: thingName ?? null,
      thingTypeName,
      durationMs: a.credentialDurationSeconds * 1000,
    });
    await this.opts.credentials.insert(c.row);
    const { accessKeyId, secretAccessKey, sessionToken, expiresAt } = c;
    return { credentials: { accessKeyId, secretAccessKey, sessionToken, expiration: isoSeconds(expiresAt) } };
  }

  /**
   * Credentials acting as a role of `ns`'s account for a Thicket service itself (the rules engine
   * signing an http action), not for a device: no certificate or alias stands behind them, so only
   * the role (by its id) and the expiry limit them. Undefined when the role is not one of the account.
   *
   * Answered at once (the rules engine signs synchronously): this node knows them from then on, the
   * database (so other nodes) once the write that starts here lands.
   */
  issueForService(ns: Namespace, roleArn: string, durationSeconds = 3600) {
    const role = this.opts.roles.byArn(roleArn);
    if (!role || role.accountId !== ns.accountId) return undefined;
    const c = this.made({
      ns,
      alias: '',
      aliasCreatedAt: 0,
      roleArn,
      roleId: role.roleId,
      certificateId: '',
      thingName: null,
      thingTypeName: null,
      durationMs: Math.min(durationSeconds, role.maxSessionDuration) * 1000,
    });
    this.opts.credentials.hold(c.row);
    this.opts.credentials.insert(c.row).catch((err: Error) => {
      this.opts.log?.warn({ err: err.message, accessKeyId: c.accessKeyId }, 'temporary credentials for a service could not be stored');
    });
    const { accessKeyId, secretAccessKey, sessionToken, expiresAt } = c;
    return { accessKeyId, secretAccessKey, sessionToken, expiresAt };
  }

  /** Makes new credentials for what they are issued for, and the row that keeps them (the token as a digest). */
  private made(
    issued: Omit<CredentialRow, 'accessKeyId' | 'secretAccessKey' | 'tokenSha256' | 'expiresAt' | 'createdAt'> & { durationMs: number },
  ): { accessKeyId: string; secretAccessKey: string; sessionToken: string; expiresAt: number; row: CredentialRow } {
    const now = this.now();
    const { accessKeyId, secretAccessKey, sessionToken } = newCredentials();
    const { durationMs, ...rest } = issued;
    const row: CredentialRow = {
      ...rest,
      accessKeyId,
      secretAccessKey,
      tokenSha256: sha256(sessionToken),
      expiresAt: now + durationMs,
      createdAt: now,
    };
    return { accessKeyId, secretAccessKey, sessionToken, expiresAt: row.expiresAt, row };
  }

  /** Deletes the credentials that expired long enough ago (a use of them is then answered as unknown). */
  purge(): Promise<number> {
    return this.opts.credentials.deleteExpired(this.now() - EXPIRED_KEPT_MS);
  }

  async secretOf(accessKeyId: string): Promise<string | undefined> {
    if (!TEMPORARY_KEY.test(accessKeyId)) return undefined;
    return (await this.opts.credentials.credential(accessKeyId))?.secretAccessKey;
  }

  async open(accessKeyId: string, token: string | undefined, sourceIp: string): Promise<RoleSession> {
    if (token === undefined || !TEMPORARY_KEY.test(accessKeyId)) throw invalidToken();
    const c = await this.opts.credentials.credential(accessKeyId);
    if (!c) throw invalidToken();
    const given = Buffer.from(sha256(token));
    if (!timingSafeEqual(given, Buffer.from(c.tokenSha256))) throw invalidToken();
    if (this.now() >= c.expiresAt)
      throw new AwsError('ExpiredTokenException', 403, 'The security token included in the request is expired');
    // Revoked with what issued them: the certificate is no longer ACTIVE, or the alias is gone.
    // (A service's credentials, issueForService, have neither: certificateId is empty.)
    const device = c.certificateId !== '';
    if (device && !this.opts.certificateActive(c.ns, c.certificateId)) throw invalidToken();
    if (device && this.opts.aliases.get(c.ns, c.alias)?.createdAt !== c.aliasCreatedAt) throw invalidToken();
    const role = this.opts.roles.byArn(c.roleArn);
    const name = parseRoleArn(c.roleArn)?.name ?? c.roleArn;
    const current = role && role.roleId === c.roleId ? role : undefined;
    return {
      accountId: c.ns.accountId,
      assumedRoleArn: `arn:aws:sts::${c.ns.accountId}:assumed-role/${name}/${device ? c.certificateId : 'thicket-rules'}`,
      decide: (actions, resource) => (current ? this.decide(c, current, sourceIp, actions, resource) : 'default-deny'),
    };
  }

  private decide(c: CredentialRow, role: RoleRow, sourceIp: string, actions: readonly string[], resource: string): Decision {
    const key = `${role.roleId}:${role.updatedAt}`;
    let cached = this.sessions.get(c.accessKeyId);
    if (cached?.key !== key) {
      // AWS's credentials-provider variables; the thing ones only when the request named a thing.
      const vars: Record<string, string | undefined> = {
        'credentials-iot:AwsCertificateId': c.certificateId,
        'credentials-iot:ThingName': c.thingName ?? undefined,
        'credentials-iot:ThingTypeName': c.thingTypeName ?? undefined,
      };
      if (this.sessions.size >= SESSION_CACHE_ENTRIES) this.sessions.clear();
      cached = { key, set: this.opts.roles.compile(role, vars) };
      this.sessions.set(c.accessKeyId, cached);
    }
    const context = { 'aws:SourceIp': sourceIp.startsWith('::ffff:') ? sourceIp.slice(7) : sourceIp };
    let decision: Decision = 'default-deny';
    for (const action of actions) {
      const d = cached.set.evaluate(action, resource, context);
      if (d === 'deny') return 'deny';
      if (d === 'allow') decision = 'allow';
    }
    return decision;
  }

  clearCache(): void {
    this.sessions.clear();
  }
}
