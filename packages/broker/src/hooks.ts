/**
 * Where the platform plugs into the broker: who may connect, publish, subscribe and receive.
 * The broker itself knows nothing of certificates, things or policies.
 */
import type { Properties, ProtocolVersion, QoS } from './codec/packets.js';
import type { TransportInfo } from './transport/transport.js';

export interface ConnectRequest {
  clientId: string;
  /** True when the server assigned the client id (empty in CONNECT). */
  clientIdAssigned: boolean;
  /** User name without the query string some SDKs append (`user?SDK=...`). */
  username: string | undefined;
  /** Parameters of that query string (`SDK`, `Version`, `x-amz-customauthorizer-name`, ...). */
  usernameQuery: Record<string, string>;
  password: Buffer | undefined;
  protocolVersion: ProtocolVersion;
  clean: boolean;
  keepAlive: number;
  will: { topic: string; qos: QoS; retain: boolean } | undefined;
  properties: Properties;
  transport: TransportInfo;
}

export interface AuthResult {
  /** 0 to accept; otherwise an MQTT 5 CONNACK reason code (mapped to 3.1.1 for older clients). */
  reasonCode: number;
  reasonString?: string;
  /** Topic namespace of the connection: topics, sessions and retained messages are separate per mount. */
  mount?: string;
  /** Identity of the credentials (certificate id, user, ...), for logs and events. */
  principal?: string;
  /** Anything the authorization hooks need later; kept on the ClientInfo. */
  context?: unknown;
  /** Close the connection after this many seconds. */
  disconnectAfterSeconds?: number;
}

export interface ClientInfo {
  readonly clientId: string;
  readonly mount: string;
  readonly username: string | undefined;
  readonly usernameQuery: Record<string, string>;
  readonly principal: string | undefined;
  readonly protocolVersion: ProtocolVersion;
  readonly transport: TransportInfo;
  /** Unique per connection (lifecycle events' sessionIdentifier). */
  readonly connectionId: string;
  readonly connectedAt: number;
  readonly cleanStart: boolean;
  context: unknown;
}

/**
 * Authorization decisions run on every publish, subscribe and delivery, so they are synchronous:
 * the implementation keeps what it needs in memory.
 */
export interface BrokerHooks {
  authenticate(request: ConnectRequest): AuthResult | Promise<AuthResult>;
  /** 0 to allow, else a reason code (0x87 not authorized, 0x97 quota exceeded, ...). */
  authorizePublish?(client: ClientInfo, topic: string, qos: QoS, retain: boolean): number;
  authorizeSubscribe?(client: ClientInfo, filter: string, qos: QoS): number;
  /** Whether a matched message may be delivered to the client; a denied delivery is dropped silently. */
  authorizeReceive?(client: ClientInfo, topic: string): boolean;
}

export type DisconnectReason =
  | 'CLIENT_INITIATED_DISCONNECT'
  | 'CLIENT_ERROR'
  | 'CONNECTION_LOST'
  | 'DUPLICATE_CLIENTID'
  | 'MQTT_KEEP_ALIVE_TIMEOUT'
  | 'SERVER_INITIATED_DISCONNECT'
  | 'API_INITIATED_DISCONNECT'
  | 'AUTH_ERROR'
  | 'THROTTLED'
  | 'CUSTOMAUTH_TTL_EXPIRATION'
  | 'SERVER_ERROR';

/** Splits `user?SDK=JavaScript&Version=2.1` into the user name and its parameters. */
export function parseUsername(raw: string | undefined): { username: string | undefined; query: Record<string, string> } {
  if (raw === undefined) return { username: undefined, query: {} };
  const q = raw.lastIndexOf('?');
  if (q < 0) return { username: raw, query: {} };
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(raw.slice(q + 1))) query[k] = v;
  const name = raw.slice(0, q);
  return { username: name.length ? name : undefined, query };
}
