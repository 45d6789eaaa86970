/** Broker limits and feature switches, with the MQTT-standard defaults and the AWS IoT profile. */

export interface BrokerLimits {
  /** Largest packet accepted from or sent to a client, in bytes (MQTT 5 Maximum Packet Size). */
  maxPacketSize: number;
  maxTopicLength: number;
  /** 0 = no limit. AWS: 8. */
  maxTopicLevels: number;
  maxClientIdLength: number;
  /** 0 = no limit. */
  maxConnections: number;
  /** Outbound QoS 1/2 messages in flight per client, and the Receive Maximum announced to clients. */
  maxInflight: number;
  /**
   * QoS 1/2 messages queued per session beyond the in-flight window, connected or not. Persistent
   * sessions on a store that can page (SQLite, PostgreSQL) keep only the first QUEUE_MEMORY_WINDOW of them in
   * memory; the rest stay in the store until the client drains its queue.
   */
  maxQueued: number;
  /** Bytes (payload + topic) of the messages queued per session; 0 = no limit. */
  maxQueuedBytes: number;
  /** What goes when a session's queue is full: the arriving message or the oldest queued one. */
  queueDropPolicy: 'newest' | 'oldest';
  /**
   * An MQTT 5 client that has more QoS 1/2 publishes unacknowledged than the Receive Maximum it was
   * told: `disconnect` it with 0x93 (MQTT 5 §3.3.4), or `pause` reading from it until acknowledgements
   * go out (AWS IoT's behaviour, and kind to clients such as mqtt.js that ignore the server's limit).
   * MQTT 3.1.1 clients have no Receive Maximum and are always paused.
   */
  receiveMaximumExceeded: 'disconnect' | 'pause';
  /** 0 = no limit. */
  maxSubscriptionsPerClient: number;
  /** 0 = no limit. AWS: 8. */
  maxFiltersPerSubscribe: number;
  /** PUBLISH packets per second a client may send; 0 = no limit. */
  maxPublishRate: number;
  /** Topic aliases a client may set (Topic Alias Maximum in CONNACK). */
  topicAliasMaximum: number;
  /** Longest keep-alive allowed, seconds; a longer or zero keep-alive is replaced by this (Server Keep Alive). 0 = accept any. */
  maxKeepAlive: number;
  /** Shortest keep-alive; shorter ones are raised to this. 0 = accept any. AWS: 30. */
  minKeepAlive: number;
  /** Longest session expiry interval granted, seconds; also the lifetime of MQTT 3.1.1 persistent sessions. */
  maxSessionExpiry: number;
  /** Seconds a client has to send CONNECT after the transport is up. */
  connectTimeout: number;
  /** Bytes buffered towards a client after which QoS 0 messages to it are dropped. */
  slowConsumerBytes: number;
}

export interface BrokerFeatures {
  maximumQoS: 0 | 1 | 2;
  retainAvailable: boolean;
  wildcardSubscriptionAvailable: boolean;
  sharedSubscriptionAvailable: boolean;
  subscriptionIdentifiersAvailable: boolean;
  /** MQTT: a new wildcard subscription receives matching retained messages. AWS IoT: only exact matches do. */
  retainedOnWildcardSubscribe: boolean;
  /** MQTT: `a/#` matches `a`. AWS IoT: it does not. */
  hashMatchesParent: boolean;
  /** Refuse publishing and subscribing to `$`-topics other than the listed prefixes (AWS: only `$aws/`). */
  reservedTopicPrefixes: string[] | null;
}

export interface BrokerConfig extends BrokerLimits, BrokerFeatures {}

export const MQTT_DEFAULTS: BrokerConfig = {
  maxPacketSize: 1024 * 1024,
  maxTopicLength: 65_535,
  maxTopicLevels: 0,
  maxClientIdLength: 65_535,
  maxConnections: 0,
  maxInflight: 100,
  // An hour offline at ~25 messages a second; on disk for persistent sessions (see maxQueued).
  maxQueued: 100_000,
  maxQueuedBytes: 256 * 1024 * 1024,
  queueDropPolicy: 'newest',
  receiveMaximumExceeded: 'disconnect',
  maxSubscriptionsPerClient: 0,
  maxFiltersPerSubscribe: 0,
  maxPublishRate: 0,
  topicAliasMaximum: 32,
  maxKeepAlive: 0,
  minKeepAlive: 0,
  maxSessionExpiry: 7 * 24 * 3600,
  connectTimeout: 10,
  slowConsumerBytes: 4 * 1024 * 1024,
  maximumQoS: 2,
  retainAvailable: true,
  wildcardSubscriptionAvailable: true,
  sharedSubscriptionAvailable: true,
  subscriptionIdentifiersAvailable: true,
  retainedOnWildcardSubscribe: true,
  hashMatchesParent: true,
  reservedTopicPrefixes: null,
};

/** AWS IoT Core's limits and deviations from MQTT (reference/aws-iot-dataplane.md §1). */
export const AWS_PROFILE: Partial<BrokerConfig> = {
  maxPacketSize: 128 * 1024,
  maxTopicLength: 256,
  maxTopicLevels: 8,
  maxClientIdLength: 128,
  maxInflight: 100,
  maxSubscriptionsPerClient: 50,
  maxFiltersPerSubscribe: 8,
  maxPublishRate: 100,
  receiveMaximumExceeded: 'pause',
  topicAliasMaximum: 8,
  maxKeepAlive: 1200,
  minKeepAlive: 30,
  maxSessionExpiry: 3600,
  maximumQoS: 1,
  subscriptionIdentifiersAvailable: false,
  retainedOnWildcardSubscribe: false,
  hashMatchesParent: false,
  reservedTopicPrefixes: ['$aws/'],
};
