/**
 * A client session (MQTT 5 §4.1): subscriptions, and the QoS 1/2 messages queued for the client or
 * in flight to it. It outlives its connection when it is persistent (session expiry > 0).
 */
import type { QoS, WillPacket } from './codec/packets.js';
import type { ClientInfo } from './hooks.js';
import type { Message } from './message.js';
import type { Namespace } from './namespace.js';
import type { BrokerConfig } from './options.js';
import type { MessageRefs } from './store/message-refs.js';
import type { BrokerStore, StoredQueueItem, StoredSubscription } from './store/types.js';
import { fromStored } from './store/stored-message.js';
import { QueuePages } from './queue-pages.js';

/** The topic space a session belongs to, with its sessions and their subscriptions. */
export type SessionNamespace = Namespace<Session, Subscription>;

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

/**
 * Queued messages past which a connected session holds its QoS 1/2 publishers back (their
 * acknowledgements wait) instead of growing its queue further; maxQueued when that is lower.
 * The client's in-flight window (maxInflight) already keeps its connection busy, so a longer queue
 * adds latency, not throughput; and messages that wait long enough to outlive a young-generation
 * GC cycle get promoted, which at 1000 made fan-in tip into a mode where GC took twice the time
 * (`fanin-100-q1` 0.7x, see the README's benchmark notes).
 */
export const CONGESTION_QUEUED = 250;

/**
 * A connected session's queue may hold this many times its congestion bound even when maxQueued is
 * lower: a small maxQueued bounds offline queues without dropping from a client that is reading.
 */
export const CONNECTED_QUEUE_FACTOR = 10;

export type DropReason =
  'queue_full' | 'queue_full_bytes' | 'expired' | 'offline_qos0' | 'slow_consumer' | 'packet_too_large' | 'not_authorized';

/** What deliver() did with a message. */
export const Delivered = {
  /** Sent, queued, or (QoS 0) written or dropped as QoS 0 is. */
  Taken: 0,
  /** Queued, and the queue is over the congestion bound: the publisher's acknowledgement should wait. */
  Congested: 1,
  /** Dropped because the session's queue is full (messages or bytes). */
  Refused: 2,
} as const;
export type Delivered = (typeof Delivered)[keyof typeof Delivered];

/** What every session of a broker shares. */
export interface SessionContext {
  readonly store: BrokerStore;
  readonly refs: MessageRefs;
  readonly config: Pick<BrokerConfig, 'maxQueued' | 'maxQueuedBytes' | 'queueDropPolicy'>;
  onDrop(reason: DropReason, session: Session): void;
}

/** Bytes a queued message counts against maxQueuedBytes. */
function sizeOf(msg: Message): number {
  return msg.payload.length + msg.topic.length;
}

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
  /** Queued deliveries only in the store, after those in memory. */
  private readonly pages: QueuePages;
  /** Deliveries that arrived while the spilled ones are read back for good (forgetStored), to go after them. */
  private arrivedWhileForgetting: Delivery[] | undefined;
  /** Bytes of queued (not in-flight) messages, spilled ones included. */
  queuedBytes = 0;
  /** Drops not yet reported in a log line, and when the last line went out (see DropLog). */
  dropsUnlogged = 0;
  dropLoggedAt = 0;
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

  private readonly store: BrokerStore;

  constructor(
    readonly namespace: SessionNamespace,
    readonly clientId: string,
    private readonly ctx: SessionContext,
  ) {
    this.store = ctx.store;
    this.pages = new QueuePages(ctx.store, namespace.mount, clientId);
  }

  get mount(): string {
    return this.namespace.mount;
  }

  get persistent(): boolean {
    return this.expiryInterval > 0;
  }

  /** Queued QoS 1/2 messages held in memory (not those in flight, nor those only in the store). */
  get queuedInMemory(): number {
    return this.queue.length - this.head + (this.arrivedWhileForgetting?.length ?? 0);
  }

  /** Queued QoS 1/2 messages, in memory or spilled to the store (not those in flight). */
  get queued(): number {
    return this.queue.length - this.head + this.pages.spilled + (this.arrivedWhileForgetting?.length ?? 0);
  }

  private get congestionBound(): number {
    return Math.min(this.ctx.config.maxQueued, CONGESTION_QUEUED);
  }

  set lastSeq(n: number) {
    this.seq = Math.max(this.seq, n);
  }

  /**
   * Hands a matched message to the session: sent now, queued, or dropped.
   *
   * The queue is bounded by maxQueued messages (for a connected session at least
   * CONNECTED_QUEUE_FACTOR times the congestion bound) and maxQueuedBytes; past the bound
   * `queueDropPolicy` drops the arriving message or the oldest queued ones. A connected session
   * whose queue passes the congestion bound answers Congested: the publisher's acknowledgement
   * waits for it to drain (see onUncongested) instead of the queue growing to its hard bound.
   */
  deliver(msg: Message, qos: QoS, retain: boolean, subscriptionIds: number[] | undefined): Delivered {
    if (qos === 0) {
      if (!this.link) this.ctx.onDrop('offline_qos0', this);
      else this.link.sendQos0(msg, retain, subscriptionIds);
      return Delivered.Taken;
    }
    const { maxQueuedBytes, queueDropPolicy } = this.ctx.config;
    let maxQueued = this.ctx.config.maxQueued;
    if (this.link) maxQueued = Math.max(maxQueued, this.congestionBound * CONNECTED_QUEUE_FACTOR);
    const size = sizeOf(msg);
    let reason = this.overBound(maxQueued, maxQueuedBytes, size);
    if (reason) {
      if (queueDropPolicy === 'newest' || (maxQueuedBytes > 0 && size > maxQueuedBytes)) {
        this.ctx.onDrop(reason, this);
        return Delivered.Refused;
      }
      while (reason && this.dropOldest()) {
        this.ctx.onDrop(reason, this);
        reason = this.overBound(maxQueued, maxQueuedBytes, size);
      }
      if (reason) {
        // Nothing left to drop and still no room (maxQueued 0).
        this.ctx.onDrop(reason, this);
        return Delivered.Refused;
      }
    }
    const d: Delivery = { msg, qos, retain, subscriptionIds, seq: 0, packetId: 0, state: 0 };
    this.queuedBytes += size;
    if (this.persistent) {
      this.persist(d);
      if (this.pages.spills(this.queue.length - this.head)) {
        // Its row (and reference) stays in the store; pageIn() brings it back in order.
        this.pages.spill(d.msg.id);
        this.drain();
        return this.link !== null && this.queued >= this.congestionBound ? Delivered.Congested : Delivered.Taken;
      }
      this.pages.memorySeq = d.seq;
    }
    if (this.arrivedWhileForgetting) this.arrivedWhileForgetting.push(d);
    else this.queue.push(d);
    this.drain();
    return this.link !== null && this.queued >= this.congestionBound ? Delivered.Congested : Delivered.Taken;
  }

  /** Which bound a message of `size` bytes would break if queued now, if any. */
  private overBound(maxQueued: number, maxQueuedBytes: number, size: number): DropReason | null {
    if (this.queued >= maxQueued) return 'queue_full';
    if (maxQueuedBytes > 0 && this.queuedBytes + size > maxQueuedBytes) return 'queue_full_bytes';
    return null;
  }

  /**
   * Drops the oldest queued message (policy `oldest`); false when nothing is queued, or when the
   * oldest are being read back from a store that cannot read synchronously (then the newest goes).
   */
  private dropOldest(): boolean {
    if (this.head === this.queue.length && !this.pageIn()) return false;
    const d = this.queue[this.head]!;
    this.queue[this.head++] = undefined as unknown as Delivery;
    this.queuedBytes -= sizeOf(d.msg);
    this.discard(d);
    return true;
  }

  /**
   * Reads the next spilled deliveries back from the store into memory; false when there are none,
   * or when they come later (a store that reads only asynchronously: then they are sent as they
   * arrive). Their references were counted when they were spilled and stay with them.
   */
  private pageIn(): boolean {
    const items = this.pages.next(false, (later) => {
      this.hold(later);
      this.drain();
    });
    if (items) this.hold(items);
    return items !== undefined && items.length > 0;
  }

  /** Deliveries read back from the store go after those in memory. */
  private hold(items: readonly StoredQueueItem[]): void {
    if (this.head > 0) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    for (const { entry, message } of items) {
      const msg = fromStored(message);
      msg.id = message.id;
      this.queue.push({
        msg,
        qos: entry.qos,
        retain: entry.retain,
        subscriptionIds: entry.subscriptionIds ?? undefined,
        seq: entry.seq,
        packetId: 0,
        state: 0,
      });
    }
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
    if (!waiters || (!force && this.link && this.queued >= this.congestionBound)) return;
    this.waiters = null;
    for (const cb of waiters) cb();
  }

  /** Adds a delivery read back from the store at start (in seq order); past the memory window it stays there. */
  restore(d: Delivery): void {
    // New queue rows must not reuse (and so overwrite) the sequence numbers of restored ones.
    this.lastSeq = d.seq;
    if (d.state === 0) {
      this.queuedBytes += sizeOf(d.msg);
      if (this.pages.spills(this.queue.length - this.head)) this.pages.spill(d.msg.id);
      else {
        this.queue.push(d);
        this.pages.memorySeq = d.seq;
      }
    } else this.inflight.set(d.packetId, d);
    if (d.packetId >= this.nextPacketId) this.nextPacketId = d.packetId + 1 > 0xffff ? 1 : d.packetId + 1;
  }

  /** Sends queued messages while the connection has room. */
  drain(): void {
    const link = this.link;
    if (!link) return;
    const now = Date.now();
    while (link.canSendMore(this.inflight.size)) {
      if (this.head === this.queue.length && !this.pageIn()) break;
      const d = this.queue[this.head]!;
      this.queue[this.head++] = undefined as unknown as Delivery;
      this.queuedBytes -= sizeOf(d.msg);
      if (d.msg.expired(now)) {
        this.discard(d);
        this.ctx.onDrop('expired', this);
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
    if (this.queue.length > this.head) this.pages.memorySeq = this.queue[this.queue.length - 1]!.seq;
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
    this.pages.end((id) => this.ctx.refs.release(id));
    for (const d of this.inflight.values()) this.release(d);
    for (let i = this.head; i < this.queue.length; i++) this.release(this.queue[i]!);
    for (const d of this.arrivedWhileForgetting ?? []) this.release(d);
    this.arrivedWhileForgetting = undefined;
    this.inflight.clear();
    this.queue = [];
    this.head = 0;
    this.queuedBytes = 0;
    this.inboundQos2.clear();
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
  }

  /** The session stops being persistent: its rows leave the store while it lives on in memory. */
  forgetStored(): void {
    this.stored = false;
    // Spilled deliveries come back into memory first: the session lives on without the store.
    const now = this.pages.next(true, (items) => this.hold(items));
    if (now) this.hold(now);
    if (this.pages.spilled === 0) return this.dropRows();
    // A store that reads only asynchronously: what arrives meanwhile waits behind the spilled ones.
    this.arrivedWhileForgetting = [];
    void this.pages
      .all((items) => this.hold(items))
      .then(() => {
        const arrived = this.arrivedWhileForgetting;
        this.arrivedWhileForgetting = undefined;
        // Ended meanwhile (destroy released everything): only the rows are left to delete.
        if (arrived === undefined) return this.store.deleteSession(this.mount, this.clientId);
        for (const d of arrived) this.queue.push(d);
        if (this.stored) {
          // Persistent again meanwhile (a client came back with an expiry): the rows stay, the arrivals join them.
          for (const d of arrived) this.persist(d);
          return this.drain();
        }
        this.dropRows();
        this.drain();
      });
  }

  /** Deletes the session's rows; what it holds in memory no longer refers to them. */
  private dropRows(): void {
    this.store.deleteSession(this.mount, this.clientId);
    for (const d of this.inflight.values()) this.release(d);
    for (let i = this.head; i < this.queue.length; i++) this.release(this.queue[i]!);
  }

  private persist(d: Delivery): void {
    d.seq = ++this.seq;
    this.store.putQueueEntry({
      mount: this.mount,
      clientId: this.clientId,
      seq: d.seq,
      messageId: this.ctx.refs.acquire(d.msg),
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
    this.ctx.refs.release(d.msg.id);
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
