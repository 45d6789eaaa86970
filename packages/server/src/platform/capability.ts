/**
 * What a capability folder brings to the platform (DESIGN §3): its services, HTTP routes, the ARN
 * resource kinds it owns, what it starts once the broker exists (MQTT topic handlers, background
 * tasks), what it clears in test mode and what it closes at stop. `platform.ts` lists them.
 */
import type { Broker, DisconnectReason } from '@thicket/broker';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Namespace } from '../accounts/namespace.js';
import type { ApiRoute } from '../api/aws-api.js';
import type { PublicEndpoints } from '../api/endpoint-routes.js';
import type { ConnectionAuth } from '../authz/device-authorizer.js';
import type { AccessKey } from '../credentials.js';
import type { Pki } from '../pki/index.js';
import type { PolicyDocument } from '../policies/engine/index.js';
import type { TableSettings } from '../telemetry/settings.js';
import type { RulesSettings } from '../rules/rules-config.js';
import type { ShadowSettings } from '../shadow/shadow-service.js';
import type { Db } from '../store/database.js';
import type { SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import type { TagWriter } from '../tags/tag-writer.js';

/**
 * The services each capability offers the others, by capability name. Empty here: each capability
 * adds its entry from its own folder (declaration merging), so a new one needs no edit in this file.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface Services {}

export type CapabilityName = keyof Services;

export interface PlatformOptions {
  /** The embedded SQLite database behind `sql`, if that is the engine: a test-mode reset runs in one transaction on it. */
  db?: Db;
  /** The stores' SQL engine (SQLite or PostgreSQL). */
  sql: SqlEngine;
  pki: Pki;
  adminKey: AccessKey;
  defaultNamespace: Namespace;
  /** Development mode: clients without credentials may connect (and do anything, or what devPolicy allows). */
  dev: boolean;
  devPolicy?: PolicyDocument;
  shadows?: ShadowSettings;
  /** URL prefixes whose topic rule destinations need no confirmation (config `rules.trustedUrlPrefixes`). */
  trustedUrlPrefixes?: readonly string[];
  /** NATS servers nats rule actions may name, and the cloudwatchMetric action's caps (config `rules`). */
  ruleNats?: RulesSettings['nats'];
  ruleMetricLimits?: RulesSettings['metrics'];
  /** The rules engine's queue, CPU share, slice and in-flight bounds (config `rules.engine`). */
  ruleEngine?: RulesSettings['engine'];
  /** Rule tables: PostgreSQL databases, retention and query bounds (config `rules`). */
  ruleTables?: TableSettings;
  /** Cluster: whether this node holds the lease of once-per-cluster work `name` now (absent: a single node, always). */
  leader?: (name: string) => boolean;
  log: Logger;
}

/** What every capability is created with. */
export interface CapabilityContext {
  readonly options: PlatformOptions;
  readonly sql: SqlEngine;
  readonly pki: Pki;
  /** A child logger named for the component. */
  log(component: string): Logger;
  /** Publishes what a service announces (events, answers, notifications): JSON at QoS 1. */
  publish(ns: Namespace, topic: string, payload: object): void;
  /** The broker, once the platform is connected to one. */
  broker(): Broker | undefined;
  /** The public endpoints, filled in once the listeners are bound. */
  endpoints(): PublicEndpoints;
  /**
   * Another capability's services. Capabilities are created in list order; one may name a
   * capability listed after it, but only inside functions called later, not while being created.
   */
  use<K extends CapabilityName>(name: K): Services[K];
  /** Tags of any resource (the one tag table AWS's TagResource reaches, kept by the tags capability). */
  tags: TagWriter;
  /** Whether the resource an ARN names exists in its namespace (any capability's kinds). */
  resourceExists(arn: string): boolean;
  /**
   * Whether this node is the one to run once-per-cluster work `name` now (job rollouts, timeouts,
   * schedules): on a single node always; in a cluster, on the node holding its lease. Ask at each
   * run: the lease moves to another node when its holder dies.
   */
  leader(name: string): boolean;
  /** Closes the connections of a namespace whose authentication matches (revoked credentials). */
  disconnect(ns: Namespace, match: (auth: ConnectionAuth) => boolean, why: string, reason?: DisconnectReason): void;
}

export interface Capability<S> {
  services: S;
  routes?: ApiRoute[];
  /** ARN resource kinds this capability owns (`thing`, `policy`, ...), each with its existence check. */
  resources?: Record<string, (ns: Namespace, name: string) => boolean>;
  /** Metrics merged into `/metrics`. */
  metrics?: Registry;
  /** Once the broker exists: MQTT topic handlers and background tasks. May return what undoes it. */
  start?(broker: Broker): void | (() => void);
  /**
   * Test-mode reset: deletes the capability's rows. Called inside one transaction on the SQLite
   * database; a store on the SQL engine returns its promise (on SQLite its statements run at once,
   * inside that transaction).
   */
  clear?(): void | Promise<unknown>;
  /** Test-mode reset, after that transaction committed: files, caches. */
  cleared?(): void;
  /** Server stop: closes what the capability holds open. */
  stop?(): void | Promise<void>;
  /**
   * Cluster: the tables whose rows the capability holds in memory, how it reads them again when
   * another node wrote one of them (and now and then, in case an announcement was lost), and, per
   * kind of row its stores mark their writes with (`refreshedBy`), how it reads one row again.
   */
  reload?: {
    tables: readonly string[];
    run(): Promise<void>;
    rows?: Record<string, (ns: Namespace, key: string) => Promise<void>>;
  };
}

type Created<S> = Capability<S> | Promise<Capability<S>>;

export interface CapabilityDefinition<K extends CapabilityName> {
  name: K;
  /** The schema of its stores, by migration name (applied in name order, before any capability is created). */
  migrations?: Record<string, StoreMigration>;
  create(ctx: CapabilityContext): Created<Services[K]>;
}

/** Names a capability's definition (the typing ties its name to its services). */
export function defineCapability<K extends CapabilityName>(
  name: K,
  create: (ctx: CapabilityContext) => Created<Services[K]>,
  extra: { migrations?: Record<string, StoreMigration> } = {},
): CapabilityDefinition<K> {
  return { name, create, ...extra };
}
