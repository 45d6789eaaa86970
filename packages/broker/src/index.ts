export {
  Broker,
  type BrokerOptions,
  type BrokerLogger,
  type MessageTap,
  type Publisher,
  type PublishInput,
  type ServiceHandler,
} from './broker.js';
export { Connection } from './connection.js';
export { QUEUE_MEMORY_WINDOW } from './queue-pages.js';
export { RemoteConfirmation, type ClaimedSession, type ClusterLink } from './cluster.js';
export { Message, type MessageProperties } from './message.js';
export type { AuthResult, BrokerHooks, ClientInfo, ConnectRequest, DisconnectReason } from './hooks.js';
export { parseUsername } from './hooks.js';
export { MQTT_DEFAULTS, AWS_PROFILE, type BrokerConfig, type BrokerLimits, type BrokerFeatures } from './options.js';
export { BrokerStats } from './stats.js';
export { RC, RC3, MqttProtocolError } from './codec/reason-codes.js';
export { PacketDecoder } from './codec/decoder.js';
export type * from './codec/packets.js';
export { topicMatches, topicNameError, parseFilter, hasWildcard, type TopicLimits } from './topics.js';
export { TopicTree } from './topic-tree.js';
export { MemoryStore } from './store/memory.js';
export { SqliteStore, type SqliteStoreOptions } from './store/sqlite.js';
export { PostgresStore, type PostgresStoreOptions } from './store/postgres.js';
export { HolderAliveError, type HolderCheck } from './store/postgres-adopt.js';
export type * from './store/types.js';
export type { Transport, TransportInfo, TlsInfo, TransportKind } from './transport/transport.js';
export { SocketTransport, WebSocketTransport, WriteBatcher } from './transport/transport.js';
export { listenTcp, listenTls, attachWebSocket, type TlsListenOptions, type ListenAddress } from './transport/listeners.js';
