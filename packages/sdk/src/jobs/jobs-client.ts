/**
 * A thing's jobs over MQTT (reference dataplane §3): pending executions, start-next, describe and
 * update correlated by clientToken, and the notify / notify-next notifications. AWS delivers the
 * answers to the requester without a subscription, so by default none is made for them.
 */
import type { DeviceClient, Subscription } from '../connection/device-client.js';
import { JobsRejectedError } from '../errors.js';
import {
  jobExecutionTopic,
  jobsTopic,
  jobsTopicPrefix,
  parseJobsTopic,
  type DescribeJobExecutionRequest,
  type GetPendingJobExecutionsResponse,
  type JobExecution,
  type JobExecutionResponse,
  type JobExecutionsChangedEvent,
  type JobsErrorResponse,
  type NextJobExecutionChangedEvent,
  type StartNextPendingJobExecutionRequest,
  type UpdateJobExecutionRequest,
  type UpdateJobExecutionResponse,
} from '../protocol/index.js';
import { newClientToken, parseJsonObject, PendingRequests } from '../requests/pending-requests.js';

export interface JobsClientOptions {
  timeoutMs?: number;
  /** Subscribe to the answer topics as well (for brokers that only deliver what was subscribed to); default false. */
  subscribeToResponses?: boolean;
}

type Answer = GetPendingJobExecutionsResponse | JobExecutionResponse | UpdateJobExecutionResponse;

export class JobsClient {
  private readonly timeoutMs: number;
  private readonly pending = new PendingRequests<Answer>();
  private listening: Promise<void> | undefined;

  constructor(
    private readonly device: DeviceClient,
    readonly thingName: string,
    private readonly options: JobsClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? device.requestTimeoutMs;
  }

  /** GetPendingJobExecutions: IN_PROGRESS and QUEUED summaries. */
  getPending(): Promise<GetPendingJobExecutionsResponse> {
    return this.request(jobsTopic(this.thingName, 'get'), {}) as Promise<GetPendingJobExecutionsResponse>;
  }

  /** StartNextPendingJobExecution: the next execution, now IN_PROGRESS; undefined when none is pending. */
  async startNext<D = Record<string, unknown>>(
    request: Omit<StartNextPendingJobExecutionRequest, 'clientToken'> = {},
  ): Promise<JobExecution<D> | undefined> {
    const r = (await this.request(jobsTopic(this.thingName, 'start-next'), request)) as JobExecutionResponse<D>;
    return r.execution;
  }

  /** DescribeJobExecution (`$next` by default): undefined when there is no such execution pending. */
  async describe<D = Record<string, unknown>>(
    jobId = '$next',
    request: Omit<DescribeJobExecutionRequest, 'clientToken'> = {},
  ): Promise<JobExecution<D> | undefined> {
    const r = (await this.request(jobExecutionTopic(this.thingName, jobId, 'get'), request)) as JobExecutionResponse<D>;
    return r.execution;
  }

  /** UpdateJobExecution; `expectedVersion` makes it fail with VersionMismatch when the execution moved on. */
  update<D = Record<string, unknown>>(
    jobId: string,
    request: Omit<UpdateJobExecutionRequest, 'clientToken'>,
  ): Promise<UpdateJobExecutionResponse<D>> {
    return this.request(jobExecutionTopic(this.thingName, jobId, 'update'), request) as Promise<UpdateJobExecutionResponse<D>>;
  }

  /** `notify-next`: the next pending execution changed (no `execution` when none is left). */
  onNextJobChanged<D = Record<string, unknown>>(handler: (event: NextJobExecutionChangedEvent<D>) => void): Promise<Subscription> {
    return this.device.subscribe(jobsTopic(this.thingName, 'notify-next'), (_t, payload) => {
      const event = parseJsonObject(payload);
      if (event) handler(event as unknown as NextJobExecutionChangedEvent<D>);
    });
  }

  /** `notify`: an execution was added to or removed from the pending list. */
  onJobsChanged(handler: (event: JobExecutionsChangedEvent) => void): Promise<Subscription> {
    return this.device.subscribe(jobsTopic(this.thingName, 'notify'), (_t, payload) => {
      const event = parseJsonObject(payload);
      if (event) handler(event as unknown as JobExecutionsChangedEvent);
    });
  }

  private async request(topic: string, body: object): Promise<Answer> {
    await this.listen();
    const clientToken = newClientToken();
    const answer = this.pending.wait(clientToken, topic, this.timeoutMs);
    this.device
      .publish(topic, JSON.stringify({ ...body, clientToken }), { qos: 1, queue: false })
      .catch((err: Error) => this.pending.fail(clientToken, err));
    return answer;
  }

  private listen(): Promise<void> {
    this.listening ??= (async () => {
      const prefix = jobsTopicPrefix(this.thingName);
      const onAnswer = (topic: string, payload: Buffer): void => {
        const t = parseJobsTopic(topic);
        if (!t || !('response' in t) || t.response === undefined || t.thingName !== this.thingName) return;
        const doc = parseJsonObject(payload);
        if (!doc) return;
        const token = doc.clientToken as string | undefined;
        if (t.response === 'accepted') this.pending.settle(token, { value: doc as unknown as Answer });
        else this.pending.settle(token, { error: new JobsRejectedError(doc as unknown as JobsErrorResponse) });
      };
      const filters = [`${prefix}/+/accepted`, `${prefix}/+/rejected`, `${prefix}/+/+/accepted`, `${prefix}/+/+/rejected`];
      if (this.options.subscribeToResponses) await Promise.all(filters.map((f) => this.device.subscribe(f, onAnswer)));
      else for (const f of filters) this.device.route(f, onAnswer);
    })();
    return this.listening;
  }
}
