/** Listeners that feed client connections to a broker: TCP, TLS, and WebSocket on an HTTP(S) server. */
import net from 'node:net';
import tls from 'node:tls';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Broker } from '../broker.js';
import { SocketTransport, WebSocketTransport } from './transport.js';

/** WebSocket sub-protocols MQTT clients offer: `mqtt` (MQTT 3.1.1 and 5), `mqttv3.1` (older clients). */
const SUBPROTOCOLS = ['mqtt', 'mqttv3.1'];

export interface ListenAddress {
  host: string;
  port: number;
}

function listen(server: net.Server, addr: ListenAddress): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => {
      server.off('error', reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

export async function listenTcp(broker: Broker, addr: ListenAddress): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((socket) => broker.handle(new SocketTransport(socket, broker.batcher, 'tcp')));
  server.on('error', (err) => broker.log.error({ err }, 'MQTT listener error'));
  return { server, port: await listen(server, addr) };
}

export interface TlsListenOptions extends ListenAddress {
  /** Server key, certificate chain, and the CAs client certificates are checked against. */
  secureContext: tls.SecureContextOptions;
  /** Ask clients for a certificate; one that does not verify is reported to the authenticate hook, not refused here. */
  requestCert: boolean;
  /** Called for each TLS connection that completes its handshake, before MQTT starts. */
  alpnProtocols?: string[];
}

/**
 * Client certificates are verified by OpenSSL against the CAs given, but a failure does not end the
 * handshake (`rejectUnauthorized: false`): the authenticate hook sees `authorized` and the error and
 * answers with a CONNACK, which tells a client more than a TLS alert Node would not even send.
 */
export async function listenTls(broker: Broker, opts: TlsListenOptions): Promise<{ server: tls.Server; port: number }> {
  const server = tls.createServer(
    {
      ...opts.secureContext,
      requestCert: opts.requestCert,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ALPNProtocols: opts.alpnProtocols,
    },
    (socket) => broker.handle(new SocketTransport(socket, broker.batcher, 'tls')),
  );
  server.on('tlsClientError', (err) => broker.log.debug({ err: err.message }, 'TLS handshake failed'));
  server.on('error', (err) => broker.log.error({ err }, 'MQTTS listener error'));
  return { server, port: await listen(server, opts) };
}

/** Serves MQTT over WebSocket on `path` of an existing HTTP or HTTPS server. */
export function attachWebSocket(broker: Broker, server: http.Server, path = '/mqtt', secure = false): WebSocketServer {
  const wss = new WebSocketServer({
    noServer: true,
    // A frame carries one or more whole packets; allow a full-size packet plus framing slack.
    maxPayload: broker.config.maxPacketSize + 1024,
    handleProtocols: (offered) => {
      for (const p of SUBPROTOCOLS) if (offered.has(p)) return p;
      return false;
    },
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const url = req.url ?? '/';
    const pathname = url.split('?')[0];
    if (pathname !== path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      broker.handle(new WebSocketTransport(ws, broker.batcher, req.socket, secure, { url, headers: req.headers }));
    });
  });
  return wss;
}
