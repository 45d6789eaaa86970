/**
 * The confirmations between nodes as they travel over NATS (the bookkeeping is confirmations.ts):
 *
 * - `_ack.<node>`: "your messages up to n that reached me are stored", cumulative per origin, sent
 *   once the store committed what they brought;
 * - `_gack.<node>`: one message of a shared group, taken (or not) by a member on the answering node;
 * - `_node.<node>`: whether a node is there. A question numbered by the asker is also a barrier: NATS
 *   delivers it after the asker's earlier messages, so the answer, sent once the store committed,
 *   confirms every one of them that reached the node. A wait for a message that never reached it
 *   (it had just dropped the filter) ends then, instead of timing out.
 *
 * While a session moves to this node its capture keeps messages in memory only, so every outgoing
 * confirmation is held until it is drained and stored (`hold`).
 */
import type { RemoteConfirmation } from '@thicket/broker';
import type { Msg, NatsConnection } from 'nats';
import { Confirmations, OwedConfirmations } from './confirmations.js';

const PROBE_TIMEOUT_MS = 1000;

export interface ExchangeOptions {
  nc: NatsConnection;
  prefix: string;
  /** This node's boot (`node/uuid`). */
  origin: string;
  /** The number of the last message this node forwarded. */
  seq(): number;
  /** The node of another node's boot, while its interest is known. */
  nodeOf(origin: string): string | undefined;
  /** Runs `callback` once the broker store committed what is pending now. */
  afterCommit(callback: () => void): void;
  timeoutMs: number;
  probeAfterMs: number;
}

const nodeOfOrigin = (origin: string): string => origin.slice(0, origin.lastIndexOf('/'));

function parse<T>(m: Msg): T | undefined {
  try {
    return JSON.parse(Buffer.from(m.data).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

export class ConfirmationExchange {
  readonly confirmations: Confirmations;
  private readonly owed: OwedConfirmations;
  private readonly probing = new Set<string>();
  /** Holds on outgoing confirmations (sessions moving here), and the highest owed per origin meanwhile. */
  private holds = 0;
  private readonly held = new Map<string, number>();

  constructor(private readonly opts: ExchangeOptions) {
    this.confirmations = new Confirmations({ timeoutMs: opts.timeoutMs, probeAfterMs: opts.probeAfterMs });
    this.owed = new OwedConfirmations((origin, seq) => this.send(`_ack.${nodeOfOrigin(origin)}`, { o: origin, b: opts.origin, s: seq }));
  }

  /** Listens for answers and questions addressed to node `nodeId`. */
  listen(nodeId: string): void {
    const { nc, prefix } = this.opts;
    nc.subscribe(`${prefix}_ack.${nodeId}`, { callback: (err, m) => (err ? undefined : this.onConfirmed(m)) });
    nc.subscribe(`${prefix}_gack.${nodeId}`, { callback: (err, m) => (err ? undefined : this.onGroupConfirmed(m)) });
    nc.subscribe(`${prefix}_node.${nodeId}`, { callback: (err, m) => (err ? undefined : this.onProbe(m)) });
  }

  /** A wait for `origins` to store message `seq`, and for a node to take it for each of `groups`. */
  expect(origins: readonly string[], seq: number, groups?: ReadonlySet<string>): RemoteConfirmation {
    return this.confirmations.expect(origins, seq, groups);
  }

  /** `origin`'s messages up to `seq` that reached this node are stored (call once committed). */
  owe(origin: string, seq: number): void {
    if (this.holds === 0) return this.owed.add(origin, seq);
    if ((this.held.get(origin) ?? 0) < seq) this.held.set(origin, seq);
  }

  /** Message `seq` of `origin` for shared group `group` was taken here (`ok`) and stored (call once committed). */
  owedForGroup(origin: string, seq: number, group: string, ok: boolean): void {
    if (origin === this.opts.origin) this.confirmations.groupConfirmed(seq, group, ok);
    else this.send(`_gack.${nodeOfOrigin(origin)}`, { o: origin, s: seq, k: group, ok });
  }

  /** Holds every outgoing confirmation until the returned function is called. */
  hold(): () => void {
    this.holds++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.holds > 0) return;
      for (const [origin, seq] of this.held) this.owed.add(origin, seq);
      this.held.clear();
    };
  }

  /** Times out late waits and asks the nodes they wait on whether they are there. */
  sweep(): void {
    for (const origin of this.confirmations.sweep()) this.probe(origin);
  }

  /** `origin` stopped needing a filter: what was on its way to it may never arrive, so it is asked at once. */
  dropped(origin: string): void {
    if (this.confirmations.waitingOn(origin)) this.probe(origin);
  }

  /** Asks `origin`'s node whether it is there; its answer confirms what of this node's reached it (see above). */
  probe(origin: string): void {
    const node = this.opts.nodeOf(origin);
    if (node === undefined || this.probing.has(origin)) return;
    this.probing.add(origin);
    const ask = JSON.stringify({ o: this.opts.origin, s: this.opts.seq() });
    this.opts.nc
      .request(`${this.opts.prefix}_node.${node}`, ask, { timeout: PROBE_TIMEOUT_MS })
      .then(
        (m) => {
          const answer = parse<{ b?: string; s?: number }>(m);
          if (answer?.b === origin && typeof answer.s === 'number') this.confirmations.confirmed(origin, answer.s);
        },
        () => this.confirmations.unanswered(origin),
      )
      .finally(() => this.probing.delete(origin));
  }

  private send(subject: string, body: object): void {
    try {
      this.opts.nc.publish(`${this.opts.prefix}${subject}`, JSON.stringify(body));
    } catch {
      // Without NATS the origin times out and its publisher sends again.
    }
  }

  private onConfirmed(m: Msg): void {
    const ack = parse<{ o: string; b: string; s: number }>(m);
    if (ack && ack.o === this.opts.origin && typeof ack.b === 'string' && typeof ack.s === 'number')
      this.confirmations.confirmed(ack.b, ack.s);
  }

  private onGroupConfirmed(m: Msg): void {
    const ack = parse<{ o: string; s: number; k: string; ok: boolean }>(m);
    if (ack && ack.o === this.opts.origin && typeof ack.s === 'number' && typeof ack.k === 'string')
      this.confirmations.groupConfirmed(ack.s, ack.k, ack.ok === true);
  }

  /**
   * Another node asks whether this one is there (or, empty, whether the name is taken). With its
   * numbering, the answer confirms its messages so far, unless confirmations are held (a session is
   * moving here: what it caught is not stored yet).
   */
  private onProbe(m: Msg): void {
    const ask = m.data.length > 0 ? parse<{ o?: string; s?: number }>(m) : undefined;
    if (!ask || typeof ask.o !== 'string' || typeof ask.s !== 'number' || this.holds > 0) return void m.respond();
    // A store that cannot commit now (its database is down) does not make this node look dead.
    let answered = false;
    const answer = (data?: string): void => {
      if (answered) return;
      answered = true;
      clearTimeout(alive);
      m.respond(data);
    };
    const alive = setTimeout(answer, PROBE_TIMEOUT_MS / 2);
    const s = ask.s;
    this.opts.afterCommit(() => answer(JSON.stringify({ b: this.opts.origin, s })));
  }
}
