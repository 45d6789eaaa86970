/**
 * What the broker keeps across restarts: persistent sessions with their subscriptions, the QoS 1/2
 * messages queued or in flight for them, and retained messages.
 *
 * Writes are issued synchronously and applied in batches; `afterCommit` runs a callback once every
 * write issued before it is durable. The broker acknowledges a publish only from such a callback
 * when the publish was stored, which is what "nothing acknowledged is lost" rests on.
 */
import type { QoS } from '../codec/packets.js';
import type { MessageProperties } from '../message.js';

export interface StoredSubscription {
  /** The filter as the client sent it, `$share/{group}/` included. */
  key: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionId: number | undefined;
}

export interface StoredSession {
  mount: string;
  clientId: string;
  protocolVersion: number;
  /** Seconds; 0xFFFFFFFF never expires. */
  expiryInterval: number;
  /** Epoch ms of the last disconnect, or null while connected. */
  disconnectedAt: number | null;
  subscriptions: StoredSubscription[];
  /** Packet ids of QoS 2 publishes received from the client and not yet released (PUBREL). */
  inboundQos2: number[];
}

export interface StoredMessage {
  id: number;
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  properties: MessageProperties;
  createdAt: number;
  expiresAt: number;
}

export interface StoredQueueEntry {
  mount: string;
  clientId: string;
  seq: number;
  messageId: number;
  qos: QoS;
  retain: boolean;
  subscriptionIds: number[] | null;
  /** Packet id while in flight, else 0. */
  packetId: number;
  /** 0 queued, 1 PUBLISH sent, 2 PUBREC received and PUBREL sent. */
  state: 0 | 1 | 2;
}

/** A queue entry read back with its message (paging). */
export interface StoredQueueItem {
  entry: StoredQueueEntry;
  message: StoredMessage;
}

/** A persistent session moved from another node of a cluster, as now stored under this one. */
export interface MovedSession {
  session: StoredSession;
  /** The whole queue in seq order, in-flight entries included, with their messages. */
  queue: StoredQueueItem[];
  /** The node that held it. */
  from: string;
}

export interface StoredRetained {
  mount: string;
  message: StoredMessage;
}

export interface StoredState {
  sessions: StoredSession[];
  messages: StoredMessage[];
  queue: StoredQueueEntry[];
  retained: StoredRetained[];
}

export interface BrokerStore {
  /** Reads everything back; called once at start. */
  load(): StoredState;
  putSession(session: Omit<StoredSession, 'subscriptions' | 'inboundQos2'>): void;
  /** Removes a session with its subscriptions and queue. */
  deleteSession(mount: string, clientId: string): void;
  putSubscription(mount: string, clientId: string, sub: StoredSubscription): void;
  deleteSubscription(mount: string, clientId: string, key: string): void;
  putInboundQos2(mount: string, clientId: string, packetId: number): void;
  deleteInboundQos2(mount: string, clientId: string, packetId: number): void;
  putMessage(message: StoredMessage): void;
  deleteMessage(id: number): void;
  putQueueEntry(entry: StoredQueueEntry): void;
  updateQueueEntry(mount: string, clientId: string, seq: number, packetId: number, state: 0 | 1 | 2): void;
  deleteQueueEntry(mount: string, clientId: string, seq: number): void;
  /**
   * Optional paging: up to `limit` queue entries of a session with a seq above `afterSeq`, in seq
   * order, with their messages, writes issued so far included. A store that has it lets persistent
   * sessions keep long queues out of memory (Session's QUEUE_MEMORY_WINDOW).
   */
  pageQueue?(mount: string, clientId: string, afterSeq: number, limit: number): StoredQueueItem[];
  /** The same for a store that reads only asynchronously (a network database). */
  pageQueueAsync?(mount: string, clientId: string, afterSeq: number, limit: number): Promise<StoredQueueItem[]>;
  putRetained(mount: string, message: StoredMessage): void;
  deleteRetained(mount: string, topic: string): void;
  /** Drops everything (test-mode reset). */
  clear(): void;
  /** Runs `callback` once every write issued so far is durable. */
  afterCommit(callback: () => void): void;
  /** Whether writes are waiting for their commit. */
  readonly pending: boolean;
  /** Commits what is pending now. */
  flush(): void;
  close(): void;
}
