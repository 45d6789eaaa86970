/** The HTTP(S) application: health, metrics, the CA certificate, and MQTT over WebSocket on /mqtt. */
import type tls from 'node:tls';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { attachWebSocket, type Broker } from '@thicket/broker';
import { registerApi, type ApiRoute, type DeviceAuthenticator } from '../api/aws-api.js';
import type { AccountStore } from '../accounts/account-store.js';
import { replyWithFrameworkError } from '../api/framework-errors.js';
import { registerFileTransfer, type FileService } from '../files/index.js';

export interface HttpContext {
  broker: Broker;
  metrics: Registry;
  caCertPem: string;
  log: Logger;
  accounts: AccountStore;
  routes: ApiRoute[];
  /** File uploads and presigned downloads, which stream rather than go through the buffered API. */
  files?: FileService;
  /** Devices calling data-plane routes with their client certificate (HTTPS). */
  devices?: DeviceAuthenticator;
  endpoints: () => Record<string, string | undefined>;
  /** Test mode: the reset route exists. */
  reset?: () => void | Promise<void>;
  /** What `/healthz` reports besides the broker: the database and the cluster link, each `ok` or what is wrong. */
  health?: () => Promise<Record<string, string>>;
  /**
   * Cluster: a request that may write takes a mark as it arrives, and answers once every node
   * re-read what this node wrote since (`applied` is undefined when there is nothing to wait for).
   */
  writes?: { mark(): number; applied(mark: number): Promise<void> | undefined };
}

/** Methods that never write: their answers do not wait for the other nodes. */
const READ_ONLY = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface HttpsOptions {
  key: string;
  cert: string;
  /** CAs that client certificates (optional mutual TLS) are checked against. */
  ca: string[];
  /** Picks another certificate by SNI (domain configurations); the one above when it gives none. */
  SNICallback?: tls.TlsOptions['SNICallback'];
  /** OpenSSL options, such as turning session tickets off. */
  secureOptions?: number;
}

/** A URL without its query: presigned file URLs and SigV4 query authentication carry signatures there. */
const pathOf = (url: string): string => url.split('?')[0]!;

/** Per-request lines at debug level: a metrics scraper or a busy device fleet would drown an info log. */
class RequestLogAtDebug extends LogController {
  override incomingRequest(request: FastifyRequest): void {
    request.log.debug({ method: request.method, url: pathOf(request.url) }, 'incoming request');
  }
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (error) reply.log.error({ err: error, url: pathOf(request.url), statusCode: reply.statusCode }, 'request errored');
    else reply.log.debug({ url: pathOf(request.url), statusCode: reply.statusCode, ms: reply.elapsedTime }, 'request completed');
  }
}

export function createHttpApp(ctx: HttpContext, https?: HttpsOptions): FastifyInstance {
  // Path labels carry ARNs and topics, often longer than Fastify's default of 100 characters.
  const common = {
    loggerInstance: ctx.log as FastifyBaseLogger,
    logController: new RequestLogAtDebug(),
    routerOptions: { maxParamLength: 2048 },
    // Every error on the API ports has the AWS shape, also those raised before routing.
    frameworkErrors: (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => replyWithFrameworkError(err, req, reply, ctx.log),
  };
  // The HTTPS instance differs only in its raw server type; routes see the same request and reply.
  const app: FastifyInstance = https
    ? (Fastify({
        ...common,
        https: {
          key: https.key,
          cert: https.cert,
          ca: https.ca,
          SNICallback: https.SNICallback,
          secureOptions: https.secureOptions,
          requestCert: true,
          rejectUnauthorized: false,
          minVersion: 'TLSv1.2',
        },
      }) as unknown as FastifyInstance)
    : Fastify(common);

  app.setErrorHandler((err: FastifyError, req, reply) => replyWithFrameworkError(err, req, reply, ctx.log));

  const writes = ctx.writes;
  if (writes) {
    // Read-after-write across nodes: a caller that got the answer to CreateJob through this node
    // finds the job through any other.
    const marks = new WeakMap<FastifyRequest, number>();
    app.addHook('onRequest', async (req) => {
      if (!READ_ONLY.has(req.method)) marks.set(req, writes.mark());
    });
    app.addHook('onSend', async (req, _reply, payload) => {
      const mark = marks.get(req);
      if (mark !== undefined) await writes.applied(mark);
      return payload;
    });
  }

  // 503 while a dependency is down, so a load balancer's check takes the node out of rotation.
  app.get('/healthz', async (_req, reply) => {
    const checks = (await ctx.health?.()) ?? {};
    const ok = Object.values(checks).every((v) => v === 'ok');
    if (!ok) reply.code(503);
    return { status: ok ? 'ok' : 'degraded', connections: ctx.broker.openConnections, ...checks };
  });

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', ctx.metrics.contentType);
    return ctx.metrics.metrics();
  });

  const reset = ctx.reset;
  if (reset) {
    // Unsigned on purpose: test mode is for test suites, which call this before every test.
    app.post('/_thicket/reset', async () => {
      const t0 = performance.now();
      await reset();
      return { reset: true, ms: Math.round((performance.now() - t0) * 10) / 10 };
    });
  }

  // Listener URLs for tools (what DescribeEndpoint cannot carry through the AWS SDKs); no secrets.
  app.get('/endpoints', async () => ctx.endpoints());

  app.get('/ca.pem', async (_req, reply) => {
    reply.header('content-type', 'application/x-pem-file');
    return ctx.caCertPem;
  });

  if (ctx.files) registerFileTransfer(app, { files: ctx.files, accounts: ctx.accounts, log: ctx.log });
  registerApi(app, ctx.routes, { accounts: ctx.accounts, log: ctx.log, devices: ctx.devices });
  attachWebSocket(ctx.broker, app.server, '/mqtt', Boolean(https));
  return app;
}
