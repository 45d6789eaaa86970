/**
 * What an authorizer's `authorizerFunctionArn` names. AWS invokes a Lambda function; Thicket has no
 * Lambda, so the field names one of:
 *
 * - `https://…` or `http://…`: a webhook that receives the AWS authorizer event as a JSON POST and
 *   answers with the AWS authorizer response (so a Lambda handler ports as a small HTTP handler);
 * - `thicket:jwt?…`: the built-in JWT verifier, configured with URL query parameters;
 * - `arn:aws:lambda:…`: accepted so that tools written for AWS can create authorizers, but never
 *   invocable: connections through such an authorizer are refused with a reason saying so.
 */

export const JWT_SCHEME = 'thicket:jwt';

export interface JwtFunctionConfig {
  /** Where the verification key comes from. */
  source: { kind: 'jwks'; uri: string } | { kind: 'key'; name: string } | { kind: 'hmac'; name: string };
  issuer: string | undefined;
  /** Accepted audiences (any one of them); empty = `aud` is not checked. */
  audiences: string[];
  /** IoT policies (in the authorizer's namespace) that authenticated connections get. */
  policyNames: string[];
  /** The claim that becomes the principal id. */
  principalClaim: string;
  /** Fixed connection lifetime; by default the connection lasts until the token expires (at most 24 h). */
  disconnectAfterInSeconds: number | undefined;
}

export type AuthorizerFunction =
  { kind: 'webhook'; url: string } | { kind: 'jwt'; config: JwtFunctionConfig } | { kind: 'lambda'; arn: string };

export class FunctionTargetError extends Error {
  override readonly name = 'FunctionTargetError';
}

const fail = (message: string): never => {
  throw new FunctionTargetError(message);
};

const JWT_PARAMETERS = new Set([
  'jwksUri',
  'key',
  'hmacSecret',
  'issuer',
  'audience',
  'policyNames',
  'principalClaim',
  'disconnectAfterInSeconds',
]);
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;
const KEY_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[\w-]+(:[\w$-]+)?$/;
export const MAX_AUTHORIZER_LIFETIME_SECONDS = 86_400;
export const MIN_AUTHORIZER_LIFETIME_SECONDS = 300;

function httpUrl(text: string, what: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail(`${what} ${JSON.stringify(text)} is not a valid URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') fail(`${what} must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.username || url.password) fail(`${what} must not carry credentials in the URL`);
  return url.toString();
}

/** Parses `thicket:jwt?jwksUri=…&issuer=…`; throws FunctionTargetError naming the faulty parameter. */
export function parseJwtFunction(arn: string): JwtFunctionConfig {
  const q = arn.indexOf('?');
  if (arn.slice(0, q < 0 ? undefined : q) !== JWT_SCHEME) fail(`a JWT authorizer function is written ${JWT_SCHEME}?<parameters>`);
  const params = new URLSearchParams(q < 0 ? '' : arn.slice(q + 1));
  const seen = new Set<string>();
  for (const name of params.keys()) {
    if (!JWT_PARAMETERS.has(name)) fail(`${JWT_SCHEME}: unknown parameter "${name}" (known: ${[...JWT_PARAMETERS].join(', ')})`);
    if (seen.has(name)) fail(`${JWT_SCHEME}: parameter "${name}" is given more than once`);
    seen.add(name);
  }
  const get = (name: string): string | undefined => {
    const v = params.get(name);
    if (v === null) return undefined;
    if (v.length === 0) fail(`${JWT_SCHEME}: parameter "${name}" is empty`);
    return v;
  };
  const sources = (['jwksUri', 'key', 'hmacSecret'] as const).filter((n) => params.has(n));
  if (sources.length !== 1)
    fail(`${JWT_SCHEME}: give exactly one of jwksUri, key and hmacSecret (found ${sources.length ? sources.join(', ') : 'none'})`);
  const jwksUri = get('jwksUri');
  const key = get('key');
  const hmac = get('hmacSecret');
  for (const [name, value] of [
    ['key', key],
    ['hmacSecret', hmac],
  ] as const) {
    if (value !== undefined && !KEY_NAME.test(value))
      fail(`${JWT_SCHEME}: ${name} must name a tokenSigningPublicKeys entry ([a-zA-Z0-9:_-]{1,128}), not "${value}"`);
  }
  const source: JwtFunctionConfig['source'] =
    jwksUri !== undefined
      ? { kind: 'jwks', uri: httpUrl(jwksUri, 'jwksUri') }
      : key !== undefined
        ? { kind: 'key', name: key }
        : { kind: 'hmac', name: hmac! };

  const list = (name: string): string[] =>
    (get(name) ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
  const policyNames = list('policyNames');
  for (const p of policyNames) if (!POLICY_NAME.test(p)) fail(`${JWT_SCHEME}: "${p}" in policyNames is not a valid policy name`);

  let disconnectAfterInSeconds: number | undefined;
  const d = get('disconnectAfterInSeconds');
  if (d !== undefined) {
    const n = Number(d);
    if (!Number.isInteger(n) || n < MIN_AUTHORIZER_LIFETIME_SECONDS || n > MAX_AUTHORIZER_LIFETIME_SECONDS) {
      fail(
        `${JWT_SCHEME}: disconnectAfterInSeconds must be a whole number from ${MIN_AUTHORIZER_LIFETIME_SECONDS} to ${MAX_AUTHORIZER_LIFETIME_SECONDS}, not "${d}"`,
      );
    }
    disconnectAfterInSeconds = n;
  }
  return {
    source,
    issuer: get('issuer'),
    audiences: list('audience'),
    policyNames,
    principalClaim: get('principalClaim') ?? 'sub',
    disconnectAfterInSeconds,
  };
}

/** What `authorizerFunctionArn` names; throws FunctionTargetError for anything Thicket cannot call. */
export function parseFunctionTarget(arn: string): AuthorizerFunction {
  if (/^https?:\/\//i.test(arn)) return { kind: 'webhook', url: httpUrl(arn, 'authorizerFunctionArn') };
  if (arn === JWT_SCHEME || arn.startsWith(`${JWT_SCHEME}?`)) return { kind: 'jwt', config: parseJwtFunction(arn) };
  if (LAMBDA_ARN.test(arn)) return { kind: 'lambda', arn };
  return fail(
    `authorizerFunctionArn must be an https:// (or http://) webhook URL, ${JWT_SCHEME}?<parameters>, or a Lambda function ARN, not ${JSON.stringify(arn)}`,
  );
}
