/** Test helpers for the device side of Jobs: things and jobs created through the control plane. */
import { CreateJobCommand, CreateThingCommand, IoTClient, type CreateJobCommandInput } from '@aws-sdk/client-iot';
import type { ThicketServer } from '@thicket/server';

/** Creates things and jobs with @aws-sdk/client-iot, as an administrator would. */
export class JobsAdmin {
  readonly iot: IoTClient;
  private readonly things = new Set<string>();

  constructor(private readonly server: ThicketServer) {
    this.iot = new IoTClient({ endpoint: `http://127.0.0.1:${server.ports.http}`, region: 'us-east-1', credentials: server.adminKey });
  }

  /** Creates the thing unless this helper (or `provision`, when `known`) created it already. */
  async thing(thingName: string, known = false): Promise<void> {
    if (known) this.things.add(thingName);
    if (this.things.has(thingName)) return;
    await this.iot.send(new CreateThingCommand({ thingName }));
    this.things.add(thingName);
  }

  /** Creates a job for the things (created first when needed); the document defaults to `{"operation":jobId}`. */
  async job(jobId: string, things: string[], document: object = { operation: jobId }, extra: Partial<CreateJobCommandInput> = {}) {
    for (const t of things) await this.thing(t);
    return this.iot.send(
      new CreateJobCommand({
        jobId,
        targets: things.map((t) => this.server.platform.thingArn(t)),
        document: JSON.stringify(document),
        ...extra,
      }),
    );
  }

  destroy(): void {
    this.iot.destroy();
  }
}

/** Epoch seconds of now, to check device timestamps (whole seconds) against. */
export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** A device's JobExecutionSummary (MQTT and iot-jobs-data). */
export interface Summary {
  jobId: string;
  queuedAt: number;
  startedAt?: number;
  lastUpdatedAt: number;
  versionNumber: number;
  executionNumber: number;
}

/** A device's JobExecution. */
export interface Execution extends Omit<Summary, 'jobId'> {
  jobId: string;
  thingName: string;
  jobDocument?: Record<string, unknown>;
  status: string;
  statusDetails?: Record<string, string>;
  approximateSecondsBeforeTimedOut?: number;
}

export interface ExecutionState {
  status: string;
  statusDetails?: Record<string, string>;
  versionNumber: number;
}

/** Everything a Jobs topic carries: answers, errors and notifications. */
export interface JobsDoc {
  timestamp?: number;
  clientToken?: string;
  code?: string;
  message?: string;
  execution?: Execution;
  executionState?: ExecutionState;
  jobDocument?: Record<string, unknown>;
  inProgressJobs?: Summary[];
  queuedJobs?: Summary[];
  jobs?: Record<string, Summary[]>;
}

/** The job ids of a list of summaries. */
export const ids = (list: Array<{ jobId?: string }> | undefined): Array<string | undefined> => (list ?? []).map((s) => s.jobId);
