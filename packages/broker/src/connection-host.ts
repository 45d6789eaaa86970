/**
 * What a connection and its SUBSCRIBE handling need of the broker. Connections see the broker
 * through this interface (the Broker class implements it), so neither module imports the other's.
 */
import type { BrokerLogger, Publisher, RouteOutcome } from './broker-types.js';
import type { ProtocolVersion, QoS, SubscriptionRequest } from './codec/packets.js';
import type { DropLog } from './drop-log.js';
import type { BrokerHooks, DisconnectReason } from './hooks.js';
import type { Message } from './message.js';
import type { BrokerConfig } from './options.js';
import type { Session, SessionNamespace } from './session.js';
import type { BrokerStats } from './stats.js';
import type { BrokerStore } from './store/types.js';
import type { ParsedFilter } from './topics.js';

export interface ConnectionHost<C> {
  readonly config: BrokerConfig;
  readonly stats: BrokerStats;
  readonly store: BrokerStore;
  readonly hooks: BrokerHooks;
  readonly log: BrokerLogger;
  readonly drops: DropLog;
  /** Connections that completed CONNECT. */
  readonly openConnections: number;
  /** Every connection, CONNECT pending included. */
  readonly connectionCount: number;
  isConnected(mount: string, clientId: string): boolean;
  /** Takes the session of an authenticated connection (taking over an older connection's); whether one was present. */
  /** In a cluster: a session of the client that another node holds, moved here first (resolves null: none). Null outside a cluster. */
  claimSession(mount: string, clientId: string, clean: boolean): Promise<boolean> | null;
  attach(conn: C, clean: boolean, expiry: number, version: ProtocolVersion): boolean;
  detach(conn: C, reason: DisconnectReason): void;
  setSessionExpiry(session: Session, seconds: number): void;
  route(ns: SessionNamespace, msg: Message, outcome?: RouteOutcome, publisher?: Publisher): boolean;
  reservedTopicAllowed(topic: string): boolean;
  subscribe(session: Session, req: SubscriptionRequest, parsed: ParsedFilter, qos: QoS, subscriptionId: number | undefined): boolean;
  unsubscribe(session: Session, key: string): boolean;
  sendRetained(session: Session, key: string, isNew: boolean): void;
  clusterSettled(): Promise<void> | undefined;
  emit(event: string | symbol, ...args: unknown[]): boolean;
}
