/**
 * Work that must run once in a cluster (job rollouts and timeouts, scheduled jobs, taking over the
 * sessions of a node that died) runs on the node holding its lease: a row in PostgreSQL naming the
 * holder and when the lease lapses. The holder renews it well before then; when the holder dies,
 * the lease lapses and another node takes it at its next try. Each node also writes a heartbeat,
 * which tells the others whether it is alive.
 *
 * A lease can be held a little past its holder's death (up to its time to live), and a holder cut
 * off from the database stops believing it holds it before the others can take it (it counts its
 * time from before the renewal it sent), so two nodes never both act on one lease.
 */
import type { Logger } from 'pino';
import type { SqlEngine } from '../store/sql/engine.js';
import { isUniqueViolation } from '../store/sql/engine.js';

export const LEASE_TABLE = 'thicket_leases';
export const NODE_TABLE = 'thicket_nodes';

export interface LeaseOptions {
  /** This node's boot (node id and a random part): a restarted node is a new holder. */
  holder: string;
  /** This node's id, for heartbeats. */
  nodeId: string;
  ttlMs?: number;
  log: Logger;
}

const TTL_MS = 15_000;

async function ensureTables(engine: SqlEngine): Promise<void> {
  for (const create of [
    engine.db.schema
      .createTable(LEASE_TABLE)
      .ifNotExists()
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'bigint', (c) => c.notNull()),
    engine.db.schema
      .createTable(NODE_TABLE)
      .ifNotExists()
      .addColumn('node', 'text', (c) => c.primaryKey())
      .addColumn('boot', 'text', (c) => c.notNull())
      .addColumn('heartbeat_at', 'bigint', (c) => c.notNull()),
  ]) {
    try {
      await create.execute();
    } catch (err) {
      // Two nodes creating it at the same moment (PostgreSQL reports the loser's type as a duplicate).
      if (!isUniqueViolation(err)) throw err;
    }
  }
}

export class Leases {
  /** Lease name → when this node stops believing it holds it (its own clock). */
  private readonly held = new Map<string, number>();
  private readonly wanted = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Renewals under way: stop waits for them, or one landing after it would take the lease back. */
  private readonly renewing = new Set<Promise<void>>();
  /** How long a lease or heartbeat stays valid without renewal. */
  readonly ttl: number;

  private constructor(
    private readonly engine: SqlEngine,
    private readonly opts: LeaseOptions,
  ) {
    this.ttl = opts.ttlMs ?? TTL_MS;
  }

  static async start(engine: SqlEngine, opts: LeaseOptions): Promise<Leases> {
    await ensureTables(engine);
    const leases = new Leases(engine, opts);
    await leases.tick();
    leases.timer = setInterval(() => void leases.tick(), Math.max(50, Math.floor(leases.ttl / 3)));
    leases.timer.unref();
    return leases;
  }

  /** Whether this node holds the lease `name` now; the first ask makes the node try for it from then on. */
  holds(name: string): boolean {
    if (this.stopped) return false;
    if (!this.wanted.has(name)) {
      this.wanted.add(name);
      void this.tryFor(name, Date.now());
    }
    const until = this.held.get(name);
    return until !== undefined && until > Date.now();
  }

  /** The nodes whose heartbeat is older than the lease time: gone (or cut off from the database). */
  async deadNodes(): Promise<string[]> {
    const rows = await this.engine.all<{ node: string }>(
      this.engine.db
        .selectFrom(NODE_TABLE)
        .select('node')
        .where('heartbeat_at', '<', Date.now() - this.ttl)
        .where('node', '<>', this.opts.nodeId),
    );
    return rows.map((r) => r.node);
  }

  /**
   * A query that says whether `node` is alive (heartbeat within the lease time) and locks its row until
   * the transaction ends: the node's next heartbeat, which it writes first when it starts again, waits.
   */
  aliveQuery(node: string): { text: string; values: unknown[] } {
    return {
      text: `SELECT heartbeat_at >= $2 AS alive FROM ${NODE_TABLE} WHERE node = $1 FOR SHARE`,
      values: [node, Date.now() - this.ttl],
    };
  }

  /**
   * Stops renewing and gives up what this node holds, so another node takes over at once; and marks
   * this node gone, so that the holder of the orphans lease takes its persistent sessions at its next
   * sweep instead of after the lease time (called once the broker's rows are written).
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    // Bounded: a renewal stuck on an unreachable database expires with the lease anyway.
    let waited: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(this.renewing),
      new Promise<void>((resolve) => {
        waited = setTimeout(resolve, this.ttl);
      }),
    ]);
    clearTimeout(waited);
    const names = [...this.held.keys()];
    this.held.clear();
    if (names.length > 0)
      await this.engine
        .run(this.engine.db.deleteFrom(LEASE_TABLE).where('name', 'in', names).where('holder', '=', this.opts.holder))
        .catch((err: Error) => this.opts.log.warn({ err: err.message }, 'could not give up the leases'));
    await this.engine
      .run(
        this.engine.db
          .updateTable(NODE_TABLE)
          .set({ heartbeat_at: 0 })
          .where('node', '=', this.opts.nodeId)
          .where('boot', '=', this.opts.holder),
      )
      .catch((err: Error) => this.opts.log.warn({ err: err.message }, 'could not mark this node as gone'));
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const now = Date.now();
    try {
      await this.engine.run(
        this.engine.db
          .insertInto(NODE_TABLE)
          .values({ node: this.opts.nodeId, boot: this.opts.holder, heartbeat_at: now })
          .onConflict((oc) => oc.column('node').doUpdateSet({ boot: this.opts.holder, heartbeat_at: now })),
      );
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'could not write the heartbeat');
    }
    await Promise.all([...this.wanted].map((name) => this.tryFor(name, now)));
  }

  /** Takes or renews the lease if it is free, lapsed or ours. */
  private tryFor(name: string, now: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const renewal = this.renew(name, now).finally(() => this.renewing.delete(renewal));
    this.renewing.add(renewal);
    return renewal;
  }

  private async renew(name: string, now: number): Promise<void> {
    const { db } = this.engine;
    const expires = now + this.ttl;
    try {
      const r = await this.engine.run(
        db
          .insertInto(LEASE_TABLE)
          .values({ name, holder: this.opts.holder, expires_at: expires })
          .onConflict((oc) =>
            oc
              .column('name')
              .doUpdateSet({ holder: this.opts.holder, expires_at: expires })
              .where((eb) => eb.or([eb(`${LEASE_TABLE}.holder`, '=', this.opts.holder), eb(`${LEASE_TABLE}.expires_at`, '<', now)])),
          ),
      );
      // Counted from before the write: the others count from its end, so this node lets go first.
      if (r.changes > 0) {
        if (!this.held.has(name)) this.opts.log.info({ lease: name }, 'took the lease');
        this.held.set(name, expires - Math.floor(this.ttl / 5));
      } else this.held.delete(name);
    } catch (err) {
      this.opts.log.warn({ lease: name, err: (err as Error).message }, 'could not renew a lease');
    }
  }
}
