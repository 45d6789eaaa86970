/**
 * `http`: POSTs the rule's output to a URL (a substitution template) with templated headers and,
 * optionally, a SigV4 signature (reference controlplane §4.9, "HTTP action specifics"). The URL
 * must fall under an ENABLED topic rule destination: `confirmationUrl` (the URL itself when absent)
 * names the destination, and the rendered URL must start with it. Saving a rule creates the
 * destination of a literal confirmation URL when it has none, as AWS does.
 *
 * `enableBatching` gathers messages into one POST of a JSON array (http-batcher.ts): a batch is per
 * action, rendered URL, rendered headers and (unless `batchConfig.batchAcrossTopics`) topic; the
 * batch is signed, sent and retried as one request, and each of its messages succeeds or fails with
 * it (a failure runs the error action once per message, with the batch's error).
 *
 * Differences from AWS: plain `http://` URLs are allowed; with batching, messages whose rendered
 * headers differ go in different batches (AWS sends a batch with the headers of the last message
 * added), and the error action gets one error document per message, not one listing the batch's
 * messages (`payloadsWithMetadata`).
 */
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { CompiledTemplate } from '@thicket/iot-sql';
import type { Namespace } from '../../accounts/namespace.js';
import { invalidRequest } from '../../aws/errors.js';
import { hasControlCharacter, urlProblem, urlUnder } from '../destinations/urls.js';
import { DEFAULT_BATCH_LIMITS, HttpBatcher, batchElement, type BatchLimits } from './http-batcher.js';
import { DeliveryError, MAX_TRIES, postWithRetries } from './http-request.js';
import {
  ActionError,
  nested,
  optionalBoolean,
  optionalInteger,
  optionalList,
  optionalObject,
  optionalString,
  requiredString,
  type ActionBuild,
  type ActionKind,
  type ActionMessage,
  type ActionServices,
  type RoleCredentials,
} from './types.js';

const MAX_URL = 2000;
/** One try's budget; three tries and their backoff stay well under the 20 s a failure may take. */
const REQUEST_TIMEOUT_MS = 4000;
const HEADER_KEY = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Header values may not break the request apart (CR, LF) or carry other control characters (a tab is fine). */
const badHeaderValue = (v: string): boolean => hasControlCharacter(v, true);
/** Headers the HTTP client owns: a rule setting them could smuggle a second request or lie about the body. */
const RESERVED_HEADERS = new Set(['host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer']);
/** Renewed this long before the role credentials expire. */
const CREDENTIALS_MARGIN_MS = 5 * 60 * 1000;

const templated = (text: string): boolean => text.includes('${');

/** Where one request goes: the rendered URL, parsed, and the rendered headers. */
interface Request {
  target: string;
  url: URL;
  headers: Record<string, string>;
}

interface Batching {
  limits: BatchLimits;
  acrossTopics: boolean;
}

interface SigV4 {
  signingRegion: string;
  serviceName: string;
  roleArn: string;
}

function checkLiteralUrl(b: ActionBuild, field: string, text: string): void {
  const problem = urlProblem(text);
  if (problem) throw invalidRequest(`The ${field} '${text}' in ${b.path}.${field} is not valid: ${problem}`);
}

export const http: ActionKind = {
  key: 'http',
  awsName: 'HttpAction',
  build(b) {
    const urlText = requiredString(b, 'url', MAX_URL);
    const confText = optionalString(b, 'confirmationUrl', MAX_URL);
    if (templated(urlText) && confText === undefined) {
      throw invalidRequest(
        `${b.path}.confirmationUrl is required when the url has a substitution template: it names the topic rule destination the url must start with`,
      );
    }
    if (!templated(urlText)) checkLiteralUrl(b, 'url', urlText);
    if (confText !== undefined && !templated(confText)) {
      checkLiteralUrl(b, 'confirmationUrl', confText);
      const under = templated(urlText) ? urlText.startsWith(confText) : urlUnder(urlText, confText);
      if (!under) throw invalidRequest(`The confirmationUrl '${confText}' must be a prefix of the url '${urlText}'`);
    }
    const url = b.template(urlText, 'url');
    const confirmation = confText !== undefined ? b.template(confText, 'confirmationUrl') : undefined;

    const headers: { key: string; value: CompiledTemplate }[] = [];
    (optionalList(b, 'headers', 100) ?? []).forEach((h, i) => {
      const hb = nested(b, `headers.${i + 1}.member`, (h ?? {}) as Record<string, unknown>);
      const key = requiredString(hb, 'key', 256);
      const value = requiredString(hb, 'value', 8192);
      if (!HEADER_KEY.test(key)) throw invalidRequest(`The header name '${key}' in ${hb.path}.key is not a valid HTTP header name`);
      if (RESERVED_HEADERS.has(key.toLowerCase()))
        throw invalidRequest(`The header '${key}' in ${hb.path}.key is set by Thicket and may not be given`);
      if (badHeaderValue(value))
        throw invalidRequest(`The value of header '${key}' in ${hb.path}.value contains CR, LF or another control character`);
      headers.push({ key, value: b.template(value, `headers.${i + 1}.value`) });
    });

    let sigv4: SigV4 | undefined;
    const auth = optionalObject(b, 'auth');
    if (auth) {
      const ab = nested(b, 'auth', auth);
      const s = optionalObject(ab, 'sigv4');
      if (s) {
        const sb = nested(ab, 'sigv4', s);
        sigv4 = {
          signingRegion: requiredString(sb, 'signingRegion', 64),
          serviceName: requiredString(sb, 'serviceName', 64),
          roleArn: requiredString(sb, 'roleArn', 2048),
        };
      }
    }

    const enableBatching = optionalBoolean(b, 'enableBatching');
    const limits = { ...DEFAULT_BATCH_LIMITS };
    let acrossTopics = false;
    const batchConfig = optionalObject(b, 'batchConfig');
    if (batchConfig) {
      const bb = nested(b, 'batchConfig', batchConfig);
      limits.maxBatchOpenMs = optionalInteger(bb, 'maxBatchOpenMs', 5, 200) ?? limits.maxBatchOpenMs;
      limits.maxBatchSize = optionalInteger(bb, 'maxBatchSize', 2, 10) ?? limits.maxBatchSize;
      limits.maxBatchSizeBytes = optionalInteger(bb, 'maxBatchSizeBytes', 100, 131072) ?? limits.maxBatchSizeBytes;
      acrossTopics = optionalBoolean(bb, 'batchAcrossTopics') ?? false;
    }
    const batching = enableBatching === true ? { limits, acrossTopics } : undefined;
    return new HttpRunner(b.ns, b.services, url, confirmation, headers, sigv4, batching);
  },
  async saved(b) {
    const url = b.config.url;
    const conf = b.config.confirmationUrl ?? url;
    if (typeof conf !== 'string' || templated(conf)) return;
    await b.services.destinations?.ensure(b.ns, conf);
  },
};

class HttpRunner {
  readonly resource: string;
  private credentials: RoleCredentials | undefined;
  private readonly batcher: HttpBatcher<Request> | undefined;

  constructor(
    private readonly ns: Namespace,
    private readonly services: ActionServices,
    private readonly url: CompiledTemplate,
    private readonly confirmation: CompiledTemplate | undefined,
    private readonly headers: { key: string; value: CompiledTemplate }[],
    private readonly sigv4: SigV4 | undefined,
    private readonly batching: Batching | undefined,
  ) {
    this.resource = url.text;
    if (batching) this.batcher = new HttpBatcher<Request>(batching.limits, (r, body) => this.deliver(r, body));
  }

  /** Sends what batches are open (the rule is replaced or deleted): their messages are not lost. */
  close(): void {
    this.batcher?.close();
  }

  async run(m: ActionMessage): Promise<void> {
    const target = await m.render(this.url);
    const problem = urlProblem(target);
    if (problem) throw new ActionError(`The url '${target}' is not valid: ${problem}`, target);
    const conf = this.confirmation ? await m.render(this.confirmation) : target;
    if (!urlUnder(target, conf)) throw new ActionError(`The url '${target}' does not start with the confirmationUrl '${conf}'`, target);
    this.checkDestination(conf, target);

    const headers: Record<string, string> = {};
    for (const h of this.headers) {
      const v = await m.render(h.value);
      if (badHeaderValue(v)) throw new ActionError(`The value of header '${h.key}' contains CR, LF or another control character`, target);
      headers[h.key.toLowerCase()] = v;
    }
    const request: Request = { target, url: new URL(target), headers };
    if (this.batcher) {
      // The body is a JSON array, so it is sent as JSON whatever content type a header gives (as AWS does).
      headers['content-type'] = 'application/json';
      const key = JSON.stringify([target, Object.entries(headers), this.batching!.acrossTopics ? '' : m.publishedTopic]);
      return this.batcher.add(key, request, batchElement(m.payload, m.json));
    }
    headers['content-type'] ??= m.json ? 'application/json' : 'application/octet-stream';
    return this.deliver(request, m.payload);
  }

  /** Signs (when asked) and POSTs one body, with retries; throws the ActionError it failed with. */
  private async deliver({ target, url: u, headers: given }: Request, body: Buffer): Promise<void> {
    const headers = { ...given };
    if (this.sigv4) Object.assign(headers, await this.sign(u, headers, body));
    try {
      await postWithRetries(u, headers, body, REQUEST_TIMEOUT_MS);
    } catch (err) {
      if (!(err instanceof DeliveryError))
        throw new ActionError(`HttpAction could not send to ${target}: ${(err as Error).message}`, target);
      const retries = err.tries - 1;
      const after =
        retries > 0 ? ` after ${retries} ${retries === 1 ? 'retry' : 'retries'}` : err.tries < MAX_TRIES ? ' (not retried)' : '';
      throw new ActionError(`HttpAction failed to make a request to the specified endpoint: ${err.message}${after}`, target);
    }
  }

  private checkDestination(conf: string, target: string): void {
    const destinations = this.services.destinations;
    const status = destinations?.status(this.ns, conf);
    if (status === 'ENABLED') return;
    if (status === undefined && destinations?.trusted(conf)) return;
    if (status === undefined) {
      throw new ActionError(`Destination not enabled: there is no topic rule destination for ${conf}; create and confirm one`, target);
    }
    throw new ActionError(`Destination not enabled: the topic rule destination for ${conf} is ${status}`, target);
  }

  private async sign(u: URL, headers: Record<string, string>, body: Buffer): Promise<Record<string, string>> {
    const s = this.sigv4!;
    const credentials = this.credentialsFor(s.roleArn, u.toString());
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of u.searchParams) {
      const had = query[k];
      query[k] = had === undefined ? v : Array.isArray(had) ? [...had, v] : [had, v];
    }
    const signer = new SignatureV4({ credentials, region: s.signingRegion, service: s.serviceName, sha256: Sha256 });
    const signed = await signer.sign({
      method: 'POST',
      protocol: u.protocol,
      hostname: u.hostname,
      port: u.port === '' ? undefined : Number(u.port),
      path: u.pathname,
      query,
      headers: { ...headers, host: u.host },
      body,
    });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(signed.headers)) if (k.toLowerCase() !== 'host') out[k.toLowerCase()] = v;
    return out;
  }

  /** The role's temporary credentials when it is a role of the account, else AWS's standard environment variables. */
  private credentialsFor(roleArn: string, target: string): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
    const now = Date.now();
    if (!this.credentials || this.credentials.expiresAt - CREDENTIALS_MARGIN_MS <= now) {
      this.credentials = this.services.roleCredentials?.(this.ns, roleArn);
    }
    if (this.credentials) return this.credentials;
    const env = process.env;
    if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
      return {
        accessKeyId: env.AWS_ACCESS_KEY_ID,
        secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
        ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
      };
    }
    throw new ActionError(
      `Cannot sign with SigV4: ${roleArn} is not a role of account ${this.ns.accountId}, and no AWS credentials are in the environment`,
      target,
    );
  }
}
