/** Helpers of the functions tests: module files on disk, a loopback HTTP function, the functions API. */
import { createServer, type IncomingMessage, type Server } from 'node:http';
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

export interface HttpFunction {
  url: string;
  /** The events received, parsed, with their headers. */
  received: { event: unknown; headers: IncomingMessage['headers'] }[];
  /** Resolves with the next event (or one already received and not yet taken). */
  next(timeoutMs?: number): Promise<{ event: unknown; headers: IncomingMessage['headers'] }>;
  close(): Promise<void>;
}

/** A loopback HTTP function; `answer` computes the status and body for each event. */
export async function httpFunction(
  answer: (event: unknown) => { status?: number; body?: string; delayMs?: number } = (event) => ({ body: JSON.stringify({ echo: event }) }),
): Promise<HttpFunction> {
  const received: HttpFunction['received'] = [];
  let taken = 0;
  let wake: (() => void) | undefined;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const event = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
      received.push({ event, headers: req.headers });
      wake?.();
      const a = answer(event);
      setTimeout(() => {
        res.writeHead(a.status ?? 200, { 'content-type': 'application/json' });
        res.end(a.body ?? '');
      }, a.delayMs ?? 0);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/fn`,
    received,
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
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
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
