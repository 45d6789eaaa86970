/**
 * A byte pipe to one client, whatever carries it (TCP, TLS, WebSocket). Writes made during one
 * turn of the event loop are coalesced into one system call (or one WebSocket frame) by the
 * WriteBatcher, which matters most when many publishers feed one subscriber.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';
import type { WebSocket } from 'ws';

export type TransportKind = 'tcp' | 'tls' | 'ws' | 'wss';

export interface TlsInfo {
  /** Whether the client certificate chains to a trusted CA. */
  authorized: boolean;
  authorizationError: string | undefined;
  /** DER of the client certificate, when one was sent. */
  peerCertificate: Buffer | undefined;
  /** DER of the issuer certificates above the client certificate, as far as the server knows them. */
  peerChain: Buffer[];
  servername: string | undefined;
  alpnProtocol: string | undefined;
}

export interface TransportInfo {
  kind: TransportKind;
  remoteAddress: string;
  remotePort: number;
  localPort: number;
  tls: TlsInfo | undefined;
  /** The HTTP upgrade request of a WebSocket connection. */
  http: { url: string; headers: IncomingHttpHeaders } | undefined;
}

export interface TransportEvents {
  onData(chunk: Buffer): void;
  onClose(hadError: boolean): void;
  onDrain(): void;
}

export interface Transport {
  readonly info: TransportInfo;
  /** Bytes accepted by write() but not yet handed to the kernel. */
  readonly bufferedBytes: number;
  readonly closed: boolean;
  bind(events: TransportEvents): void;
  write(data: Buffer): void;
  /** Flushes what is buffered and closes. */
  end(): void;
  destroy(): void;
  pause(): void;
  resume(): void;
}

/** Collects transports written to in this turn and flushes them together once it ends. */
export class WriteBatcher {
  private dirty: Flushable[] = [];
  private scheduled = false;

  mark(t: Flushable): void {
    this.dirty.push(t);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.scheduled = false;
    const list = this.dirty;
    this.dirty = [];
    for (let i = 0; i < list.length; i++) list[i]!.flushBatch();
  };
}

interface Flushable {
  flushBatch(): void;
}

function tlsInfo(socket: TLSSocket): TlsInfo {
  const peer = socket.getPeerCertificate(true);
  const hasCert = peer && typeof peer === 'object' && 'raw' in peer && peer.raw;
  const chain: Buffer[] = [];
  if (hasCert) {
    let cur = peer.issuerCertificate;
    const seen = new Set<string>([peer.fingerprint256]);
    while (cur && cur.raw && !seen.has(cur.fingerprint256)) {
      seen.add(cur.fingerprint256);
      chain.push(cur.raw);
      cur = cur.issuerCertificate;
    }
  }
  return {
    authorized: socket.authorized,
    authorizationError: socket.authorizationError ? String(socket.authorizationError) : undefined,
    peerCertificate: hasCert ? peer.raw : undefined,
    peerChain: chain,
    servername: typeof socket.servername === 'string' ? socket.servername : undefined,
    alpnProtocol: typeof socket.alpnProtocol === 'string' ? socket.alpnProtocol : undefined,
  };
}

/** TCP or TLS socket. */
export class SocketTransport implements Transport, Flushable {
  readonly info: TransportInfo;
  private corked = false;
  private events: TransportEvents | undefined;

  constructor(
    private readonly socket: Socket,
    private readonly batcher: WriteBatcher,
    kind: 'tcp' | 'tls',
    http?: TransportInfo['http'],
    wsKind?: 'ws' | 'wss',
  ) {
    socket.setNoDelay(true);
    this.info = {
      kind: wsKind ?? kind,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localPort: socket.localPort ?? 0,
      tls: kind === 'tls' ? tlsInfo(socket as TLSSocket) : undefined,
      http,
    };
  }

  get bufferedBytes(): number {
    return this.socket.writableLength;
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  bind(events: TransportEvents): void {
    this.events = events;
    this.socket.on('data', (chunk: Buffer) => events.onData(chunk));
    this.socket.on('drain', () => events.onDrain());
    this.socket.on('error', () => {
      /* followed by 'close' */
    });
    this.socket.on('close', (hadError: boolean) => events.onClose(hadError));
    if (this.socket.destroyed) queueMicrotask(() => events.onClose(true));
  }

  write(data: Buffer): void {
    if (!this.corked) {
      if (this.socket.destroyed) return;
      this.corked = true;
      this.socket.cork();
      this.batcher.mark(this);
    }
    this.socket.write(data);
  }

  flushBatch(): void {
    if (this.corked) {
      this.corked = false;
      this.socket.uncork();
    }
  }

  end(): void {
    this.flushBatch();
    this.socket.end();
    // A peer that never reads would keep a half-closed socket alive forever.
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  destroy(): void {
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  get eventsBound(): boolean {
    return this.events !== undefined;
  }
}

/** MQTT over WebSocket: binary frames; one frame per batch of packets (MQTT 5 §6). */
export class WebSocketTransport implements Transport, Flushable {
  readonly info: TransportInfo;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private isClosed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly batcher: WriteBatcher,
    socket: Socket,
    secure: boolean,
    http: TransportInfo['http'],
  ) {
    this.info = {
      kind: secure ? 'wss' : 'ws',
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localPort: socket.localPort ?? 0,
      tls: secure ? tlsInfo(socket as TLSSocket) : undefined,
      http,
    };
  }

  get bufferedBytes(): number {
    return this.ws.bufferedAmount + this.batchBytes;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  bind(events: TransportEvents): void {
    this.ws.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
      if (!isBinary) {
        // MQTT 5 §6.0: text frames are a protocol violation.
        this.destroy();
        return;
      }
      if (Array.isArray(data)) for (const d of data) events.onData(d);
      else events.onData(Buffer.isBuffer(data) ? data : Buffer.from(data));
    });
    this.ws.on('error', () => {
      /* followed by 'close' */
    });
    this.ws.on('close', () => {
      this.isClosed = true;
      events.onClose(false);
    });
    // ws has no drain event of its own; the underlying socket's is equivalent.
    const raw = (this.ws as unknown as { _socket?: Socket })._socket;
    raw?.on('drain', () => events.onDrain());
  }

  write(data: Buffer): void {
    if (this.isClosed) return;
    if (this.batch.length === 0) this.batcher.mark(this);
    this.batch.push(data);
    this.batchBytes += data.length;
  }

  flushBatch(): void {
    if (this.batch.length === 0 || this.isClosed) return;
    const frame = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    this.batch = [];
    this.batchBytes = 0;
    this.ws.send(frame, { binary: true });
  }

  end(): void {
    this.flushBatch();
    this.isClosed = true;
    this.ws.close(1000);
    setTimeout(() => this.ws.terminate(), 2000).unref();
  }

  destroy(): void {
    this.isClosed = true;
    this.ws.terminate();
  }

  pause(): void {
    this.ws.pause();
  }

  resume(): void {
    this.ws.resume();
  }
}
