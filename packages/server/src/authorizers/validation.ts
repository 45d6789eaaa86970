/**
 * Checks of authorizer control-plane input, worded as AWS words them (reference controlplane §8.2,
 * API reference CreateAuthorizer / UpdateAuthorizer / TestInvokeAuthorizer).
 */
import { invalidRequest } from '../aws/errors.js';
import { constraint } from '../registry/validation.js';
import type { AuthorizerRow, AuthorizerStatus } from './authorizer-store.js';
import { FunctionTargetError, parseFunctionTarget, type AuthorizerFunction } from './function-target.js';
import { parseHmacSecret, parsePublicKeyPem } from './signing-keys.js';

export const MAX_AUTHORIZERS = 10;
const AUTHORIZER_NAME = /^[\w=,@-]+$/;
const TOKEN_KEY_NAME = /^[a-zA-Z0-9_-]+$/;
const KEY_NAME = /^[a-zA-Z0-9:_-]+$/;
const MAX_FUNCTION_ARN = 2048;
const MAX_PUBLIC_KEY = 5120;

export function checkAuthorizerName(value: unknown, member = 'authorizerName'): string {
  if (typeof value !== 'string' || value.length === 0)
    return constraint(member, value, 'Member must have length greater than or equal to 1');
  if (value.length > 128) constraint(member, value, 'Member must have length less than or equal to 128');
  if (!AUTHORIZER_NAME.test(value)) constraint(member, value, 'Member must satisfy regular expression pattern: [\\w=,@-]+');
  return value;
}

export function checkFunctionArn(value: unknown, required: boolean): string | undefined {
  if (value === undefined || value === null)
    return required ? constraint('authorizerFunctionArn', value, 'Member must not be null') : undefined;
  if (typeof value !== 'string') return constraint('authorizerFunctionArn', value, 'Member must be a string');
  if (value.length > MAX_FUNCTION_ARN)
    constraint('authorizerFunctionArn', value, `Member must have length less than or equal to ${MAX_FUNCTION_ARN}`);
  return value;
}

export function optionalTokenKeyName(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0)
    return constraint('tokenKeyName', value, 'Member must have length greater than or equal to 1');
  if (value.length > 128) constraint('tokenKeyName', value, 'Member must have length less than or equal to 128');
  if (!TOKEN_KEY_NAME.test(value)) constraint('tokenKeyName', value, 'Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+');
  return value;
}

export function optionalSigningKeys(value: unknown): Record<string, string> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    return constraint('tokenSigningPublicKeys', JSON.stringify(value), 'Member must be a map of strings');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (k.length === 0 || k.length > 128) constraint(`tokenSigningPublicKeys.${k}`, k, 'Map keys must have length between 1 and 128');
    if (!KEY_NAME.test(k))
      constraint(`tokenSigningPublicKeys.${k}`, k, 'Map keys must satisfy regular expression pattern: [a-zA-Z0-9:_-]+');
    if (typeof v !== 'string') return constraint(`tokenSigningPublicKeys.${k}`, v, 'Map values must be strings');
    if (v.length > MAX_PUBLIC_KEY)
      constraint(
        `tokenSigningPublicKeys.${k}`,
        `${v.slice(0, 40)}...`,
        `Map values must have length less than or equal to ${MAX_PUBLIC_KEY}`,
      );
    out[k] = v;
  }
  return out;
}

export function optionalStatus(value: unknown): AuthorizerStatus | undefined {
  if (value === undefined || value === null) return undefined;
  if (value !== 'ACTIVE' && value !== 'INACTIVE')
    return constraint('status', value, 'Member must satisfy enum value set: [ACTIVE, INACTIVE]');
  return value;
}

export function optionalBoolean(member: string, value: unknown): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') return constraint(member, value, 'Member must be a boolean');
  return value;
}

/** Parses the function target, answering InvalidRequestException with the reason. */
export function functionOf(arn: string): AuthorizerFunction {
  try {
    return parseFunctionTarget(arn);
  } catch (err) {
    if (err instanceof FunctionTargetError) throw invalidRequest(err.message);
    throw err;
  }
}

/** Names of the tokenSigningPublicKeys entries that hold HMAC secrets rather than public keys. */
export function secretEntries(fn: AuthorizerFunction): Set<string> {
  return fn.kind === 'jwt' && fn.config.source.kind === 'hmac' ? new Set([fn.config.source.name]) : new Set();
}

/**
 * The checks that span fields, run on the authorizer as it would be stored (after an update too):
 * signing needs a token key name and at least one RSA public key; every entry parses; the entries
 * the JWT function refers to exist and hold the right kind of key.
 */
export function checkConfiguration(a: AuthorizerRow): AuthorizerFunction {
  const fn = functionOf(a.functionArn);
  const secrets = secretEntries(fn);
  const keys = a.tokenSigningPublicKeys;
  let rsaKeys = 0;
  for (const [name, value] of Object.entries(keys)) {
    try {
      if (secrets.has(name)) parseHmacSecret(value);
      else if (parsePublicKeyPem(value).asymmetricKeyType === 'rsa') rsaKeys++;
    } catch (err) {
      throw invalidRequest(`tokenSigningPublicKeys entry "${name}" is invalid: ${(err as Error).message}`);
    }
  }
  if (!a.signingDisabled) {
    if (a.tokenKeyName === null) throw invalidRequest('tokenKeyName is required when signing is enabled (signingDisabled is false)');
    if (rsaKeys === 0) {
      throw invalidRequest(
        'tokenSigningPublicKeys must hold at least one RSA public key (2048 bits or more) when signing is enabled (signingDisabled is false)',
      );
    }
  }
  if (fn.kind === 'jwt' && fn.config.source.kind !== 'jwks') {
    const { name } = fn.config.source;
    if (keys[name] === undefined)
      throw invalidRequest(`authorizerFunctionArn refers to tokenSigningPublicKeys entry "${name}", which does not exist`);
  }
  return fn;
}
