/**
 * The built-in authorizer function `thicket:jwt?…`: the token is a JWT checked against a JWKS, a
 * PEM public key or an HMAC secret of the authorizer; the connection gets the configured IoT
 * policies, and the token's claims become policy variables `${thicket:Jwt.<claim>}` so one policy
 * can scope every device to its own topics (`topic/devices/${thicket:Jwt.sub}/*`).
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { Namespace } from '../accounts/namespace.js';
import type { PolicyDocument } from '../policies/engine/index.js';
import { PRINCIPAL_ID, type AuthorizerResult } from './authorizer-event.js';
import { MAX_AUTHORIZER_LIFETIME_SECONDS, type JwtFunctionConfig } from './function-target.js';
import type { JwksCache } from './jwks.js';
import { checkClaims, decodeJwt, JwtError, verifyJwtSignature, type DecodedJwt } from './jwt.js';
import { parseHmacSecret, parsePublicKeyPem } from './signing-keys.js';

export const JWT_VARIABLE_PREFIX = 'thicket:Jwt.';

export interface JwtFunctionDeps {
  jwks: JwksCache;
  /** The parsed default versions of the named policies in `ns` (missing ones left out). */
  policyDocumentsFor(ns: Namespace, names: string[]): PolicyDocument[];
  /** Milliseconds since the epoch. */
  now(): number;
}

export interface JwtInvocation {
  ns: Namespace;
  config: JwtFunctionConfig;
  token: string | undefined;
  /** The authorizer's tokenSigningPublicKeys. */
  keys: Record<string, string>;
}

export type JwtOutcome = { ok: true; result: AuthorizerResult; variables: Record<string, string> } | { ok: false; reason: string };

async function verificationKey(jwt: DecodedJwt, inv: JwtInvocation, jwks: JwksCache): Promise<KeyObject> {
  const source = inv.config.source;
  if (source.kind === 'jwks') return jwks.key(source.uri, jwt.keyId, jwt.algorithm);
  const entry = inv.keys[source.name];
  if (entry === undefined) throw new JwtError(`the authorizer has no tokenSigningPublicKeys entry "${source.name}"`);
  try {
    return source.kind === 'key' ? parsePublicKeyPem(entry) : parseHmacSecret(entry);
  } catch (err) {
    throw new JwtError(`tokenSigningPublicKeys entry "${source.name}": ${(err as Error).message}`);
  }
}

/** Policy variables from the claims: strings, numbers and booleans; objects and lists have no single value. */
export function claimVariables(payload: Record<string, unknown>): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const [claim, value] of Object.entries(payload)) {
    if (typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))) {
      vars[`${JWT_VARIABLE_PREFIX}${claim}`] = String(value);
    }
  }
  return vars;
}

/**
 * AWS principal ids are `[a-zA-Z0-9]{1,128}`; identity providers' subjects often are not
 * (`auth0|5f7c…`, e-mail addresses). Those become the hex SHA-256 of the value: stable, unique,
 * and valid; the raw value stays available to policies as `${thicket:Jwt.<claim>}`.
 */
export function principalIdFor(value: string): string {
  return PRINCIPAL_ID.test(value) ? value : createHash('sha256').update(value).digest('hex');
}

/** Verifies the token and answers as an authorizer function would: a bad token is a refusal, not an exception. */
export async function runJwtFunction(inv: JwtInvocation, deps: JwtFunctionDeps): Promise<JwtOutcome> {
  const { config } = inv;
  try {
    if (inv.token === undefined || inv.token === '') throw new JwtError('no token was presented');
    const jwt = decodeJwt(inv.token);
    verifyJwtSignature(jwt, await verificationKey(jwt, inv, deps.jwks));
    const now = deps.now() / 1000;
    const { exp } = checkClaims(jwt.payload, { issuer: config.issuer, audiences: config.audiences, now });
    const claim = jwt.payload[config.principalClaim];
    if (typeof claim !== 'string' && typeof claim !== 'number')
      throw new JwtError(`the JWT has no "${config.principalClaim}" claim for the principal id`);
    const principal = String(claim);
    if (principal.length === 0) throw new JwtError(`the JWT "${config.principalClaim}" claim is empty`);
    const documents = config.policyNames.length ? deps.policyDocumentsFor(inv.ns, config.policyNames) : [];
    const disconnect = config.disconnectAfterInSeconds ?? Math.min(MAX_AUTHORIZER_LIFETIME_SECONDS, Math.max(1, Math.ceil(exp - now)));
    return {
      ok: true,
      variables: claimVariables(jwt.payload),
      result: {
        isAuthenticated: true,
        principalId: principalIdFor(principal),
        policyDocuments: documents.map((d) => JSON.stringify(d)),
        documents,
        disconnectAfterInSeconds: disconnect,
        // Nothing to re-check before the token expires: the connection ends then anyway.
        refreshAfterInSeconds: undefined,
      },
    };
  } catch (err) {
    if (err instanceof JwtError) return { ok: false, reason: err.message };
    throw err;
  }
}
