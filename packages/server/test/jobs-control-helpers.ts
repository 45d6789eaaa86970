/**
 * Helpers for the Jobs control-plane tests: the Jobs service wired by hand on a SQLite database
 * (in memory, or a file to reopen) with a controlled clock and every publish collected, and an
 * @aws-sdk/client-iot client for a test server.
 */
import { after, before } from 'node:test';
import { IoTClient, ListJobExecutionsForJobCommand } from '@aws-sdk/client-iot';
import type { Namespace } from '../src/accounts/namespace.js';
import { DeviceJobs } from '../src/jobs/device-jobs.js';
import { JobStore } from '../src/jobs/job-store.js';
import type { ExecutionRecord } from '../src/jobs/job-types.js';
import { JobsService } from '../src/jobs/jobs-service.js';
import { RegistryEvents } from '../src/registry/events.js';
import { RegistryStore } from '../src/registry/registry-store.js';
import { ThingGroups } from '../src/registry/thing-groups.js';
import { Things } from '../src/registry/things.js';
import { openDatabase, type Db } from '../src/store/database.js';
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
  fleet(names: string[], group?: string): void;
  /** The latest (or the given) attempt of a thing's execution. */
  exec(jobId: string, thingName: string, executionNumber?: number): ExecutionRecord | undefined;
  /** Status of the latest attempt of each thing, by thing name. */
  statuses(jobId: string): Record<string, string>;
  /** Sets the clock and runs the service's timers once. */
  at(ms: number): void;
  /** Device update through the same function MQTT and HTTP use. */
  report(jobId: string, thingName: string, status: string, extra?: Record<string, unknown>): void;
}

/** The Jobs service wired as platform.ts wires it, on `path` (null: in memory) with a clock starting at `start`. */
export function harness(path: string | null = null, start = T0): Harness {
  const db = openDatabase(path);
  const clock = { now: start };
  const published: Published[] = [];
  // The harness makes no tagged resource (the tags capability and its table are not part of it).
  const registry = new RegistryStore(db, { put() {}, remove() {} });
  const events = new RegistryEvents(registry, (_ns, topic, payload) => published.push({ topic, payload }));
  const things = new Things(registry, events);
  const groups = new ThingGroups(registry, events);
  const store = new JobStore(db);
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
    clock,
    jobs,
    devices,
    store,
    registry,
    things,
    groups,
    events,
    published,
    fleet(names, group) {
      if (group !== undefined && !registry.group(NS, group)) groups.create(NS, group, {});
      for (const n of names) {
        if (!registry.thing(NS, n)) things.create(NS, n, {});
        if (group !== undefined) groups.addThing(NS, { thingGroupName: group, thingName: n });
      }
    },
    exec: (jobId, thingName, n) => store.execution(NS, jobId, thingName, n),
    statuses(jobId) {
      const out: Record<string, string> = {};
      for (const e of store.executionsOfJob(NS, jobId)) out[e.thingName] = e.status;
      return out;
    },
    at(ms) {
      clock.now = ms;
      jobs.tick();
    },
    report(jobId, thingName, status, extra = {}) {
      devices.update(NS, thingName, jobId, { status, ...extra });
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
  report(thingName: string, jobId: string, status: string, extra?: Record<string, unknown>): void;
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
    report(thingName, jobId, status, extra = {}) {
      ctx.server.platform.use('jobs').deviceJobs.update(ctx.ns, thingName, jobId, { status, ...extra });
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
