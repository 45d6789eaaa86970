/** Helpers of the functions tests: module files on disk, loopback HTTP functions, the functions API. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { adminRequest, type AccessKey } from '@thicket/server';
import { tempDir } from './helpers.js';

/** Writes `source` as an ESM module in a fresh directory; returns its absolute path. */
export function moduleFile(source: string, name = 'index.mjs', dir = tempDir('thicket-fn-')): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, source);
  return path;
}

/** What an HTTP function answers an event with; `hang` keeps the request open until release() or the caller gives up. */
export type Answer = (event: unknown) => { status?: number; body?: string; delayMs?: number } | 'hang';

export interface HttpFunction {
  url: string;
  /** The events received, parsed, with their headers and when they arrived. */
  received: { event: unknown; headers: IncomingMessage['headers']; at: number }[];
  /** When the caller of each hung request went away without an answer (ms since the epoch). */
  abandoned: number[];
  /** Resolves with the next event (or one already received and not yet taken). */
  next(timeoutMs?: number): Promise<{ event: unknown; headers: IncomingMessage['headers']; at: number }>;
  /** Answers every hung request: 200 with `{}`. */
  release(): void;
  close(): Promise<void>;
}

const echo: Answer = (event) => ({ body: JSON.stringify({ echo: event }) });

/**
 * A loopback server for HTTP functions, each on a path of its own, so that one trusted URL prefix
 * (`prefix`, for config `rules.trustedUrlPrefixes`) covers every function a test file adds.
 */
export class FunctionHost {
  private readonly routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  private readonly hung = new Set<ServerResponse>();
  private count = 0;

  private constructor(
    private readonly server: Server,
    readonly base: string,
  ) {}

  static async start(): Promise<FunctionHost> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const host = new FunctionHost(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const route = host.routes.get(new URL(req.url ?? '/', host.base).pathname);
      if (route) route(req, res);
      else res.writeHead(404).end();
    });
    return host;
  }

  /** The URL prefix of every function added here. */
  get prefix(): string {
    return `${this.base}/fn/`;
  }

  /** A function at `<prefix><n>` (or at `path`); `answer` computes the status and body for each event. */
  add(answer: Answer = echo, path = `/fn/${++this.count}`): HttpFunction {
    const received: HttpFunction['received'] = [];
    const abandoned: number[] = [];
    const hung: ServerResponse[] = [];
    let taken = 0;
    let wake: (() => void) | undefined;
    this.routes.set(path, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
        received.push({ event, headers: req.headers, at: Date.now() });
        wake?.();
        const a = answer(event);
        if (a === 'hang') {
          hung.push(res);
          this.hung.add(res);
          res.on('close', () => {
            this.hung.delete(res);
            if (!res.writableFinished) abandoned.push(Date.now());
          });
          return;
        }
        setTimeout(() => {
          res.writeHead(a.status ?? 200, { 'content-type': 'application/json' });
          res.end(a.body ?? '');
        }, a.delayMs ?? 0);
      });
    });
    return {
      url: `${this.base}${path}`,
      received,
      abandoned,
      async next(timeoutMs = 3000) {
        const deadline = Date.now() + timeoutMs;
        while (taken >= received.length) {
          const left = deadline - Date.now();
          if (left <= 0) throw new Error(`no event within ${timeoutMs} ms`);
          await new Promise<void>((r) => {
            const t = setTimeout(r, left);
            wake = () => {
              clearTimeout(t);
              r();
            };
          });
        }
        return received[taken++]!;
      },
      release() {
        for (const res of hung.splice(0)) if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      },
      close: async () => {
        this.routes.delete(path);
      },
    };
  }

  async close(): Promise<void> {
    for (const res of this.hung) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A loopback HTTP function on a server of its own, at `<base>/fn`. */
export async function httpFunction(answer: Answer = echo): Promise<HttpFunction> {
  const host = await FunctionHost.start();
  return { ...host.add(answer, '/fn'), close: () => host.close() };
}

export interface FunctionsApi {
  register(name: string, body: Record<string, unknown>, key?: AccessKey): Promise<{ function: Record<string, unknown> }>;
  get(name: string, key?: AccessKey): Promise<{ function: Record<string, unknown> }>;
  list(key?: AccessKey): Promise<{ functions: Record<string, unknown>[] }>;
  remove(name: string, key?: AccessKey): Promise<unknown>;
  invoke(name: string, event: unknown, key?: AccessKey): Promise<InvokeAnswer>;
}

export interface InvokeAnswer {
  functionArn: string;
  result?: unknown;
  functionError?: string;
  error?: { errorType: string; errorMessage: string };
}

export function functionsApi(endpoint: string, defaultKey: AccessKey, region = 'us-east-1'): FunctionsApi {
  const call = <T>(method: 'GET' | 'PUT' | 'DELETE' | 'POST', path: string, key: AccessKey | undefined, body?: unknown) =>
    adminRequest<T>({ endpoint, region, credentials: key ?? defaultKey, method, path, body });
  const p = (name: string) => `/_thicket/functions/${encodeURIComponent(name)}`;
  return {
    register: (name, body, key) => call('PUT', p(name), key, body),
    get: (name, key) => call('GET', p(name), key),
    list: (key) => call('GET', '/_thicket/functions', key),
    remove: (name, key) => call('DELETE', p(name), key),
    invoke: (name, event, key) => call('POST', `${p(name)}/invocations`, key, event),
  };
}

/** The message a request that must fail failed with. */
export async function failure(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('expected the request to fail');
}
