/**
 * The broker's public shapes: what it is given (options, logger), what in-process callers publish,
 * and what it hands to the message tap and to a publisher's connection. Kept apart from the
 * Broker class so that connections and the platform can name them without importing the router.
 */
import type { QoS } from './codec/packets.js';
import type { RemoteConfirmation } from './cluster.js';
import type { BrokerHooks } from './hooks.js';
import type { Message, MessageProperties } from './message.js';
import type { BrokerConfig } from './options.js';
import type { Session } from './session.js';
import type { BrokerStore } from './store/types.js';

export interface BrokerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface BrokerOptions extends Partial<BrokerConfig> {
  store?: BrokerStore;
  hooks?: BrokerHooks;
  logger?: BrokerLogger;
}

/** A message as in-process services publish it. */
export interface PublishInput {
  mount?: string;
  topic: string;
  payload: Buffer | string;
  qos?: QoS;
  retain?: boolean;
  properties?: MessageProperties;
  /** Whom the message is published for (HTTPS publish: the caller), as the message tap sees it. */
  publisher?: Publisher;
}

/**
 * An in-process subscriber. One that keeps what it was sent (a shadow update) returns a promise that
 * settles once that is durable: the publisher's acknowledgement waits for it.
 */
export type ServiceHandler = (message: Message, mount: string, publisher: Publisher | undefined) => unknown;

/** Who published a message: a client (its ClientInfo fits), or an in-process caller acting for one. */
export interface Publisher {
  readonly clientId: string;
  readonly principal: string | undefined;
  readonly transport?: { readonly remoteAddress: string };
  /** What the authentication hook kept on the publisher's connection (ClientInfo.context). */
  readonly context?: unknown;
}

/**
 * Sees every message the router takes (client PUBLISH, will, in-process publish) before any
 * subscriber does; the rules engine. It must only look and queue: it runs on the routing path.
 */
export interface MessageTap {
  /** Returns true when the message is consumed by the tap and routed to nobody (AWS Basic Ingest). */
  message(mount: string, msg: Message, publisher: Publisher | undefined): boolean;
}

/** What route() tells an MQTT publisher beyond its return value. */
export interface RouteOutcome {
  /** Sessions over their congestion bound: the publisher's acknowledgement waits for them. */
  congested: Session[];
  /** Every session the message was for dropped it as over its queue bounds, and nothing else took it. */
  refused: boolean;
  /**
   * In a cluster, the other nodes whose sessions the message was forwarded to confirming they stored
   * it: the publisher's acknowledgement waits for it too.
   */
  remote?: RemoteConfirmation;
  /** In-process subscribers still storing what they took (ServiceHandler): the acknowledgement waits for them. */
  services?: Promise<unknown>;
}
