/** Helpers of the http action tests: a loopback HTTP endpoint that records what it receives and answers as told. */
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  at: number;
}

/** What the endpoint does with a request: answer with a status (and body), or never answer. */
export type Behaviour = (r: Received, count: number) => { status: number; body?: string } | 'hang';

export class Endpoint {
  readonly requests: Received[] = [];
  behaviour: Behaviour = () => ({ status: 200, body: 'ok' });
  private waiters: (() => void)[] = [];
  private hanging: ServerResponse[] = [];
  /** Distinct client ports seen (connection reuse shows as few). */
  readonly sockets = new Set<number>();
  /** When each connection was accepted (ms since the epoch). */
  readonly accepted: number[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<Endpoint> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const e = new Endpoint(server, (server.address() as AddressInfo).port);
    server.on('connection', () => e.accepted.push(Date.now()));
    server.on('request', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        e.sockets.add(req.socket.remotePort ?? 0);
        const r: Received = {
          method: req.method ?? '',
          url: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks),
          at: Date.now(),
        };
        e.requests.push(r);
        const what = e.behaviour(r, e.requests.length);
        if (what === 'hang') e.hanging.push(res);
        else res.writeHead(what.status, { 'content-type': 'text/plain' }).end(what.body ?? '');
        for (const w of e.waiters.splice(0)) w();
      });
    });
    return e;
  }

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The requests whose path starts with `path`. */
  to(path: string): Received[] {
    return this.requests.filter((r) => r.url.startsWith(path));
  }

  /** Waits until `n` requests to `path` arrived; returns them. */
  async waitFor(path: string, n = 1, timeoutMs = 5000): Promise<Received[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.to(path).length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`only ${this.to(path).length} of ${n} requests to ${path} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 100));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.to(path);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** A port nothing listens on (bound, then closed). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
