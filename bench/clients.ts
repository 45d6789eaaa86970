/** Raw MQTT connections for the load generator: a socket, a frame splitter and a swappable handler. */
import net from 'node:net';
import { CONNACK, FrameSplitter, SUBACK, type PacketHandler } from './protocol.js';

export interface Endpoint {
  host: string;
  port: number;
  /** A cluster's nodes: connection i (of a connectMany/connectAll call) goes to ports[i % length]. */
  ports?: number[];
}

/** Where connection `index` goes: `to` itself, or round-robin over a cluster's nodes. */
function nodeFor(to: Endpoint, index: number): Endpoint {
  if (to.ports === undefined || to.ports.length === 0) return to;
  return { host: to.host, port: to.ports[index % to.ports.length]! };
}

const ignore: PacketHandler = () => {};

/** Counts connections the broker closed while the load generator still wanted them. */
export const lost = { connections: 0 };

export class RawClient {
  /** Replaced by each workload with its hot-path handler once set-up packets are through. */
  handler: PacketHandler = ignore;
  /** Called after each chunk from the socket, so replies and refills go out once per chunk. */
  afterChunk: () => void = () => {};
  private closing = true;

  private constructor(readonly socket: net.Socket) {
    const splitter = new FrameSplitter((type, flags, buf, start, end) => this.handler(type, flags, buf, start, end));
    socket.on('data', (chunk: Buffer) => {
      splitter.push(chunk);
      this.afterChunk();
    });
  }

  /** TCP connect, CONNECT, and a CONNACK with return code 0, within `timeoutMs`. */
  static connect(to: Endpoint, connectBytes: Buffer, timeoutMs: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: to.host, port: to.port, noDelay: true });
      const client = new RawClient(socket);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`no CONNACK within ${timeoutMs} ms`)), timeoutMs);
      socket.once('error', fail);
      socket.once('close', () => fail(new Error('connection closed before CONNACK')));
      client.handler = (type, _flags, buf, start) => {
        if (type !== CONNACK) return;
        const rc = buf[start + 1];
        if (rc !== 0) return fail(new Error(`CONNACK return code ${rc}`));
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        // A socket error after set-up shows up as a lost connection, not as an unhandled event.
        socket.on('error', () => {});
        socket.on('close', () => {
          if (!client.closing) lost.connections++;
        });
        client.closing = false;
        client.handler = ignore;
        resolve(client);
      };
      socket.write(connectBytes);
    });
  }

  /** Sends SUBSCRIBE and waits for a SUBACK that grants the subscription. */
  subscribe(subscribeBytes: Buffer, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no SUBACK within ${timeoutMs} ms`)), timeoutMs);
      this.handler = (type, _flags, buf, _start, end) => {
        if (type !== SUBACK) return;
        clearTimeout(timer);
        this.handler = ignore;
        const granted = buf[end - 1];
        if (granted === 0x80) reject(new Error('SUBACK refused the subscription'));
        else resolve();
      };
      this.socket.write(subscribeBytes);
    });
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  close(): void {
    this.closing = true;
    this.socket.destroy();
  }
}

/**
 * Opens `count` connections with at most `concurrency` attempts in flight. Failed attempts are
 * counted, not retried, so a broker that refuses connections shows it in the result.
 */
export async function connectMany(
  to: Endpoint,
  count: number,
  concurrency: number,
  connectBytes: (index: number) => Buffer,
  timeoutMs: number,
): Promise<{ clients: RawClient[]; failed: number; errors: string[] }> {
  const clients: RawClient[] = [];
  const errors: string[] = [];
  let failed = 0;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      try {
        clients.push(await RawClient.connect(nodeFor(to, index), connectBytes(index), timeoutMs));
      } catch (err) {
        failed++;
        if (errors.length < 3) errors.push((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return { clients, failed, errors };
}

/** Like connectMany, but any failure fails the set-up: a throughput figure needs every client. */
export async function connectAll(
  to: Endpoint,
  count: number,
  concurrency: number,
  connectBytes: (index: number) => Buffer,
  timeoutMs: number,
): Promise<RawClient[]> {
  const { clients, failed, errors } = await connectMany(to, count, concurrency, connectBytes, timeoutMs);
  if (failed > 0) {
    for (const c of clients) c.close();
    throw new Error(`${failed} of ${count} connections failed: ${errors.join('; ')}`);
  }
  return clients;
}

export function closeAll(clients: RawClient[]): void {
  for (const c of clients) c.close();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
