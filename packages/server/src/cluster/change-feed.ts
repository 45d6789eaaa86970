/**
 * How the nodes of a cluster learn that another node changed what they hold in memory (policies,
 * certificates, the registry, rules, ...): every write that lands through the SQL engine names the
 * tables it touched, and the node announces them on NATS; a node that hears of a table reloads the
 * capabilities that declared it. Core NATS delivers at most once, so each node also reloads
 * everything now and then (the platform's periodic reload): a lost announcement delays a change,
 * it does not lose it.
 */
import type { OperationNode } from 'kysely';
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'pino';
import { compiled, type SqlEngine, type Statement } from '../store/sql/engine.js';

/** The table a write statement changes, or undefined for a read (or DDL). */
export function writtenTable(statement: Statement): string | undefined {
  const node = compiled(statement).query as OperationNode & Record<string, unknown>;
  switch (node.kind) {
    case 'InsertQueryNode':
      return tableName(node.into);
    case 'UpdateQueryNode':
      return tableName(node.table);
    case 'DeleteQueryNode':
      return tableName((node.from as { froms?: unknown[] } | undefined)?.froms?.[0]);
    case 'MergeQueryNode':
      return tableName(node.into);
    default:
      return undefined;
  }
}

function tableName(node: unknown): string | undefined {
  const n = node as { kind?: string; table?: { identifier?: { name?: string } }; node?: unknown } | undefined;
  if (n?.kind === 'AliasNode') return tableName(n.node);
  return n?.kind === 'TableNode' ? n.table?.identifier?.name : undefined;
}

/**
 * The engine as it was, telling `written` which tables each write that succeeded changed (after
 * the change is committed: a batch reports once it committed, never when it rolled back).
 */
export function reportingWrites(engine: SqlEngine, written: (tables: ReadonlySet<string>) => void): SqlEngine {
  const report = (statements: readonly Statement[], changed: boolean): void => {
    if (!changed) return;
    const tables = new Set<string>();
    for (const s of statements) {
      const t = writtenTable(s);
      if (t !== undefined) tables.add(t);
    }
    if (tables.size > 0) written(tables);
  };
  return {
    dialect: engine.dialect,
    db: engine.db,
    all: (q) => engine.all(q),
    first: (q) => engine.first(q),
    async run(q) {
      const r = await engine.run(q);
      report([q], r.changes > 0);
      return r;
    },
    async batch(qs) {
      const r = await engine.batch(qs);
      report(
        qs,
        r.some((x) => x.changes > 0),
      );
      return r;
    },
    exclusive: (key, fn) => engine.exclusive(key, fn),
    close: () => engine.close(),
  };
}

interface Announcement {
  /** The announcing node's origin (node id and boot). */
  o: string;
  /** Tables changed. */
  t: string[];
}

/**
 * Announcements over one NATS connection: what this node wrote goes out (tables gathered over an
 * event-loop turn, so a burst of writes is one message), what the others wrote comes in.
 */
export class ChangeFeed {
  private pending = new Set<string>();
  private scheduled = false;
  private readonly sub: Subscription;
  private readonly subject: string;

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: { prefix: string; origin: string; log: Logger; changed(tables: ReadonlySet<string>): void },
  ) {
    this.subject = `${opts.prefix}_changes`;
    this.sub = nc.subscribe(this.subject, { callback: (err, m) => (err ? undefined : this.receive(m.data)) });
  }

  /** Tables this node changed: the other nodes hear of them. */
  announce(tables: ReadonlySet<string>): void {
    for (const t of tables) this.pending.add(t);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.send());
  }

  /** Resolves once NATS has what was announced so far. */
  async flush(): Promise<void> {
    this.send();
    if (!this.nc.isClosed()) await this.nc.flush();
  }

  close(): void {
    this.sub.unsubscribe();
  }

  private send(): void {
    this.scheduled = false;
    if (this.pending.size === 0 || this.nc.isClosed()) return;
    const message: Announcement = { o: this.opts.origin, t: [...this.pending] };
    this.pending.clear();
    try {
      this.nc.publish(this.subject, JSON.stringify(message));
    } catch (err) {
      // The periodic reload makes up for it.
      this.opts.log.warn({ err: (err as Error).message }, 'could not announce a change to the cluster');
    }
  }

  private receive(data: Uint8Array): void {
    let message: Announcement;
    try {
      message = JSON.parse(Buffer.from(data).toString('utf8')) as Announcement;
    } catch {
      return;
    }
    if (message.o === this.opts.origin || !Array.isArray(message.t)) return;
    this.opts.changed(new Set(message.t.filter((t): t is string => typeof t === 'string')));
  }
}
