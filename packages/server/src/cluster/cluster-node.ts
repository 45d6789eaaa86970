/**
 * This process as one node of a cluster: its broker linked to the others' over NATS (messages,
 * shared subscriptions, retained), and the change feed that keeps what each node holds in memory
 * in step with the shared database.
 */
import type { Broker } from '@thicket/broker';
import type { Logger } from 'pino';
import type { Platform } from '../platform/assemble.js';
import { ChangeFeed } from './change-feed.js';
import { NatsLink, type SessionRows } from './nats-link.js';

export interface ClusterNodeOptions {
  servers: string[];
  nodeId: string;
  /** How often every capability re-reads what it holds, whatever it heard (lost announcements). */
  reloadEveryMs?: number;
  /** The broker's rows in the shared database, for persistent sessions moving between nodes. */
  sessions?: SessionRows;
  log: Logger;
}

const RELOAD_EVERY_MS = 30_000;

export class ClusterNode {
  private readonly timer: NodeJS.Timeout;

  private constructor(
    readonly nodeId: string,
    private readonly link: NatsLink,
    private readonly feed: ChangeFeed,
    platform: Platform,
    every: number,
  ) {
    this.timer = setInterval(() => void platform.reloadAll(), every);
    this.timer.unref();
  }

  static async join(broker: Broker, platform: Platform, opts: ClusterNodeOptions): Promise<ClusterNode> {
    const log = opts.log.child({ component: 'cluster' });
    const link = await NatsLink.connect(broker, { servers: opts.servers, nodeId: opts.nodeId, sessions: opts.sessions, log });
    const feed = new ChangeFeed(link.connection, {
      prefix: link.prefix,
      origin: link.origin,
      log,
      changed: (tables) => platform.changed(tables),
    });
    // What other nodes wrote while this one was starting (before it listened) is read now.
    await platform.reloadAll();
    log.info({ node: opts.nodeId }, 'joined the cluster');
    return new ClusterNode(opts.nodeId, link, feed, platform, opts.reloadEveryMs ?? RELOAD_EVERY_MS);
  }

  /** Tables this node wrote: the other nodes re-read them. */
  announce(tables: ReadonlySet<string>): void {
    this.feed.announce(tables);
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
    this.feed.close();
    await this.link.close();
  }
}
