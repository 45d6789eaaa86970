/**
 * The AWS restJson1 HTTP APIs (control plane `iot`, data plane `iotdata`, jobs `iot-jobs-data`) on
 * the server's HTTP port: SigV4 authentication, namespace from the key's account and the
 * credential scope's region, bodies, errors in the AWS shape, and the three paths two APIs share
 * (reference controlplane §1.3) told apart by the signing service.
 */
import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { AccountStore, StoredAccessKey } from '../accounts/account-store.js';
import type { RoleSession } from '../accounts/session-credentials.js';
import { isRegion, type Namespace } from '../accounts/namespace.js';
import { AwsError, forbidden, sendAwsError, unauthorized } from '../aws/errors.js';
import { verifySigV4 } from '../aws/sigv4.js';
import { AllowedMethods, methodNotAllowed } from './allowed-methods.js';
import { checkPathLabels } from './path-labels.js';
import { authorizeRoleRequest } from '../roles/role-actions.js';

export type AwsService = 'iot' | 'iotdata' | 'iot-jobs-data';

/** SigV4 signing names and the API each one reaches. */
const SIGNING_NAMES: Record<string, AwsService> = {
  iot: 'iot',
  iotdata: 'iotdata',
  // Device documentation signs iot-data requests as `iotdevicegateway` (reference dataplane §0.2).
  iotdevicegateway: 'iotdata',
  'iot-jobs-data': 'iot-jobs-data',
};

export interface ApiContext {
  ns: Namespace;
  service: AwsService;
  requestId: string;
  /** The access key of a SigV4 caller; undefined for a device authenticated by its certificate. */
  key: StoredAccessKey | undefined;
  /** Temporary credentials from the credentials provider: the role whose policy decides each request. */
  role?: RoleSession;
  /** The certificate of a device authenticated by it. */
  certificateId?: string;
  /**
   * Throws 403 ForbiddenException unless the caller may perform `action` on `resource`. Access keys
   * may do anything in their account; devices are decided by their certificate's IoT policies.
   */
  authorize(action: string, resource: string): void;
}

/** A device calling the data-plane API with its TLS client certificate instead of SigV4. */
export interface DeviceCaller {
  ns: Namespace;
  certificateId?: string;
  allows(action: string, resource: string): boolean;
}

/** Authenticates a device by its certificate (DER) or says why it is refused. */
/** `servername`: the host name the client asked for (SNI); a domain configuration's host name selects its account. */
export type DeviceAuthenticator = (
  certificate: Buffer,
  sourceIp: string,
  servername: string | undefined,
) => DeviceCaller | { refused: string };

export interface ApiRequest {
  ctx: ApiContext;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  headers: FastifyRequest['headers'];
  /** Parsed JSON body, `{}` when the request had none. */
  body: Record<string, unknown>;
  rawBody: Buffer;
  /** The caller's address (sourceip() of a rule that sees an HTTPS publish). */
  sourceIp: string;
}

/** A reply that is not a JSON object (shadow documents, payloads). */
export class RawReply {
  constructor(
    readonly body: Buffer | string,
    readonly contentType = 'application/json',
  ) {}
}

/**
 * A reply that stays open and streams (server-sent events): `start` gets a writer and returns the
 * function that stops producing, called when the client goes away.
 */
export class StreamReply {
  constructor(
    readonly start: (write: (chunk: string) => void) => () => void,
    readonly contentType = 'text/event-stream',
  ) {}
}

export interface ApiRoute {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Fastify path syntax: `/things/:thingName`. */
  path: string;
  service: AwsService;
  /** The operation name, for logs. */
  operation: string;
  /** Read-only keys may call it. */
  readOnly?: boolean;
  /** The body is not JSON (raw payloads); `body` is then `{}` and the bytes are in `rawBody`. */
  rawBody?: boolean;
  /** Devices may call it with their certificate (data-plane operations); the handler calls ctx.authorize. */
  device?: boolean;
  handler(req: ApiRequest): unknown;
}

export interface ApiDeps {
  accounts: AccountStore;
  log: Logger;
  devices?: DeviceAuthenticator;
}

const allowEverything = (): void => {};

export function firstValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Checks a request's SigV4 signature and works out its namespace: the key's account (or, for a root
 * key, the one named by x-thicket-account) and the credential scope's region. `body` is undefined
 * for a streamed body (see SignedRequest).
 */
export async function authenticate(
  req: FastifyRequest,
  body: Buffer | undefined,
  accounts: AccountStore,
  /** Temporary credentials are refused unless the caller enforces their role's policy (handle does). */
  opts: { roleSessions?: boolean } = {},
): Promise<{ ctx: ApiContext }> {
  const id = await verifySigV4(
    { method: req.method, rawUrl: req.raw.url ?? req.url, headers: req.headers, body },
    (akid) => accounts.key(akid)?.secretAccessKey ?? accounts.sessions?.secretOf(akid),
  );
  const service = SIGNING_NAMES[id.service];
  if (!service)
    throw new AwsError(
      'InvalidSignatureException',
      403,
      `Credential should be scoped to correct service. '${id.service}' is not a Thicket API.`,
    );
  if (!isRegion(id.region))
    throw new AwsError('InvalidSignatureException', 403, `Credential should be scoped to a valid region, not '${id.region}'.`);
  const key = accounts.key(id.accessKeyId);
  // A long-term key with a session token is a mistake (or a guess) that AWS refuses too.
  if (key && sessionToken(req) !== undefined)
    throw new AwsError('UnrecognizedClientException', 403, 'The security token included in the request is invalid.');
  if (!key) return { ctx: await sessionContext(req, id.accessKeyId, id.region, service, accounts, opts.roleSessions ?? false) };
  let accountId = key.accountId;
  const asAccount = firstValue(req.headers['x-thicket-account']);
  if (asAccount !== undefined && asAccount !== accountId) {
    if (!key.root) throw new AwsError('AccessDeniedException', 403, `access key ${key.accessKeyId} may not act for account ${asAccount}`);
    if (!accounts.account(asAccount)) throw new AwsError('ResourceNotFoundException', 404, `account ${asAccount} does not exist`);
    accountId = asAccount;
  }
  return { ctx: { ns: { accountId, region: id.region }, service, requestId: '', key, authorize: allowEverything } };
}

/** The request's session token; presigned requests carry it in the query (IoT's WebSocket URLs append it after signing). */
function sessionToken(req: FastifyRequest): string | undefined {
  return (
    firstValue(req.headers['x-amz-security-token']) ?? firstValue((req.query as Record<string, string | string[]>)['X-Amz-Security-Token'])
  );
}

/** A request signed with temporary credentials: the token must match, and the role decides (see handle). */
async function sessionContext(
  req: FastifyRequest,
  accessKeyId: string,
  region: string,
  service: AwsService,
  accounts: AccountStore,
  allowed: boolean,
): Promise<ApiContext> {
  const role = await accounts.sessions!.open(accessKeyId, sessionToken(req), req.ip);
  const asAccount = firstValue(req.headers['x-thicket-account']);
  if (asAccount !== undefined && asAccount !== role.accountId) {
    throw new AwsError('AccessDeniedException', 403, `User: ${role.assumedRoleArn} may not act for account ${asAccount}`);
  }
  if (!allowed)
    throw new AwsError('AccessDeniedException', 403, `User: ${role.assumedRoleArn} may not call this operation with temporary credentials`);
  // Each request is decided once, centrally, by the role's policy; routes' own checks are for devices.
  return { ns: { accountId: role.accountId, region }, service, requestId: '', key: undefined, role, authorize: allowEverything };
}

/** The client certificate of an HTTPS request, when the request carries no SigV4 signature. */
function deviceCertificate(req: FastifyRequest): Buffer | undefined {
  if (req.headers.authorization !== undefined || 'X-Amz-Signature' in (req.query as object)) return undefined;
  const socket = req.raw.socket as Partial<TLSSocket>;
  const raw = socket.getPeerCertificate?.()?.raw;
  return raw && raw.length > 0 ? raw : undefined;
}

function deviceContext(caller: DeviceCaller, route: ApiRoute): ApiContext {
  return {
    ns: caller.ns,
    service: route.service,
    requestId: '',
    key: undefined,
    certificateId: caller.certificateId,
    authorize(action, resource) {
      if (!caller.allows(action, resource)) throw forbidden(`The certificate's policies do not allow ${action} on ${resource}`);
    },
  };
}

function parseBody(route: ApiRoute, raw: Buffer): Record<string, unknown> {
  if (route.rawBody || raw.length === 0) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new AwsError('SerializationException', 400, `The request body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new AwsError('SerializationException', 400, 'The request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** Registers routes on `app`; several APIs may share one method and path (picked by signing service). */
export function registerApi(app: FastifyInstance, routes: ApiRoute[], deps: ApiDeps): void {
  // Bodies stay raw: the signature covers their bytes, and restJson1 errors need our own parsing.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_req, body, done) => done(null, body));

  const byEndpoint = new Map<string, ApiRoute[]>();
  for (const r of routes) {
    const k = `${r.method} ${r.path}`;
    byEndpoint.set(k, [...(byEndpoint.get(k) ?? []), r]);
  }
  const allowed = new AllowedMethods(routes);
  for (const [endpoint, candidates] of byEndpoint) {
    const [method, path] = endpoint.split(' ') as [ApiRoute['method'], string];
    app.route({
      method,
      url: path,
      handler: (req, reply) => handle(req, reply, candidates, deps, allowed),
    });
  }

  // Unauthenticated, like the 404 it replaces: which methods a path takes is no secret (the API models list them).
  app.setNotFoundHandler((req, reply) => {
    reply.header('x-amzn-RequestId', randomUUID());
    sendAwsError(reply, noOperation(req, reply, allowed));
  });
}

/**
 * No route for the method and path (in the caller's API, when known): 405 with an Allow header when
 * the path takes other methods, else 404.
 */
function noOperation(req: FastifyRequest, reply: FastifyReply, allowed: AllowedMethods, service?: AwsService): AwsError {
  const path = req.url.split('?')[0]!;
  const methods = allowed.methods(path, service);
  // Fastify answers HEAD with the GET route. A method listed yet unrouted means the two matchers
  // disagree: 404 then, rather than an Allow list naming the method refused.
  const asked = req.method === 'HEAD' ? 'GET' : req.method;
  if (methods.length > 0 && !methods.includes(asked)) {
    reply.header('allow', methods.join(', '));
    return methodNotAllowed(service ? [service] : allowed.services(path), req.method, path, methods);
  }
  return new AwsError('UnknownOperationException', 404, `No ${service ? `${service} ` : ''}operation at ${req.method} ${path}`);
}

async function handle(
  req: FastifyRequest,
  reply: FastifyReply,
  candidates: ApiRoute[],
  deps: ApiDeps,
  allowed: AllowedMethods,
): Promise<FastifyReply> {
  const requestId = randomUUID();
  reply.header('x-amzn-RequestId', requestId);
  try {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const certificate = deps.devices && deviceCertificate(req);
    const deviceRoute = certificate && candidates.find((c) => c.device);
    let ctx: ApiContext;
    let route: ApiRoute | undefined;
    if (deviceRoute) {
      const servername = (req.raw.socket as Partial<TLSSocket>).servername;
      const caller = deps.devices!(certificate, req.ip, typeof servername === 'string' ? servername : undefined);
      if ('refused' in caller) throw unauthorized(caller.refused);
      ctx = deviceContext(caller, deviceRoute);
      route = deviceRoute;
    } else {
      ({ ctx } = await authenticate(req, raw, deps.accounts, { roleSessions: true }));
      route = candidates.find((c) => c.service === ctx.service);
    }
    ctx.requestId = requestId;
    if (!route) throw noOperation(req, reply, allowed, ctx.service);
    if (ctx.key?.readOnly && !route.readOnly) {
      throw new AwsError('AccessDeniedException', 403, `access key ${ctx.key.accessKeyId} is read-only; ${route.operation} changes state`);
    }
    checkPathLabels(req.params as Record<string, string>, route.service);
    if (ctx.role) authorizeRoleRequest(ctx.role, route, req.params as Record<string, string>, ctx.ns);
    const query: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.query as Record<string, string | string[]>)) query[k] = firstValue(v);
    const result = await route.handler({
      ctx,
      params: req.params as Record<string, string>,
      query,
      headers: req.headers,
      body: parseBody(route, raw),
      rawBody: raw,
      sourceIp: req.ip,
    });
    if (result instanceof RawReply) return reply.header('content-type', result.contentType).send(result.body);
    if (result instanceof StreamReply) return stream(req, reply, result);
    return reply.header('content-type', 'application/json').send(JSON.stringify(result ?? {}));
  } catch (err) {
    return replyWithError(req, reply, err, requestId, deps.log);
  }
}

/** Answers a failed request: an AwsError as it is, anything else as a logged 500 that names the request id. */
export function replyWithError(req: FastifyRequest, reply: FastifyReply, err: unknown, requestId: string, log: Logger): FastifyReply {
  if (err instanceof AwsError) {
    log.debug({ requestId, code: err.code, msg: err.message, url: req.url.split('?')[0] }, 'API request refused');
    return sendAwsError(reply, err);
  }
  log.error({ err, requestId, url: req.url.split('?')[0] }, 'API request failed');
  return sendAwsError(reply, new AwsError('InternalFailureException', 500, `An internal error occurred (request id ${requestId})`));
}

const STREAM_BUFFER_BYTES = 4 * 1024 * 1024;

function stream(req: FastifyRequest, reply: FastifyReply, result: StreamReply): FastifyReply {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': result.contentType,
    'cache-control': 'no-store',
    'x-amzn-RequestId': String(reply.getHeader('x-amzn-RequestId')),
  });
  res.flushHeaders();
  // A watcher that cannot keep up loses messages (and is told how many), never the server's memory.
  let dropped = 0;
  const stop = result.start((chunk) => {
    if (res.writableLength > STREAM_BUFFER_BYTES) {
      dropped++;
      return;
    }
    if (dropped > 0) {
      res.write(`event: dropped\ndata: {"count":${dropped}}\n\n`);
      dropped = 0;
    }
    res.write(chunk);
  });
  req.raw.socket.once('close', stop);
  return reply;
}
