/**
 * The Device Shadow service: get, update, delete and list, the same functions for MQTT requests
 * and the iot-data HTTP API (DESIGN §1.2). Each update reads, merges and writes the shadow in one
 * SQLite transaction and publishes its responses after the commit; the process runs one update at
 * a time, so concurrent updates to a shadow serialize and none loses another's fields.
 */
import {
  applyUpdate,
  deleteResponse,
  getResponse,
  parseUpdateRequest,
  ShadowError,
  DEFAULT_SHADOW_LIMITS,
  type JsonObject,
  type ShadowLimits,
} from '@thicket/shadow';
import { mountOf, type Namespace } from '../accounts/namespace.js';
import { RateLimiter } from './rate-limiter.js';
import type { ShadowStore } from './shadow-store.js';
import { addressError, shadowDisplayName, shadowTopicPrefix, type ShadowAddress } from './shadow-topics.js';

export interface ShadowSettings extends ShadowLimits {
  /** Named shadows one thing may have; 0: no limit (AWS documents none). */
  maxNamedShadowsPerThing: number;
  /** Shadow requests per second per thing (AWS: 20); 0: no limit. */
  requestsPerSecondPerThing: number;
  /** How long a deleted shadow's version continues when it is created again (AWS: 48 hours). */
  deletedVersionRetentionSeconds: number;
}

export const DEFAULT_SHADOW_SETTINGS: ShadowSettings = {
  ...DEFAULT_SHADOW_LIMITS,
  maxNamedShadowsPerThing: 0,
  requestsPerSecondPerThing: 0,
  deletedVersionRetentionSeconds: 48 * 3600,
};

/** Publishes a response document into a namespace's topic space. */
export type ShadowPublisher = (ns: Namespace, topic: string, document: JsonObject) => void;

export interface NamedShadowPage {
  results: string[];
  nextToken?: string;
  timestamp: number;
}

export class ShadowService {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly store: ShadowStore,
    /** Where answers go (the broker, at QoS 1: each subscriber receives them at the QoS it subscribed with). */
    readonly publish: ShadowPublisher,
    readonly settings: ShadowSettings = DEFAULT_SHADOW_SETTINGS,
    private readonly clock: () => number = Date.now,
  ) {
    this.limiter = new RateLimiter(settings.requestsPerSecondPerThing);
  }

  private seconds(): number {
    return Math.floor(this.clock() / 1000);
  }

  /** Names and rate: what every request passes before it touches the store. */
  private admit(ns: Namespace, a: ShadowAddress): void {
    const bad = addressError(a);
    if (bad) throw new ShadowError(400, bad);
    if (!this.limiter.take(`${mountOf(ns)}/${a.thingName}`)) {
      throw new ShadowError(
        429,
        `Too many requests: thing '${a.thingName}' is over its limit of ${this.limiter.perSecond} shadow requests per second`,
      );
    }
  }

  private missing(a: ShadowAddress): ShadowError {
    return new ShadowError(404, `No shadow exists with name: '${shadowDisplayName(a)}'`);
  }

  get(ns: Namespace, a: ShadowAddress, clientToken?: string): JsonObject {
    this.admit(ns, a);
    const rec = this.store.read(ns, a.thingName, a.shadowName);
    if (!rec?.exists) throw this.missing(a);
    return getResponse(rec.shadow, this.seconds(), clientToken);
  }

  /** Applies a request document; publishes `/update/accepted`, `/update/delta` and `/update/documents`. */
  update(ns: Namespace, a: ShadowAddress, payload: Uint8Array | string): JsonObject {
    this.admit(ns, a);
    const request = parseUpdateRequest(payload, this.settings);
    const now = this.seconds();
    const result = this.store.transaction(() => {
      const rec = this.store.read(ns, a.thingName, a.shadowName);
      const current = rec?.exists ? rec.shadow : undefined;
      let baseVersion = 0;
      if (rec && !rec.exists && now - rec.deletedAt < this.settings.deletedVersionRetentionSeconds) baseVersion = rec.version;
      if (!current && a.shadowName !== '') this.checkNamedLimit(ns, a);
      const r = applyUpdate(current, request, { timestamp: now, baseVersion, limits: this.settings });
      this.store.write(ns, a.thingName, a.shadowName, r.next, now);
      return r;
    });
    const prefix = shadowTopicPrefix(a);
    this.publish(ns, `${prefix}/update/accepted`, result.accepted);
    if (result.delta) this.publish(ns, `${prefix}/update/delta`, result.delta);
    this.publish(ns, `${prefix}/update/documents`, result.documents);
    return result.accepted;
  }

  private checkNamedLimit(ns: Namespace, a: ShadowAddress): void {
    const max = this.settings.maxNamedShadowsPerThing;
    if (max > 0 && this.store.countNamed(ns, a.thingName) >= max) {
      throw new ShadowError(
        400,
        `Thing '${a.thingName}' already has the maximum of ${max} named shadows; delete one to create '${a.shadowName}'`,
      );
    }
  }

  /** Deletes the shadow (its version continues if it is created again soon); publishes `/delete/accepted`. */
  delete(ns: Namespace, a: ShadowAddress, clientToken?: string): JsonObject {
    this.admit(ns, a);
    const now = this.seconds();
    const version = this.store.transaction(() => {
      const rec = this.store.read(ns, a.thingName, a.shadowName);
      if (!rec?.exists) throw this.missing(a);
      this.store.markDeleted(ns, a.thingName, a.shadowName, rec.shadow.version, now);
      this.store.purgeDeleted(now - this.settings.deletedVersionRetentionSeconds);
      return rec.shadow.version;
    });
    const response = deleteResponse(version, now, clientToken);
    this.publish(ns, `${shadowTopicPrefix(a)}/delete/accepted`, response);
    return response;
  }

  /** The thing's named shadows in name order; an unknown thing has none. */
  listNamed(ns: Namespace, thingName: string, pageSize: number, after: string | undefined): NamedShadowPage {
    const bad = addressError({ thingName, shadowName: '' });
    if (bad) throw new ShadowError(400, bad);
    const names = this.store.namedShadows(ns, thingName, after ?? '', pageSize + 1);
    const results = names.slice(0, pageSize);
    const page: NamedShadowPage = { results, timestamp: this.seconds() };
    if (names.length > pageSize) page.nextToken = results[results.length - 1]!;
    return page;
  }

  /** Test-mode reset. */
  clear(): void {
    this.store.clear();
    this.limiter.clear();
  }
}
