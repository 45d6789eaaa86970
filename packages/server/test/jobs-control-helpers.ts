/**
 * Helpers for the Jobs control-plane tests: the Jobs service wired by hand on a SQLite database
 * (in memory, or a file to reopen) with a controlled clock and every publish collected, and an
 * @aws-sdk/client-iot client for a test server.
 */
import { after, before } from 'node:test';
import { IoTClient, ListJobExecutionsForJobCommand } from '@aws-sdk/client-iot';
import type { Namespace } from '../src/accounts/namespace.js';
import { DeviceJobs } from '../src/jobs/device-jobs.js';
import { JobStore, jobMigrations } from '../src/jobs/job-store.js';
import type { ExecutionRecord } from '../src/jobs/job-types.js';
import { JobsService } from '../src/jobs/jobs-service.js';
import { RegistryEvents } from '../src/registry/events.js';
import { RegistryStore, registryMigrations } from '../src/registry/registry-store.js';
import { ThingGroups } from '../src/registry/thing-groups.js';
import { Things } from '../src/registry/things.js';
import { openDatabase, type Db } from '../src/store/database.js';
import type { SqlEngine } from '../src/store/sql/engine.js';
import { migrate } from '../src/store/sql/migrations.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import type { ThicketServer } from '@thicket/server';
import { startTestServer, type TestServer } from './helpers.js';

export const NS: Namespace = { accountId: '123456789012', region: 'us-east-1' };
export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
export const MINUTE = 60_000;

export const thingArn = (name: string, ns: Namespace = NS): string => `arn:aws:iot:${ns.region}:${ns.accountId}:thing/${name}`;
export const groupArn = (name: string, ns: Namespace = NS): string => `arn:aws:iot:${ns.region}:${ns.accountId}:thinggroup/${name}`;

export interface Published {
  topic: string;
  payload: Record<string, unknown>;
}

export interface Harness {
  db: Db;
  sql: SqlEngine;
  clock: { now: number };
  jobs: JobsService;
  devices: DeviceJobs;
  store: JobStore;
  registry: RegistryStore;
  things: Things;
  groups: ThingGroups;
  events: RegistryEvents;
  /** Everything the Jobs service and the registry events published, in order. */
  published: Published[];
  /** Creates things (and a group holding them, when `group` is given). */
  fleet(names: string[], group?: string): Promise<void>;
  /** The latest (or the given) attempt of a thing's execution, once the work of registry changes has ended. */
  exec(jobId: string, thingName: string, executionNumber?: number): Promise<ExecutionRecord | undefined>;
  /** Status of the latest attempt of each thing, by thing name, once the work of registry changes has ended. */
  statuses(jobId: string): Promise<Record<string, string>>;
  /** Sets the clock and runs the service's timers once. */
  at(ms: number): Promise<void>;
  /** Device update through the same function MQTT and HTTP use. */
  report(jobId: string, thingName: string, status: string, extra?: Record<string, unknown>): Promise<void>;
}

/** The Jobs service wired as platform.ts wires it, on `path` (null: in memory) with a clock starting at `start`. */
export async function harness(path: string | null = null, start = T0): Promise<Harness> {
  const db = openDatabase(path);
  const sql = sqliteEngine(db);
  await migrate(sql, { registry: registryMigrations, jobs: jobMigrations });
  const clock = { now: start };
  const published: Published[] = [];
  // The harness makes no tagged resource (the tags capability and its table are not part of it).
  const tags = { putting: () => [], removing: () => [] };
  const registry = await RegistryStore.open(sql);
  const events = new RegistryEvents(registry, (_ns, topic, payload) => published.push({ topic, payload }));
  const things = new Things(registry, events, tags);
  const groups = new ThingGroups(registry, events, tags);
  const store = await JobStore.open(sql);
  const jobs = new JobsService({
    store,
    registry,
    groups,
    events,
    publish: (_ns, topic, payload) => published.push({ topic, payload }),
    clock: () => clock.now,
  });
  const devices = new DeviceJobs({
    store,
    lifecycle: jobs.lifecycle,
    documentFor: (ns, job) => jobs.deviceDocument(ns, job),
    clock: () => clock.now,
    expireDue: () => jobs.expireDue(),
  });
  groups.membershipChanged = (ns, thingName) => jobs.membershipChanged(ns, thingName);
  things.deleted = (ns, thingName) => jobs.thingDeleted(ns, thingName);
  const h: Harness = {
    db,
    sql,
    clock,
    jobs,
    devices,
    store,
    registry,
    things,
    groups,
    events,
    published,
    async fleet(names, group) {
      if (group !== undefined && !registry.group(NS, group)) await groups.create(NS, group, {});
      for (const n of names) {
        if (!registry.thing(NS, n)) await things.create(NS, n, {});
        if (group !== undefined) await groups.addThing(NS, { thingGroupName: group, thingName: n });
      }
      await jobs.settled();
    },
    async exec(jobId, thingName, n) {
      await jobs.settled();
      return store.execution(NS, jobId, thingName, n);
    },
    async statuses(jobId) {
      await jobs.settled();
      const out: Record<string, string> = {};
      for (const e of await store.executionsOfJob(NS, jobId)) out[e.thingName] = e.status;
      return out;
    },
    async at(ms) {
      await jobs.settled();
      clock.now = ms;
      await jobs.tick();
    },
    async report(jobId, thingName, status, extra = {}) {
      await devices.update(NS, thingName, jobId, { status, ...extra });
    },
  };
  return h;
}

/** A client of the control plane with the server's administrator key. */
export function iotClient(server: ThicketServer, region = 'us-east-1'): IoTClient {
  return new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region, credentials: server.adminKey });
}

export interface JobsServer {
  server: TestServer;
  iot: IoTClient;
  ns: Namespace;
  /** A device's update, through the function the MQTT and HTTP device APIs call. */
  report(thingName: string, jobId: string, status: string, extra?: Record<string, unknown>): Promise<void>;
  /** The latest attempt of each thing of a job (ListJobExecutionsForJob): its status, and `#executionNumber` when asked. */
  statuses(jobId: string, withNumber?: boolean): Promise<Record<string, string>>;
}

/**
 * A development-mode server and a control-plane client for the test file, started before its tests
 * (then `setup` runs) and closed after them (after `teardown`). One hook each: root-level hooks of
 * node:test do not wait for one another.
 */
export function jobsServer(hooks: { setup?: (ctx: JobsServer) => Promise<void>; teardown?: () => Promise<void> } = {}): JobsServer {
  const ctx = {
    async report(thingName, jobId, status, extra = {}) {
      await ctx.server.platform.use('jobs').deviceJobs.update(ctx.ns, thingName, jobId, { status, ...extra });
    },
    async statuses(jobId, withNumber = false) {
      const out: Record<string, string> = {};
      for (const s of (await ctx.iot.send(new ListJobExecutionsForJobCommand({ jobId }))).executionSummaries ?? []) {
        const e = s.jobExecutionSummary!;
        out[s.thingArn!.split('/').pop()!] = withNumber ? `${e.status}#${e.executionNumber}` : e.status!;
      }
      return out;
    },
  } as JobsServer;
  before(async () => {
    ctx.server = await startTestServer({ dev: true });
    ctx.iot = iotClient(ctx.server);
    ctx.ns = ctx.server.platform.defaultNamespace;
    await hooks.setup?.(ctx);
  });
  after(async () => {
    await hooks.teardown?.();
    ctx.iot.destroy();
    await ctx.server.close();
  });
  return ctx;
}
