/**
 * This process as one node of a cluster: its broker linked to the others' over NATS (messages,
 * shared subscriptions, retained), and the change feed that keeps what each node holds in memory
 * in step with the shared database.
 */
import { HolderAliveError, type Broker } from '@thicket/broker';
import type { Logger } from 'pino';
import type { Platform } from '../platform/assemble.js';
import { ChangeFeed } from './change-feed.js';
import type { ChangedKey } from '../store/sql/changed-keys.js';
import type { SqlEngine } from '../store/sql/engine.js';
import type { Leases } from './leases.js';
import { NatsLink, type SessionRows } from './nats-link.js';

export interface ClusterNodeOptions {
  servers: string[];
  nodeId: string;
  /** How often every capability re-reads what it holds, whatever it heard (lost announcements). */
  reloadEveryMs?: number;
  /** The broker's rows in the shared database, for persistent sessions moving between nodes. */
  sessions?: SessionRows;
  /** Once-per-cluster work; with `engine`, the sessions of dead nodes are taken over. */
  leases?: Leases;
  engine?: SqlEngine;
  log: Logger;
}

/** How often the holder of the orphans lease looks for sessions of dead nodes. */
const ORPHAN_SWEEP_MS = 5000;
/** Sessions taken over per sweep, so one sweep stays short. */
const ORPHANS_PER_SWEEP = 1000;

const RELOAD_EVERY_MS = 30_000;

export class ClusterNode {
  private readonly timer: NodeJS.Timeout;
  private readonly sweeper: NodeJS.Timeout | undefined;
  private sweeping = false;

  private constructor(
    readonly nodeId: string,
    private readonly link: NatsLink,
    private readonly feed: ChangeFeed,
    private readonly platform: Platform,
    every: number,
    private readonly broker: Broker,
    private readonly opts: ClusterNodeOptions,
  ) {
    this.timer = setInterval(() => void platform.reloadAll(), every);
    this.timer.unref();
    if (opts.leases && opts.engine && opts.sessions) {
      this.sweeper = setInterval(() => void this.sweepOrphans(), Math.min(ORPHAN_SWEEP_MS, Math.ceil(opts.leases.ttl / 3)));
      this.sweeper.unref();
    }
  }

  /**
   * The persistent sessions of nodes that died (no heartbeat for the lease time) come to this node,
   * when it holds the orphans lease: their subscriptions draw messages again and their expiry runs.
   * A dead node's message rows go once none of its sessions is left, and so does its interest on
   * every node (until then publishes its sessions need are refused rather than acknowledged).
   */
  async sweepOrphans(): Promise<number> {
    const { leases, engine } = this.opts;
    if (!leases || !engine || this.sweeping || !leases.holds('broker.orphans')) return 0;
    this.sweeping = true;
    let adopted = 0;
    try {
      for (const dead of await leases.deadNodes()) {
        const rows = await engine.all<{ mount: string; client_id: string }>(
          engine.db.selectFrom('mqtt_sessions').select(['mount', 'client_id']).where('node', '=', dead).limit(ORPHANS_PER_SWEEP),
        );
        const took = await this.adoptAll(rows);
        if (took === undefined) {
          this.opts.log.info({ node: dead }, 'a node whose sessions were being taken over is back');
          continue;
        }
        adopted += took;
        // One not adopted here may have been claimed meanwhile by its client connecting to a node;
        // one still there waits for the next sweep, as do more than one sweep takes.
        const left = await engine.all(engine.db.selectFrom('mqtt_sessions').select('client_id').where('node', '=', dead).limit(1));
        if (left.length > 0) continue;
        await engine.run(engine.db.deleteFrom('mqtt_messages').where('node', '=', dead));
        // Its sessions subscribe here now (announced before this): no node waits for its confirmations.
        this.link.nodeGone(dead);
      }
      if (adopted > 0) this.opts.log.info({ sessions: adopted }, 'took over the sessions of nodes that died');
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'taking over the sessions of dead nodes failed; will retry');
    } finally {
      this.sweeping = false;
    }
    return adopted;
  }

  /** Adopts the sessions; undefined once their node turns out to be alive again (what it holds is its own). */
  private async adoptAll(rows: ReadonlyArray<{ mount: string; client_id: string }>): Promise<number | undefined> {
    let adopted = 0;
    try {
      for (const r of rows) if (await this.broker.moves.adoptOrphan(r.mount, r.client_id)) adopted++;
    } catch (err) {
      if (err instanceof HolderAliveError) return undefined;
      throw err;
    }
    return adopted;
  }

  static async join(broker: Broker, platform: Platform, opts: ClusterNodeOptions): Promise<ClusterNode> {
    const log = opts.log.child({ component: 'cluster' });
    const leases = opts.leases;
    const link = await NatsLink.connect(broker, {
      servers: opts.servers,
      nodeId: opts.nodeId,
      sessions: opts.sessions,
      alive: leases && ((node) => leases.aliveQuery(node)),
      log,
    });
    const feed = new ChangeFeed(link.connection, {
      prefix: link.prefix,
      origin: link.origin,
      nodeId: opts.nodeId,
      log,
      changed: (tables, keys) => platform.changed(tables, keys),
      others: () => link.others(),
    });
    link.onOriginGone((origin) => feed.forget(origin));
    // What other nodes wrote while this one was starting (before it listened) is read now.
    await platform.reloadAll();
    log.info({ node: opts.nodeId }, 'joined the cluster');
    return new ClusterNode(opts.nodeId, link, feed, platform, opts.reloadEveryMs ?? RELOAD_EVERY_MS, broker, { ...opts, log });
  }

  /**
   * Tables this node wrote, and the rows when its store marked them: the other nodes re-read those
   * rows, and whole only the tables the rows' capabilities do not hold.
   */
  announce(tables: ReadonlySet<string>, keys: readonly ChangedKey[] | undefined): void {
    if (keys === undefined) return this.feed.announce(tables);
    const covered = this.platform.tablesRefreshedBy(keys);
    this.feed.announce(new Set([...tables].filter((t) => !covered.has(t))), keys);
  }

  /** Where this node's writes stand now, for `applied`. */
  writeMark(): number {
    return this.feed.mark();
  }

  /**
   * Resolves once every other node re-read the tables this node wrote so far, so that what an API
   * call wrote is what any node answers next; undefined when nothing was written since `mark`.
   */
  applied(mark: number): Promise<void> | undefined {
    return this.feed.applied(mark);
  }

  /** Whether NATS is reachable now. */
  get connected(): boolean {
    return this.link.connected;
  }

  /** Resolves once NATS has everything this node sent so far. */
  async flush(): Promise<void> {
    await this.feed.flush();
    await this.link.flush();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.sweeper);
    this.feed.close();
    await this.link.close();
  }
}
