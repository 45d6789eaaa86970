/**
 * What a connecting client presents to a custom authorizer (reference dataplane §5.2, §0.1), and
 * how to gather it from an MQTT CONNECT (over TLS or WebSocket) or an HTTP request.
 *
 * The token's parameter name is the authorizer's `tokenKeyName`, known only once the authorizer
 * is, so the request carries the raw places a token can be in (the MQTT user name's query string,
 * HTTP headers, the HTTP query string) and `CustomAuthorizers.authenticate` looks it up there.
 */
import type { Namespace } from '../accounts/namespace.js';
import type { AuthProtocol } from './authorizer-event.js';

export const AUTHORIZER_NAME_PARAMETER = 'x-amz-customauthorizer-name';
export const SIGNATURE_PARAMETER = 'x-amz-customauthorizer-signature';

export interface CustomAuthRequest {
  /** From `x-amz-customauthorizer-name` (MQTT username query, HTTP header or query); undefined = the default authorizer. */
  authorizerName: string | undefined;
  /** Namespace to look in; undefined = find the authorizer by name across namespaces (refused if ambiguous). */
  ns: Namespace | undefined;
  /**
   * The token, when the caller already has it. Undefined = the value of the authorizer's
   * tokenKeyName, looked up in `usernameQuery`, then `http.headers`, then `http.queryString`.
   */
  token: string | undefined;
  /** `x-amz-customauthorizer-signature`; undefined = looked up in the same places as the token. */
  tokenSignature: string | undefined;
  protocols: AuthProtocol[];
  /**
   * `username` as the device sent it, query string included: that is what the authorizer
   * function receives (functions strip `?…` themselves, as they must on AWS).
   */
  mqtt?: { username?: string; password?: Buffer; clientId: string };
  /**
   * Parameters of the MQTT user name's query string (`user?x-amz-customauthorizer-name=…&<tokenKeyName>=…`).
   * Added to the interface so the token can be found once the authorizer (and so its tokenKeyName) is known.
   */
  usernameQuery?: Record<string, string>;
  /** Header names in lower case; `queryString` with its leading `?` (as AWS passes it), or empty. */
  http?: { headers: Record<string, string>; queryString: string };
  tls?: { serverName?: string };
  connectionId: string;
}

export type RawHeaders = Record<string, string | string[] | undefined>;

export interface SelectionOptions {
  /**
   * Also answer a request when the client named no authorizer, for the default authorizer. The
   * caller decides: a client with a certificate that names no authorizer is not a custom-auth client.
   */
  useDefault?: boolean;
}

/** Header names lower-cased, repeated headers joined as HTTP joins them. */
export function flattenHeaders(headers: RawHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function queryOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? '' : url.slice(q).split('#')[0]!;
}

/** A parameter of the request, wherever a client may put it: user-name query, header, URL query. */
export function findParameter(req: Pick<CustomAuthRequest, 'usernameQuery' | 'http'>, name: string): string | undefined {
  const fromUsername = req.usernameQuery?.[name];
  if (fromUsername !== undefined) return fromUsername;
  if (!req.http) return undefined;
  const fromHeader = req.http.headers[name.toLowerCase()];
  if (fromHeader !== undefined) return fromHeader;
  return new URLSearchParams(req.http.queryString).get(name) ?? undefined;
}

/** The user name as the device sent it (the broker splits the query string off). */
function rawUsername(username: string | undefined, query: Record<string, string>): string | undefined {
  const q = new URLSearchParams(query).toString();
  if (!q) return username;
  return `${username ?? ''}?${q}`;
}

/**
 * The custom-auth request of an MQTT CONNECT, or undefined when the client named no authorizer (in
 * the user name's query string, or the WebSocket upgrade's headers or URL query) and `useDefault`
 * is not set.
 */
export function customAuthRequestFromMqtt(
  username: string | undefined,
  usernameQuery: Record<string, string>,
  password: Buffer | undefined,
  clientId: string,
  transport: { tls?: { servername?: string }; http?: { url: string; headers: RawHeaders } },
  connectionId: string,
  opts: SelectionOptions = {},
): CustomAuthRequest | undefined {
  const http = transport.http ? { headers: flattenHeaders(transport.http.headers), queryString: queryOf(transport.http.url) } : undefined;
  const where = { usernameQuery, http };
  const authorizerName = findParameter(where, AUTHORIZER_NAME_PARAMETER);
  if (authorizerName === undefined && !opts.useDefault) return undefined;
  const protocols: AuthProtocol[] = [];
  if (transport.tls) protocols.push('tls');
  if (http) protocols.push('http');
  protocols.push('mqtt');
  const mqtt: NonNullable<CustomAuthRequest['mqtt']> = { clientId };
  const user = rawUsername(username, usernameQuery);
  if (user !== undefined) mqtt.username = user;
  if (password !== undefined) mqtt.password = password;
  return {
    authorizerName,
    ns: undefined,
    token: undefined,
    tokenSignature: findParameter(where, SIGNATURE_PARAMETER),
    protocols,
    mqtt,
    usernameQuery,
    ...(http ? { http } : {}),
    ...(transport.tls ? { tls: transport.tls.servername === undefined ? {} : { serverName: transport.tls.servername } } : {}),
    connectionId,
  };
}

/**
 * The custom-auth request of an HTTP request (HTTPS publish), or undefined when it names no
 * authorizer (header or query) and `useDefault` is not set.
 */
export function customAuthRequestFromHttp(
  request: { url: string; headers: RawHeaders; tls?: { servername?: string } },
  connectionId: string,
  opts: SelectionOptions = {},
): CustomAuthRequest | undefined {
  const http = { headers: flattenHeaders(request.headers), queryString: queryOf(request.url) };
  const authorizerName = findParameter({ http }, AUTHORIZER_NAME_PARAMETER);
  if (authorizerName === undefined && !opts.useDefault) return undefined;
  return {
    authorizerName,
    ns: undefined,
    token: undefined,
    tokenSignature: findParameter({ http }, SIGNATURE_PARAMETER),
    protocols: request.tls ? ['tls', 'http'] : ['http'],
    http,
    ...(request.tls ? { tls: request.tls.servername === undefined ? {} : { serverName: request.tls.servername } } : {}),
    connectionId,
  };
}
