/**
 * The function registry: what AWS rules call Lambda functions for (the `lambda` action,
 * `aws_lambda()`) runs here as a registered function of an account and region, an HTTP(S) endpoint
 * or a JavaScript module on the server's disk. Registering a module runs code on the server, so
 * only a caller the routes vouch for (a root key) may do it. A URL function makes the server send
 * requests and hand back the answers, so its URL needs the consent the http rule action needs (a
 * trusted prefix or an ENABLED topic rule destination), checked again at each call.
 */
import { randomUUID } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { extname, isAbsolute, normalize } from 'node:path';
import type { Logger } from 'pino';
import type { Namespace } from '../accounts/namespace.js';
import { AwsError, invalidRequest, notFound } from '../aws/errors.js';
import { decodeToken, encodeToken, pageSize } from '../api/pagination.js';
import { checkFunctionName, functionArn, resolveFunctionRef } from './function-names.js';
import { FunctionError, MAX_EVENT_BYTES, type InvocationContext } from './function-error.js';
import type { FunctionRow, FunctionStore } from './function-store.js';
import { UrlInvoker } from './http-invoker.js';
import { ModuleInvoker } from './module-invoker.js';

export const DEFAULT_TIMEOUT_SECONDS = 3;
export const MAX_TIMEOUT_SECONDS = 900;
export const DEFAULT_MEMORY_MB = 128;
export const MIN_MEMORY_MB = 128;
export const MAX_MEMORY_MB = 10_240;
const MODULE_EXTENSIONS = ['.js', '.mjs', '.cjs'];
const MAX_MODULE_BYTES = 50 * 1024 * 1024;

/** Who registers: modules need `mayRunCode` (a root key); `why` says why not, for the refusal. */
export interface RegisterCaller {
  ns: Namespace;
  mayRunCode: boolean;
  why: string;
}

export interface FunctionView {
  functionName: string;
  functionArn: string;
  kind: 'url' | 'module';
  url?: string;
  module?: string;
  description: string;
  timeout: number;
  memorySize?: number;
  createdAt: number;
  lastModified: number;
}

export interface InvokeOptions {
  /** Stop waiting after this long: a URL function's request is aborted, a module's event runs on to its own timeout. */
  maxWaitMs?: number;
}

export interface FunctionsOptions {
  /** Whether functions of `ns` may call `url` (a trusted URL prefix, or an ENABLED topic rule destination of the account). */
  urlAllowed(ns: Namespace, url: string): boolean;
}

function violation(field: string, value: unknown, constraint: string): never {
  const shown = value === undefined || value === null ? 'null' : `'${typeof value === 'string' ? value : JSON.stringify(value)}'`;
  throw invalidRequest(`1 validation error detected: Value ${shown} at '${field}' failed to satisfy constraint: ${constraint}`);
}

function integer(body: Record<string, unknown>, field: string, min: number, max: number, fallback: number): number {
  const v = body[field];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v)) violation(field, v, 'Member must be an integer');
  if (v < min) violation(field, v, `Member must have value greater than or equal to ${min}`);
  if (v > max) violation(field, v, `Member must have value less than or equal to ${max}`);
  return v;
}

function checkUrl(v: unknown): string {
  if (typeof v !== 'string') violation('url', v, 'Member must be a string');
  if (v.length > 2048) violation('url', v, 'Member must have length less than or equal to 2048');
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    throw invalidRequest(`url '${v}' is not a valid URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw invalidRequest(`url must be an http:// or https:// URL, not ${url.protocol}`);
  if (url.username || url.password) throw invalidRequest('url must not carry credentials; the function endpoint sees only the event');
  return url.toString();
}

/** A module path must name an existing JavaScript file on the server, written plainly (absolute, normalized). */
function checkModulePath(v: unknown): string {
  if (typeof v !== 'string') violation('module', v, 'Member must be a string');
  if (v.length === 0 || v.length > 4096) violation('module', v, 'Member must have length between 1 and 4096');
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(v)) throw invalidRequest('module must not contain control characters');
  if (!isAbsolute(v)) throw invalidRequest(`module must be an absolute path on the server, not '${v}'`);
  if (normalize(v) !== v) throw invalidRequest(`module must be a normalized path (no '..', '.' or repeated '/'), not '${v}'`);
  if (!MODULE_EXTENSIONS.includes(extname(v)))
    throw invalidRequest(`module must be a JavaScript file (${MODULE_EXTENSIONS.join(', ')}), not '${v}'`);
  let real: string;
  try {
    real = realpathSync(v);
  } catch {
    throw invalidRequest(`module ${v} does not exist on the server`);
  }
  const st = statSync(real);
  if (!st.isFile()) throw invalidRequest(`module ${v} is not a regular file`);
  if (!MODULE_EXTENSIONS.includes(extname(real))) throw invalidRequest(`module ${v} leads to ${real}, which is not a JavaScript file`);
  if (st.size > MAX_MODULE_BYTES) throw invalidRequest(`module ${v} is larger than ${MAX_MODULE_BYTES} bytes`);
  return real;
}

export class Functions {
  private readonly modules: ModuleInvoker;
  private readonly urls = new UrlInvoker();

  constructor(
    private readonly store: FunctionStore,
    log: Logger,
    private readonly opts: FunctionsOptions,
  ) {
    this.modules = new ModuleInvoker(log);
  }

  private view(f: FunctionRow): FunctionView {
    return {
      functionName: f.name,
      functionArn: functionArn(f.ns, f.name),
      kind: f.kind,
      ...(f.kind === 'url' ? { url: f.target } : { module: f.target, memorySize: f.memoryMb }),
      description: f.description,
      timeout: f.timeoutSeconds,
      createdAt: f.createdAt / 1000,
      lastModified: f.updatedAt / 1000,
    };
  }

  private row(ns: Namespace, name: string | undefined): FunctionRow {
    const n = checkFunctionName(name);
    const f = this.store.get(ns, n);
    if (!f) throw notFound(`Function not found: ${functionArn(ns, n)}`);
    return f;
  }

  /** Creates or replaces a function. */
  async register(caller: RegisterCaller, name: string | undefined, body: Record<string, unknown>): Promise<{ function: FunctionView }> {
    const ns = caller.ns;
    const n = checkFunctionName(name);
    const hasUrl = body.url !== undefined && body.url !== null;
    const hasModule = body.module !== undefined && body.module !== null;
    if (hasUrl === hasModule)
      throw invalidRequest('Give exactly one of url (an HTTP(S) endpoint) and module (a JavaScript file on the server)');
    if (hasModule && !caller.mayRunCode) throw new AwsError('AccessDeniedException', 403, caller.why);
    const description = body.description ?? '';
    if (typeof description !== 'string') violation('description', description, 'Member must be a string');
    if (description.length > 256) violation('description', description, 'Member must have length less than or equal to 256');
    const timeoutSeconds = integer(body, 'timeout', 1, MAX_TIMEOUT_SECONDS, DEFAULT_TIMEOUT_SECONDS);
    const memoryMb = integer(body, 'memorySize', MIN_MEMORY_MB, MAX_MEMORY_MB, DEFAULT_MEMORY_MB);
    const target = hasUrl ? checkUrl(body.url) : checkModulePath(body.module);
    if (hasUrl && !this.opts.urlAllowed(ns, target)) {
      throw invalidRequest(
        `url '${target}' is not one this server may call for account ${ns.accountId}: it must start with a URL prefix the operator trusts (config rules.trustedUrlPrefixes) or fall under the confirmation URL of an ENABLED topic rule destination of the account (CreateTopicRuleDestination, then ConfirmTopicRuleDestination with the token sent to that URL)`,
      );
    }
    const now = Date.now();
    // One upsert: a function registered again keeps its creation time (whichever node registered it first).
    const row = await this.store.put({
      ns,
      name: n,
      kind: hasUrl ? 'url' : 'module',
      target,
      description,
      timeoutSeconds,
      memoryMb,
      revision: randomUUID(),
      createdAt: now,
      updatedAt: now,
    });
    this.modules.forget(this.key(ns, n));
    return { function: this.view(row) };
  }

  get(ns: Namespace, name: string | undefined): { function: FunctionView } {
    return { function: this.view(this.row(ns, name)) };
  }

  list(ns: Namespace, query: Record<string, string | undefined>): { functions: FunctionView[]; nextToken?: string } {
    const size = pageSize(query.maxResults, 'maxResults', 1000, 50);
    const after = decodeToken<string>(query.nextToken, 'nextToken');
    const rows = this.store.list(ns, after, size + 1);
    const page = rows.slice(0, size);
    const out: { functions: FunctionView[]; nextToken?: string } = { functions: page.map((f) => this.view(f)) };
    if (rows.length > size) out.nextToken = encodeToken(page[page.length - 1]!.name);
    return out;
  }

  async delete(ns: Namespace, name: string | undefined): Promise<Record<string, never>> {
    const f = this.row(ns, name);
    await this.store.delete(ns, f.name);
    this.modules.forget(this.key(ns, f.name));
    return {};
  }

  /**
   * Invokes a function of `ns`, by name or ARN, with `event` (any JSON value); resolves to its result.
   * Throws FunctionError: `ResourceNotFoundException`, `AccessDeniedException` (another account's
   * or region's function), or what the invocation failed with.
   */
  async invoke(ns: Namespace, ref: string, event: unknown, opts: InvokeOptions = {}): Promise<unknown> {
    const r = resolveFunctionRef(ns, ref);
    if ('refused' in r) throw new FunctionError('AccessDeniedException', r.refused);
    const f = this.store.get(ns, r.name);
    if (!f) throw new FunctionError('ResourceNotFoundException', `Function not found: ${functionArn(ns, r.name)}`);
    const text = JSON.stringify(event ?? null);
    if (Buffer.byteLength(text) > MAX_EVENT_BYTES)
      throw new FunctionError('RequestTooLargeException', `The event is larger than ${MAX_EVENT_BYTES} bytes`);
    const ctx: InvocationContext = {
      functionName: f.name,
      functionArn: functionArn(ns, f.name),
      requestId: randomUUID(),
      timeoutMs: f.timeoutSeconds * 1000,
      memoryMb: f.memoryMb,
    };
    if (f.kind === 'url') {
      // Checked again here: a destination disabled or deleted since registration withdraws the consent.
      if (!this.opts.urlAllowed(ns, f.target)) {
        throw new FunctionError(
          'Function.UrlNotAllowed',
          `The function's url ${f.target} is no longer under a trusted URL prefix or an ENABLED topic rule destination of account ${ns.accountId}; it is not called until one covers it again`,
        );
      }
      return this.urls.invoke(this.key(ns, f.name), f.target, text, ctx, opts.maxWaitMs);
    }
    const run = this.modules.invoke(
      {
        key: this.key(ns, f.name),
        revision: f.revision,
        path: f.target,
        name: f.name,
        arn: ctx.functionArn,
        region: ns.region,
        memoryMb: f.memoryMb,
      },
      text,
      ctx,
    );
    // The event runs on in its process to the function's own timeout: stopping it would kill a warm instance.
    const wait = opts.maxWaitMs;
    if (wait === undefined || wait >= ctx.timeoutMs) return run;
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new FunctionError('Sandbox.Timedout', `The function did not answer within ${(wait / 1000).toFixed(2)} seconds`)),
        wait,
      );
    });
    run.catch(() => {});
    try {
      return await Promise.race([run, budget]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Running module processes of a function (tests). */
  instances(ns: Namespace, name: string): number {
    return this.modules.instances(this.key(ns, name));
  }

  private key(ns: Namespace, name: string): string {
    return `${ns.accountId}/${ns.region}/${name}`;
  }

  /**
   * Reads the functions again (another node sharing the database changed them); warm module
   * instances of a function deleted or registered again there are retired.
   */
  async reload(): Promise<void> {
    const before = new Map(this.store.all().map((f) => [this.key(f.ns, f.name), f.revision]));
    await this.store.reload();
    const after = new Map(this.store.all().map((f) => [this.key(f.ns, f.name), f.revision]));
    for (const [key, revision] of before) if (after.get(key) !== revision) this.modules.forget(key);
  }

  /** Test-mode reset (on SQLite the table is cleared inside the platform's transaction). */
  clear(): Promise<void> {
    const cleared = this.store.clear();
    this.modules.stop();
    return cleared;
  }

  /** Stops every module process (server stop). */
  stop(): void {
    this.modules.stop();
  }
}
