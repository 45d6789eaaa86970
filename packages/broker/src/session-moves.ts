/**
 * Persistent sessions moving between the nodes of a cluster. The node a client reconnects to asks
 * the node that holds its session to let go (ClusterLink.claim); that node closes the client's old
 * connection (0x8E), takes the session out of routing and makes its rows durable, then waits for the
 * new node to say it copied them before it drops its references to the session's messages (the
 * copies have their own). The new node builds the session from the copied rows.
 */
import type { ClusterInterest, ClusterLink } from './cluster.js';
import type { BrokerConfig } from './options.js';
import type { Session, SessionContext, SessionNamespace } from './session.js';
import { SessionCapture } from './session-capture.js';
import type { BrokerLogger } from './broker-types.js';
import type { MessageRefs } from './store/message-refs.js';
import { deliveryOf, sessionFromStored } from './store/restore.js';
import { fromStored } from './store/stored-message.js';
import type { MovedSession, StoredSession } from './store/types.js';
import type { Message } from './message.js';
import { nextMessageId } from './store/message-refs.js';

/** How long a released session waits for the new node's word before this node stops waiting. */
const RELEASE_TIMEOUT_MS = 60_000;

export interface MoveHost {
  readonly config: BrokerConfig;
  readonly refs: MessageRefs;
  readonly context: SessionContext;
  readonly log: BrokerLogger;
  newSession(ns: SessionNamespace, clientId: string): Session;
  /** The cluster this node is in (its link and what its sessions need from it). */
  interest(): ClusterInterest | undefined;
  namespace(mount: string): SessionNamespace;
  endSession(session: Session): void;
  scheduleExpiry(session: Session): void;
  whenDurable(): Promise<void>;
  /** Closes the session's connection, if any, with 0x8E (Session taken over). */
  closeTakenOver(session: Session): void;
}

interface Capturing {
  capture: SessionCapture;
  unhold: (() => void) | undefined;
}

const keyOf = (mount: string, clientId: string): string => `${mount}\u0000${clientId}`;

export class SessionMoves {
  /** Sessions let go to another node, until it says it has their rows. */
  private readonly leaving = new Map<string, { session: Session; timer: NodeJS.Timeout }>();

  /** Moves in progress per client: a claim at CONNECT and the adoption of a dead node's session take turns. */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(private readonly host: MoveHost) {}

  /** Runs `fn` once no other move of this client's session is in progress on this node. */
  exclusive<T>(mount: string, clientId: string, fn: () => Promise<T>): Promise<T> {
    const key = keyOf(mount, clientId);
    const before = this.busy.get(key) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.busy.set(key, settled);
    void settled.then(() => {
      if (this.busy.get(key) === settled) this.busy.delete(key);
    });
    return run;
  }

  /**
   * Before a CONNECT binds to its session: a session of the client that another node of the cluster
   * holds moves here, installed offline with what was published for it while it moved (or, for a
   * clean start, is dropped there). Resolves whether a session came.
   */
  claim(mount: string, clientId: string, clean: boolean): Promise<boolean> {
    const link = this.host.interest()?.link;
    if (!link?.claim) return Promise.resolve(false);
    return this.exclusive(mount, clientId, async () => {
      const ns = this.host.namespace(mount);
      if (ns.sessions.has(clientId)) return false;
      let capturing: Capturing | undefined;
      if (!clean) {
        const stored = await link.sessionElsewhere?.(mount, clientId);
        // No other node holds a session of the client: nothing to move (one query per CONNECT).
        if (stored === null) return false;
        if (stored) capturing = await this.capture(ns, stored, link);
      }
      try {
        const moved = await link.claim!(mount, clientId, clean, nextMessageId);
        let session = ns.sessions.get(clientId);
        if (!session && moved) session = this.keepOrEnd(this.install(ns, moved));
        if (capturing && session) capturing.capture.drainInto(session, moved?.seen);
        return moved !== null;
      } finally {
        if (capturing) await this.endCapture(ns, capturing);
      }
    });
  }

  /**
   * Catches what the session another node holds for the client is sent from now on (SessionCapture),
   * once every other node knows this node wants it. Undefined when there is nothing to catch.
   */
  private async capture(ns: SessionNamespace, stored: StoredSession, link: ClusterLink): Promise<Capturing | undefined> {
    const capture = new SessionCapture(ns, stored, this.host.context, this.host.config);
    if (capture.subscriptions.size === 0) return undefined;
    const unhold = link.holdConfirmations?.();
    const interest = this.host.interest();
    for (const sub of capture.subscriptions.values()) {
      ns.tree.add(sub.filter, sub, undefined);
      interest?.add(ns.mount, sub);
    }
    await link.settled?.();
    return { capture, unhold };
  }

  /** The session is here (or did not come): the capture stops, and what it drained is acknowledged once stored. */
  private async endCapture(ns: SessionNamespace, { capture, unhold }: Capturing): Promise<void> {
    const interest = this.host.interest();
    for (const sub of capture.subscriptions.values()) {
      ns.tree.remove(sub.filter, sub, undefined);
      interest?.remove(ns.mount, sub);
    }
    // Not drained: the move failed and the client is refused; the session's rows stay where they were.
    if (capture.size > 0)
      this.host.log.warn(
        { clientId: capture.clientId, messages: capture.size },
        'messages published while a session moved from another node were lost: the move failed',
      );
    await this.host.whenDurable();
    unhold?.();
    capture.releaseWaiters(true);
  }

  /**
   * The persistent session of a node that died, taken here offline, so its subscriptions draw
   * messages again and its expiry runs here. Resolves whether it came.
   */
  adoptOrphan(mount: string, clientId: string): Promise<boolean> {
    const link = this.host.interest()?.link;
    if (!link?.claim) return Promise.resolve(false);
    return this.exclusive(mount, clientId, async () => {
      const ns = this.host.namespace(mount);
      if (ns.sessions.has(clientId)) return false;
      const moved = await link.claim!(mount, clientId, false, nextMessageId);
      if (!moved || ns.sessions.has(clientId)) return false;
      this.keepOrEnd(this.install(ns, moved));
      return true;
    });
  }

  /** A session installed offline: its expiry runs from its disconnect, and ends it at once if that is past. */
  private keepOrEnd(session: Session): Session | undefined {
    if (Date.now() - (session.disconnectedAt ?? Date.now()) >= session.expiryInterval * 1000) {
      this.host.endSession(session);
      return undefined;
    }
    this.host.scheduleExpiry(session);
    return session;
  }

  /**
   * Another node is taking this client's session (its client connected there): the connection here
   * closes with 0x8E; for a clean start there the session ends here, otherwise it leaves routing and
   * waits (letGo) for that node to copy its rows, which are durable when this resolves. Resolves
   * whether this node held the session.
   */
  async release(mount: string, clientId: string, clean: boolean): Promise<boolean> {
    const ns = this.host.namespace(mount);
    const session = ns.sessions.get(clientId);
    if (!session) return false;
    this.host.closeTakenOver(session);
    if (ns.sessions.get(clientId) === session) {
      if (clean || !session.stored) this.end(session);
      else this.letGo(ns, session);
    }
    await this.host.whenDurable();
    return true;
  }

  /**
   * The client connected to another node of the cluster at `connectedAt` (that node's clock). Its
   * connection here closes with 0x8E (Session taken over) as on a takeover on one node, and its
   * session leaves this node: a delayed will is cancelled (the client is back), the subscriptions
   * stop drawing messages here. A connection here that began clearly after (more than `skewMs`
   * later) is the newer one and stays. Returns whether anything was here.
   */
  takenOverElsewhere(mount: string, clientId: string, connectedAt: number, skewMs = 1000): boolean {
    const ns = this.host.namespace(mount);
    const session = ns.sessions.get(clientId);
    if (!session) return false;
    const connectedHere = session.client?.connectedAt;
    if (session.link && connectedHere !== undefined && connectedHere > connectedAt + skewMs) return false;
    this.host.closeTakenOver(session);
    if (ns.sessions.get(clientId) === session) this.end(session);
    return true;
  }

  /** Ends a session that moved on: its delayed will is cancelled (its client is back elsewhere). */
  private end(session: Session): void {
    if (session.pendingWill) clearTimeout(session.pendingWill.timer);
    session.pendingWill = undefined;
    this.host.endSession(session);
  }

  /** A session moved here: offline, in routing, its queue in memory with references to the copied messages. */
  install(ns: SessionNamespace, moved: MovedSession): Session {
    const session = sessionFromStored(ns, moved.session, this.host.config, (n, id) => this.host.newSession(n, id));
    const interest = this.host.interest();
    for (const sub of session.subscriptions.values()) interest?.add(ns.mount, sub);
    const messages = new Map<number, Message>();
    for (const { entry, message } of moved.queue) {
      let msg = messages.get(message.id);
      if (!msg) {
        msg = fromStored(message);
        msg.id = message.id;
        messages.set(message.id, msg);
      }
      this.host.refs.adopt(msg.id);
      session.restore(deliveryOf(entry, msg));
    }
    return session;
  }

  /**
   * Takes a session out of this node for another to copy: no subscription of it draws messages any
   * more, no timer of it runs (its expiry and delayed will are the new node's now), and it is kept
   * aside with its message references until `forget`.
   */
  letGo(ns: SessionNamespace, session: Session): void {
    if (session.pendingWill) clearTimeout(session.pendingWill.timer);
    session.pendingWill = undefined;
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    const interest = this.host.interest();
    for (const sub of session.subscriptions.values()) {
      ns.tree.remove(sub.filter, sub, sub.group);
      interest?.remove(ns.mount, sub);
    }
    if (ns.sessions.get(session.clientId) === session) ns.sessions.delete(session.clientId);
    const key = keyOf(ns.mount, session.clientId);
    this.leaving.get(key)?.session.destroy();
    // Without word from the new node (it failed before copying), the rows stay here in the store and
    // the references are kept: dropping them could delete message rows the session still needs.
    const timer = setTimeout(() => this.leaving.delete(key), RELEASE_TIMEOUT_MS);
    timer.unref();
    this.leaving.set(key, { session, timer });
  }

  /** The new node has copied the session: the references to this node's message rows go. */
  forget(mount: string, clientId: string): boolean {
    const key = keyOf(mount, clientId);
    const l = this.leaving.get(key);
    if (!l) return false;
    clearTimeout(l.timer);
    this.leaving.delete(key);
    l.session.destroy();
    return true;
  }

  clear(): void {
    for (const l of this.leaving.values()) clearTimeout(l.timer);
    this.leaving.clear();
  }
}
