/** Jobs: the control plane, the rollout and timeout tasks, and the devices' jobs API over MQTT and HTTP. */
import { defineCapability } from '../platform/capability.js';
import { DeviceJobs } from './device-jobs.js';
import { Limiter } from './in-order.js';
import { JOB, JOB_TEMPLATE, JobStore, jobMigrations } from './job-store.js';
import { serveJobsOverMqtt } from './jobs-mqtt.js';
import { jobsControlRoutes, jobsDataRoutes } from './jobs-routes.js';
import { JobsService } from './jobs-service.js';

declare module '../platform/capability.js' {
  interface Services {
    jobs: { store: JobStore; jobs: JobsService; deviceJobs: DeviceJobs };
  }
}

/**
 * Device requests served at once: each waits for the database's answers (on SQLite for the group
 * commit its write joins), so enough of them must be in flight to fill a commit; with no bound at
 * all, a thousand requests interleaved at their awaits each hold their state across all the others.
 */
const REQUESTS_AT_ONCE = 64;

export const jobsCapability = defineCapability(
  'jobs',
  async (ctx) => {
    const store = await JobStore.open(ctx.sql);
    const registry = ctx.use('registry');
    const files = ctx.use('files').files;
    const jobs = new JobsService({
      store,
      registry: registry.store,
      groups: registry.thingGroups,
      events: registry.events,
      log: ctx.log('jobs'),
      publish: ctx.publish,
      leader: () => ctx.leader('jobs.timers'),
      files: {
        checkReferences: (ns, text) => files.checkFileReferences(text, ns),
        substitute: (ns, text, expiresInSec) => files.substituteFilePlaceholders(text, ns, { expiresInSec }),
        readText: (ns, name, maxBytes) => files.readText(ns, name, maxBytes),
      },
    });
    const deviceJobs = new DeviceJobs({
      store,
      lifecycle: jobs.lifecycle,
      documentFor: (ns, job) => jobs.deviceDocument(ns, job),
      clock: Date.now,
      expireDue: () => jobs.expireDue(),
      things: jobs.things,
      limiter: new Limiter(REQUESTS_AT_ONCE),
    });
    // A deleted thing leaves its executions; a thing joining a group joins its continuous jobs. Each
    // runs after the registry's change, in the thing's order, and never rejects (failures are logged).
    registry.things.deleted = (ns, thingName) => jobs.thingDeleted(ns, thingName);
    registry.thingGroups.membershipChanged = (ns, thingName) => jobs.membershipChanged(ns, thingName);
    return {
      services: { store, jobs, deviceJobs },
      routes: [...jobsControlRoutes(jobs), ...jobsDataRoutes(deviceJobs)],
      start(broker) {
        const stop = serveJobsOverMqtt(broker, deviceJobs, ctx.log('jobs'));
        jobs.start();
        return stop;
      },
      clear: () => jobs.clear(),
      stop: () => jobs.stop(),
      // Jobs and templates are held in memory; executions, queues and schedules are read when needed.
      reload: {
        tables: ['jobs', 'job_templates'],
        run: () => store.reload(),
        rows: { [JOB]: (ns, id) => store.refreshJob(ns, id), [JOB_TEMPLATE]: (ns, id) => store.refreshTemplate(ns, id) },
      },
    };
  },
  { migrations: jobMigrations },
);
