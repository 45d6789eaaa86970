/**
 * Custom authorizers: the control-plane operations (reference controlplane §8.2) and the
 * authentication of clients that present a token instead of a certificate (reference dataplane §5.2).
 *
 * Authentication order, as on AWS: find the authorizer (by name, or the default one), refuse an
 * INACTIVE one, check the token signature when signing is enabled (a bad signature is refused
 * without calling the function, which is what signing is for), then call the function and check
 * its answer.
 */
import type { TagWriter } from '../tags/tag-writer.js';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { iotArn, type Namespace } from '../accounts/namespace.js';
import { pageOf, pageSize, parseBool } from '../api/pagination.js';
import { alreadyExists, AwsError, deleteConflict, invalidRequest, limitExceeded, notFound } from '../aws/errors.js';
import type { PolicyDocument } from '../policies/engine/index.js';
import { checkTags, constraint } from '../registry/validation.js';
import { buildAuthorizerEvent, InvalidAuthorizerResponse, parseAuthorizerResponse, type AuthorizerResult } from './authorizer-event.js';
import { untilApplied, type AuthorizerRow, type AuthorizerStore } from './authorizer-store.js';
import { findParameter, SIGNATURE_PARAMETER, type CustomAuthRequest } from './custom-auth-request.js';
import { JWT_SCHEME, parseFunctionTarget, type AuthorizerFunction } from './function-target.js';
import { JwksCache, type JwksOptions } from './jwks.js';
import { runJwtFunction } from './jwt-function.js';
import { verifyTokenSignature } from './signing-keys.js';
import {
  checkAuthorizerName,
  checkConfiguration,
  checkFunctionArn,
  MAX_AUTHORIZERS,
  optionalBoolean,
  optionalSigningKeys,
  optionalStatus,
  optionalTokenKeyName,
  secretEntries,
} from './validation.js';
import { DEFAULT_WEBHOOK_TIMEOUT_MS, invokeWebhook, WebhookError } from './webhook.js';

export type CustomAuthOutcome =
  | {
      ok: true;
      ns: Namespace;
      authorizerName: string;
      principalId: string;
      policyDocuments: PolicyDocument[];
      /** Policy variables the connection gets on top of the usual ones (`thicket:Jwt.<claim>`). */
      variables: Record<string, string>;
      /** Close the connection after this long (CUSTOMAUTH_TTL_EXPIRATION). */
      disconnectAfterSeconds?: number;
      /** Call the authorizer again after this long (the policies are cached until then). */
      refreshAfterSeconds?: number;
    }
  | { ok: false; reason: string };

export interface CustomAuthorizersOptions {
  store: AuthorizerStore;
  /** The parsed default versions of the named IoT policies in `ns` (missing ones left out). */
  policyDocumentsFor(ns: Namespace, names: string[]): PolicyDocument[];
  log: Logger;
  /** How long a webhook may take (AWS gives a Lambda authorizer 5 s). */
  webhookTimeoutMs?: number;
  jwks?: JwksCache | JwksOptions;
  /** Milliseconds since the epoch. */
  now?: () => number;
  /** Tags given to CreateAuthorizer, and their removal when the authorizer goes. */
  tags?: TagWriter;
  /** An authorizer changed or was deleted: connections it authenticated may need a second look. */
  changed?(ns: Namespace, authorizerName: string): void;
  /** The domain configurations that name the authorizer as their default (it cannot be deleted then). */
  domainsUsing?(ns: Namespace, authorizerName: string): string[];
}

/** Why a request did not reach, or did not survive, the authorizer function. */
class AuthFailure extends Error {
  constructor(
    /** `request`/`signature`: the client's fault; `function`/`response`: the function's. */
    readonly kind: 'request' | 'signature' | 'function' | 'response',
    message: string,
  ) {
    super(message);
  }
}

interface Evaluation {
  result: AuthorizerResult;
  variables: Record<string, string>;
  /** Why the credentials were refused, when the function refused them. */
  reason: string | undefined;
}

const ACTIVE_STATUS = 'ACTIVE';

export const authorizerArn = (ns: Namespace, name: string): string => iotArn(ns, `authorizer/${name}`);

const nsText = (ns: Namespace): string => `${ns.accountId}/${ns.region}`;

function bearerToken(headers: Record<string, string> | undefined): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(headers?.authorization ?? '');
  return m?.[1];
}

export class CustomAuthorizers {
  readonly store: AuthorizerStore;
  private readonly jwks: JwksCache;
  private readonly now: () => number;
  private readonly log: Logger;

  constructor(private readonly opts: CustomAuthorizersOptions) {
    this.store = opts.store;
    this.jwks = opts.jwks instanceof JwksCache ? opts.jwks : new JwksCache(opts.jwks);
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
  }

  /** Whether any namespace has a default authorizer (clients without certificates then go to it). */
  hasDefault(): boolean {
    // Asked on every CONNECT without a certificate: the store keeps the defaults in memory.
    return this.store.hasDefaults();
  }

  // ---- control plane ---------------------------------------------------------------------------

  private get(ns: Namespace, name: string): AuthorizerRow {
    const a = this.store.authorizer(ns, name);
    if (!a) throw notFound(`Authorizer ${name} does not exist`);
    return a;
  }

  private describeRow(ns: Namespace, a: AuthorizerRow) {
    return {
      authorizerName: a.name,
      authorizerArn: authorizerArn(ns, a.name),
      authorizerFunctionArn: a.functionArn,
      ...(a.tokenKeyName === null ? {} : { tokenKeyName: a.tokenKeyName }),
      tokenSigningPublicKeys: a.tokenSigningPublicKeys,
      status: a.status,
      creationDate: a.createdAt / 1000,
      lastModifiedDate: a.lastModified / 1000,
      signingDisabled: a.signingDisabled,
      enableCachingForHttp: a.enableCachingForHttp,
    };
  }

  async create(ns: Namespace, rawName: unknown, body: Record<string, unknown>) {
    const name = checkAuthorizerName(rawName);
    const now = this.now();
    const row: AuthorizerRow = {
      name,
      functionArn: checkFunctionArn(body.authorizerFunctionArn, true)!,
      tokenKeyName: optionalTokenKeyName(body.tokenKeyName) ?? null,
      tokenSigningPublicKeys: optionalSigningKeys(body.tokenSigningPublicKeys) ?? {},
      status: optionalStatus(body.status) ?? ACTIVE_STATUS,
      signingDisabled: optionalBoolean('signingDisabled', body.signingDisabled) ?? false,
      enableCachingForHttp: optionalBoolean('enableCachingForHttp', body.enableCachingForHttp) ?? false,
      createdAt: now,
      lastModified: now,
    };
    const tags = checkTags(body.tags);
    checkConfiguration(row);
    const arn = authorizerArn(ns, name);
    const taken = () => alreadyExists(`Authorizer ${name} already exists`, name, arn);
    if (this.store.authorizer(ns, name)) throw taken();
    // The count and the insert as one, against creates at once here or on other nodes.
    await this.store.sql.exclusive(`authorizers:${ns.accountId}:${ns.region}`, async () => {
      if ((await this.store.count(ns)) >= MAX_AUTHORIZERS) {
        throw limitExceeded(
          `You have reached the maximum number of authorizers (${MAX_AUTHORIZERS}) in ${ns.region} for account ${ns.accountId}`,
        );
      }
      // The authorizer and its tags in one transaction; the key decides between two creates at once.
      if (!(await this.store.insert(ns, row, tags.length ? (this.opts.tags?.putting(arn, tags) ?? []) : []))) throw taken();
    });
    return { authorizerName: name, authorizerArn: arn };
  }

  describe(ns: Namespace, rawName: unknown) {
    const name = checkAuthorizerName(rawName);
    return { authorizerDescription: this.describeRow(ns, this.get(ns, name)) };
  }

  list(ns: Namespace, q: Record<string, string | undefined>) {
    const status = optionalStatus(q.status);
    const all = this.store.authorizers(ns, status);
    if (parseBool(q.isAscendingOrder, 'isAscendingOrder') === false) all.reverse();
    const page = pageOf(all, pageSize(q.pageSize, 'pageSize', 250), q.marker, 'marker');
    return {
      authorizers: page.items.map((a) => ({ authorizerName: a.name, authorizerArn: authorizerArn(ns, a.name) })),
      nextMarker: page.next,
    };
  }

  async update(ns: Namespace, rawName: unknown, body: Record<string, unknown>) {
    const name = checkAuthorizerName(rawName);
    const functionArn = checkFunctionArn(body.authorizerFunctionArn, false);
    const tokenKeyName = optionalTokenKeyName(body.tokenKeyName);
    const keys = optionalSigningKeys(body.tokenSigningPublicKeys);
    const status = optionalStatus(body.status);
    const caching = optionalBoolean('enableCachingForHttp', body.enableCachingForHttp);
    // UpdateAuthorizer has no signingDisabled member; a raw request that sends one may not flip it.
    const signingDisabled = optionalBoolean('signingDisabled', body.signingDisabled);
    await untilApplied(`Authorizer ${name}`, async () => {
      const current = this.get(ns, name);
      if (signingDisabled !== undefined && signingDisabled !== current.signingDisabled) {
        throw invalidRequest('signingDisabled cannot be changed after the authorizer is created; create a new authorizer instead');
      }
      const next: AuthorizerRow = {
        ...current,
        functionArn: functionArn ?? current.functionArn,
        tokenKeyName: tokenKeyName ?? current.tokenKeyName,
        tokenSigningPublicKeys: keys ?? current.tokenSigningPublicKeys,
        status: status ?? current.status,
        enableCachingForHttp: caching ?? current.enableCachingForHttp,
        lastModified: this.now(),
      };
      checkConfiguration(next);
      return this.store.update(ns, current, next);
    });
    this.opts.changed?.(ns, name);
    return { authorizerName: name, authorizerArn: authorizerArn(ns, name) };
  }

  async delete(ns: Namespace, rawName: unknown): Promise<Record<string, never>> {
    const name = checkAuthorizerName(rawName);
    await untilApplied(`Authorizer ${name}`, async () => {
      const a = this.get(ns, name);
      // The AWS CLI documents it: "A custom authorizer must be in the INACTIVE state before you can delete it."
      if (a.status === ACTIVE_STATUS) throw deleteConflict(`Authorizer ${name} is ACTIVE; set its status to INACTIVE before deleting it`);
      if (this.store.defaultName(ns) === name)
        throw deleteConflict(`Authorizer ${name} is the default authorizer; clear the default authorizer before deleting it`);
      const domains = this.opts.domainsUsing?.(ns, name) ?? [];
      if (domains.length) {
        throw deleteConflict(
          `Authorizer ${name} is the default authorizer of domain configuration ${domains.join(', ')}; change or remove their authorizerConfig first`,
        );
      }
      // The authorizer and its tags in one transaction, only while it is as checked here.
      return this.store.delete(ns, a, this.opts.tags?.removing(authorizerArn(ns, name)) ?? []);
    });
    this.opts.changed?.(ns, name);
    return {};
  }

  async setDefault(ns: Namespace, body: Record<string, unknown>) {
    const name = checkAuthorizerName(body.authorizerName);
    this.get(ns, name);
    // Copied from the authorizer's row: nothing is set when it is gone meanwhile.
    if (!(await this.store.setDefault(ns, name))) throw notFound(`Authorizer ${name} does not exist`);
    return { authorizerName: name, authorizerArn: authorizerArn(ns, name) };
  }

  describeDefault(ns: Namespace) {
    const name = this.store.defaultName(ns);
    const a = name === undefined ? undefined : this.store.authorizer(ns, name);
    if (!a) throw notFound('No default authorizer is set');
    return { authorizerDescription: this.describeRow(ns, a) };
  }

  async clearDefault(ns: Namespace): Promise<Record<string, never>> {
    if (!(await this.store.clearDefault(ns))) throw notFound('No default authorizer is set');
    return {};
  }

  /** TestInvokeAuthorizer: runs the authorizer on the given credentials and returns the function's answer. */
  async testInvoke(ns: Namespace, rawName: unknown, body: Record<string, unknown>) {
    const name = checkAuthorizerName(rawName);
    const req = testRequest(ns, name, body);
    const row = this.get(ns, name);
    let evaluation: Evaluation;
    try {
      evaluation = await this.evaluate(ns, row, req);
    } catch (err) {
      if (!(err instanceof AuthFailure)) throw err;
      if (err.kind === 'request' || err.kind === 'signature') throw invalidRequest(err.message);
      throw new AwsError('InvalidResponseException', 400, err.message);
    }
    const r = evaluation.result;
    return {
      isAuthenticated: r.isAuthenticated,
      ...(r.principalId === undefined ? {} : { principalId: r.principalId }),
      policyDocuments: r.policyDocuments,
      ...(r.refreshAfterInSeconds === undefined ? {} : { refreshAfterInSeconds: r.refreshAfterInSeconds }),
      ...(r.disconnectAfterInSeconds === undefined ? {} : { disconnectAfterInSeconds: r.disconnectAfterInSeconds }),
    };
  }

  // ---- data plane ------------------------------------------------------------------------------

  /** Authenticates a client through a custom authorizer. Never throws: every failure is a refusal with a reason. */
  async authenticate(req: CustomAuthRequest): Promise<CustomAuthOutcome> {
    const refuse = (reason: string, extra: Record<string, unknown> = {}): CustomAuthOutcome => {
      this.log.info(
        { connectionId: req.connectionId, authorizer: req.authorizerName ?? '(default)', ...extra },
        `custom authorizer refused the connection: ${reason}`,
      );
      return { ok: false, reason };
    };
    try {
      const found = this.resolve(req);
      if (typeof found === 'string') return refuse(found);
      const { ns, row } = found;
      const where = { authorizer: row.name, ns: nsText(ns) };
      if (row.status !== ACTIVE_STATUS) return refuse(`authorizer ${row.name} is ${row.status}`, where);
      let evaluation: Evaluation;
      try {
        evaluation = await this.evaluate(ns, row, req);
      } catch (err) {
        if (err instanceof AuthFailure) return refuse(err.message, where);
        throw err;
      }
      const r = evaluation.result;
      if (!r.isAuthenticated)
        return refuse(evaluation.reason ?? `the authorizer function of ${row.name} answered isAuthenticated: false`, where);
      return {
        ok: true,
        ns,
        authorizerName: row.name,
        principalId: r.principalId!,
        policyDocuments: r.documents,
        variables: evaluation.variables,
        ...(r.disconnectAfterInSeconds === undefined ? {} : { disconnectAfterSeconds: r.disconnectAfterInSeconds }),
        ...(r.refreshAfterInSeconds === undefined ? {} : { refreshAfterSeconds: r.refreshAfterInSeconds }),
      };
    } catch (err) {
      this.log.error({ err, connectionId: req.connectionId }, 'custom authorizer failed');
      return { ok: false, reason: 'internal error while running the custom authorizer' };
    }
  }

  /** The authorizer a request means, or why there is none. */
  private resolve(req: CustomAuthRequest): { ns: Namespace; row: AuthorizerRow } | string {
    const name = req.authorizerName;
    if (name !== undefined) {
      if (name.length === 0 || name.length > 128 || !/^[\w=,@-]+$/.test(name)) return `"${name}" is not a valid authorizer name`;
      if (req.ns) {
        const row = this.store.authorizer(req.ns, name);
        return row ? { ns: req.ns, row } : `authorizer ${name} does not exist in ${nsText(req.ns)}`;
      }
      return this.unique(this.store.byName(name), `authorizer ${name}`);
    }
    if (req.ns) {
      const dflt = this.store.defaultName(req.ns);
      const row = dflt === undefined ? undefined : this.store.authorizer(req.ns, dflt);
      return row ? { ns: req.ns, row } : `no authorizer was named and ${nsText(req.ns)} has no default authorizer`;
    }
    const candidates = this.store.defaults().flatMap(({ ns, name: n }) => {
      const row = this.store.authorizer(ns, n);
      return row ? [{ ns, row }] : [];
    });
    return this.unique(candidates, 'the default authorizer');
  }

  /**
   * One match across namespaces. Only ACTIVE authorizers compete (an INACTIVE namesake elsewhere must
   * not lock a working one out); more than one ACTIVE match is ambiguous and refused rather than guessed.
   */
  private unique(matches: Array<{ ns: Namespace; row: AuthorizerRow }>, what: string): { ns: Namespace; row: AuthorizerRow } | string {
    if (matches.length === 0)
      return what === 'the default authorizer' ? 'no authorizer was named and no default authorizer is set' : `${what} does not exist`;
    const active = matches.filter((m) => m.row.status === ACTIVE_STATUS);
    if (active.length > 1) {
      // The reason may reach the client (CONNACK reason string): other accounts' ids go to the log only.
      this.log.info({ namespaces: active.map((m) => nsText(m.ns)) }, `${what} exists in several namespaces`);
      return `${what} is ambiguous: it exists in ${active.length} namespaces; connect through an endpoint of one namespace`;
    }
    return active[0] ?? matches[0]!;
  }

  /** Signature check, then the function; throws AuthFailure when the function's answer cannot be had. */
  private async evaluate(ns: Namespace, row: AuthorizerRow, req: CustomAuthRequest): Promise<Evaluation> {
    let fn: AuthorizerFunction;
    try {
      fn = parseFunctionTarget(row.functionArn);
    } catch (err) {
      throw new AuthFailure('function', (err as Error).message);
    }
    const token = req.token ?? (row.tokenKeyName === null ? undefined : findParameter(req, row.tokenKeyName));
    let signatureVerified = false;
    if (!row.signingDisabled) {
      if (token === undefined) throw new AuthFailure('request', `no token: authorizer ${row.name} expects it as "${row.tokenKeyName}"`);
      const signature = req.tokenSignature ?? findParameter(req, SIGNATURE_PARAMETER);
      if (signature === undefined)
        throw new AuthFailure('request', `no token signature (${SIGNATURE_PARAMETER}): authorizer ${row.name} has signing enabled`);
      if (!verifyTokenSignature(token, signature, row.tokenSigningPublicKeys, secretEntries(fn))) {
        throw new AuthFailure(
          'signature',
          `the token signature does not verify against any tokenSigningPublicKeys of authorizer ${row.name}`,
        );
      }
      signatureVerified = true;
    }
    switch (fn.kind) {
      case 'lambda':
        throw new AuthFailure(
          'function',
          `Thicket cannot invoke Lambda function ${fn.arn}; point authorizer ${row.name} at an https:// webhook or ${JWT_SCHEME}?… instead`,
        );
      case 'webhook': {
        const event = buildAuthorizerEvent({
          token,
          signatureVerified,
          protocols: req.protocols,
          tls: req.tls,
          http: req.http,
          mqtt: req.mqtt,
          connectionId: req.connectionId,
        });
        let answer: unknown;
        try {
          answer = await invokeWebhook(fn.url, event, {
            timeoutMs: this.opts.webhookTimeoutMs ?? DEFAULT_WEBHOOK_TIMEOUT_MS,
            authorizerArn: authorizerArn(ns, row.name),
          });
        } catch (err) {
          if (err instanceof WebhookError) throw new AuthFailure('function', `authorizer ${row.name}: ${err.message}`);
          throw err;
        }
        try {
          return { result: parseAuthorizerResponse(answer), variables: {}, reason: undefined };
        } catch (err) {
          if (err instanceof InvalidAuthorizerResponse)
            throw new AuthFailure('response', `authorizer ${row.name} answered invalidly: ${err.message}`);
          throw err;
        }
      }
      case 'jwt': {
        // Without a token parameter the JWT may come as the MQTT password or an HTTP bearer token.
        const jwt = token ?? req.mqtt?.password?.toString('utf8') ?? bearerToken(req.http?.headers);
        const outcome = await runJwtFunction(
          { ns, config: fn.config, token: jwt, keys: row.tokenSigningPublicKeys },
          { jwks: this.jwks, policyDocumentsFor: this.opts.policyDocumentsFor, now: this.now },
        );
        if (outcome.ok) return { result: outcome.result, variables: outcome.variables, reason: undefined };
        return {
          result: {
            isAuthenticated: false,
            principalId: undefined,
            policyDocuments: [],
            documents: [],
            disconnectAfterInSeconds: undefined,
            refreshAfterInSeconds: undefined,
          },
          variables: {},
          reason: `authorizer ${row.name}: ${outcome.reason}`,
        };
      }
    }
  }
}

// ---- TestInvokeAuthorizer input -------------------------------------------------------------------

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function optionalText(member: string, value: unknown, max: number, pattern?: RegExp, patternText?: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') return constraint(member, value, 'Member must be a string');
  if (value.length === 0) constraint(member, value, 'Member must have length greater than or equal to 1');
  if (value.length > max) constraint(member, `${value.slice(0, 40)}...`, `Member must have length less than or equal to ${max}`);
  if (pattern && !pattern.test(value)) constraint(member, value, `Member must satisfy regular expression pattern: ${patternText}`);
  return value;
}

function context(member: string, value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (!isObject(value)) return constraint(member, JSON.stringify(value), 'Member must be a structure');
  return value;
}

/** The user name's query parameters, split off as the broker splits them. */
function usernameQueryOf(username: string | undefined): Record<string, string> {
  const q = username?.lastIndexOf('?') ?? -1;
  const out: Record<string, string> = {};
  if (q >= 0) for (const [k, v] of new URLSearchParams(username!.slice(q + 1))) out[k] = v;
  return out;
}

/** A CustomAuthRequest from the TestInvokeAuthorizer body (limits from the API reference). */
function testRequest(ns: Namespace, name: string, body: Record<string, unknown>): CustomAuthRequest {
  const token = optionalText('token', body.token, 6144);
  const tokenSignature = optionalText('tokenSignature', body.tokenSignature, 2560, /^[A-Za-z0-9+/]+={0,2}$/, '[A-Za-z0-9+/]+={0,2}');
  const httpContext = context('httpContext', body.httpContext);
  const mqttContext = context('mqttContext', body.mqttContext);
  const tlsContext = context('tlsContext', body.tlsContext);
  const req: CustomAuthRequest = { authorizerName: name, ns, token, tokenSignature, protocols: [], connectionId: randomUUID() };
  if (tlsContext) {
    const serverName = optionalText('tlsContext.serverName', tlsContext.serverName, 253);
    req.tls = serverName === undefined ? {} : { serverName };
    req.protocols.push('tls');
  }
  if (httpContext) {
    const headers: Record<string, string> = {};
    const raw = httpContext.headers ?? {};
    if (!isObject(raw)) constraint('httpContext.headers', JSON.stringify(raw), 'Member must be a map of strings');
    for (const [k, v] of Object.entries(raw)) {
      if (typeof v !== 'string') constraint(`httpContext.headers.${k}`, v, 'Member must be a string');
      headers[k.toLowerCase()] = v;
    }
    const queryString = optionalText('httpContext.queryString', httpContext.queryString, 4096) ?? '';
    req.http = { headers, queryString: queryString === '' || queryString.startsWith('?') ? queryString : `?${queryString}` };
    req.protocols.push('http');
  }
  if (mqttContext) {
    const username = optionalText('mqttContext.username', mqttContext.username, 65535);
    const clientId = optionalText('mqttContext.clientId', mqttContext.clientId, 65535) ?? '';
    let password: Buffer | undefined;
    if (mqttContext.password !== undefined && mqttContext.password !== null) {
      // A blob inside JSON: base64 (reference controlplane §1.1).
      if (typeof mqttContext.password !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(mqttContext.password)) {
        constraint('mqttContext.password', mqttContext.password, 'Member must be base64-encoded binary data');
      }
      password = Buffer.from(mqttContext.password as string, 'base64');
    }
    req.mqtt = { clientId, ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) };
    req.usernameQuery = usernameQueryOf(username);
    req.protocols.push('mqtt');
  }
  return req;
}
