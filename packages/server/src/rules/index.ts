/** The rules engine as the platform wires it: store, control plane, engine, routes and metrics. */
import type { Broker } from '@thicket/broker';
import type { SqlHost } from '@thicket/iot-sql';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import type { Namespace } from '../accounts/namespace.js';
import type { ApiRoute } from '../api/aws-api.js';
import type { TagWriter } from '../tags/tag-writer.js';
import type { SqlEngine } from '../store/sql/engine.js';
import type { StoreMigration } from '../store/sql/migrations.js';
import { RulesEngine } from './engine.js';
import { RuleMetrics } from './rule-metrics.js';
import { RuleStore, ruleMigrations, type RuleRow } from './rule-store.js';
import { ruleRoutes } from './routes.js';
import { TopicRules } from './topic-rules.js';
import {
  DestinationStore,
  TopicRuleDestinations,
  destinationMigrations,
  destinationRoutes,
  trustedPrefixes,
} from './destinations/index.js';
import type { ActionServices, RoleCredentials } from './actions/types.js';
import { MetricSeries } from './actions/metric-series.js';
import { NatsServers } from './actions/nats-servers.js';
import { DEFAULT_RULES_SETTINGS, type NatsServerSettings, type RuleEngineSettings, type RuleMetricSettings } from './rules-config.js';

export { RulesEngine } from './engine.js';
export { TopicRules, ruleArn } from './topic-rules.js';

/** The schema of the rules capability's stores: topic rules and their destinations. */
export const rulesMigrations: Record<string, StoreMigration> = { ...ruleMigrations, ...destinationMigrations };

export interface RulesDeps {
  /** The stores' SQL engine, its schema migrated (`rulesMigrations`). */
  sql: SqlEngine;
  broker(): Broker | undefined;
  tags: TagWriter;
  /** Resolves the SQL's external functions for the rules of a namespace; none when undefined. */
  hostFor?(ns: Namespace): SqlHost | undefined;
  /** URL prefixes whose topic rule destinations need no confirmation (config `rules.trustedUrlPrefixes`). */
  trustedUrlPrefixes?: readonly string[];
  /** Temporary credentials acting as a role of the account (http action SigV4); undefined when it is none. */
  roleCredentials?(ns: Namespace, roleArn: string): RoleCredentials | undefined;
  /** This server's API base URL (`http://host:port`): destination confirmations name it in enableUrl. */
  apiBase?(): string;
  /** NATS servers nats actions may name (config `rules.nats`). */
  nats?: Record<string, NatsServerSettings>;
  /** Caps of the cloudwatchMetric action's series (config `rules.metrics`). */
  metricLimits?: RuleMetricSettings;
  /** Queue, CPU share, slice and in-flight bounds of the engine (config `rules.engine`). */
  engine?: RuleEngineSettings;
  /** The file store s3 actions write to. */
  files?: ActionServices['files'];
  /** Invokes a registered function (lambda action). */
  invokeFunction?: ActionServices['invokeFunction'];
  /** Rule tables (dynamoDBv2 and timestream actions). */
  tables?: ActionServices['tables'];
  log: Logger;
}

export interface RulesModule {
  store: RuleStore;
  rules: TopicRules;
  destinations: TopicRuleDestinations;
  engine: RulesEngine;
  routes: ApiRoute[];
  /** The engine's metrics, merged into `/metrics` by the server. */
  metrics: Registry;
  /** Compiles and installs every stored rule, and starts seeing the broker's messages. */
  start(broker: Broker): void;
  /**
   * Reads rules and destinations again (another node sharing the database changed them): the
   * engine installs what was created or changed and forgets what was deleted.
   */
  reload(): Promise<void>;
  /** Test-mode reset (on SQLite, the rows go at once, inside the platform's transaction). */
  clear(): Promise<unknown>;
  /** Closes what actions hold open across rules (NATS connections) at server stop. */
  stop(): Promise<void>;
}

export async function createRules(deps: RulesDeps): Promise<RulesModule> {
  const [store, destinationStore] = await Promise.all([RuleStore.open(deps.sql), DestinationStore.open(deps.sql)]);
  const registry = new Registry();
  const log = deps.log;
  // The queue gauge reads the engine, which needs the metrics first: a getter closes the circle.
  const holder: { engine?: RulesEngine } = {};
  const metrics = new RuleMetrics(registry, () => holder.engine?.queued ?? 0);
  const destinations = new TopicRuleDestinations({
    store: destinationStore,
    trustedUrlPrefixes: trustedPrefixes(deps.trustedUrlPrefixes ?? []),
    apiBase: () => deps.apiBase?.() ?? 'http://localhost:8080',
    log,
  });
  const nats = new NatsServers(deps.nats ?? {}, log);
  const metricSeries = new MetricSeries(registry, deps.metricLimits ?? DEFAULT_RULES_SETTINGS.metrics);
  const e = (holder.engine = new RulesEngine(
    {
      broker: deps.broker,
      destinations,
      roleCredentials: (ns, arn) => deps.roleCredentials?.(ns, arn),
      nats,
      files: deps.files,
      metricSeries,
      invokeFunction: deps.invokeFunction,
      tables: deps.tables,
      log,
    },
    metrics,
    log,
    deps.engine ?? DEFAULT_RULES_SETTINGS.engine,
  ));
  const rules = new TopicRules({
    store,
    services: e.services,
    hostFor: (ns) => deps.hostFor?.(ns),
    installed: (rule) => e.install(rule),
    removed: (ns, name) => e.uninstall(ns, name),
    compiled: (ns, name) => e.installed(ns, name),
    tags: deps.tags,
  });
  const report = (row: RuleRow, err: unknown): void =>
    log.error(
      { rule: row.name, account: row.ns.accountId, err: (err as Error).message },
      'a stored topic rule no longer compiles; it does not run',
    );
  return {
    store,
    rules,
    destinations,
    engine: e,
    routes: [...ruleRoutes(rules), ...destinationRoutes(destinations)],
    metrics: registry,
    start(broker) {
      e.clear();
      for (const rule of rules.loadAll(report)) e.install(rule);
      broker.tap = e;
    },
    async reload() {
      await Promise.all([rules.reload(report), destinations.reload()]);
    },
    clear() {
      // Both deletes start now (on SQLite they run now); the in-memory state goes with them.
      const deleted = Promise.all([store.clear(), destinations.clear()]);
      e.clear();
      metricSeries.clear();
      return deleted;
    },
    stop() {
      // Closing the rules sends what their actions hold (open http batches) before the server goes.
      e.clear();
      return nats.close();
    },
  };
}
