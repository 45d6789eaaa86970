/**
 * Shared test helpers: a broker on ephemeral TCP and WebSocket ports, mqtt.js clients that clean up
 * after themselves, message collectors with timeouts, and a raw client that writes bytes and reads
 * the server's packets back through mqtt-packet's parser (for v3.1.1 and v5).
 */
import net from 'node:net';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import mqttPacket, { type Packet } from 'mqtt-packet';
import WebSocket from 'ws';
import { attachWebSocket, Broker, listenTcp, type BrokerOptions } from '@thicket/broker';

export type TransportName = 'tcp' | 'ws';
export const TRANSPORTS: readonly TransportName[] = ['tcp', 'ws'];
export type Version = 3 | 4 | 5;

/** Rejects after `ms` with `what` in the message. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` until it holds (bounded); for broker-internal state that emits no event. */
export async function waitFor(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

let counter = 0;
/** A client id unique in this process. */
export function uid(prefix = 'c'): string {
  return `${prefix}-${process.pid}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;
}

export interface ConnectOptions extends IClientOptions {
  transport?: TransportName;
}

export class TestBroker {
  readonly clients = new Set<MqttClient>();
  readonly raws = new Set<RawClient>();
  private readonly serverSockets = new Set<net.Socket>();
  private closed = false;

  private constructor(
    readonly broker: Broker,
    readonly tcp: net.Server,
    readonly http: http.Server,
    readonly wss: ReturnType<typeof attachWebSocket>,
    readonly tcpPort: number,
    readonly wsPort: number,
  ) {
    tcp.on('connection', (s: net.Socket) => this.track(s));
    http.on('connection', (s: net.Socket) => this.track(s));
  }

  private track(s: net.Socket): void {
    this.serverSockets.add(s);
    s.on('close', () => this.serverSockets.delete(s));
  }

  static async start(options: BrokerOptions = {}): Promise<TestBroker> {
    const broker = new Broker(options);
    const { server, port } = await listenTcp(broker, { host: '127.0.0.1', port: 0 });
    const httpServer = http.createServer((_req, res) => res.writeHead(404).end());
    const wss = attachWebSocket(broker, httpServer);
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const wsPort = (httpServer.address() as net.AddressInfo).port;
    return new TestBroker(broker, server, httpServer, wss, port, wsPort);
  }

  url(transport: TransportName = 'tcp'): string {
    return transport === 'tcp' ? `mqtt://127.0.0.1:${this.tcpPort}` : `ws://127.0.0.1:${this.wsPort}/mqtt`;
  }

  /** Connects an mqtt.js client (no automatic reconnect) and resolves on CONNACK success. */
  async connect(opts: ConnectOptions = {}, setup?: (client: MqttClient) => void): Promise<MqttClient> {
    const { transport = 'tcp', ...rest } = opts;
    const client = mqtt.connect(this.url(transport), {
      reconnectPeriod: 0,
      connectTimeout: 5000,
      clientId: uid(),
      ...rest,
    });
    this.clients.add(client);
    setup?.(client);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        const onConnect = (): void => {
          cleanup();
          resolve();
        };
        const onError = (err: Error): void => {
          cleanup();
          reject(err);
        };
        const onClose = (): void => {
          cleanup();
          reject(new Error('connection closed before CONNACK'));
        };
        const cleanup = (): void => {
          client.off('connect', onConnect);
          client.off('error', onError);
          client.off('close', onClose);
        };
        client.on('connect', onConnect);
        client.on('error', onError);
        client.on('close', onClose);
      }),
      6000,
      'CONNACK',
    ).catch((err: unknown) => {
      client.end(true);
      throw err;
    });
    return client;
  }

  /**
   * Connects with a message collector attached before CONNACK, so messages the broker sends right
   * after it (a resumed session's queue) are not missed.
   */
  async connectCollect(opts: ConnectOptions = {}): Promise<{ client: MqttClient; got: Collector }> {
    let got: Collector | undefined;
    const client = await this.connect(opts, (c) => (got = new Collector(c)));
    return { client, got: got! };
  }

  /** Opens a raw connection (TCP or WebSocket) without sending anything. */
  async raw(version: Version = 5, transport: TransportName = 'tcp'): Promise<RawClient> {
    const c = transport === 'tcp' ? await RawClient.tcp(this.tcpPort, version) : await RawClient.ws(this.wsPort, version);
    this.raws.add(c);
    return c;
  }

  /** Raw connection that has sent CONNECT and received a successful CONNACK. */
  async rawConnected(
    version: Version = 5,
    connect: Partial<mqttPacket.IConnectPacket> = {},
    transport: TransportName = 'tcp',
  ): Promise<{ client: RawClient; connack: mqttPacket.IConnackPacket }> {
    const client = await this.raw(version, transport);
    const connack = await client.connect(connect);
    const rc = version === 5 ? connack.reasonCode : connack.returnCode;
    if (rc !== 0) throw new Error(`CONNACK refused with ${rc}`);
    return { client, connack };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.clients) c.end(true);
    for (const r of this.raws) r.destroy();
    this.broker.close();
    for (const s of this.serverSockets) s.destroy();
    for (const ws of this.wss.clients) ws.terminate();
    this.wss.close();
    await Promise.all([
      new Promise<void>((r) => this.tcp.close(() => r())),
      new Promise<void>((r) => {
        this.http.closeAllConnections();
        this.http.close(() => r());
      }),
    ]);
  }
}

// ---- messages ------------------------------------------------------------------------------

export interface Received {
  topic: string;
  payload: Buffer;
  packet: IPublishPacket;
}

/** Collects the messages an mqtt.js client receives, with waits for counts. */
export class Collector {
  readonly messages: Received[] = [];
  private waiters: Array<{ n: number; resolve: () => void }> = [];
  private cursor = 0;

  constructor(client: MqttClient, filter?: (topic: string) => boolean) {
    client.on('message', (topic, payload, packet) => {
      if (filter && !filter(topic)) return;
      this.messages.push({ topic, payload, packet });
      this.waiters = this.waiters.filter((w) => {
        if (this.messages.length >= w.n) {
          w.resolve();
          return false;
        }
        return true;
      });
    });
  }

  get payloads(): string[] {
    return this.messages.map((m) => m.payload.toString());
  }

  /** Resolves once `n` messages in total arrived; next() continues after them. */
  async count(n: number, ms = 3000): Promise<Received[]> {
    if (this.messages.length < n) {
      await withTimeout(
        new Promise<void>((resolve) => this.waiters.push({ n, resolve })),
        ms,
        `${n} messages (have ${this.messages.length})`,
      );
    }
    this.cursor = Math.max(this.cursor, n);
    return this.messages.slice(0, n);
  }

  /** The next message not yet returned by next() or count(). */
  async next(ms = 3000): Promise<Received> {
    const i = this.cursor;
    await this.count(i + 1, ms);
    return this.messages[i]!;
  }

  /** Waits `ms` and asserts that nothing more than `n` messages arrived. */
  async settle(ms = 300): Promise<Received[]> {
    await sleep(ms);
    return this.messages;
  }
}

export function collect(client: MqttClient, filter?: (topic: string) => boolean): Collector {
  return new Collector(client, filter);
}

/** Waits for one event on an mqtt.js client. */
export function onceEvent<T extends unknown[]>(client: MqttClient, event: string, ms = 3000): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve) => (client as unknown as NodeJS.EventEmitter).once(event, (...args: unknown[]) => resolve(args as T))),
    ms,
    `event "${event}"`,
  );
}

/** Resolves when the mqtt.js client's connection closed. */
export function closed(client: MqttClient, ms = 3000): Promise<void> {
  if (!client.connected && (client as unknown as { stream?: { destroyed?: boolean } }).stream?.destroyed) return Promise.resolve();
  return onceEvent(client, 'close', ms).then(() => undefined);
}

// ---- raw client ------------------------------------------------------------------------------

/**
 * A client that writes raw bytes and reads decoded server packets (mqtt-packet parser). It records
 * every byte received so byte-level properties (such as user property order) can be checked.
 */
export class RawClient {
  readonly packets: Packet[] = [];
  readonly received: Buffer[] = [];
  isClosed = false;
  private cursor = 0;
  private parser: ReturnType<typeof mqttPacket.parser>;
  private wakers: Array<() => void> = [];
  private readonly closedPromise: Promise<void>;
  private resolveClosed!: () => void;

  /** Stops / restarts reading from the socket (TCP only), to play a slow consumer. */
  pause: () => void = () => {};
  resume: () => void = () => {};

  private constructor(
    private readonly writeFn: (b: Buffer) => void,
    private readonly destroyFn: () => void,
    readonly version: Version,
  ) {
    this.parser = mqttPacket.parser({ protocolVersion: version });
    this.parser.on('packet', (p: Packet) => {
      this.packets.push(p);
      this.wake();
    });
    this.parser.on('error', (err: Error) => {
      this.packets.push({ cmd: 'error', error: err } as unknown as Packet);
      this.wake();
    });
    this.closedPromise = new Promise((r) => (this.resolveClosed = r));
  }

  static tcp(port: number, version: Version): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      const c = new RawClient(
        (b) => {
          if (!socket.destroyed) socket.write(b);
        },
        () => socket.destroy(),
        version,
      );
      socket.on('data', (d: Buffer) => c.onData(d));
      c.pause = () => socket.pause();
      c.resume = () => socket.resume();
      socket.on('error', () => {});
      socket.on('close', () => c.onClose());
      socket.once('connect', () => resolve(c));
      socket.once('error', reject);
    });
  }

  static ws(port: number, version: Version): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt');
      const c = new RawClient(
        (b) => {
          if (ws.readyState === WebSocket.OPEN) ws.send(b);
        },
        () => ws.terminate(),
        version,
      );
      ws.on('message', (d: Buffer) => c.onData(d));
      ws.on('error', () => {});
      ws.on('close', () => c.onClose());
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  private onData(d: Buffer): void {
    this.received.push(d);
    this.parser.parse(d);
  }

  private onClose(): void {
    this.isClosed = true;
    this.resolveClosed();
    this.wake();
  }

  private wake(): void {
    const w = this.wakers;
    this.wakers = [];
    for (const f of w) f();
  }

  /** All bytes received so far. */
  get bytes(): Buffer {
    return Buffer.concat(this.received);
  }

  /** Sends a packet (generated for this client's protocol version) or raw bytes. */
  send(p: Packet | Buffer, opts: { version?: Version } = {}): void {
    this.writeFn(Buffer.isBuffer(p) ? p : gen(p, opts.version ?? this.version));
  }

  /** Sends CONNECT and waits for CONNACK. */
  async connect(fields: Partial<mqttPacket.IConnectPacket> = {}): Promise<mqttPacket.IConnackPacket> {
    this.send(connectPacket(this.version, fields));
    return (await this.next('connack')) as mqttPacket.IConnackPacket;
  }

  /**
   * The next packet not yet consumed; with `cmd`, skips (and consumes) packets of other types
   * only when `skipOthers` is set, otherwise fails on a different packet.
   */
  async next<C extends Packet['cmd']>(cmd?: C, ms = 3000, skipOthers = false): Promise<Extract<Packet, { cmd: C }>> {
    const end = Date.now() + ms;
    for (;;) {
      while (this.cursor < this.packets.length) {
        const p = this.packets[this.cursor++]!;
        if ((p.cmd as string) === 'error') throw (p as unknown as { error: Error }).error;
        if (!cmd || p.cmd === cmd) return p as Extract<Packet, { cmd: C }>;
        if (!skipOthers) throw new Error(`expected ${cmd}, got ${p.cmd}: ${JSON.stringify(p)}`);
      }
      if (this.isClosed) throw new Error(`connection closed while waiting for ${cmd ?? 'a packet'}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${cmd ?? 'a packet'}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wakers.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /**
   * Reads `n` PUBLISH packets, completing each QoS 1/2 flow as a well-behaved client (PUBACK;
   * PUBREC then PUBCOMP for the PUBREL), and answers PUBRELs that arrive meanwhile.
   */
  async takePublishes(n: number, ms = 3000): Promise<mqttPacket.IPublishPacket[]> {
    const out: mqttPacket.IPublishPacket[] = [];
    let awaitingRel = 0;
    while (out.length < n || awaitingRel > 0) {
      const p = await this.next(undefined, ms);
      if (p.cmd === 'publish') {
        out.push(p);
        if (p.qos === 1) this.send({ cmd: 'puback', messageId: p.messageId });
        if (p.qos === 2) {
          this.send({ cmd: 'pubrec', messageId: p.messageId });
          awaitingRel++;
        }
      } else if (p.cmd === 'pubrel') {
        this.send({ cmd: 'pubcomp', messageId: p.messageId });
        awaitingRel--;
      } else {
        throw new Error(`unexpected ${p.cmd} while reading publishes`);
      }
    }
    return out;
  }

  /** The next `n` packets, whatever they are. */
  async take(n: number, ms = 3000): Promise<Packet[]> {
    const out: Packet[] = [];
    for (let i = 0; i < n; i++) out.push(await this.next(undefined, ms));
    return out;
  }

  /** Packets received and not consumed yet. */
  pending(): Packet[] {
    return this.packets.slice(this.cursor);
  }

  /** Waits `ms` and returns what arrived meanwhile (consuming it). */
  async drainFor(ms: number): Promise<Packet[]> {
    await sleep(ms);
    const out = this.packets.slice(this.cursor);
    this.cursor = this.packets.length;
    return out;
  }

  /** Resolves when the server closed the connection; fails after `ms`. */
  waitClosed(ms = 3000): Promise<void> {
    return withTimeout(this.closedPromise, ms, 'the server to close the connection');
  }

  /** Waits for the close and returns the packets received before it that were not consumed. */
  async closedWith(ms = 3000): Promise<Packet[]> {
    await this.waitClosed(ms);
    return this.pending();
  }

  destroy(): void {
    this.destroyFn();
  }
}

export function gen(p: Packet, version: Version): Buffer {
  return mqttPacket.generate(p, { protocolVersion: version });
}

export function connectPacket(version: Version, fields: Partial<mqttPacket.IConnectPacket> = {}): mqttPacket.IConnectPacket {
  return {
    cmd: 'connect',
    protocolId: version === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: version,
    clean: true,
    clientId: uid('raw'),
    keepalive: 0,
    ...fields,
  };
}

/** The raw bytes of a CONNECT for `version`. */
export function connectBytes(version: Version, fields: Partial<mqttPacket.IConnectPacket> = {}): Buffer {
  return gen(connectPacket(version, fields), version);
}

/** Encodes MQTT 5 user properties exactly as they travel, to search received bytes for their order. */
export function userPropertyBytes(pairs: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [k, v] of pairs) {
    const kb = Buffer.from(k);
    const vb = Buffer.from(v);
    const b = Buffer.alloc(5 + kb.length + vb.length);
    b[0] = 0x26;
    b.writeUInt16BE(kb.length, 1);
    kb.copy(b, 3);
    b.writeUInt16BE(vb.length, 3 + kb.length);
    vb.copy(b, 5 + kb.length);
    parts.push(b);
  }
  return Buffer.concat(parts);
}

/** Builds a packet from a first byte and a body, with a correct Remaining Length. */
export function rawPacket(first: number, body: Buffer | number[]): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return Buffer.concat([Buffer.from([first]), varint(b.length), b]);
}

export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 0x80;
    out.push(d);
  } while (n > 0);
  return Buffer.from(out);
}

/** A length-prefixed string of raw bytes (may be invalid UTF-8). */
export function str(b: Buffer | string): Buffer {
  const bytes = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(bytes.length);
  return Buffer.concat([len, bytes]);
}

// ---- misc ----------------------------------------------------------------------------------

/** A temporary directory removed by the returned cleanup. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'thicket-broker-test-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Publishes with mqtt.js and resolves with the PUBACK/PUBCOMP packet (or undefined for QoS 0). */
export function publish(
  client: MqttClient,
  topic: string,
  payload: string | Buffer,
  opts: Parameters<MqttClient['publish']>[2] = {},
): Promise<Packet | undefined> {
  return new Promise((resolve, reject) => {
    client.publish(topic, payload, opts, (err, packet) => (err ? reject(err) : resolve(packet)));
  });
}

/** Reason code of an mqtt.js error, when it carries one. */
export function errorCode(err: unknown): number | undefined {
  return (err as { code?: number } | null)?.code;
}

/** The reason code of a v5 packet from mqtt-packet (CONNACK, PUBACK, DISCONNECT, ...). */
export function reasonOf(p: Packet): number | undefined {
  return (p as { reasonCode?: number }).reasonCode;
}

/** Runs `fn` with a started broker and closes everything afterwards, pass or fail. */
export async function withBroker<T>(options: BrokerOptions, fn: (tb: TestBroker) => Promise<T>): Promise<T> {
  const tb = await TestBroker.start(options);
  try {
    return await fn(tb);
  } finally {
    await tb.close();
  }
}
