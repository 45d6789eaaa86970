/**
 * The broker's cluster link over plain core NATS (no JetStream): a node subscribes only to the
 * subjects (cluster/subjects.ts) of the filters its own sessions hold, and announces those filters
 * (`_interest`, remote-interest.ts); it publishes a message it routes on the subject of its topic
 * only when another node's filters match it, or a shared group does. NATS carries a message only to
 * nodes that need it, and a node's own traffic costs NATS nothing.
 *
 * - Plain subscriptions: a node receives a message once per NATS subscription that matches it, and
 *   overlapping filters (`a/#` and `a/+`) would deliver it twice; every message carries its origin
 *   (node and boot) and a sequence number, and a node drops what it has seen. NATS keeps one
 *   publisher's order on one connection, so "not above the last seen" is enough.
 * - Shared subscriptions: one queue subscription per (mount, group, filter) on each node with
 *   members; NATS hands each message to one of those nodes, including the origin itself.
 * - Retained messages: broadcast on a subject every node listens to, so each node's retained set is
 *   complete whatever its clients subscribe to (the origin stores them).
 * - QoS 1/2 publishes: each node also announces the filters its persistent sessions hold at QoS 1/2;
 *   the publisher's node asks the nodes whose such filters match to confirm storing the message,
 *   and acknowledges its publisher only then (`_ack.<node>`, confirmation-exchange.ts); a shared
 *   group's message is confirmed by whichever node took it, when the group has persistent members.
 * - Subscriptions: every node answers each announcement it applied (`_iack.<node>`), and a SUBACK
 *   that added a filter waits for the answers (settlement.ts).
 * - Back-pressure: a session congested by messages from other nodes holds their publishers of what
 *   it subscribed to (`_hold`, remote-holds.ts).
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  RemoteConfirmation,
  type Broker,
  type ClientInfo,
  type ClaimedSession,
  type ClusterLink,
  type HolderCheck,
  type Message,
  type MovedSession,
  type StoredSession,
} from '@thicket/broker';
import { connect, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { ConfirmationExchange } from './confirmation-exchange.js';
import { decodeRouted, encodeRouted, type Routed } from './frame.js';
import { RemoteHolds, bothConfirmed, type HoldNote } from './remote-holds.js';
import { Settlement } from './settlement.js';
import { LocalInterest, RemoteInterest, groupKey, type InterestNote } from './remote-interest.js';
import { filterToSubjects, subjectToTopic, topicToSubject } from './subjects.js';

export interface NatsLinkOptions {
  /** NATS server URLs (`nats://host:port`). */
  servers: string | string[];
  /** This node's name (`--node-id`). */
  nodeId: string;
  /** Subject prefix, so several clusters can share one NATS. */
  prefix?: string;
  /** The broker's rows in the shared database: where persistent sessions move between nodes from. */
  sessions?: SessionRows;
  /** Whether a node is alive, as a locking query (Leases.aliveQuery): a live holder that does not answer keeps its session. */
  alive?: HolderCheck['alive'];
  log: Logger;
  /** How long another node has to confirm storing a QoS 1/2 message before its publisher is refused. */
  confirmTimeoutMs?: number;
}

/** What moving a persistent session needs of the broker's store (PostgresStore). */
export interface SessionRows {
  holders(mount: string, clientId: string): Promise<string[]>;
  sessionElsewhere(mount: string, clientId: string): Promise<StoredSession | null>;
  adoptSession(mount: string, clientId: string, newMessageId: () => number, check?: HolderCheck): Promise<MovedSession | null>;
  dropElsewhere(mount: string, clientId: string, check?: HolderCheck): Promise<void>;
}

/** How long a node waits for the holder of a session to let go before it takes it anyway (the holder is gone). */
const RELEASE_WAIT_MS = 2000;
const CONFIRM_TIMEOUT_MS = 5000;
/** A confirmation this late makes the node ask whether the other one is there at all. */
const PROBE_AFTER_MS = 1000;
const SWEEP_EVERY_MS = 200;
/** Each node's snapshot of its interest goes out this often as well: it heals whatever announcement NATS lost. */
const SNAPSHOT_EVERY_MS = 30_000;
/** How long a SUBACK waits at most for the other nodes to hear of its new filters. */
const SETTLE_TIMEOUT_MS = 1000;

/** A client connected at a node (the `_connected` subject). */
interface Connected {
  o: string;
  m: string;
  c: string;
  /** connectedAt, epoch ms at the announcing node. */
  t: number;
}

export class NatsLink implements ClusterLink {
  /** This node's boot: node id and a random part (messages from an earlier boot are another origin). */
  readonly origin: string;
  readonly prefix: string;
  private seq = 0;
  private readonly lastSeen = new Map<string, number>();
  private readonly groupScratch = new Set<string>();
  private readonly subs = new Map<string, Subscription[]>();
  private leave: (() => void) | undefined;
  /** Messages taken from other nodes (plain and shared), for tests and metrics. */
  received = 0;
  /** Messages sent to NATS for other nodes or shared groups (not counting retained copies). */
  forwarded = 0;
  /** This node's plain filters and the other nodes', for confirmations. */
  private readonly local: LocalInterest;
  readonly remote: RemoteInterest;
  readonly exchange: ConfirmationExchange;
  /** Other nodes' congested sessions, which this node's publishers wait for. */
  readonly holds = new RemoteHolds();
  private readonly settlement: Settlement;
  /** Announcements of other nodes applied here and not answered yet: origin -> its node and number. */
  private readonly heard = new Map<string, { n: string; s: number }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private resyncAsked = false;
  /** Messages NATS refused to carry to the other nodes. */
  notForwarded = 0;
  private lastForwardLog = 0;
  private disconnected = false;
  private readonly goneListeners: Array<(origin: string) => void> = [];

  private constructor(
    private readonly nc: NatsConnection,
    private readonly broker: Broker,
    private readonly opts: NatsLinkOptions,
  ) {
    this.origin = `${opts.nodeId}/${randomUUID()}`;
    this.prefix = opts.prefix ?? 'thicket';
    this.local = new LocalInterest(this.origin, opts.nodeId);
    this.remote = new RemoteInterest(this.origin, (origin) => {
      this.exchange.confirmations.forget(origin);
      this.settlement.forget(origin);
      for (const gone of this.goneListeners) gone(origin);
    });
    this.settlement = new Settlement(
      () => this.local.seq,
      () => this.remote.origins(),
      SETTLE_TIMEOUT_MS,
    );
    this.exchange = new ConfirmationExchange({
      nc,
      prefix: this.prefix,
      origin: this.origin,
      seq: () => this.seq,
      nodeOf: (origin) => this.remote.nodeOf(origin),
      afterCommit: (callback) => broker.store.afterCommit(callback),
      timeoutMs: opts.confirmTimeoutMs ?? CONFIRM_TIMEOUT_MS,
      probeAfterMs: PROBE_AFTER_MS,
    });
  }

  /** Connects to NATS and joins the broker to the cluster. */
  static async connect(broker: Broker, opts: NatsLinkOptions): Promise<NatsLink> {
    const nc = await connect({ servers: opts.servers, name: `thicket ${opts.nodeId}`, maxReconnectAttempts: -1 });
    const link = new NatsLink(nc, broker, opts);
    nc.subscribe(`${link.prefix}_retained.>`, { callback: (err, m) => (err ? undefined : link.onRetained(m)) });
    // Two nodes under one name would take each other's sessions: the second one refuses to start.
    const taken = await nc.request(`${link.prefix}_node.${opts.nodeId}`, '', { timeout: 500 }).then(
      () => true,
      () => false,
    );
    if (taken) {
      await nc.close();
      throw new Error(`another node of the cluster already runs as --node-id ${opts.nodeId}; give each node its own name`);
    }
    link.exchange.listen(opts.nodeId);
    nc.subscribe(`${link.prefix}_connected`, { callback: (err, m) => (err ? undefined : link.onConnected(m)) });
    nc.subscribe(`${link.prefix}_release.${opts.nodeId}`, { callback: (err, m) => (err ? undefined : link.onRelease(m)) });
    nc.subscribe(`${link.prefix}_released.${opts.nodeId}`, { callback: (err, m) => (err ? undefined : link.onReleased(m)) });
    nc.subscribe(`${link.prefix}_interest`, { callback: (err, m) => (err ? undefined : link.onInterest(m)) });
    nc.subscribe(`${link.prefix}_iack.${opts.nodeId}`, { callback: (err, m) => (err ? undefined : link.onHeard(m)) });
    nc.subscribe(`${link.prefix}_hold`, { callback: (err, m) => (err ? undefined : link.onHold(m)) });
    // Known to the others (empty, numbered 0) before the restored sessions' filters are announced.
    link.announce(link.local.snapshot());
    link.announce({ o: link.origin, n: opts.nodeId, hello: 1 });
    link.timers.push(
      setInterval(() => link.sweepConfirmations(), SWEEP_EVERY_MS),
      setInterval(() => link.announce(link.local.snapshot()), SNAPSHOT_EVERY_MS),
    );
    for (const t of link.timers) t.unref();
    const connected = (client: ClientInfo): void => link.announceConnected(client);
    broker.on('client:connected', connected);
    const leave = broker.joinCluster(link);
    link.leave = () => {
      broker.off('client:connected', connected);
      leave();
    };
    void link.watch();
    return link;
  }

  /** NATS subscriptions held for the broker's filters (not counting the retained one). */
  get subscriptionCount(): number {
    let n = 0;
    for (const list of this.subs.values()) n += list.length;
    return n;
  }

  forward(mount: string, msg: Message, confirm = false): RemoteConfirmation | undefined {
    const durable = confirm && msg.qos > 0;
    const confirming = durable && !this.remote.empty ? this.remote.matching(mount, msg.topic) : [];
    const groups = durable ? this.durableGroups(mount, msg.topic) : undefined;
    const held = durable && this.holds.size > 0 ? this.holds.wait(mount, msg.topic) : undefined;
    // Only what another node's sessions or a shared group (served through NATS, also from here) need;
    // what a node must confirm goes even when it has no client now (it fails or confirms either way).
    const routed = confirming.length > 0 || this.remote.needed(mount, msg.topic) || this.local.sharedMatch(mount, msg.topic);
    if (!routed && !msg.retain) return held;
    const seq = ++this.seq;
    msg.clusterOrigin = this.origin;
    msg.clusterSeq = seq;
    const frame = encodeRouted(this.origin, seq, msg, confirming.length > 0 || groups !== undefined);
    // On the routing path: what NATS refuses (over its max_payload, a connection closed for good)
    // is counted and logged, never thrown at the publisher's connection.
    try {
      if (routed) {
        this.nc.publish(topicToSubject(this.prefix, mount, msg.topic), frame);
        this.forwarded++;
      }
      if (msg.retain) this.nc.publish(`${this.prefix}_retained.${topicToSubject('m', mount, msg.topic)}`, frame);
      // Registered after the publish, before any answer can arrive (NATS calls back on a later turn).
      if (confirming.length === 0 && groups === undefined) return held;
      const confirmed = this.exchange.expect(confirming, seq, groups);
      return held ? bothConfirmed(confirmed, held) : confirmed;
    } catch (err) {
      this.notForwarded++;
      const now = Date.now();
      if (now - this.lastForwardLog >= 10_000) {
        this.lastForwardLog = now;
        this.opts.log.warn({ err: (err as Error).message, topic: msg.topic }, 'a message could not be forwarded to the other nodes');
      }
      if (confirming.length === 0 && groups === undefined) return held;
      // The nodes that needed it never got it: its publisher is not acknowledged.
      const failed = new RemoteConfirmation();
      failed.settle(false);
      return failed;
    }
  }

  /** The shared groups with persistent members (here or on another node) that take `topic`; undefined when none. */
  private durableGroups(mount: string, topic: string): Set<string> | undefined {
    const out = this.groupScratch;
    out.clear();
    this.local.durableGroups(mount, topic, out);
    if (!this.remote.empty) this.remote.durableGroups(mount, topic, out);
    // Copied only when needed: Confirmations keeps the keys, not the set.
    return out.size > 0 ? out : undefined;
  }

  congested(mount: string, clientId: string, filters: string[]): void {
    this.sendHold({ o: this.origin, m: mount, c: clientId, f: filters });
  }

  relieved(mount: string, clientId: string): void {
    this.sendHold({ o: this.origin, m: mount, c: clientId });
  }

  private sendHold(note: HoldNote): void {
    try {
      this.nc.publish(`${this.prefix}_hold`, JSON.stringify(note));
    } catch {
      // Without NATS no other node's publisher reaches this one anyway.
    }
  }

  private onHold(m: Msg): void {
    const note = this.parse<HoldNote>(m);
    if (!note || typeof note !== 'object' || note.o === this.origin) return;
    if (!this.holds.apply(note)) this.opts.log.warn({ subject: m.subject }, 'a malformed hold of a congested session was ignored');
  }

  /** The boots (`node/uuid`) of the other nodes known now. */
  others(): Iterable<string> {
    return this.remote.origins();
  }

  /** Calls `listener` with each other node's boot that leaves the cluster. */
  onOriginGone(listener: (origin: string) => void): void {
    this.goneListeners.push(listener);
  }

  settled(): Promise<void> | undefined {
    return this.settlement.wait();
  }

  private onHeard(m: Msg): void {
    const note = this.parse<{ o: string; b: string; s: number }>(m);
    if (note && note.o === this.origin && typeof note.b === 'string' && typeof note.s === 'number') this.settlement.heardBy(note.b, note.s);
  }

  /** Answers the announcements applied this turn, one answer per origin. */
  private answerHeard(origin: string, node: string): void {
    const seq = this.remote.seqOf(origin);
    if (seq === undefined) return;
    if (this.heard.size === 0)
      setImmediate(() => {
        for (const [o, { n, s }] of this.heard) {
          try {
            this.nc.publish(`${this.prefix}_iack.${n}`, JSON.stringify({ o, b: this.origin, s }));
          } catch {
            // The origin stops waiting for this node after its timeout.
          }
        }
        this.heard.clear();
      });
    this.heard.set(origin, { n: node, s: seq });
  }

  durableInterest(mount: string, filter: string, present: boolean, group?: string): void {
    this.announce(this.local.change(mount, filter, present, group));
  }

  interest(mount: string, filter: string, group: string | undefined, present: boolean): void {
    const note = this.local.route(mount, filter, group, present);
    if (note !== undefined) this.announce(note);
    const key = `${mount}\u0000${group ?? ''}\u0000${filter}`;
    if (!present) {
      for (const s of this.subs.get(key) ?? []) s.unsubscribe();
      this.subs.delete(key);
      return;
    }
    if (this.subs.has(key)) return;
    // A queue group's name must be a subject token: a digest of what identifies the MQTT group.
    const queue = group === undefined ? undefined : createHash('sha256').update(key).digest('hex').slice(0, 32);
    const callback =
      group === undefined
        ? (err: Error | null, m: Msg) => (err ? undefined : this.onPlain(m))
        : (err: Error | null, m: Msg) => (err ? undefined : this.onShared(m, mount, filter, group));
    this.subs.set(
      key,
      filterToSubjects(this.prefix, mount, filter).map((subject) => this.nc.subscribe(subject, { queue, callback })),
    );
  }

  /** The NATS connection, for what else travels between nodes (change announcements). */
  get connection(): NatsConnection {
    return this.nc;
  }

  /** Whether NATS is reachable now (it reconnects by itself). */
  get connected(): boolean {
    return !this.nc.isClosed() && !this.disconnected;
  }

  /** Resolves once NATS has processed everything this node sent so far (subscriptions included). */
  flush(): Promise<void> {
    return this.nc.flush();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    // Filters still held here belong to persistent sessions the cluster must take over first.
    if (!this.nc.isClosed()) this.announce({ o: this.origin, n: this.opts.nodeId, bye: 1, p: this.local.size > 0 });
    this.holds.clear();
    this.settlement.close();
    this.leave?.();
    this.leave = undefined;
    this.subs.clear();
    if (!this.nc.isClosed()) await this.nc.drain();
  }

  /**
   * A client connected here: a node where it is still connected (it moved without the old TCP
   * connection noticing) closes that connection with 0x8E and lets go of its session.
   */
  private announceConnected(client: ClientInfo): void {
    const note: Connected = { o: this.origin, m: client.mount, c: client.clientId, t: client.connectedAt };
    try {
      this.nc.publish(`${this.prefix}_connected`, JSON.stringify(note));
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'could not tell the cluster of a connection');
    }
  }

  /**
   * A client whose persistent session another node holds connected here: that node lets go (its
   * connection closes with 0x8E, its rows become durable), then this one copies the rows and tells
   * it to drop its references. A holder that does not answer is gone: its rows are taken as they are,
   * unless its heartbeat says it is alive (cut off from NATS, or starting again): then the move is
   * refused (HolderAliveError) rather than the session run on two nodes.
   */
  async claim(mount: string, clientId: string, clean: boolean, newMessageId: () => number): Promise<ClaimedSession | null> {
    const rows = this.opts.sessions;
    if (!rows) return null;
    const holders = await rows.holders(mount, clientId);
    if (holders.length === 0) return null;
    const ask = JSON.stringify({ m: mount, c: clientId, clean });
    const answered = new Set<string>();
    const seen: Array<Record<string, number>> = [];
    await Promise.all(
      holders.map((node) =>
        this.nc.request(`${this.prefix}_release.${node}`, ask, { timeout: RELEASE_WAIT_MS }).then(
          (m) => {
            answered.add(node);
            const answer = this.parse<{ had?: boolean; seen?: Record<string, number> }>(m);
            if (answer?.had && answer.seen && typeof answer.seen === 'object') seen.push(answer.seen);
          },
          () => undefined,
        ),
      ),
    );
    let moved: MovedSession | null = null;
    const check = this.opts.alive && { answered, alive: this.opts.alive };
    if (clean) await rows.dropElsewhere(mount, clientId, check);
    else moved = await rows.adoptSession(mount, clientId, newMessageId, check);
    const done = JSON.stringify({ m: mount, c: clientId });
    for (const node of answered) this.nc.publish(`${this.prefix}_released.${node}`, done);
    // What the holder had seen is in its rows; a holder that did not say may have seen anything.
    return moved && { ...moved, seen: seen.length === 1 && answered.size === holders.length ? seen[0] : undefined };
  }

  sessionElsewhere(mount: string, clientId: string): Promise<StoredSession | null> {
    return this.opts.sessions?.sessionElsewhere(mount, clientId) ?? Promise.resolve(null);
  }

  holdConfirmations(): () => void {
    return this.exchange.hold();
  }

  private onRelease(m: Msg): void {
    const ask = this.parse<{ m: string; c: string; clean: boolean }>(m);
    if (!ask || typeof ask.m !== 'string' || typeof ask.c !== 'string') return;
    const releasing = this.broker.moves.release(ask.m, ask.c, ask.clean === true);
    // Taken in the turn the session left routing: every message numbered up to here that matched it
    // is in its rows, and the new node's capture passes over those.
    const seen: Record<string, number> = { [this.origin]: this.seq };
    for (const [origin, seq] of this.lastSeen) seen[origin] = seq;
    releasing.then(
      (had) => m.respond(JSON.stringify({ had, seen })),
      (err: unknown) => this.opts.log.warn({ err: (err as Error).message }, 'letting a session go to another node failed'),
    );
  }

  private onReleased(m: Msg): void {
    const note = this.parse<{ m: string; c: string }>(m);
    if (note && typeof note.m === 'string' && typeof note.c === 'string') this.broker.moves.forget(note.m, note.c);
  }

  private parse<T>(m: Msg): T | undefined {
    try {
      return JSON.parse(Buffer.from(m.data).toString('utf8')) as T;
    } catch {
      return undefined;
    }
  }

  private onConnected(m: Msg): void {
    const note = this.parse<Connected>(m);
    if (!note || note.o === this.origin || typeof note.m !== 'string' || typeof note.c !== 'string' || typeof note.t !== 'number') return;
    if (this.broker.moves.takenOverElsewhere(note.m, note.c, note.t))
      this.opts.log.debug({ clientId: note.c }, 'session taken over on another node');
  }

  private onPlain(m: Msg): void {
    const at = subjectToTopic(this.prefix, m.subject);
    const routed = at === undefined ? undefined : this.decode(m, at.topic);
    if (at === undefined || routed === undefined || routed.origin === this.origin) return;
    const { origin, seq } = routed;
    const last = this.lastSeen.get(origin);
    if (last !== undefined && seq <= last) return;
    this.lastSeen.set(origin, seq);
    this.received++;
    routed.msg.clusterOrigin = origin;
    routed.msg.clusterSeq = seq;
    this.broker.routeFromCluster(at.mount, routed.msg);
    // Confirmed once what was stored for it commits; through the store even when nothing was, so
    // that confirmations (cumulative) go out in the order of the messages.
    if (routed.confirm) this.broker.store.afterCommit(() => this.exchange.owe(origin, seq));
  }

  /** Announces a change of this node's interest (or a snapshot, hello, bye, gone) to every node. */
  private announce(note: InterestNote): void {
    try {
      this.nc.publish(`${this.prefix}_interest`, JSON.stringify(note));
    } catch (err) {
      // Healed by the next snapshot (every SNAPSHOT_EVERY_MS, and after NATS reconnects).
      this.opts.log.warn({ err: (err as Error).message }, "could not announce this node's subscriptions to the cluster");
    }
  }

  private onInterest(m: Msg): void {
    const note = this.parse<InterestNote>(m);
    if (!note || typeof note !== 'object') return;
    if ('hello' in note && note.o !== this.origin) this.announce(this.local.snapshot());
    if ('bye' in note && typeof note.o === 'string') this.holds.dropOrigin(note.o);
    if ('gone' in note && typeof note.gone === 'string') this.holds.dropNode(note.gone);
    let outcome: 'ok' | 'resync';
    try {
      outcome = this.remote.apply(note);
    } catch {
      this.opts.log.warn({ subject: m.subject }, 'a malformed announcement of subscriptions was ignored');
      return;
    }
    if (outcome === 'ok' && 's' in note && note.o !== this.origin && typeof note.n === 'string') this.answerHeard(note.o, note.n);
    // A node that stopped needing a filter may never get messages sent for it meanwhile: ask at once.
    if ('a' in note && note.a === 0 && note.o !== this.origin) this.exchange.dropped(note.o);
    if (outcome === 'resync' && !this.resyncAsked) {
      // Asked once per turn of the event loop: every node answers a hello with its snapshot.
      this.resyncAsked = true;
      setImmediate(() => {
        this.resyncAsked = false;
        this.announce({ o: this.origin, n: this.opts.nodeId, hello: 1 });
      });
    }
  }

  /**
   * The sessions of a node that died were taken over (by this node, which holds the orphans lease):
   * every node drops its interest, whose confirmations the dead node can no longer give.
   */
  nodeGone(nodeId: string): void {
    const note: InterestNote = { gone: nodeId };
    this.remote.apply(note);
    this.announce(note);
  }

  /** Times out late confirmations, and asks late nodes whether they are there (a dead one fails new waits at once). */
  private sweepConfirmations(): void {
    if (this.holds.size > 0) this.holds.sweep();
    this.exchange.sweep();
  }

  private onShared(m: Msg, mount: string, filter: string, group: string): void {
    const at = subjectToTopic(this.prefix, m.subject);
    const routed = at === undefined ? undefined : this.decode(m, at.topic);
    if (routed === undefined) return;
    if (routed.origin !== this.origin) this.received++;
    const ok = this.broker.deliverToGroup(mount, filter, group, routed.msg);
    if (!routed.confirm) return;
    // Its publisher waits if the group has persistent members somewhere: confirmed once stored here.
    const { origin, seq } = routed;
    const key = groupKey(mount, group, filter);
    this.broker.store.afterCommit(() => this.exchange.owedForGroup(origin, seq, key, ok));
  }

  private onRetained(m: Msg): void {
    const at = subjectToTopic('m', m.subject.slice(this.prefix.length + '_retained.'.length));
    const routed = at === undefined ? undefined : this.decode(m, at.topic);
    if (at !== undefined && routed !== undefined && routed.origin !== this.origin) this.broker.retainFromCluster(at.mount, routed.msg);
  }

  private decode(m: Msg, topic: string): Routed | undefined {
    const routed = decodeRouted(m.data, topic);
    if (routed === undefined) this.opts.log.warn({ subject: m.subject }, 'a cluster message that is not a routed message was ignored');
    return routed;
  }

  /** Logs connection changes; NATS reconnects and resubscribes by itself. */
  private async watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      // Releases may be lost while NATS is away: this node's publishers stop waiting for them.
      if (s.type === 'disconnect' || s.type === 'reconnect') this.holds.clear();
      if (s.type === 'disconnect') this.disconnected = true;
      else if (s.type === 'reconnect') {
        this.disconnected = false;
        // Announcements may have been lost meanwhile: everyone's snapshot again.
        this.announce(this.local.snapshot());
        this.announce({ o: this.origin, n: this.opts.nodeId, hello: 1 });
      }
      if (s.type === 'disconnect' || s.type === 'reconnect') this.opts.log.warn({ nats: String(s.data) }, `cluster link ${s.type}`);
    }
  }
}
