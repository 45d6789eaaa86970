/**
 * Builds the platform from its list of capabilities: one context they share, their routes in list
 * order, and the platform-wide operations (connect, test-mode reset, stop) that go through each.
 */
import { RC, type Broker, type DisconnectReason } from '@thicket/broker';
import { Registry } from 'prom-client';
import { iotArn, mountOf, parseArn, type Namespace } from '../accounts/namespace.js';
import type { ApiRoute } from '../api/aws-api.js';
import type { PublicEndpoints } from '../api/endpoint-routes.js';
import type { ConnectionAuth } from '../authz/device-authorizer.js';
import { inTransaction } from '../store/database.js';
import type { ChangedKey } from '../store/sql/changed-keys.js';
import { migrate, type MigrationSet } from '../store/sql/migrations.js';
import { ReloadQueue } from './reload-queue.js';
import type { Capability, CapabilityContext, CapabilityDefinition, CapabilityName, PlatformOptions, Services } from './capability.js';

export class Platform {
  readonly routes: ApiRoute[] = [];
  readonly defaultNamespace: Namespace;
  /** Filled in once the listeners are bound. */
  endpoints: PublicEndpoints = { host: 'localhost', mqtt: null, mqtts: null, http: null, https: null };
  private readonly capabilities: Array<{ name: CapabilityName; capability: Capability<unknown> }> = [];
  private readonly services = new Map<CapabilityName, unknown>();
  private readonly resources = new Map<string, (ns: Namespace, name: string) => boolean>();
  private readonly undo: Array<() => void> = [];
  private broker: Broker | undefined;
  private readonly reloads = new Map<CapabilityName, ReloadQueue>();
  /** Per kind of changed row: the capability that re-reads it. */
  private readonly rowKinds = new Map<string, CapabilityName>();

  private constructor(private readonly opts: PlatformOptions) {
    this.defaultNamespace = opts.defaultNamespace;
  }

  /** Applies the capabilities' migrations, then creates them in list order. */
  static async assemble(opts: PlatformOptions, definitions: ReadonlyArray<CapabilityDefinition<CapabilityName>>): Promise<Platform> {
    const migrations: MigrationSet = {};
    for (const def of definitions) if (def.migrations) migrations[def.name] = def.migrations;
    await migrate(opts.sql, migrations);
    const platform = new Platform(opts);
    await platform.create(definitions);
    return platform;
  }

  private async create(definitions: ReadonlyArray<CapabilityDefinition<CapabilityName>>): Promise<void> {
    const ctx = this.context();
    for (const def of definitions) {
      const capability = (await def.create(ctx)) as Capability<unknown>;
      this.capabilities.push({ name: def.name, capability });
      this.services.set(def.name, capability.services);
      this.routes.push(...(capability.routes ?? []));
      for (const [kind, exists] of Object.entries(capability.resources ?? {})) this.resources.set(kind, exists);
      const reload = capability.reload;
      if (reload) this.reloads.set(def.name, this.reloadQueue(def.name, reload));
      for (const kind of Object.keys(reload?.rows ?? {})) {
        if (this.rowKinds.has(kind)) throw new Error(`two capabilities re-read rows of kind ${kind}`);
        this.rowKinds.set(kind, def.name);
      }
    }
  }

  /** A capability's services. */
  use<K extends CapabilityName>(name: K): Services[K] {
    const s = this.services.get(name);
    if (s === undefined) throw new Error(`no capability named ${name} (or it is used while the platform is being built)`);
    return s as Services[K];
  }

  /** Every capability's metrics, for `/metrics`. */
  metrics(): Registry[] {
    return this.capabilities.flatMap((c) => (c.capability.metrics ? [c.capability.metrics] : []));
  }

  /** The broker the platform publishes into and closes connections on; starts each capability's handlers and tasks. */
  connect(broker: Broker): void {
    this.broker = broker;
    for (const u of this.undo.splice(0)) u();
    for (const { capability } of this.capabilities) {
      const undo = capability.start?.(broker);
      if (undo) this.undo.push(undo);
    }
  }

  /**
   * Test mode: removes all state of every namespace — connections closed, sessions and retained
   * messages gone, every resource deleted — and returns when it is done. Accounts and access keys
   * stay (they are how tests reach the server).
   */
  async reset(): Promise<void> {
    this.broker?.reset();
    const clearAll = (): unknown[] => this.capabilities.map(({ capability }) => capability.clear?.());
    // On SQLite the clears' statements run at once, inside one transaction; on PostgreSQL each store's are its own batch.
    const pending = this.opts.db ? inTransaction(this.opts.db, clearAll) : clearAll();
    await Promise.all(pending);
    // After the commit: content removed for records that stayed would be lost.
    for (const { capability } of this.capabilities) capability.cleared?.();
  }

  /** Stops handlers and background tasks, then closes what capabilities hold open, last listed first. */
  async stop(): Promise<void> {
    for (const u of this.undo.splice(0)) u();
    for (const { capability } of [...this.capabilities].reverse()) await capability.stop?.();
  }

  /**
   * Another node wrote these tables and rows: the capabilities holding the tables read them again
   * whole, those holding the rows read those rows. Resolves once each did, in a run that started
   * after this call.
   */
  async changed(tables: ReadonlySet<string>, keys: readonly ChangedKey[] = []): Promise<void> {
    const work: Array<Promise<void>> = [];
    const whole = new Set<CapabilityName>();
    for (const entry of this.capabilities) {
      const reload = entry.capability.reload;
      if (reload && reload.tables.some((t) => tables.has(t))) whole.add(entry.name);
    }
    const rows = new Map<CapabilityName, ChangedKey[]>();
    for (const k of keys) {
      const owner = this.rowKinds.get(k.kind);
      if (owner !== undefined && !whole.has(owner)) rows.set(owner, [...(rows.get(owner) ?? []), k]);
    }
    for (const name of whole) work.push(this.reloads.get(name)!.request({ whole: true }));
    for (const [name, ks] of rows) work.push(this.reloads.get(name)!.request({ keys: ks }));
    await Promise.all(work);
  }

  /**
   * The tables a write marked with these rows needs no whole re-read of: those that only the
   * capabilities re-reading the rows hold.
   */
  tablesRefreshedBy(keys: readonly ChangedKey[]): Set<string> {
    const owners = new Set<CapabilityName>();
    for (const k of keys) {
      const owner = this.rowKinds.get(k.kind);
      if (owner !== undefined) owners.add(owner);
    }
    const tables = new Set<string>();
    for (const { name, capability } of this.capabilities) {
      if (!owners.has(name)) continue;
      for (const t of capability.reload?.tables ?? []) {
        const holders = this.capabilities.filter((c) => c.capability.reload?.tables.includes(t));
        if (holders.every((h) => owners.has(h.name))) tables.add(t);
      }
    }
    return tables;
  }

  /** Every capability holding rows reads them again (the cluster's periodic catch-up); resolves when all did. */
  async reloadAll(): Promise<void> {
    await Promise.all([...this.reloads.values()].map((q) => q.request({ whole: true })));
  }

  private reloadQueue(name: CapabilityName, reload: NonNullable<Capability<unknown>['reload']>): ReloadQueue {
    return new ReloadQueue({
      whole: () => reload.run(),
      row: async (key) => {
        const refresh = reload.rows?.[key.kind];
        if (refresh) await refresh(key.ns, key.key);
      },
      failed: (err) => this.opts.log.warn({ capability: name, err: err.message }, 'reloading changes from other nodes failed; will retry'),
    });
  }

  /** Whether the resource an ARN names exists in its namespace. */
  resourceExists(arn: string): boolean {
    const p = parseArn(arn);
    if (!p) return false;
    const slash = p.resource.indexOf('/');
    const kind = p.resource.slice(0, slash);
    const name = p.resource.slice(slash + 1);
    return this.resources.get(kind)?.(p, name) ?? false;
  }

  /** The ARN of a thing in the default namespace (handy for tests and the CLI). */
  thingArn(name: string, ns: Namespace = this.defaultNamespace): string {
    return iotArn(ns, `thing/${name}`);
  }

  private context(): CapabilityContext {
    const { opts } = this;
    return {
      options: opts,
      sql: opts.sql,
      pki: opts.pki,
      log: (component) => opts.log.child({ component }),
      publish: (ns, topic, payload) => {
        this.broker?.publish({ mount: mountOf(ns), topic, payload: JSON.stringify(payload), qos: 1 });
      },
      broker: () => this.broker,
      endpoints: () => this.endpoints,
      use: (name) => this.use(name),
      tags: {
        putting: (arn, tags) => this.use('tags').store.putting(arn, tags),
        removing: (arn) => this.use('tags').store.removing(arn),
      },
      resourceExists: (arn) => this.resourceExists(arn),
      leader: opts.leader ?? (() => true),
      disconnect: (ns, match, why, reason) => this.disconnect(ns, match, why, reason),
    };
  }

  private disconnect(ns: Namespace, match: (auth: ConnectionAuth) => boolean, why: string, reason: DisconnectReason = 'AUTH_ERROR'): void {
    const mount = mountOf(ns);
    this.broker?.disconnectWhere(
      (c) => c.client?.mount === mount && c.client.context !== undefined && match(c.client.context as ConnectionAuth),
      reason,
      RC.ADMINISTRATIVE_ACTION,
      why,
    );
  }
}
