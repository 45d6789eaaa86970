/**
 * The device's connection: one MQTT session kept up with jittered exponential backoff, the
 * subscriptions it restores when the broker did not keep them, and the QoS 1 queue it drains in
 * order whenever connected. A fresh mqtt.js client serves each connection attempt, so nothing of a
 * dead connection (packet ids, half-sent messages) leaks into the next one: whatever was not
 * acknowledged is still in the queue and goes again.
 */
import { EventEmitter } from 'node:events';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { ClientClosedError, MessageDroppedError, NotConnectedError, PublishRejectedError, SubscribeRejectedError } from '../errors.js';
import { OfflineQueue, type MessageProperties, type QueuedMessage } from '../queue/offline-queue.js';
import { backoffDelay } from './backoff.js';
import { mqttOptions, type DeviceClientOptions } from './connection-options.js';
import { topicMatches } from './topic-match.js';

export type MessageHandler = (topic: string, payload: Buffer, packet: IPublishPacket) => void;

export interface PublishOptions {
  qos?: 0 | 1;
  retain?: boolean;
  properties?: MessageProperties;
  /**
   * QoS 1 only: go through the offline queue (default true), kept in order and sent once connected.
   * False: now or never — rejects with NotConnectedError when offline (as requests do).
   */
  queue?: boolean;
}

export interface ConnectInfo {
  sessionPresent: boolean;
}

export interface Subscription {
  readonly filter: string;
  unsubscribe(): Promise<void>;
}

export interface DeviceClientEvents {
  connect: [ConnectInfo];
  disconnect: [{ error?: Error }];
  reconnecting: [{ attempt: number; delayMs: number }];
  /** Connection and handler errors; only emitted when someone listens. */
  error: [Error];
  message: [string, Buffer, IPublishPacket];
  /** A queued message the broker acknowledged. */
  delivered: [QueuedMessage];
  /** A queued message dropped by the drop policy or refused by the broker. */
  dropped: [QueuedMessage, Error];
}

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

const noop = (): void => {};

/** A promise whose rejection counts as handled (fire-and-forget callers must not crash the process); awaiting it still throws. */
function handled<T>(p: Promise<T>): Promise<T> {
  p.catch(noop);
  return p;
}

export class DeviceClient extends EventEmitter<DeviceClientEvents> {
  readonly clientId: string;
  readonly requestTimeoutMs: number;
  private client: MqttClient | undefined;
  private isConnected = false;
  private closed = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private firstConnect: { promise: Promise<ConnectInfo>; resolve(i: ConnectInfo): void; reject(e: Error): void } | undefined;
  private readonly subscriptions = new Map<string, { qos: 0 | 1; refs: number }>();
  private readonly routes: Array<{ filter: string; handler: MessageHandler }> = [];
  private readonly inFlight = new Set<number>();
  private readonly waiters = new Map<number, Waiter>();
  private readonly maxInFlight: number;

  private constructor(
    readonly options: DeviceClientOptions,
    readonly queue: OfflineQueue,
  ) {
    super();
    this.clientId = options.clientId;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 10);
    mqttOptions(options); // reject bad URLs before anything starts
  }

  /** A client with its queue loaded (from its file, if any), not yet connected. */
  static async create(options: DeviceClientOptions): Promise<DeviceClient> {
    return new DeviceClient(options, await OfflineQueue.open(options.queue));
  }

  get connected(): boolean {
    return this.isConnected;
  }

  /**
   * Starts connecting; resolves on the first CONNACK. Failed attempts are retried with backoff
   * (and reported on `error`); without reconnection the first failure rejects.
   */
  connect(): Promise<ConnectInfo> {
    if (this.closed) return Promise.reject(new ClientClosedError('client is closed'));
    if (this.isConnected) return Promise.resolve({ sessionPresent: false });
    if (!this.firstConnect) {
      let resolve!: (i: ConnectInfo) => void;
      let reject!: (e: Error) => void;
      const promise = handled(new Promise<ConnectInfo>((res, rej) => ((resolve = res), (reject = rej))));
      this.firstConnect = { promise, resolve, reject };
      if (!this.client && !this.reconnectTimer) this.open();
    }
    return this.firstConnect.promise;
  }

  /**
   * Publishes. QoS 1 messages go through the offline queue unless `queue: false` and the promise
   * settles when the broker acknowledges (PUBACK); QoS 0 resolves once written.
   */
  publish(topic: string, payload: string | Buffer | Uint8Array, opts: PublishOptions = {}): Promise<void> {
    const qos = opts.qos ?? 1;
    const body = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
    if (this.closed) return Promise.reject(new ClientClosedError('client is closed'));
    if (qos === 1 && opts.queue !== false) return handled(this.enqueue(topic, body, opts));
    const client = this.client;
    if (!this.isConnected || !client) return Promise.reject(new NotConnectedError(`not connected: cannot publish to ${topic}`));
    return new Promise((resolve, reject) =>
      client.publish(topic, body, { qos, retain: opts.retain ?? false, properties: opts.properties }, (err) =>
        err ? reject(publishError(topic, err)) : resolve(),
      ),
    );
  }

  /**
   * Subscribes and routes matching messages to `handler`. Offline, the subscription is made on
   * connecting. Several handlers may share a filter; the broker is asked once.
   */
  async subscribe(filter: string, handler: MessageHandler, opts: { qos?: 0 | 1 } = {}): Promise<Subscription> {
    const qos = opts.qos ?? 1;
    const stopRoute = this.route(filter, handler);
    const existing = this.subscriptions.get(filter);
    if (existing) existing.refs++;
    else {
      this.subscriptions.set(filter, { qos, refs: 1 });
      if (this.isConnected) {
        try {
          await this.sendSubscribe([filter]);
        } catch (err) {
          stopRoute();
          this.subscriptions.delete(filter);
          throw err;
        }
      }
    }
    let done = false;
    return {
      filter,
      unsubscribe: async () => {
        if (done) return;
        done = true;
        stopRoute();
        const s = this.subscriptions.get(filter);
        if (!s || --s.refs > 0) return;
        this.subscriptions.delete(filter);
        const client = this.client;
        if (this.isConnected && client) await client.unsubscribeAsync(filter).catch(noop);
      },
    };
  }

  /** Routes messages matching `filter` to `handler` without subscribing (for answers the broker sends to the requester, as Jobs does). */
  route(filter: string, handler: MessageHandler): () => void {
    const entry = { filter, handler };
    this.routes.push(entry);
    return () => {
      const i = this.routes.indexOf(entry);
      if (i >= 0) this.routes.splice(i, 1);
    };
  }

  /** Resolves once every queued message was acknowledged (or dropped). */
  async drained(): Promise<void> {
    while (this.queue.size > 0) {
      if (this.closed) throw new ClientClosedError('client is closed');
      await new Promise<void>((r) => {
        const done = (): void => {
          this.off('delivered', done);
          this.off('dropped', done);
          r();
        };
        this.on('delivered', done);
        this.on('dropped', done);
      });
    }
  }

  /**
   * Disconnects for good. Queued messages stay in the queue file for the next process; their
   * publish promises reject with ClientClosedError.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    this.isConnected = false;
    // A graceful DISCONNECT (no last will) unless something is still unacknowledged, which mqtt.js would wait for.
    if (client) await client.endAsync(!client.connected || Object.keys(client.outgoing).length > 0).catch(noop);
    const closedError = new ClientClosedError('client closed before the message was acknowledged');
    for (const w of this.waiters.values()) w.reject(closedError);
    this.waiters.clear();
    this.firstConnect?.reject(new ClientClosedError('client closed before connecting'));
    await this.queue.close();
  }

  private async enqueue(topic: string, payload: Buffer, opts: PublishOptions): Promise<void> {
    const message = {
      topic,
      payload,
      qos: 1 as const,
      retain: opts.retain ?? false,
      ...(opts.properties ? { properties: opts.properties } : {}),
    };
    let added;
    try {
      added = await this.queue.add(message, (m) => !this.inFlight.has(m.seq));
    } catch (err) {
      if (err instanceof MessageDroppedError) this.emitDropped({ ...message, seq: 0, queuedAt: Date.now() }, err);
      throw err;
    }
    for (const m of added.evicted) {
      const err = new MessageDroppedError(`queue full: message ${m.seq} to ${m.topic} dropped for a newer one`, 'drop-oldest');
      this.waiters.get(m.seq)?.reject(err);
      this.waiters.delete(m.seq);
      this.emitDropped(m, err);
    }
    // Closed while the message was being written: it is on disk for the next process, not ours to send.
    if (this.closed) throw new ClientClosedError('client closed before the message was acknowledged');
    const delivered = new Promise<void>((resolve, reject) => this.waiters.set(added.message.seq, { resolve, reject }));
    this.pump();
    return delivered;
  }

  private emitDropped(m: QueuedMessage, err: Error): void {
    this.emit('dropped', m, err);
  }

  /** Puts queued messages on the wire, oldest first, up to the in-flight window. */
  private pump(): void {
    const client = this.client;
    if (!this.isConnected || !client) return;
    for (const m of this.queue.list()) {
      if (this.inFlight.size >= this.maxInFlight) return;
      if (this.inFlight.has(m.seq)) continue;
      this.inFlight.add(m.seq);
      client.publish(m.topic, m.payload, { qos: m.qos, retain: m.retain, properties: m.properties }, (err) => {
        // A callback from a connection that has since been replaced: that one's in-flight set was cleared.
        if (client !== this.client) return;
        void this.published(m, err);
      });
    }
  }

  private async published(m: QueuedMessage, err: Error | undefined): Promise<void> {
    const reasonCode = (err as { code?: unknown } | undefined)?.code;
    if (err && !(typeof reasonCode === 'number' && reasonCode >= 0x80)) {
      // Not acknowledged (the connection went): it stays queued and goes again on the next one.
      this.inFlight.delete(m.seq);
      return;
    }
    try {
      await this.queue.remove(m.seq);
    } catch (e) {
      this.reportError(e as Error);
    }
    this.inFlight.delete(m.seq);
    const waiter = this.waiters.get(m.seq);
    this.waiters.delete(m.seq);
    if (err) {
      const refused = publishError(m.topic, err);
      waiter?.reject(refused);
      this.emitDropped(m, refused);
    } else {
      waiter?.resolve();
      this.emit('delivered', m);
    }
    this.pump();
  }

  private open(): void {
    this.reconnectTimer = undefined;
    const { url, options } = mqttOptions(this.options);
    const client = mqtt.connect(url, { ...options, manualConnect: false });
    this.client = client;
    let lastError: Error | undefined;
    client.on('error', (err) => {
      lastError = err;
      this.reportError(err);
    });
    client.on('connect', (connack) => void this.onConnack(client, connack.sessionPresent));
    client.on('message', (topic, payload, packet) => this.dispatch(topic, payload, packet));
    client.on('close', () => {
      if (client !== this.client) return;
      const wasConnected = this.isConnected;
      this.isConnected = false;
      this.inFlight.clear();
      this.client = undefined;
      client.removeAllListeners('connect');
      client.end(true);
      if (wasConnected) this.emit('disconnect', lastError ? { error: lastError } : {});
      if (this.closed) return;
      if (this.options.reconnect === false) {
        if (this.firstConnect && !wasConnected) this.firstConnect.reject(lastError ?? new Error('connection closed before CONNACK'));
        this.firstConnect = undefined;
        return;
      }
      const delayMs = backoffDelay(this.attempt, this.options.reconnect);
      this.attempt++;
      this.emit('reconnecting', { attempt: this.attempt, delayMs });
      this.reconnectTimer = setTimeout(() => this.open(), delayMs);
    });
  }

  private async onConnack(client: MqttClient, sessionPresent: boolean): Promise<void> {
    if (client !== this.client) return;
    this.isConnected = true;
    this.attempt = 0;
    // Without the session the broker forgot the subscriptions; restore them before anything is asked.
    if (!sessionPresent && this.subscriptions.size > 0) {
      try {
        await this.sendSubscribe([...this.subscriptions.keys()]);
      } catch (err) {
        this.reportError(err as Error);
      }
    }
    if (client !== this.client) return;
    const info = { sessionPresent };
    this.firstConnect?.resolve(info);
    this.firstConnect = undefined;
    this.emit('connect', info);
    this.pump();
  }

  private async sendSubscribe(filters: string[]): Promise<void> {
    const client = this.client;
    if (!client) throw new NotConnectedError('not connected');
    const request: Record<string, { qos: 0 | 1 }> = {};
    for (const f of filters) request[f] = { qos: this.subscriptions.get(f)?.qos ?? 1 };
    const granted = await client.subscribeAsync(request);
    for (const g of granted) if (g.qos >= 0x80) throw new SubscribeRejectedError(g.topic, g.qos);
  }

  private dispatch(topic: string, payload: Buffer, packet: IPublishPacket): void {
    for (const r of [...this.routes]) {
      if (!topicMatches(r.filter, topic)) continue;
      try {
        r.handler(topic, payload, packet);
      } catch (err) {
        this.reportError(err as Error);
      }
    }
    this.emit('message', topic, payload, packet);
  }

  /** Emits `error` when someone listens (an unheard error must not crash a device). */
  reportError(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}

function publishError(topic: string, err: Error): Error {
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'number' && code >= 0x80) return new PublishRejectedError(`publish to ${topic} refused: ${err.message}`, code);
  return err;
}

/** Creates a device client and connects it. */
export async function connectDevice(options: DeviceClientOptions): Promise<DeviceClient> {
  const device = await DeviceClient.create(options);
  try {
    await device.connect();
  } catch (err) {
    await device.close();
    throw err;
  }
  return device;
}
