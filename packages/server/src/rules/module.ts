/** The rules engine as a capability: what its actions and SQL functions reach in the other capabilities. */
import { defineCapability } from '../platform/capability.js';
import { createRules, rulesMigrations, type RulesModule } from './index.js';
import { createSqlHost } from './sql-host.js';

declare module '../platform/capability.js' {
  interface Services {
    rules: RulesModule;
  }
}

export const rulesCapability = defineCapability(
  'rules',
  async (ctx) => {
    const functions = () => ctx.use('functions').functions;
    const { options } = ctx;
    const m = await createRules({
      sql: ctx.sql,
      tables: ctx.use('telemetry'),
      invokeFunction: (ns, arn, event) => functions().invoke(ns, arn, event),
      hostFor: (ns) =>
        createSqlHost(ns, {
          invokeFunction: (n, ref, event, o) => functions().invoke(n, ref, event, o),
          shadow: (n, thingName, shadowName) => ctx.use('shadow').shadows.get(n, { thingName, shadowName }),
          describeThing: (n, thingName) => ctx.use('registry').things.describe(n, thingName),
          thingGroupsForThing: (n, thingName) => ctx.use('registry').thingGroups.listForThing(n, thingName, { maxResults: 250 }),
        }),
      broker: ctx.broker,
      tags: ctx.tags,
      trustedUrlPrefixes: options.trustedUrlPrefixes,
      nats: options.ruleNats,
      metricLimits: options.ruleMetricLimits,
      engine: options.ruleEngine,
      files: ctx.use('files').files,
      roleCredentials: (ns, roleArn) => ctx.use('roles').provider.issueForService(ns, roleArn),
      apiBase: () => {
        const e = ctx.endpoints();
        return e.http !== null ? `http://${e.host}:${e.http}` : `https://${e.host}:${e.https ?? 8443}`;
      },
      log: ctx.log('rules'),
    });
    return {
      services: m,
      routes: m.routes,
      metrics: m.metrics,
      resources: { rule: (ns, name) => m.store.rule(ns, name) !== undefined },
      start: (broker) => m.start(broker),
      clear: () => m.clear(),
      stop: () => m.stop(),
      reload: { tables: ['topic_rules', 'topic_rule_destinations'], run: () => m.reload() },
    };
  },
  { migrations: rulesMigrations },
);
