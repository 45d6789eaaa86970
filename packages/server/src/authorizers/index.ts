/** Custom authorizers: control plane, the AWS authorizer function contract, webhooks and the built-in JWT verifier. */
export { AuthorizerStore, authorizerMigrations, type AuthorizerRow, type AuthorizerStatus } from './authorizer-store.js';
export {
  buildAuthorizerEvent,
  parseAuthorizerResponse,
  InvalidAuthorizerResponse,
  type AuthorizerEvent,
  type AuthorizerResult,
  type AuthProtocol,
} from './authorizer-event.js';
export {
  AUTHORIZER_NAME_PARAMETER,
  SIGNATURE_PARAMETER,
  customAuthRequestFromHttp,
  customAuthRequestFromMqtt,
  findParameter,
  type CustomAuthRequest,
  type RawHeaders,
  type SelectionOptions,
} from './custom-auth-request.js';
export { CustomAuthorizers, authorizerArn, type CustomAuthOutcome, type CustomAuthorizersOptions } from './custom-authorizers.js';
export {
  JWT_SCHEME,
  parseFunctionTarget,
  parseJwtFunction,
  FunctionTargetError,
  type AuthorizerFunction,
  type JwtFunctionConfig,
} from './function-target.js';
export { JwksCache, type JwksOptions } from './jwks.js';
export { checkClaims, decodeJwt, verifyJwtSignature, JwtError, JWT_ALGORITHMS, type JwtAlgorithm, type DecodedJwt } from './jwt.js';
export { JWT_VARIABLE_PREFIX, claimVariables, principalIdFor } from './jwt-function.js';
export { parsePublicKeyPem, parseHmacSecret, verifyTokenSignature } from './signing-keys.js';
export { MAX_AUTHORIZERS } from './validation.js';
export { DEFAULT_WEBHOOK_TIMEOUT_MS, invokeWebhook, WebhookError } from './webhook.js';
export { authorizerRoutes } from './routes.js';
