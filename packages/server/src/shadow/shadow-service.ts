/**
 * The Device Shadow service: get, update, delete and list, the same functions for MQTT requests
 * and the iot-data HTTP API (DESIGN §1.2).
 *
 * Order: the requests for one thing's shadows take turns on a node, in arrival order (Turns), so
 * an update sees every earlier one and a get sees every earlier update; names and the rate limit
 * are checked on arrival, and answers (also refusals) come in the order the requests came.
 * Several nodes: each update reads the shadow (or this node's guess of it, see ShadowStore),
 * merges, and writes conditionally on what it read; a write another node got in before is tried
 * again on what is there now, so concurrent updates on different nodes lose no field and versions
 * only go up. Answers (`/accepted`, `/delta`, `/documents`) are published once the write landed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  applyUpdate,
  deleteResponse,
  getResponse,
  parseUpdateRequest,
  ShadowError,
  DEFAULT_SHADOW_LIMITS,
  SHADOW_ERROR_MESSAGES,
  type JsonObject,
  type ShadowLimits,
  type UpdateResult,
} from '@thicket/shadow';
import { mountOf, type Namespace } from '../accounts/namespace.js';
import { RateLimiter } from './rate-limiter.js';
import type { ShadowStore } from './shadow-store.js';
import { addressError, shadowDisplayName, shadowTopicPrefix, type ShadowAddress } from './shadow-topics.js';
import { Turns } from './turns.js';

/** Rounds of read and conditional write an update or delete gets before it is a version conflict. */
const WRITE_ROUNDS = 20;
/** The longest pause (ms) between two rounds. */
const MAX_PAUSE_MS = 50;

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

/** The operations on one shadow during its request's turn (see `ShadowService.inTurn`). */
export interface ShadowOperations {
  get(clientToken?: string): Promise<JsonObject>;
  update(payload: Uint8Array | string): Promise<JsonObject>;
  delete(clientToken?: string): Promise<JsonObject>;
}

export class ShadowService {
  private readonly limiter: RateLimiter;
  private readonly turns = new Turns();

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

  /** Names and rate: what every request passes before it touches the store. The refusal, if any. */
  private admission(ns: Namespace, a: ShadowAddress): ShadowError | undefined {
    const bad = addressError(a);
    if (bad) return new ShadowError(400, bad);
    if (!this.limiter.take(`${mountOf(ns)}/${a.thingName}`)) {
      return new ShadowError(
        429,
        `Too many requests: thing '${a.thingName}' is over its limit of ${this.limiter.perSecond} shadow requests per second`,
      );
    }
    return undefined;
  }

  private missing(a: ShadowAddress): ShadowError {
    return new ShadowError(404, `No shadow exists with name: '${shadowDisplayName(a)}'`);
  }

  /**
   * Admits a request now (names, rate) and runs `task` in its turn: after every request for the
   * same thing that came before it on this node. The operations `task` is given fail with the
   * admission's refusal, if there was one, in that same turn, so that every answer keeps its place.
   */
  inTurn<T>(ns: Namespace, a: ShadowAddress, task: (op: ShadowOperations) => Promise<T>): Promise<T> {
    return this.turn(ns, a, task, this.admission(ns, a));
  }

  /**
   * As `inTurn`, for a request refused before admission (a malformed `/get`, as AWS checks it
   * before the rate): its operations fail with `refused`, and it takes nothing of the thing's rate.
   */
  refusedInTurn<T>(ns: Namespace, a: ShadowAddress, refused: unknown, task: (op: ShadowOperations) => Promise<T>): Promise<T> {
    return this.turn(ns, a, task, refused);
  }

  private turn<T>(ns: Namespace, a: ShadowAddress, task: (op: ShadowOperations) => Promise<T>, refused: unknown): Promise<T> {
    const op: ShadowOperations =
      refused !== undefined
        ? { get: () => Promise.reject(refused), update: () => Promise.reject(refused), delete: () => Promise.reject(refused) }
        : {
            get: (clientToken) => this.getNow(ns, a, clientToken),
            update: (payload) => this.updateNow(ns, a, payload),
            delete: (clientToken) => this.deleteNow(ns, a, clientToken),
          };
    return this.turns.run(`${mountOf(ns)}/${a.thingName}`, () => task(op));
  }

  /** GetThingShadow and `/get`: the document as the database holds it. */
  get(ns: Namespace, a: ShadowAddress, clientToken?: string): Promise<JsonObject> {
    return this.inTurn(ns, a, (op) => op.get(clientToken));
  }

  /** Applies a request document; publishes `/update/accepted`, `/update/delta` and `/update/documents`. */
  update(ns: Namespace, a: ShadowAddress, payload: Uint8Array | string): Promise<JsonObject> {
    return this.inTurn(ns, a, (op) => op.update(payload));
  }

  /** Deletes the shadow (its version continues if it is created again soon); publishes `/delete/accepted`. */
  delete(ns: Namespace, a: ShadowAddress, clientToken?: string): Promise<JsonObject> {
    return this.inTurn(ns, a, (op) => op.delete(clientToken));
  }

  /** The thing's named shadows in name order; an unknown thing has none. */
  listNamed(ns: Namespace, thingName: string, pageSize: number, after: string | undefined): Promise<NamedShadowPage> {
    const bad = addressError({ thingName, shadowName: '' });
    if (bad) return Promise.reject(new ShadowError(400, bad));
    return this.turns.run(`${mountOf(ns)}/${thingName}`, async () => {
      const names = await this.store.namedShadows(ns, thingName, after ?? '', pageSize + 1);
      const results = names.slice(0, pageSize);
      const page: NamedShadowPage = { results, timestamp: this.seconds() };
      if (names.length > pageSize) page.nextToken = results[results.length - 1]!;
      return page;
    });
  }

  /** Test-mode reset. The store's statement is issued at the call. */
  clear(): Promise<unknown> {
    this.limiter.clear();
    return this.store.clear();
  }

  // ---- the operations, in their turn

  private async getNow(ns: Namespace, a: ShadowAddress, clientToken?: string): Promise<JsonObject> {
    const rec = await this.store.read(ns, a.thingName, a.shadowName);
    if (!rec?.exists) throw this.missing(a);
    return getResponse(rec.shadow, this.seconds(), clientToken);
  }

  private async updateNow(ns: Namespace, a: ShadowAddress, payload: Uint8Array | string): Promise<JsonObject> {
    const request = parseUpdateRequest(payload, this.settings);
    const now = this.seconds();
    const result = await this.untilWritten(async (): Promise<UpdateResult | false> => {
      const guess = this.store.cached(ns, a.thingName, a.shadowName);
      const rec = guess !== undefined ? guess.rec : await this.store.read(ns, a.thingName, a.shadowName);
      try {
        const current = rec?.exists ? rec.shadow : undefined;
        let baseVersion = 0;
        if (rec && !rec.exists && now - rec.deletedAt < this.settings.deletedVersionRetentionSeconds) baseVersion = rec.version;
        if (!current && a.shadowName !== '') await this.checkNamedLimit(ns, a);
        const r = applyUpdate(current, request, { timestamp: now, baseVersion, limits: this.settings });
        return (await this.store.write(ns, a.thingName, a.shadowName, rec, r.next, now)) && r;
      } catch (err) {
        return this.recheck(ns, a, guess, err);
      }
    });
    const prefix = shadowTopicPrefix(a);
    this.publish(ns, `${prefix}/update/accepted`, result.accepted);
    if (result.delta) this.publish(ns, `${prefix}/update/delta`, result.delta);
    this.publish(ns, `${prefix}/update/documents`, result.documents);
    return result.accepted;
  }

  private async deleteNow(ns: Namespace, a: ShadowAddress, clientToken?: string): Promise<JsonObject> {
    const now = this.seconds();
    const version = await this.untilWritten(async (): Promise<number | false> => {
      const guess = this.store.cached(ns, a.thingName, a.shadowName);
      const rec = guess !== undefined ? guess.rec : await this.store.read(ns, a.thingName, a.shadowName);
      try {
        if (!rec?.exists) throw this.missing(a);
        const purgeBefore = now - this.settings.deletedVersionRetentionSeconds;
        return (await this.store.markDeleted(ns, a.thingName, a.shadowName, rec, now, purgeBefore)) && rec.shadow.version;
      } catch (err) {
        return this.recheck(ns, a, guess, err);
      }
    });
    const response = deleteResponse(version, now, clientToken);
    this.publish(ns, `${shadowTopicPrefix(a)}/delete/accepted`, response);
    return response;
  }

  /**
   * A request refused on this node's guess of the shadow is decided again on what the database
   * holds (another node may have changed it): false makes the next round read it. Else rethrows.
   */
  private recheck(ns: Namespace, a: ShadowAddress, guess: unknown, err: unknown): false {
    if (guess === undefined || !(err instanceof ShadowError)) throw err;
    this.store.forget(ns, a.thingName, a.shadowName);
    return false;
  }

  /**
   * Rounds of read, decide and conditional write until one lands (the idea of `untilApplied`, with
   * a pause between rounds): a node writing a shadow it holds writes one round trip after the other,
   * so a node that lost to it and tried again at once would read just in time to lose again; a
   * random pause, longer each round, lets it in. Losing every round is a version conflict.
   */
  private async untilWritten<T>(attempt: () => Promise<T | false>): Promise<T> {
    for (let round = 1; ; round++) {
      const done = await attempt();
      if (done !== false) return done;
      if (round === WRITE_ROUNDS) throw new ShadowError(409, SHADOW_ERROR_MESSAGES.versionConflict);
      await sleep(Math.random() * Math.min(2 ** round, MAX_PAUSE_MS));
    }
  }

  private async checkNamedLimit(ns: Namespace, a: ShadowAddress): Promise<void> {
    const max = this.settings.maxNamedShadowsPerThing;
    if (max > 0 && (await this.store.countNamed(ns, a.thingName)) >= max) {
      throw new ShadowError(
        400,
        `Thing '${a.thingName}' already has the maximum of ${max} named shadows; delete one to create '${a.shadowName}'`,
      );
    }
  }
}
