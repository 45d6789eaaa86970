/**
 * A client session (MQTT 5 §4.1): subscriptions, and the QoS 1/2 messages queued for the client or
 * in flight to it. It outlives its connection when it is persistent (session expiry > 0).
 */
import type { QoS, WillPacket } from './codec/packets.js';
import type { ClientInfo } from './hooks.js';
import type { Message } from './message.js';
import type { Namespace } from './namespace.js';
import type { BrokerStore, StoredSubscription } from './store/types.js';
import { toStored } from './store/restore.js';

export interface Subscription {
  readonly session: Session;
  /** The filter as subscribed, `$share/{group}/` included: the key within the session. */
  readonly key: string;
  /** The filter matched against topics. */
  readonly filter: string;
  readonly group: string | undefined;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number | undefined;
}

export function storedSubscription(s: Subscription): StoredSubscription {
  return {
    key: s.key,
    qos: s.qos,
    noLocal: s.noLocal,
    retainAsPublished: s.retainAsPublished,
    retainHandling: s.retainHandling,
    subscriptionId: s.subscriptionId,
  };
}

/** One message on its way to this session's client. */
export interface Delivery {
  msg: Message;
  qos: QoS;
  retain: boolean;
  subscriptionIds: number[] | undefined;
  /** Queue row in the store; 0 when the session is not persistent. */
  seq: number;
  packetId: number;
  /** 0 queued, 1 PUBLISH sent, 2 PUBREC received and PUBREL sent. */
  state: 0 | 1 | 2;
}

/** What a session needs of the connection it is attached to (implemented by Connection). */
export interface SessionLink {
  /** How many more QoS 1/2 messages may be in flight (receive maximum), and whether the socket keeps up. */
  canSendMore(inflight: number): boolean;
  /** Writes a QoS 0 copy; false when it was dropped. */
  sendQos0(msg: Message, retain: boolean, subscriptionIds: number[] | undefined): boolean;
  sendPublish(d: Delivery, dup: boolean): boolean;
  sendPubrel(packetId: number): void;
}

/** A connected session's queue may grow to this many times the bound before messages drop. */
export const CONNECTED_QUEUE_FACTOR = 10;

export type DropReason = 'queue_full' | 'expired' | 'offline_qos0' | 'slow_consumer' | 'packet_too_large' | 'not_authorized';

export class Session {
  readonly subscriptions = new Map<string, Subscription>();
  link: SessionLink | null = null;
  /** The client of the current or last connection; decides what an offline session may receive. */
  client: ClientInfo | undefined;
  /** A will waiting for its delay interval (MQTT 5 §3.1.3.2.2). */
  pendingWill: { will: WillPacket; timer: NodeJS.Timeout } | undefined;
  /** Whether the store holds this session. */
  stored = false;
  /** Seconds the session lives after its connection closes; 0 ends it with the connection. */
  expiryInterval = 0;
  protocolVersion = 4;
  disconnectedAt: number | null = null;
  expiryTimer: NodeJS.Timeout | undefined;
  /** In-flight outbound deliveries by packet id, in send order. */
  readonly inflight = new Map<number, Delivery>();
  /** Inbound QoS 2 packet ids received and not yet released (kept in the store for persistent sessions). */
  readonly inboundQos2 = new Set<number>();
  private queue: Delivery[] = [];
  private head = 0;
  private nextPacketId = 1;
  private seq = 0;
  /** Publishers' acknowledgements waiting for this session's queue to drain. */
  private waiters: Array<() => void> | null = null;
  /** When the oldest of those started waiting (epoch ms). */
  waitingSince = 0;
  /** Stamp of the last routing pass that matched this session; merges overlapping subscriptions. */
  matchStamp = 0;
  matchQos: QoS = 0;
  matchRetain = false;
  matchIds: number[] | undefined;
  matchNoLocal = false;

  constructor(
    readonly namespace: Namespace,
    readonly clientId: string,
    private readonly store: BrokerStore,
    private readonly maxQueued: number,
    private readonly dropPolicy: 'newest' | 'oldest',
    private readonly onDrop: (reason: DropReason) => void,
  ) {}

  get mount(): string {
    return this.namespace.mount;
  }

  get persistent(): boolean {
    return this.expiryInterval > 0;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  set lastSeq(n: number) {
    this.seq = Math.max(this.seq, n);
  }

  /**
   * Hands a matched message to the session: sent now, queued, or dropped. Returns true when the
   * session is congested: its client is connected but its queue is over the bound, and the
   * publisher's acknowledgement should wait (see onUncongested).
   *
   * The bound is hard for an offline session (a drop by policy) and soft for a connected one, whose
   * queue drains: QoS 1/2 publishers are held back instead, and only a client that stops reading
   * altogether reaches the hard limit of CONNECTED_QUEUE_FACTOR times the bound.
   */
  deliver(msg: Message, qos: QoS, retain: boolean, subscriptionIds: number[] | undefined): boolean {
    if (qos === 0) {
      if (!this.link) this.onDrop('offline_qos0');
      else this.link.sendQos0(msg, retain, subscriptionIds);
      return false;
    }
    const d: Delivery = { msg, qos, retain, subscriptionIds, seq: 0, packetId: 0, state: 0 };
    const queued = this.queued;
    if (queued >= (this.link ? this.maxQueued * CONNECTED_QUEUE_FACTOR : this.maxQueued)) {
      if (this.dropPolicy === 'newest') {
        this.onDrop('queue_full');
        return this.link !== null;
      }
      this.discard(this.queue[this.head]!);
      this.queue[this.head++] = undefined as unknown as Delivery;
      this.onDrop('queue_full');
    }
    if (this.persistent) this.persist(d);
    this.queue.push(d);
    this.drain();
    return this.link !== null && this.queued >= this.maxQueued;
  }

  get hasWaiters(): boolean {
    return this.waiters !== null;
  }

  /** Calls `callback` once the queue is back under its bound, the client goes away, or the session ends. */
  onUncongested(callback: () => void): void {
    if (!this.waiters) {
      this.waiters = [];
      this.waitingSince = Date.now();
    }
    this.waiters.push(callback);
  }

  /** Releases publishers waiting on this session's queue; with `force` even if it is still full. */
  releaseWaiters(force = false): void {
    const waiters = this.waiters;
    if (!waiters || (!force && this.link && this.queued >= this.maxQueued)) return;
    this.waiters = null;
    for (const cb of waiters) cb();
  }

  /** Adds a delivery read back from the store at start. */
  restore(d: Delivery): void {
    // New queue rows must not reuse (and so overwrite) the sequence numbers of restored ones.
    this.lastSeq = d.seq;
    if (d.state === 0) this.queue.push(d);
    else this.inflight.set(d.packetId, d);
    if (d.packetId >= this.nextPacketId) this.nextPacketId = d.packetId + 1 > 0xffff ? 1 : d.packetId + 1;
  }

  /** Sends queued messages while the connection has room. */
  drain(): void {
    const link = this.link;
    if (!link) return;
    const now = Date.now();
    while (this.head < this.queue.length && link.canSendMore(this.inflight.size)) {
      const d = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Delivery;
      if (d.msg.expired(now)) {
        this.discard(d);
        this.onDrop('expired');
        continue;
      }
      d.packetId = this.allocatePacketId();
      d.state = 1;
      if (!link.sendPublish(d, false)) {
        this.discard(d);
        continue;
      }
      this.inflight.set(d.packetId, d);
      if (d.seq) this.store.updateQueueEntry(this.mount, this.clientId, d.seq, d.packetId, 1);
    }
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    if (this.waiters) this.releaseWaiters();
  }

  /** After a reconnect: resend what was in flight (DUP set), then queued messages. */
  resume(): void {
    const link = this.link;
    if (!link) return;
    for (const d of [...this.inflight.values()]) {
      if (d.state === 2) link.sendPubrel(d.packetId);
      else if (!link.sendPublish(d, true)) {
        // Too large for the client now (Maximum Packet Size): dropped, as drain() does.
        this.inflight.delete(d.packetId);
        this.discard(d);
      }
    }
    this.drain();
  }

  /** PUBACK, or PUBCOMP, or an error reason on PUBREC: the delivery is finished. */
  complete(packetId: number): boolean {
    const d = this.inflight.get(packetId);
    if (!d) return false;
    this.inflight.delete(packetId);
    this.discard(d);
    this.drain();
    return true;
  }

  /** PUBREC with success: release the packet id with PUBREL and wait for PUBCOMP. */
  released(packetId: number): boolean {
    const d = this.inflight.get(packetId);
    if (!d || d.qos !== 2) return false;
    d.state = 2;
    if (d.seq) this.store.updateQueueEntry(this.mount, this.clientId, d.seq, packetId, 2);
    return true;
  }

  /** A QoS 2 publish was accepted: its id blocks redelivery of retransmissions until PUBREL (§4.3.3). */
  receivedQos2(packetId: number): void {
    this.inboundQos2.add(packetId);
    if (this.persistent) this.store.putInboundQos2(this.mount, this.clientId, packetId);
  }

  /** PUBREL: returns whether the id was known. */
  releasedQos2(packetId: number): boolean {
    if (!this.inboundQos2.delete(packetId)) return false;
    if (this.persistent) this.store.deleteInboundQos2(this.mount, this.clientId, packetId);
    return true;
  }

  addSubscription(s: Subscription): void {
    this.subscriptions.set(s.key, s);
    if (this.persistent) this.store.putSubscription(this.mount, this.clientId, storedSubscription(s));
  }

  removeSubscription(key: string): Subscription | undefined {
    const s = this.subscriptions.get(key);
    if (!s) return undefined;
    this.subscriptions.delete(key);
    if (this.persistent) this.store.deleteSubscription(this.mount, this.clientId, key);
    return s;
  }

  /** Writes the session, its subscriptions and its queue to the store (when it becomes persistent). */
  persistAll(): void {
    this.saveMeta();
    for (const s of this.subscriptions.values()) this.store.putSubscription(this.mount, this.clientId, storedSubscription(s));
    for (const id of this.inboundQos2) this.store.putInboundQos2(this.mount, this.clientId, id);
    for (const d of this.inflight.values()) if (!d.seq) this.persist(d);
    for (let i = this.head; i < this.queue.length; i++) if (!this.queue[i]!.seq) this.persist(this.queue[i]!);
  }

  saveMeta(): void {
    this.stored = true;
    this.store.putSession({
      mount: this.mount,
      clientId: this.clientId,
      protocolVersion: this.protocolVersion,
      expiryInterval: this.expiryInterval,
      disconnectedAt: this.disconnectedAt,
    });
  }

  /** Ends the session: forgets its queue (releasing stored messages). Subscriptions are removed by the broker. */
  destroy(): void {
    this.releaseWaiters(true);
    for (const d of this.inflight.values()) this.release(d);
    for (let i = this.head; i < this.queue.length; i++) this.release(this.queue[i]!);
    this.inflight.clear();
    this.queue = [];
    this.head = 0;
    this.inboundQos2.clear();
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
  }

  /** The session stops being persistent: its rows leave the store while it lives on in memory. */
  forgetStored(): void {
    this.stored = false;
    this.store.deleteSession(this.mount, this.clientId);
    for (const d of this.inflight.values()) this.release(d);
    for (let i = this.head; i < this.queue.length; i++) this.release(this.queue[i]!);
  }

  private persist(d: Delivery): void {
    const msg = d.msg;
    d.seq = ++this.seq;
    if (msg.id === 0) {
      msg.id = nextMessageId();
      this.store.putMessage(toStored(msg, msg.id));
    }
    msg.refs++;
    this.store.putQueueEntry({
      mount: this.mount,
      clientId: this.clientId,
      seq: d.seq,
      messageId: msg.id,
      qos: d.qos,
      retain: d.retain,
      subscriptionIds: d.subscriptionIds ?? null,
      packetId: d.packetId,
      state: d.state,
    });
  }

  /** Removes a delivery's store rows (done or dropped). */
  private discard(d: Delivery): void {
    if (!d.seq) return;
    this.store.deleteQueueEntry(this.mount, this.clientId, d.seq);
    this.release(d);
  }

  /** Drops the delivery's reference on its stored message; the message row goes with the last one. */
  private release(d: Delivery): void {
    if (!d.seq) return;
    d.seq = 0;
    const msg = d.msg;
    if (--msg.refs === 0 && msg.id !== 0) {
      this.store.deleteMessage(msg.id);
      msg.id = 0;
    }
  }

  private allocatePacketId(): number {
    for (let tries = 0; tries < 0xffff; tries++) {
      const id = this.nextPacketId;
      this.nextPacketId = id === 0xffff ? 1 : id + 1;
      if (!this.inflight.has(id)) return id;
    }
    throw new Error('no free packet identifier');
  }
}

let lastMessageId = 0;
/** Message ids are handed out in memory (no round trip to the store); seeded from the store at start. */
export function nextMessageId(): number {
  return ++lastMessageId;
}
export function seedMessageId(maxId: number): void {
  lastMessageId = Math.max(lastMessageId, maxId);
}
