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
import { migrate, type MigrationSet } from '../store/sql/migrations.js';
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
  private readonly reloads = new Map<CapabilityName, { again: boolean; done: Promise<void> }>();

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

  /** Another node wrote these tables: the capabilities holding their rows read them again. */
  changed(tables: ReadonlySet<string>): void {
    for (const entry of this.capabilities) {
      const reload = entry.capability.reload;
      if (reload && reload.tables.some((t) => tables.has(t))) void this.reload(entry.name, reload.run);
    }
  }

  /** Every capability holding rows reads them again (the cluster's periodic catch-up); resolves when all did. */
  async reloadAll(): Promise<void> {
    await Promise.all(this.capabilities.map((e) => (e.capability.reload ? this.reload(e.name, e.capability.reload.run) : undefined)));
  }

  /**
   * One reload at a time per capability; changes heard while one runs make one more run after it
   * (the running one may have read before them).
   */
  private reload(name: CapabilityName, run: () => Promise<void>): Promise<void> {
    const state = this.reloads.get(name);
    if (state) {
      state.again = true;
      return state.done;
    }
    const next = { again: false, done: Promise.resolve() };
    next.done = (async () => {
      do {
        next.again = false;
        try {
          await run();
        } catch (err) {
          this.opts.log.warn({ capability: name, err: (err as Error).message }, 'reloading changes from other nodes failed; will retry');
        }
      } while (next.again);
      this.reloads.delete(name);
    })();
    this.reloads.set(name, next);
    return next.done;
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
