/**
 * Fleet provisioning over MQTT (reference dataplane §6): CreateKeysAndCertificate,
 * CreateCertificateFromCsr and RegisterThing. The protocol has no correlation token, so requests go
 * one at a time, and each subscribes to its accepted and rejected topics before publishing.
 */
import type { DeviceClient, Subscription } from '../connection/device-client.js';
import { ProvisioningRejectedError, RequestTimeoutError } from '../errors.js';
import {
  certificatesTopic,
  isProvisioningErrorResponse,
  provisionTopic,
  type CreateCertificateFromCsrResponse,
  type CreateKeysAndCertificateResponse,
  type RegisterThingRequest,
  type RegisterThingResponse,
} from '../protocol/index.js';
import { parseJsonObject } from '../requests/pending-requests.js';

export interface ProvisioningClientOptions {
  timeoutMs?: number;
}

export class ProvisioningClient {
  private readonly timeoutMs: number;
  private turn: Promise<unknown> = Promise.resolve();
  private readonly subscribed = new Map<string, Promise<Subscription[]>>();

  constructor(
    private readonly device: DeviceClient,
    options: ProvisioningClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? device.requestTimeoutMs;
  }

  /** A new key pair and a certificate (PENDING_ACTIVATION until RegisterThing) with its ownership token. */
  createKeysAndCertificate(): Promise<CreateKeysAndCertificateResponse> {
    return this.request<CreateKeysAndCertificateResponse>(certificatesTopic('create'), {});
  }

  /** A certificate for the device's own key (PEM CSR), so the private key never leaves the device. */
  createCertificateFromCsr(certificateSigningRequest: string): Promise<CreateCertificateFromCsrResponse> {
    return this.request<CreateCertificateFromCsrResponse>(certificatesTopic('create-from-csr'), { certificateSigningRequest });
  }

  /** Runs the provisioning template: the thing, the certificate activated, its policies. */
  registerThing(templateName: string, request: RegisterThingRequest): Promise<RegisterThingResponse> {
    const body: RegisterThingRequest = { certificateOwnershipToken: request.certificateOwnershipToken };
    if (request.parameters) body.parameters = request.parameters;
    return this.request<RegisterThingResponse>(provisionTopic(templateName), body);
  }

  private request<T>(topic: string, body: object): Promise<T> {
    const run = this.turn.then(() => this.exchange(topic, body)) as Promise<T>;
    this.turn = run.catch(() => undefined);
    return run;
  }

  private async exchange(topic: string, body: object): Promise<Record<string, unknown>> {
    let settle!: (outcome: { value: Record<string, unknown> } | { error: Error }) => void;
    const answer = new Promise<Record<string, unknown>>((resolve, reject) => {
      settle = (o) => ('error' in o ? reject(o.error) : resolve(o.value));
    });
    const stops = [
      this.device.route(`${topic}/accepted`, (_t, payload) => {
        const doc = parseJsonObject(payload);
        if (doc) settle({ value: doc });
      }),
      this.device.route(`${topic}/rejected`, (_t, payload) => {
        const doc = parseJsonObject(payload);
        if (isProvisioningErrorResponse(doc)) settle({ error: new ProvisioningRejectedError(doc) });
        else
          settle({ error: new ProvisioningRejectedError({ statusCode: 0, errorCode: 'Unknown', errorMessage: payload.toString('utf8') }) });
      }),
    ];
    const timer = setTimeout(() => settle({ error: new RequestTimeoutError(topic, undefined, this.timeoutMs) }), this.timeoutMs);
    try {
      await this.subscribe(topic);
      await this.device.publish(topic, JSON.stringify(body), { qos: 1, queue: false });
      return await answer;
    } finally {
      clearTimeout(timer);
      for (const stop of stops) stop();
    }
  }

  /** Subscribes to the request's accepted and rejected topics (once per topic); the answers themselves are routed per request. */
  private async subscribe(topic: string): Promise<void> {
    let s = this.subscribed.get(topic);
    if (!s) {
      const ignore = (): void => {};
      s = Promise.all([this.device.subscribe(`${topic}/accepted`, ignore), this.device.subscribe(`${topic}/rejected`, ignore)]);
      this.subscribed.set(topic, s);
      s.catch(() => this.subscribed.delete(topic));
    }
    await s;
  }
}
