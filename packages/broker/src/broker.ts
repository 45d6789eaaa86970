/**
 * The broker: accepts transports, owns namespaces (topic spaces), sessions and the router, and
 * offers the in-process API that the platform's services use to publish and subscribe.
 */
import { EventEmitter } from 'node:events';
import type { ProtocolVersion, QoS, SubscriptionRequest, WillPacket } from './codec/packets.js';
import { RC } from './codec/reason-codes.js';
import { ClusterInterest, type ClusterLink } from './cluster.js';
import { Connection } from './connection.js';
import type { ConnectionHost } from './connection-host.js';
import type { BrokerHooks, DisconnectReason } from './hooks.js';
import { forwardedProperties, Message } from './message.js';
import { Namespace } from './namespace.js';
import type { BrokerLogger, BrokerOptions, MessageTap, Publisher, PublishInput, RouteOutcome, ServiceHandler } from './broker-types.js';
import { MQTT_DEFAULTS, type BrokerConfig } from './options.js';
import { Delivery } from './delivery.js';
import { DropLog } from './drop-log.js';
import { Delivered, Session, type SessionContext, type SessionNamespace, type Subscription } from './session.js';
import { BrokerStats } from './stats.js';
import { MemoryStore } from './store/memory.js';
import { MessageRefs } from './store/message-refs.js';
import { loadState } from './store/restore.js';
import { SessionMoves } from './session-moves.js';
import { toStored } from './store/stored-message.js';
import type { BrokerStore } from './store/types.js';
import { InProcessServices } from './in-process-services.js';
import { hasWildcard, type ParsedFilter } from './topics.js';
import { WriteBatcher, type Transport } from './transport/transport.js';

/** How long a publisher's acknowledgement may wait for a congested subscriber. */
const CONGESTION_TIMEOUT_MS = 5000;

const silent: BrokerLogger = { debug() {}, info() {}, warn() {}, error() {} };

const allowAll: BrokerHooks = { authenticate: () => ({ reasonCode: 0 }) };

/** A will is published for the session's client, whether or not it is still connected. */
function willPublisher(session: Session): Publisher {
  return { clientId: session.clientId, principal: session.client?.principal, transport: session.client?.transport };
}

export type { BrokerLogger, BrokerOptions, MessageTap, Publisher, PublishInput, RouteOutcome, ServiceHandler } from './broker-types.js';

export class Broker extends EventEmitter implements ConnectionHost<Connection> {
  readonly config: BrokerConfig;
  readonly stats = new BrokerStats();
  readonly store: BrokerStore;
  readonly hooks: BrokerHooks;
  readonly log: BrokerLogger;
  readonly batcher = new WriteBatcher();
  private readonly namespaces = new Map<string, SessionNamespace>();
  private readonly connections = new Set<Connection>();
  private readonly services: InProcessServices;
  /** The rules engine's view of every routed message (set by the platform). */
  tap: MessageTap | undefined;
  private attached = 0;
  private readonly sweepTimer: NodeJS.Timeout;
  private closed = false;
  /** Hands routed messages to the matching sessions. */
  private readonly delivery: Delivery;
  /** What routing a message from another node found congested (reused: routing is synchronous). */
  private readonly fromCluster: RouteOutcome = { congested: [], refused: false };
  /** The cluster this node is part of, and what its sessions need from it. */
  private cluster: ClusterInterest | undefined;
  readonly drops: DropLog;
  private readonly sessionContext: SessionContext;
  /** Sessions moving between this node and the others of its cluster. */
  readonly moves: SessionMoves;

  constructor(options: BrokerOptions = {}) {
    super();
    const { store, hooks, logger, ...config } = options;
    this.config = { ...MQTT_DEFAULTS, ...stripUndefined(config) };
    this.store = store ?? new MemoryStore();
    this.hooks = hooks ?? allowAll;
    this.log = logger ?? silent;
    this.drops = new DropLog(this.stats, this.log);
    this.delivery = new Delivery(this.hooks, this.stats);
    const drops = this.drops;
    this.sessionContext = {
      store: this.store,
      refs: new MessageRefs(this.store),
      config: this.config,
      onDrop: (reason, session) => drops.note(reason, session),
    };
    this.services = new InProcessServices(this.config.hashMatchesParent, this.log);
    this.moves = new SessionMoves({
      config: this.config,
      refs: this.sessionContext.refs,
      context: this.sessionContext,
      log: this.log,
      newSession: (ns, clientId) => this.newSession(ns, clientId),
      interest: () => this.cluster,
      namespace: (mount) => this.namespace(mount),
      endSession: (session) => this.endSession(session),
      scheduleExpiry: (session) => this.scheduleExpiry(session),
      whenDurable: () => this.whenDurable(),
      closeTakenOver: (session) =>
        (session.link as Connection | null)?.terminate(
          'DUPLICATE_CLIENTID',
          RC.SESSION_TAKEN_OVER,
          'the session was taken over on another node',
        ),
    });
    this.restore();
    this.sweepTimer = setInterval(() => this.sweep(), 1000);
    this.sweepTimer.unref();
  }

  /** Connections that completed CONNECT. */
  get openConnections(): number {
    return this.attached;
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Retained messages in all namespaces. */
  get retainedCount(): number {
    let n = 0;
    for (const ns of this.namespaces.values()) n += ns.retained.size;
    return n;
  }

  /** Bytes of the QoS 1/2 messages waiting in sessions. */
  get queuedBytes(): number {
    let n = 0;
    for (const ns of this.namespaces.values()) for (const s of ns.sessions.values()) n += s.queuedBytes;
    return n;
  }

  /** QoS 1/2 messages waiting in sessions (queued, not in flight). */
  get queuedCount(): number {
    let n = 0;
    for (const ns of this.namespaces.values()) for (const s of ns.sessions.values()) n += s.queued;
    return n;
  }

  get sessionCount(): number {
    let n = 0;
    for (const ns of this.namespaces.values()) n += ns.sessions.size;
    return n;
  }

  /** Takes a new client transport. */
  handle(transport: Transport): Connection {
    const conn = new Connection(this, transport);
    if (this.closed) {
      transport.destroy();
      return conn;
    }
    this.connections.add(conn);
    return conn;
  }

  /** Whether a client with this id has a live connection in the namespace. */
  isConnected(mount: string, clientId: string): boolean {
    return Boolean(this.namespaces.get(mount)?.sessions.get(clientId)?.link);
  }

  namespace(mount: string): SessionNamespace {
    let ns = this.namespaces.get(mount);
    if (!ns) {
      ns = new Namespace(mount, this.config.hashMatchesParent);
      this.namespaces.set(mount, ns);
    }
    return ns;
  }

  // ---- sessions ------------------------------------------------------------------------------

  /** Binds a connection that passed CONNECT to its session; returns Session Present. */
  attach(conn: Connection, clean: boolean, expiry: number, version: ProtocolVersion): boolean {
    const client = conn.client!;
    const ns = this.namespace(client.mount);
    const current = ns.sessions.get(client.clientId);
    if (current?.link) {
      (current.link as Connection).terminate('DUPLICATE_CLIENTID', RC.SESSION_TAKEN_OVER, 'another connection took over the session');
    }
    let session = ns.sessions.get(client.clientId);
    let present = false;
    if (session && !clean) {
      present = true;
      if (session.expiryTimer) clearTimeout(session.expiryTimer);
      if (session.pendingWill) {
        clearTimeout(session.pendingWill.timer);
        session.pendingWill = undefined;
      }
    } else {
      if (session) this.endSession(session);
      session = this.newSession(ns, client.clientId);
      ns.sessions.set(client.clientId, session);
    }
    const wasStored = session.stored;
    session.protocolVersion = version;
    session.expiryInterval = expiry;
    session.disconnectedAt = null;
    session.link = conn;
    session.client = client;
    conn.session = session;
    if (session.persistent) {
      if (wasStored) session.saveMeta();
      else session.persistAll();
    } else if (wasStored) {
      session.forgetStored();
    }
    this.attached++;
    return present;
  }

  /** Called once when a connection closes, whatever the cause. */
  detach(conn: Connection, reason: DisconnectReason): void {
    if (!this.connections.delete(conn)) return;
    const session = conn.session;
    conn.session = null;
    if (!session || session.link !== conn) return;
    this.attached--;
    session.link = null;
    // Publishers waiting on this client's queue go on: an offline queue's bound is enforced by dropping.
    session.releaseWaiters(true);
    if (conn.will) this.dispatchWill(session, conn.will);
    if (session.expiryInterval === 0) {
      this.endSession(session);
    } else {
      session.disconnectedAt = Date.now();
      session.saveMeta();
      this.scheduleExpiry(session);
    }
    this.log.debug({ clientId: session.clientId, reason }, 'client disconnected');
    this.emit('client:disconnected', conn.client, reason);
  }

  /** MQTT 5 DISCONNECT may change the session expiry (§3.14.2.2.2). */
  setSessionExpiry(session: Session, seconds: number): void {
    if (seconds === session.expiryInterval) return;
    session.expiryInterval = seconds;
    if (seconds === 0) session.forgetStored();
    else session.saveMeta();
  }

  private scheduleExpiry(session: Session): void {
    const left = session.expiryInterval * 1000 - (Date.now() - (session.disconnectedAt ?? Date.now()));
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    session.expiryTimer = setTimeout(
      () => {
        if (!session.link) this.endSession(session);
      },
      Math.max(0, Math.min(left, 2 ** 31 - 1)),
    );
    session.expiryTimer.unref();
  }

  /** Ends a session: its will (if delayed) goes out now, its subscriptions and queue are dropped. */
  private endSession(session: Session): void {
    const ns = session.namespace;
    if (session.pendingWill) {
      clearTimeout(session.pendingWill.timer);
      const will = session.pendingWill.will;
      session.pendingWill = undefined;
      this.route(ns, this.willMessage(session, will), undefined, willPublisher(session));
    }
    for (const sub of session.subscriptions.values()) {
      ns.tree.remove(sub.filter, sub, sub.group);
      this.cluster?.remove(ns.mount, sub);
    }
    session.destroy();
    if (session.stored) session.forgetStored();
    if (ns.sessions.get(session.clientId) === session) ns.sessions.delete(session.clientId);
  }

  private willMessage(session: Session, will: WillPacket): Message {
    const msg = new Message(will.topic, will.payload, will.qos, will.retain, forwardedProperties(will.properties));
    msg.origin = session.clientId;
    return msg;
  }

  private dispatchWill(session: Session, will: WillPacket): void {
    const delay = will.properties.willDelayInterval ?? 0;
    if (delay > 0 && session.expiryInterval > 0) {
      const timer = setTimeout(
        () => {
          if (session.pendingWill?.timer !== timer) return;
          session.pendingWill = undefined;
          this.route(session.namespace, this.willMessage(session, will), undefined, willPublisher(session));
        },
        Math.min(delay, session.expiryInterval) * 1000,
      );
      timer.unref();
      session.pendingWill = { will, timer };
      return;
    }
    this.route(session.namespace, this.willMessage(session, will), undefined, willPublisher(session));
  }

  // ---- subscriptions -------------------------------------------------------------------------

  /** Adds or replaces a subscription; returns whether it is new. */
  subscribe(session: Session, req: SubscriptionRequest, parsed: ParsedFilter, qos: QoS, subscriptionId: number | undefined): boolean {
    const existing = session.subscriptions.get(req.filter);
    if (existing) {
      existing.qos = qos;
      existing.noLocal = req.noLocal;
      existing.retainAsPublished = req.retainAsPublished;
      existing.retainHandling = req.retainHandling;
      existing.subscriptionId = subscriptionId;
      session.addSubscription(existing);
      this.cluster?.updated(session.namespace.mount, existing);
      return false;
    }
    const sub: Subscription = {
      session,
      key: req.filter,
      filter: parsed.filter,
      group: parsed.group,
      qos,
      noLocal: req.noLocal,
      retainAsPublished: req.retainAsPublished,
      retainHandling: req.retainHandling,
      subscriptionId,
    };
    session.addSubscription(sub);
    session.namespace.tree.add(sub.filter, sub, sub.group);
    this.cluster?.add(session.namespace.mount, sub);
    return true;
  }

  unsubscribe(session: Session, key: string): boolean {
    const sub = session.removeSubscription(key);
    if (!sub) return false;
    session.namespace.tree.remove(sub.filter, sub, sub.group);
    this.cluster?.remove(session.namespace.mount, sub);
    return true;
  }

  /** Retained messages for a new subscription, per its Retain Handling option (§3.3.1.3). */
  sendRetained(session: Session, key: string, isNew: boolean): void {
    const sub = session.subscriptions.get(key);
    if (!sub || sub.group !== undefined) return;
    if (sub.retainHandling === 2 || (sub.retainHandling === 1 && !isNew)) return;
    const wildcard = hasWildcard(sub.filter);
    if (wildcard && !this.config.retainedOnWildcardSubscribe) return;
    const ns = session.namespace;
    let found: Message[];
    if (wildcard) found = ns.retained.match(sub.filter);
    else {
      const m = ns.retained.get(sub.filter);
      found = m ? [m] : [];
    }
    const now = Date.now();
    const ids = sub.subscriptionId !== undefined ? [sub.subscriptionId] : undefined;
    const hooks = this.hooks;
    for (const m of found) {
      if (m.expired(now)) {
        this.setRetained(ns, m.topic, null);
        continue;
      }
      if (hooks.authorizeReceive && session.client && !hooks.authorizeReceive(session.client, m.topic)) continue;
      session.deliver(m, Math.min(m.qos, sub.qos) as QoS, true, ids);
    }
  }

  // ---- routing -------------------------------------------------------------------------------

  /**
   * Delivers a message to every matching subscription in its namespace and to in-process services.
   * Returns true when the store now holds writes that must commit before the publish is acknowledged.
   * Sessions whose queue is over its bound are added to `outcome.congested`: the publisher's
   * acknowledgement waits for them (back-pressure instead of loss).
   */
  route(ns: SessionNamespace, msg: Message, outcome?: RouteOutcome, publisher?: Publisher): boolean {
    if (this.tap !== undefined && this.tap.message(ns.mount, msg, publisher)) return false;
    const cluster = this.cluster;
    if (cluster !== undefined) {
      const remote = cluster.link.forward(ns.mount, msg, outcome !== undefined && msg.qos > 0);
      if (outcome !== undefined) outcome.remote = remote;
    }
    // In a cluster the link balances shared groups across every node's members (ClusterLink).
    this.delivery.toMatching(ns, msg, outcome, cluster === undefined);
    // Read now: a service handler below may publish, and route again.
    const { offered, refused } = this.delivery.tally;
    // A message gets a store row id when a persistent session queues it.
    let mustCommit = msg.id !== 0;
    if (msg.retain && this.setRetained(ns, msg.topic, msg) && msg.qos > 0) mustCommit = true;
    const served = this.services.size > 0 ? this.services.dispatch(ns.mount, msg, outcome, publisher) : 0;
    if (outcome) outcome.refused = offered > 0 && refused === offered && served === 0 && !msg.retain;
    return mustCommit;
  }

  /** Stores or clears a retained message; returns whether a message was stored. */
  private setRetained(ns: SessionNamespace, topic: string, msg: Message | null): boolean {
    if (msg === null || msg.payload.length === 0) {
      if (ns.retained.get(topic)) {
        ns.retained.set(topic, null);
        this.store.deleteRetained(ns.mount, topic);
      }
      return false;
    }
    ns.retained.set(topic, msg);
    this.store.putRetained(ns.mount, toStored(msg, 0));
    return true;
  }

  /** Whether the reserved-topic rule (AWS profile: only `$aws/...`) lets a client use this topic or filter. */
  reservedTopicAllowed(topic: string): boolean {
    const prefixes = this.config.reservedTopicPrefixes;
    if (!prefixes || topic.charCodeAt(0) !== 36) return true;
    return prefixes.some((p) => topic.startsWith(p));
  }

  // ---- cluster -------------------------------------------------------------------------------

  /**
   * Joins a cluster through `link`: what this node routes is forwarded, and the link hears of every
   * filter its sessions need (those of restored sessions at once). Returns what leaves it.
   */
  joinCluster(link: ClusterLink): () => void {
    if (this.cluster) throw new Error('the broker is already in a cluster');
    const interest = new ClusterInterest(link);
    for (const ns of this.namespaces.values())
      for (const session of ns.sessions.values()) for (const sub of session.subscriptions.values()) interest.add(ns.mount, sub);
    this.cluster = interest;
    return () => {
      if (this.cluster === interest) this.cluster = undefined;
    };
  }

  /** In a cluster, a session of this client that another node holds, moved here first (SessionMoves.claim); null outside one. */
  claimSession(mount: string, clientId: string, clean: boolean): Promise<boolean> | null {
    return this.cluster?.link.claim ? this.moves.claim(mount, clientId, clean) : null;
  }

  /** In a cluster, resolves once the other nodes have heard of this node's subscriptions so far; undefined when they have. */
  clusterSettled(): Promise<void> | undefined {
    return this.cluster?.link.settled?.();
  }

  /** What the cluster link needs again after it reconnected. */
  clusterInterest(): Iterable<{ mount: string; filter: string; group: string | undefined }> {
    return this.cluster?.needed() ?? [];
  }

  /**
   * A message another node routed: to this node's plain subscriptions only. The origin node ran the
   * tap and the in-process services, stored it as retained, and serves shared groups through the link.
   */
  routeFromCluster(mount: string, msg: Message): void {
    const ns = this.namespaces.get(mount);
    if (ns === undefined) return;
    const outcome = msg.qos > 0 ? this.fromCluster : undefined;
    this.delivery.toMatching(ns, msg, outcome, false);
    if (outcome === undefined || outcome.congested.length === 0) return;
    this.cluster?.congested(mount, outcome.congested);
    outcome.congested.length = 0;
  }

  /** A message for one shared group, which the link chose this node to serve. Returns whether a member took it. */
  deliverToGroup(mount: string, filter: string, group: string, msg: Message): boolean {
    const g = this.namespaces.get(mount)?.tree.sharedGroup(filter, group);
    if (g === undefined) return false;
    const r = this.delivery.toGroup(g, msg, undefined);
    return r !== undefined && r !== Delivered.Refused;
  }

  /** A retained message (or its removal, empty payload) set on another node, which stored it. */
  retainFromCluster(mount: string, msg: Message): void {
    const ns = this.namespace(mount);
    ns.retained.set(msg.topic, msg.payload.length === 0 ? null : msg);
  }

  // ---- in-process API ------------------------------------------------------------------------

  /** Publishes from inside the server (services, HTTP publish). Returns whether a store commit is pending for it. */
  publish(input: PublishInput): boolean {
    const payload = typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload;
    const msg = new Message(input.topic, payload, input.qos ?? 0, input.retain ?? false, input.properties ?? {});
    return this.route(this.namespace(input.mount ?? ''), msg, undefined, input.publisher);
  }

  /**
   * Delivers a message to one client's session and nobody else, whether or not it subscribed: AWS
   * IoT answers Jobs requests this way (reference dataplane §3.1). The receive authorization still
   * applies. Returns whether the client has a session to deliver to.
   */
  deliverTo(mount: string, clientId: string, input: PublishInput): boolean {
    const s = this.namespaces.get(mount)?.sessions.get(clientId);
    if (!s) return false;
    if (this.hooks.authorizeReceive && s.client && !this.hooks.authorizeReceive(s.client, input.topic)) {
      this.stats.dropped.not_authorized++;
      return true;
    }
    const payload = typeof input.payload === 'string' ? Buffer.from(input.payload) : input.payload;
    const msg = new Message(input.topic, payload, input.qos ?? 0, false, input.properties ?? {});
    s.deliver(msg, msg.qos, false, undefined);
    return true;
  }

  /** Resolves once everything routed so far is durable. */
  whenDurable(): Promise<void> {
    return new Promise((resolve) => this.store.afterCommit(resolve));
  }

  /**
   * Subscribes an in-process handler. Without `mount` it sees every namespace. Handlers run
   * synchronously in the router, after the message went to client sessions: keep them short.
   */
  subscribeService(filter: string, handler: ServiceHandler, mount?: string): () => void {
    return this.services.add(filter, handler, mount);
  }

  /** The retained message of a topic, unless there is none or it expired (MQTT 5 Message Expiry). */
  retained(mount: string, topic: string): Message | null {
    const m = this.namespaces.get(mount)?.retained.get(topic);
    return m && !m.expired(Date.now()) ? m : null;
  }

  /** Every unexpired retained message of a namespace, in topic order (ListRetainedMessages pages through it). */
  retainedMessages(mount: string): Message[] {
    const ns = this.namespaces.get(mount);
    if (!ns) return [];
    const now = Date.now();
    const out: Message[] = [];
    for (const m of ns.retained.all()) if (!m.expired(now)) out.push(m);
    return out.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
  }

  /** Closes a client's connection from the server side (API-initiated). Returns whether it was connected. */
  disconnectClient(mount: string, clientId: string, opts: { cleanSession?: boolean; preventWill?: boolean } = {}): boolean {
    const session = this.namespaces.get(mount)?.sessions.get(clientId);
    if (!session) return false;
    const conn = session.link as Connection | null;
    if (opts.cleanSession) session.expiryInterval = session.expiryInterval > 0 ? session.expiryInterval : 0;
    if (conn) {
      if (opts.preventWill) conn.will = undefined;
      if (opts.cleanSession) this.setSessionExpiry(session, 0);
      conn.terminate('API_INITIATED_DISCONNECT', RC.ADMINISTRATIVE_ACTION, 'disconnected by the administrator');
      return true;
    }
    if (opts.cleanSession) this.endSession(session);
    return false;
  }

  /** Closes connections whose mount or client match, e.g. when credentials are revoked. */
  disconnectWhere(predicate: (c: Connection) => boolean, reason: DisconnectReason, code: number, text: string): number {
    let n = 0;
    for (const conn of [...this.connections]) {
      if (conn.client && predicate(conn)) {
        conn.terminate(reason, code, text);
        n++;
      }
    }
    return n;
  }

  /** Drops every session, subscription and retained message and closes all connections (test-mode reset). */
  reset(): void {
    for (const conn of [...this.connections]) conn.terminate('SERVER_INITIATED_DISCONNECT', RC.ADMINISTRATIVE_ACTION, 'server state reset');
    for (const ns of this.namespaces.values()) {
      for (const s of [...ns.sessions.values()]) {
        s.pendingWill = undefined;
        this.endSession(s);
      }
    }
    this.namespaces.clear();
    this.moves.clear();
    this.store.clear();
    this.sessionContext.refs.clear();
  }

  /** Stops the broker: MQTT 5 clients get DISCONNECT 0x8B, state is flushed to the store. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    for (const conn of [...this.connections]) {
      conn.terminate('SERVER_INITIATED_DISCONNECT', RC.SERVER_SHUTTING_DOWN, 'server shutting down');
    }
    this.batcher.flush();
    this.moves.clear();
    for (const ns of this.namespaces.values()) {
      for (const s of ns.sessions.values()) {
        if (s.expiryTimer) clearTimeout(s.expiryTimer);
        if (s.pendingWill) clearTimeout(s.pendingWill.timer);
      }
    }
    this.store.flush();
    this.store.close();
  }

  // ---- housekeeping --------------------------------------------------------------------------

  /**
   * Keep-alive (1.5 × the negotiated value) and CONNECT timeouts; publishers held back longer than
   * CONGESTION_TIMEOUT_MS by a client that does not drain its queue are let go (its queue then
   * grows to the hard limit and drops).
   */
  private sweep(): void {
    const now = Date.now();
    for (const ns of this.namespaces.values()) {
      for (const s of ns.sessions.values()) if (s.hasWaiters && now - s.waitingSince > CONGESTION_TIMEOUT_MS) s.releaseWaiters(true);
    }
    const connectDeadline = this.config.connectTimeout * 1000;
    for (const conn of this.connections) {
      if (conn.state === 'connecting' || conn.state === 'authenticating') {
        if (now - conn.openedAt > connectDeadline) conn.terminate('CLIENT_ERROR');
      } else if (conn.state === 'open' && conn.keepAliveMs > 0 && !conn.inputPaused && now - conn.lastActivity > conn.keepAliveMs * 1.5) {
        conn.terminate('MQTT_KEEP_ALIVE_TIMEOUT', RC.KEEP_ALIVE_TIMEOUT, 'keep alive timeout');
      }
    }
  }

  /** Rebuilds sessions, queues and retained messages from the store; ends sessions that expired meanwhile. */
  private restore(): void {
    const sessions = loadState(
      this.store,
      this.sessionContext.refs,
      this.config,
      (mount) => this.namespace(mount),
      (ns, clientId) => this.newSession(ns, clientId),
    );
    const now = Date.now();
    for (const session of sessions) {
      const age = now - (session.disconnectedAt ?? now);
      if (age >= session.expiryInterval * 1000) this.endSession(session);
      else this.scheduleExpiry(session);
    }
  }

  private newSession(ns: SessionNamespace, clientId: string): Session {
    return new Session(ns, clientId, this.sessionContext);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
