/**
 * One simulated device: a real MQTT connection with its own certificate, through the device SDK.
 * It publishes its telemetry streams, reports values in its shadow and applies (and reports) what
 * desired state asks for, runs its jobs (OTA documents are downloaded and checked; any other job
 * takes the profile's duration) and succeeds or fails them at the profile's rate, and now and then
 * goes offline and comes back as a restarted device would.
 */
import { join } from 'node:path';
import { connectDevice, isOtaDocument, JobsClient, runOtaJob, ShadowClient, type DeviceClient, type JobExecution } from '@thicket/sdk';
import { topicFor, ValueGenerator, type Profile } from './profile.js';
import type { Stats } from './stats.js';

export interface Identity {
  thingName: string;
  cert: string;
  key: string;
}

export interface SimulatedDeviceOptions {
  index: number;
  identity: Identity;
  url: string;
  ca: string;
  servername?: string;
  profile: Profile;
  stats: Stats;
  /** Where OTA downloads go (one directory per device below it). */
  downloadDir: string;
  random?: () => number;
}

export class SimulatedDevice {
  private client: DeviceClient | undefined;
  private readonly values: ValueGenerator;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  private working = false;
  private again = false;
  private online = false;
  private readonly random: () => number;

  constructor(private readonly o: SimulatedDeviceOptions) {
    this.random = o.random ?? Math.random;
    this.values = new ValueGenerator(this.random);
  }

  get thingName(): string {
    return this.o.identity.thingName;
  }

  /** Connects and starts behaving; resolves once connected and subscribed. */
  async start(): Promise<void> {
    const { identity, stats } = this.o;
    const client = await connectDevice({
      url: this.o.url,
      clientId: identity.thingName,
      tls: { cert: identity.cert, key: identity.key, ca: this.o.ca, servername: this.o.servername },
      reconnect: { minDelayMs: 1000, maxDelayMs: 30_000 },
    });
    // Stopped while connecting (a restart that was under way): this connection is not wanted.
    if (this.stopped) {
      await client.close();
      return;
    }
    this.client = client;
    this.setOnline(true);
    client.on('connect', () => this.setOnline(true));
    client.on('disconnect', () => {
      if (this.online) stats.counts.disconnects++;
      this.setOnline(false);
    });
    client.on('error', (err) => stats.error(err));
    const { profile } = this.o;
    if (profile.shadow) {
      const shadow = new ShadowClient(client, identity.thingName);
      await shadow.onDelta((delta) => {
        stats.counts.deltasApplied++;
        Object.assign(this.values.latest, delta);
        return delta;
      });
      this.every(profile.shadow.reportEveryMs, async () => {
        const reported = Object.fromEntries(
          profile.shadow!.values.filter((k) => k in this.values.latest).map((k) => [k, this.values.latest[k]]),
        );
        if (Object.keys(reported).length === 0) return;
        await shadow.report(reported as never);
        stats.counts.shadowUpdates++;
      });
    }
    const jobs = new JobsClient(client, identity.thingName);
    await jobs.onNextJobChanged((event) => {
      if (event.execution) this.runJobs(jobs);
    });
    this.runJobs(jobs);
    for (const stream of profile.telemetry) {
      const topic = topicFor(stream.topic, identity.thingName, this.o.index);
      const send = async () => {
        await client.publish(topic, JSON.stringify(this.values.message(stream.values)), { qos: stream.qos, queue: false });
        stats.counts.messages++;
      };
      // Spread the devices over the interval rather than all at once.
      this.after(this.random() * stream.intervalMs, () => {
        void this.guard(send);
        this.every(stream.intervalMs, send);
      });
      if (stream.burst) {
        const b = stream.burst;
        this.every(b.everyMs, async () => {
          for (let i = 0; i < b.count && !this.stopped; i++) {
            await send();
            await new Promise((r) => setTimeout(r, b.intervalMs));
          }
        });
      }
    }
    if (profile.churn.disconnectsPerHour > 0) {
      const meanMs = 3_600_000 / profile.churn.disconnectsPerHour;
      const churn = () => {
        // Exponential waits: disconnections of a device arrive as a Poisson process.
        this.after(-Math.log(1 - this.random()) * meanMs, () => void this.guard(() => this.restart()).then(churn));
      };
      churn();
    }
  }

  /** Goes offline for the profile's time, then starts again as a restarted device. */
  private async restart(): Promise<void> {
    if (this.stopped) return;
    this.clearTimers();
    const client = this.client;
    this.client = undefined;
    if (this.online) this.o.stats.counts.disconnects++;
    this.setOnline(false);
    await client?.close();
    await new Promise((r) => setTimeout(r, this.o.profile.churn.offlineMs));
    if (!this.stopped) await this.start();
  }

  /** Takes pending jobs one after another until none is left. */
  private runJobs(jobs: JobsClient): void {
    if (this.working) {
      this.again = true;
      return;
    }
    this.working = true;
    void (async () => {
      try {
        do {
          this.again = false;
          let execution: JobExecution | undefined;
          while (!this.stopped && (execution = await jobs.startNext())) await this.runJob(jobs, execution);
        } while (this.again && !this.stopped);
      } catch (err) {
        if (!this.stopped) this.o.stats.error(err);
      } finally {
        this.working = false;
      }
    })();
  }

  private async runJob(jobs: JobsClient, execution: JobExecution): Promise<void> {
    const { stats, profile } = this.o;
    const succeed = this.random() < profile.jobs.successRate;
    if (isOtaDocument(execution.jobDocument)) {
      const r = await runOtaJob(jobs, execution, {
        dir: join(this.o.downloadDir, this.thingName),
        ca: this.o.ca,
        install: () => {
          if (!succeed) throw new Error('simulated installation failure');
        },
      });
      if (r.files.length) stats.counts.otaDownloads += r.files.length;
      if (r.status === 'SUCCEEDED') stats.counts.jobsSucceeded++;
      else stats.counts.jobsFailed++;
      return;
    }
    await new Promise((r) => setTimeout(r, profile.jobs.durationMs));
    await jobs.update(execution.jobId, {
      status: succeed ? 'SUCCEEDED' : 'FAILED',
      statusDetails: succeed ? { simulated: 'ok' } : { simulated: 'failure' },
    });
    if (succeed) stats.counts.jobsSucceeded++;
    else stats.counts.jobsFailed++;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.clearTimers();
    const client = this.client;
    this.client = undefined;
    this.setOnline(false);
    await client?.close();
  }

  private setOnline(online: boolean): void {
    if (online === this.online) return;
    this.online = online;
    this.o.stats.counts.connected += online ? 1 : -1;
  }

  private async guard(fn: () => Promise<void>): Promise<void> {
    if (this.stopped) return;
    try {
      await fn();
    } catch (err) {
      if (!this.stopped) this.o.stats.error(err);
    }
  }

  private every(ms: number, fn: () => Promise<void>): void {
    if (this.stopped) return;
    const t = setInterval(() => void this.guard(fn), ms);
    this.timers.add(t);
  }

  private after(ms: number, fn: () => void): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private clearTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
