/**
 * A device's view of one shadow, classic or named: get, update and delete correlated by clientToken
 * with a timeout, a delta handler that reports what the device applied, and the shadow's version as
 * last seen (stale deltas — older than a version already seen — are not handed to the handler).
 */
import type { DeviceClient, Subscription } from '../connection/device-client.js';
import { ShadowRejectedError } from '../errors.js';
import {
  shadowAddressError,
  shadowTopic,
  type JsonObject,
  type ShadowDeleteAccepted,
  type ShadowDelta,
  type ShadowDocuments,
  type ShadowErrorDocument,
  type ShadowGetAccepted,
  type ShadowRequestOp,
  type ShadowUpdateAccepted,
  type ShadowUpdateRequest,
} from '../protocol/index.js';
import { newClientToken, parseJsonObject, PendingRequests } from '../requests/pending-requests.js';

export interface ShadowClientOptions {
  /** A named shadow; the classic shadow when absent. */
  shadowName?: string;
  /** Per-request timeout; the device client's `requestTimeoutMs` when absent. */
  timeoutMs?: number;
}

/**
 * Called with the delta (desired keys that differ from reported). Returns the state the device now
 * has for those keys — the client reports it — or undefined to report nothing.
 */
export type DeltaHandler = (delta: JsonObject, document: ShadowDelta) => JsonObject | undefined | Promise<JsonObject | undefined>;

export interface DeltaOptions {
  /** After subscribing, get the shadow and hand its current delta to the handler (default true): a device catches up on what changed while it was away. */
  catchUp?: boolean;
}

type Answer = ShadowGetAccepted | ShadowUpdateAccepted | ShadowDeleteAccepted;

export class ShadowClient {
  readonly thingName: string;
  readonly shadowName: string | undefined;
  private readonly timeoutMs: number;
  private readonly pending = new PendingRequests<Answer>();
  private readonly responses = new Map<ShadowRequestOp, Promise<Subscription[]>>();
  private lastVersion: number | undefined;
  private lastDeltaVersion: number | undefined;

  constructor(
    private readonly device: DeviceClient,
    thingName: string,
    options: ShadowClientOptions = {},
  ) {
    const invalid = shadowAddressError(thingName, options.shadowName);
    if (invalid) throw new Error(invalid);
    this.thingName = thingName;
    this.shadowName = options.shadowName || undefined;
    this.timeoutMs = options.timeoutMs ?? device.requestTimeoutMs;
  }

  /** The highest shadow version seen in an answer or a delta; undefined before the first. */
  get version(): number | undefined {
    return this.lastVersion;
  }

  get(): Promise<ShadowGetAccepted> {
    return this.request('get', {}) as Promise<ShadowGetAccepted>;
  }

  /**
   * Updates desired and/or reported (a key set to null is deleted). With `version` the update is
   * rejected (409 Version conflict) unless the shadow still has that version.
   */
  update(state: ShadowUpdateRequest['state'], options: { version?: number } = {}): Promise<ShadowUpdateAccepted> {
    const body: Omit<ShadowUpdateRequest, 'clientToken'> = { state };
    if (options.version !== undefined) body.version = options.version;
    return this.request('update', body) as Promise<ShadowUpdateAccepted>;
  }

  /** Reports the device's state. */
  report(reported: JsonObject | null): Promise<ShadowUpdateAccepted> {
    return this.update({ reported });
  }

  delete(): Promise<ShadowDeleteAccepted> {
    return this.request('delete', {}) as Promise<ShadowDeleteAccepted>;
  }

  /** Hands every (fresh) delta to `handler` and reports what it returns. */
  async onDelta(handler: DeltaHandler, options: DeltaOptions = {}): Promise<Subscription> {
    const subscription = await this.device.subscribe(shadowTopic(this.thingName, 'update/delta', this.shadowName), (_t, payload) => {
      const doc = parseJsonObject(payload) as ShadowDelta | undefined;
      if (!doc || typeof doc.version !== 'number' || typeof doc.state !== 'object') return;
      void this.applyDelta(handler, doc);
    });
    if (options.catchUp !== false) {
      const current = await this.get().catch((err: unknown) => {
        if (err instanceof ShadowRejectedError && err.code === 404) return undefined;
        throw err;
      });
      if (current?.state.delta) {
        await this.applyDelta(handler, { state: current.state.delta, version: current.version, timestamp: current.timestamp }, true);
      }
    }
    return subscription;
  }

  /** Every `/update/documents` (previous and current state after each accepted update). */
  onDocuments(handler: (documents: ShadowDocuments) => void): Promise<Subscription> {
    return this.device.subscribe(shadowTopic(this.thingName, 'update/documents', this.shadowName), (_t, payload) => {
      const doc = parseJsonObject(payload) as ShadowDocuments | undefined;
      if (!doc?.current) return;
      this.seen(doc.current.version);
      handler(doc);
    });
  }

  private async applyDelta(handler: DeltaHandler, doc: ShadowDelta, fromGet = false): Promise<void> {
    // Deltas may repeat (QoS 1) or arrive after a newer version was seen; only fresh ones count.
    if (this.lastDeltaVersion !== undefined && doc.version <= this.lastDeltaVersion) return;
    if (!fromGet && this.lastVersion !== undefined && doc.version < this.lastVersion) return;
    this.lastDeltaVersion = doc.version;
    this.seen(doc.version);
    try {
      const reported = await handler(doc.state, doc);
      if (reported !== undefined) await this.report(reported);
    } catch (err) {
      this.device.reportError(err as Error);
    }
  }

  private seen(version: unknown): void {
    if (typeof version === 'number' && (this.lastVersion === undefined || version > this.lastVersion)) this.lastVersion = version;
  }

  private async request(op: ShadowRequestOp, body: Record<string, unknown>): Promise<Answer> {
    await this.listen(op);
    const clientToken = newClientToken();
    const topic = shadowTopic(this.thingName, op, this.shadowName);
    const answer = this.pending.wait(clientToken, topic, this.timeoutMs);
    // Requests are not queued: an answer to a stale request after a reconnect would only confuse.
    this.device
      .publish(topic, JSON.stringify({ ...body, clientToken }), { qos: 1, queue: false })
      .catch((err: Error) => this.pending.fail(clientToken, err));
    return answer;
  }

  /** Subscribes to the operation's accepted and rejected topics once, before its first request. */
  private async listen(op: ShadowRequestOp): Promise<void> {
    let subscribed = this.responses.get(op);
    if (!subscribed) {
      const on = (kind: 'accepted' | 'rejected') =>
        this.device.subscribe(shadowTopic(this.thingName, `${op}/${kind}`, this.shadowName), (_t, payload) => {
          const doc = parseJsonObject(payload);
          if (!doc) return;
          if (kind === 'accepted') {
            this.seen(doc.version);
            this.pending.settle(doc.clientToken as string | undefined, { value: doc as unknown as Answer });
          } else {
            this.pending.settle(doc.clientToken as string | undefined, {
              error: new ShadowRejectedError(doc as unknown as ShadowErrorDocument),
            });
          }
        });
      subscribed = Promise.all([on('accepted'), on('rejected')]);
      this.responses.set(op, subscribed);
      subscribed.catch(() => this.responses.delete(op));
    }
    await subscribed;
  }
}
