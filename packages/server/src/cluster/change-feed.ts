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
import { claimOf, type ChangedKey } from '../store/sql/changed-keys.js';
import { Settlement } from './settlement.js';

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
 * The engine as it was, telling `written` which tables each write that succeeded changed, and the
 * keys its store marked it with (`refreshedBy`), after the change is committed: a batch reports
 * once it committed, never when it rolled back.
 */
export function reportingWrites(
  engine: SqlEngine,
  written: (tables: ReadonlySet<string>, keys: readonly ChangedKey[] | undefined) => void,
): SqlEngine {
  const report = (statements: readonly Statement[], claim: readonly ChangedKey[] | undefined, changed: boolean): void => {
    if (!changed) return;
    const tables = new Set<string>();
    for (const s of statements) {
      const t = writtenTable(s);
      if (t !== undefined) tables.add(t);
    }
    if (tables.size > 0) written(tables, claim);
  };
  return {
    dialect: engine.dialect,
    db: engine.db,
    all: (q) => engine.all(q),
    first: (q) => engine.first(q),
    async run(q) {
      const r = await engine.run(q);
      report([q], claimOf(q), r.changes > 0);
      return r;
    },
    async batch(qs) {
      const r = await engine.batch(qs);
      report(
        qs,
        claimOf(qs),
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
  /** The announcing node's id, where answers go. */
  n: string;
  /** Its number, counted per origin from 1. */
  s: number;
  /** Tables changed, which the capabilities holding them re-read whole. */
  t: string[];
  /** Rows changed: kind, account, region, key (`ChangedKey`), re-read one by one. */
  k?: Array<[string, string, string, string]>;
}

/** A node's answer: it applied `o`'s announcements up to `s`. */
interface Applied {
  o: string;
  /** The answering node's origin. */
  b: string;
  s: number;
}

/** How long a write waits for a node to re-read what it wrote before it stops waiting for that node. */
const APPLY_TIMEOUT_MS = 3000;

export interface ChangeFeedOptions {
  prefix: string;
  origin: string;
  nodeId: string;
  log: Logger;
  /** Another node changed these tables and rows; resolves once this node re-read them. */
  changed(tables: ReadonlySet<string>, keys: readonly ChangedKey[]): Promise<void> | void;
  /** The other nodes' origins known now (those a write waits for). */
  others(): Iterable<string>;
  applyTimeoutMs?: number;
}

/**
 * Announcements over one NATS connection: what this node wrote goes out (tables gathered over an
 * event-loop turn, so a burst of writes is one message), what the others wrote comes in. Each node
 * answers an announcement once it re-read the tables, so that an API call that wrote can answer
 * only when every node would read what it wrote (`applied`): a DescribeJob through any node right
 * after CreateJob returned finds the job.
 */
export class ChangeFeed {
  private pending = new Set<string>();
  private pendingKeys = new Map<string, ChangedKey>();
  private scheduled = false;
  private seq = 0;
  /** Writes announced, for marks. */
  private writes = 0;
  private readonly subs: Subscription[];
  private readonly subject: string;
  private readonly settlement: Settlement;
  /** Per origin: its last announcement's re-read, which the next one's answer waits for too (answers are cumulative). */
  private readonly applying = new Map<string, Promise<unknown>>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly opts: ChangeFeedOptions,
  ) {
    this.subject = `${opts.prefix}_changes`;
    this.settlement = new Settlement(
      () => this.seq,
      () => opts.others(),
      opts.applyTimeoutMs ?? APPLY_TIMEOUT_MS,
    );
    this.subs = [
      nc.subscribe(this.subject, { callback: (err, m) => (err ? undefined : this.receive(m.data)) }),
      nc.subscribe(`${this.subject}_applied.${opts.nodeId}`, { callback: (err, m) => (err ? undefined : this.onApplied(m.data)) }),
    ];
  }

  /** Tables and rows this node changed: the other nodes hear of them. */
  announce(tables: ReadonlySet<string>, keys: readonly ChangedKey[] = []): void {
    this.writes++;
    for (const t of tables) this.pending.add(t);
    for (const k of keys) this.pendingKeys.set(`${k.kind}\n${k.ns.accountId}\n${k.ns.region}\n${k.key}`, k);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.send());
  }

  /** A mark to pass to `applied` later: it then waits only if this node wrote since. */
  mark(): number {
    return this.writes;
  }

  /**
   * Resolves once every other node re-read what this node announced so far (or did not answer in
   * time); undefined when this node wrote nothing since `mark`, or they all have. (Waiting without
   * a write since could wait for a node that joined after the last one, which has nothing to answer.)
   */
  applied(mark: number): Promise<void> | undefined {
    if (this.writes === mark) return undefined;
    this.send();
    return this.settlement.wait();
  }

  /** `origin` left the cluster: no write waits for it. */
  forget(origin: string): void {
    this.applying.delete(origin);
    this.settlement.forget(origin);
  }

  /** Resolves once NATS has what was announced so far. */
  async flush(): Promise<void> {
    this.send();
    if (!this.nc.isClosed()) await this.nc.flush();
  }

  close(): void {
    for (const sub of this.subs) sub.unsubscribe();
    this.settlement.close();
  }

  private send(): void {
    this.scheduled = false;
    if ((this.pending.size === 0 && this.pendingKeys.size === 0) || this.nc.isClosed()) return;
    const message: Announcement = { o: this.opts.origin, n: this.opts.nodeId, s: ++this.seq, t: [...this.pending] };
    if (this.pendingKeys.size > 0) message.k = [...this.pendingKeys.values()].map((k) => [k.kind, k.ns.accountId, k.ns.region, k.key]);
    this.pending.clear();
    this.pendingKeys.clear();
    try {
      this.nc.publish(this.subject, JSON.stringify(message));
    } catch (err) {
      // The periodic reload makes up for it; writes stop waiting for the nodes that did not answer.
      this.opts.log.warn({ err: (err as Error).message }, 'could not announce a change to the cluster');
    }
  }

  private receive(data: Uint8Array): void {
    const message = parse<Announcement>(data);
    if (!message || message.o === this.opts.origin || !Array.isArray(message.t)) return;
    const keys: ChangedKey[] = [];
    for (const k of Array.isArray(message.k) ? message.k : [])
      if (Array.isArray(k) && k.length === 4 && k.every((part) => typeof part === 'string'))
        keys.push({ kind: k[0], ns: { accountId: k[1], region: k[2] }, key: k[3] });
    const reread = this.opts.changed(new Set(message.t.filter((t): t is string => typeof t === 'string')), keys);
    if (typeof message.s !== 'number' || typeof message.n !== 'string') return;
    const done = Promise.all([this.applying.get(message.o), reread]);
    this.applying.set(message.o, done);
    void done.then(() => {
      if (this.applying.get(message.o) === done) this.applying.delete(message.o);
      const answer: Applied = { o: message.o, b: this.opts.origin, s: message.s };
      try {
        if (!this.nc.isClosed()) this.nc.publish(`${this.subject}_applied.${message.n}`, JSON.stringify(answer));
      } catch {
        // The writer stops waiting for this node after its timeout.
      }
    });
  }

  private onApplied(data: Uint8Array): void {
    const answer = parse<Applied>(data);
    if (answer && answer.o === this.opts.origin && typeof answer.b === 'string' && typeof answer.s === 'number')
      this.settlement.heardBy(answer.b, answer.s);
  }
}

function parse<T>(data: Uint8Array): T | undefined {
  try {
    const value = JSON.parse(Buffer.from(data).toString('utf8')) as unknown;
    return value !== null && typeof value === 'object' ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}
