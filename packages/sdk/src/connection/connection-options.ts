/**
 * How a device reaches its broker: the URL (mqtts, wss, mqtt, ws), its credentials (certificate,
 * custom authorizer, user name and password) and session, turned into mqtt.js options the way AWS
 * IoT Core expects them (reference dataplane §0, §1.6, §5.2).
 */
import type { IClientOptions } from 'mqtt';
import type { BackoffOptions } from './backoff.js';
import type { OfflineQueueOptions } from '../queue/offline-queue.js';

type Pem = string | Buffer;

/** Mutual TLS and server verification. */
export interface TlsOptions {
  /** Device certificate (PEM). */
  cert?: Pem;
  /** Device private key (PEM). */
  key?: Pem;
  /** CA certificate(s) to trust for the server (PEM); the system's when absent. */
  ca?: Pem | Pem[];
  /** SNI and the name checked in the server certificate; the URL's host when absent. */
  servername?: string;
  /** Default true. */
  rejectUnauthorized?: boolean;
  /** ALPN to offer; on port 443 the AWS value for the credentials in use is offered when absent. */
  alpnProtocols?: string[];
}

/**
 * AWS custom authentication: the authorizer and token go in the MQTT user name's query string,
 * `{username}?x-amz-customauthorizer-name=...&x-amz-customauthorizer-signature=...&{tokenKeyName}={token}`.
 */
export interface CustomAuthOptions {
  /** Omitted: the endpoint's default authorizer decides. */
  authorizerName?: string;
  /** The token's query key (the authorizer's `tokenKeyName`). */
  tokenKeyName?: string;
  token?: string;
  /** Base64 signature of the token for authorizers with signing enabled. */
  tokenSignature?: string;
  /** Part of the user name before the query string. */
  username?: string;
  /** Passed to the authorizer (base64-encoded by AWS). */
  password?: string | Buffer;
}

export interface SessionOptions {
  /** Keep subscriptions and QoS 1 messages while disconnected (MQTT 3 clean=false; MQTT 5 Clean Start 0). Default false. */
  persistent?: boolean;
  /** MQTT 5 Session Expiry Interval for persistent sessions; default 3600 (AWS's default maximum). */
  expirySeconds?: number;
}

export interface WillOptions {
  topic: string;
  payload: string | Buffer;
  qos?: 0 | 1;
  retain?: boolean;
}

export interface DeviceClientOptions {
  /** `mqtts://host:8883`, `wss://host/mqtt` (path `/mqtt` when none), `mqtt://host:1883`, `ws://host:8080/mqtt`. */
  url: string;
  clientId: string;
  tls?: TlsOptions;
  customAuth?: CustomAuthOptions;
  username?: string;
  password?: string | Buffer;
  /** 5 (default) or 4 (MQTT 3.1.1). */
  protocolVersion?: 4 | 5;
  /** Default 60; AWS raises anything below 30 to 30. */
  keepaliveSeconds?: number;
  session?: SessionOptions;
  /** Jittered exponential backoff between connection attempts; false: do not reconnect. */
  reconnect?: BackoffOptions | false;
  /** A connection attempt that has no CONNACK in this time is abandoned; default 30000. */
  connectTimeoutMs?: number;
  will?: WillOptions;
  /** The QoS 1 publish queue (in memory unless `file` is given). */
  queue?: OfflineQueueOptions;
  /** At most this many queued messages on the wire unacknowledged; default 10 (AWS allows 100). */
  maxInFlight?: number;
  /** Default timeout of shadow, jobs and provisioning requests; default 10000. */
  requestTimeoutMs?: number;
  /** Anything else for mqtt.js; applied last. */
  mqtt?: Partial<IClientOptions>;
}

/** The user name with the custom authorizer's query string. */
export function customAuthUsername(a: CustomAuthOptions): string {
  const query: string[] = [];
  if (a.authorizerName) query.push(`x-amz-customauthorizer-name=${encodeURIComponent(a.authorizerName)}`);
  if (a.tokenSignature) query.push(`x-amz-customauthorizer-signature=${encodeURIComponent(a.tokenSignature)}`);
  if (a.token !== undefined) query.push(`${encodeURIComponent(a.tokenKeyName ?? 'token')}=${encodeURIComponent(a.token)}`);
  const base = a.username ?? '';
  if (query.length === 0) return base;
  return `${base}${base.includes('?') ? '&' : '?'}${query.join('&')}`;
}

/** mqtt.js options for these device options (without reconnection, which the device client drives itself). */
export function mqttOptions(o: DeviceClientOptions): { url: string; options: IClientOptions } {
  const url = new URL(o.url);
  const protocol = url.protocol.replace(/:$/, '');
  if (!['mqtt', 'mqtts', 'ws', 'wss', 'tls', 'ssl'].includes(protocol)) throw new Error(`unsupported protocol in ${o.url}`);
  const websocket = protocol === 'ws' || protocol === 'wss';
  const secure = protocol !== 'mqtt' && protocol !== 'ws';
  const port = url.port ? Number(url.port) : protocol === 'wss' ? 443 : protocol === 'ws' ? 80 : secure ? 8883 : 1883;
  if (websocket && (url.pathname === '' || url.pathname === '/')) url.pathname = '/mqtt';

  const persistent = o.session?.persistent === true;
  const options: IClientOptions = {
    clientId: o.clientId,
    protocolVersion: o.protocolVersion ?? 5,
    keepalive: o.keepaliveSeconds ?? 60,
    clean: !persistent,
    connectTimeout: o.connectTimeoutMs ?? 30_000,
    reconnectPeriod: 0,
    manualConnect: true,
    // Subscriptions are restored by the device client, which knows whether the session kept them.
    resubscribe: false,
    queueQoSZero: false,
  };
  if (options.protocolVersion === 5 && persistent) options.properties = { sessionExpiryInterval: o.session?.expirySeconds ?? 3600 };

  if (o.customAuth) {
    options.username = customAuthUsername(o.customAuth);
    if (o.customAuth.password !== undefined) options.password = o.customAuth.password as string;
  }
  if (o.username !== undefined) options.username = o.username;
  if (o.password !== undefined) options.password = o.password as string;

  if (secure) {
    const t = o.tls ?? {};
    if (t.cert !== undefined) options.cert = t.cert;
    if (t.key !== undefined) options.key = t.key;
    if (t.ca !== undefined) options.ca = t.ca as string | string[];
    options.rejectUnauthorized = t.rejectUnauthorized ?? true;
    if (t.servername !== undefined) options.servername = t.servername;
    // On 443 AWS tells MQTT from HTTPS and certificates from custom auth by ALPN; WebSockets need none.
    const alpn =
      t.alpnProtocols ?? (port === 443 && !websocket ? [o.customAuth || t.cert === undefined ? 'mqtt' : 'x-amzn-mqtt-ca'] : undefined);
    if (alpn) options.ALPNProtocols = alpn;
    // mqtt.js hands ws only some TLS options; the server name goes through to tls.connect this way.
    if (websocket && t.servername !== undefined) options.wsOptions = { servername: t.servername } as IClientOptions['wsOptions'];
  }
  if (o.will) {
    options.will = {
      topic: o.will.topic,
      payload: typeof o.will.payload === 'string' ? Buffer.from(o.will.payload) : o.will.payload,
      qos: o.will.qos ?? 0,
      retain: o.will.retain ?? false,
    };
  }
  Object.assign(options, o.mqtt);
  url.port = String(port);
  return { url: url.toString(), options };
}
