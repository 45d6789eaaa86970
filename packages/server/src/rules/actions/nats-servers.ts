/**
 * Connections to the NATS servers the operator configured (`rules.nats.<name>`), one shared by
 * every rule that names it. A connection opens when a rule first needs it and then reconnects on
 * its own for as long as the server runs. While it is down a publish fails at once (the rule's
 * error action sees it) instead of piling up in the client's reconnect buffer.
 */
import { readFileSync } from 'node:fs';
import { connect, credsAuthenticator, Events, headers, type ConnectionOptions, type MsgHdrs, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { NatsServerSettings } from '../rules-config.js';
import { ActionError } from './action-error.js';

/** How long a first connection attempt may take (a message waits for it). */
const CONNECT_TIMEOUT_MS = 2_000;
/** A failed attempt is not repeated sooner: messages in between fail at once. */
const RETRY_AFTER_MS = 1_000;
/** How long a publish waits for the server to confirm it has the message (core) or for the stream's ack (JetStream). */
const CONFIRM_TIMEOUT_MS = 5_000;

interface Server {
  name: string;
  settings: NatsServerSettings;
  nc?: NatsConnection;
  connected: boolean;
  attempt?: Promise<void>;
  lastFailure?: { at: number; message: string };
  /** Publishes of this turn wait for one flush together (a round trip confirms every earlier publish). */
  flush?: Promise<void>;
}

export interface NatsPublish {
  subject: string;
  payload: Uint8Array;
  headers: [string, string][];
  jetstream: boolean;
}

export class NatsServers {
  private readonly servers = new Map<string, Server>();
  private closed = false;

  constructor(
    settings: Record<string, NatsServerSettings>,
    private readonly log: Logger,
  ) {
    for (const [name, s] of Object.entries(settings)) this.servers.set(name, { name, settings: s, connected: false });
  }

  /** Why a rule of `accountId` may not use server `name`, or undefined when it may. */
  refusal(name: string, accountId: string): string | undefined {
    const s = this.servers.get(name);
    const known = [...this.servers.keys()];
    if (!s) {
      return known.length === 0
        ? `no NATS server is configured on this Thicket server (the operator configures them under rules.nats)`
        : `no NATS server named '${name}' is configured (configured: ${known.join(', ')})`;
    }
    if (s.settings.accounts && !s.settings.accounts.includes(accountId))
      return `the NATS server '${name}' is not open to account ${accountId}`;
    return undefined;
  }

  /** Publishes one message; resolves once the server (or, for JetStream, a stream) has it. */
  async publish(name: string, p: NatsPublish): Promise<void> {
    const s = this.servers.get(name);
    if (!s) throw new ActionError(`No NATS server named '${name}' is configured`, name);
    const nc = await this.connection(s);
    let hdrs: MsgHdrs | undefined;
    if (p.headers.length > 0) {
      hdrs = headers();
      for (const [k, v] of p.headers) hdrs.append(k, v);
    }
    try {
      if (p.jetstream) {
        await nc.jetstream().publish(p.subject, p.payload, { headers: hdrs, timeout: CONFIRM_TIMEOUT_MS });
        return;
      }
      nc.publish(p.subject, p.payload, { headers: hdrs });
    } catch (err) {
      throw new ActionError(natsFailure(err, p, nc), p.subject);
    }
    await this.confirmed(s, nc, p.subject);
  }

  /** Closes every connection (server stop). */
  async close(): Promise<void> {
    this.closed = true;
    const pending: Promise<unknown>[] = [];
    for (const s of this.servers.values()) {
      if (s.attempt) pending.push(s.attempt.catch(() => undefined));
    }
    await Promise.all(pending);
    await Promise.all(
      [...this.servers.values()].map(async (s) => {
        const nc = s.nc;
        s.nc = undefined;
        s.connected = false;
        if (nc && !nc.isClosed()) await nc.close().catch(() => undefined);
      }),
    );
  }

  private async connection(s: Server): Promise<NatsConnection> {
    if (this.closed) throw new ActionError('The server is stopping', s.name);
    if (s.nc) {
      if (s.connected) return s.nc;
      throw new ActionError(`Not connected to the NATS server '${s.name}' (reconnecting); the message was not published`, s.name);
    }
    if (!s.attempt) {
      if (s.lastFailure && Date.now() - s.lastFailure.at < RETRY_AFTER_MS) {
        throw new ActionError(`Cannot connect to the NATS server '${s.name}': ${s.lastFailure.message}`, s.name);
      }
      s.attempt = this.open(s).finally(() => (s.attempt = undefined));
    }
    await s.attempt;
    if (s.nc && s.connected) return s.nc;
    throw new ActionError(`Cannot connect to the NATS server '${s.name}': ${s.lastFailure?.message ?? 'not connected'}`, s.name);
  }

  private async open(s: Server): Promise<void> {
    let nc: NatsConnection;
    try {
      nc = await connect(this.options(s));
    } catch (err) {
      s.lastFailure = { at: Date.now(), message: (err as Error).message || String(err) };
      this.log.warn({ natsServer: s.name, err: s.lastFailure.message }, 'cannot connect to a NATS server of the rules engine');
      return;
    }
    if (this.closed) {
      await nc.close().catch(() => undefined);
      return;
    }
    s.nc = nc;
    s.connected = true;
    s.lastFailure = undefined;
    this.log.info({ natsServer: s.name, server: nc.getServer() }, 'connected to a NATS server of the rules engine');
    void this.watch(s, nc);
  }

  private async watch(s: Server, nc: NatsConnection): Promise<void> {
    void nc.closed().then((err) => {
      // Closed for good (auth revoked, or close()): the next message opens a new connection.
      if (s.nc === nc) {
        s.nc = undefined;
        s.connected = false;
        s.lastFailure = { at: Date.now(), message: err ? err.message : 'the connection was closed' };
      }
    });
    for await (const st of nc.status()) {
      if (st.type === Events.Disconnect) {
        s.connected = false;
        this.log.warn({ natsServer: s.name }, 'disconnected from a NATS server of the rules engine; reconnecting');
      } else if (st.type === Events.Reconnect) {
        s.connected = true;
        this.log.info({ natsServer: s.name }, 'reconnected to a NATS server of the rules engine');
      }
    }
  }

  private options(s: Server): ConnectionOptions {
    const c = s.settings;
    const o: ConnectionOptions = {
      servers: c.servers,
      name: `thicket-rules-${s.name}`,
      timeout: CONNECT_TIMEOUT_MS,
      reconnect: true,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 1_000,
      pingInterval: 10_000,
    };
    if (c.user !== undefined) o.user = c.user;
    if (c.pass !== undefined) o.pass = c.pass;
    if (c.token !== undefined) o.token = c.token;
    if (c.credsFile !== undefined) {
      const file = c.credsFile;
      o.authenticator = credsAuthenticator(() => readFileSync(file));
    }
    if (c.tls) o.tls = { caFile: c.tls.ca, certFile: c.tls.cert, keyFile: c.tls.key };
    return o;
  }

  /** Waits until the server has answered a PING sent after the publish: it has the message. */
  private async confirmed(s: Server, nc: NatsConnection, subject: string): Promise<void> {
    if (!s.flush) {
      s.flush = new Promise<void>((resolve, reject) => {
        setImmediate(() => {
          s.flush = undefined;
          const timer = setTimeout(
            () => reject(new Error(`the NATS server '${s.name}' did not confirm within ${CONFIRM_TIMEOUT_MS / 1000} s`)),
            CONFIRM_TIMEOUT_MS,
          );
          nc.flush().then(
            () => {
              clearTimeout(timer);
              resolve();
            },
            (err: unknown) => {
              clearTimeout(timer);
              reject(err as Error);
            },
          );
        });
      });
    }
    try {
      await s.flush;
    } catch (err) {
      throw new ActionError(`Publishing to NATS subject '${subject}' was not confirmed: ${(err as Error).message}`, subject);
    }
    if (!s.connected)
      throw new ActionError(`The connection to the NATS server '${s.name}' was lost while publishing to '${subject}'`, subject);
  }
}

function natsFailure(err: unknown, p: NatsPublish, nc: NatsConnection): string {
  const e = err as Error & { code?: string };
  if (e.code === 'MAX_PAYLOAD_EXCEEDED') {
    return `The message (${p.payload.length} bytes) is larger than the NATS server accepts (${nc.info?.max_payload ?? '?'} bytes)`;
  }
  if (p.jetstream && (e.code === '503' || /no responders/i.test(e.message))) {
    return `No JetStream stream takes subject '${p.subject}' (no responders)`;
  }
  if (p.jetstream && e.code === 'TIMEOUT') return `JetStream did not acknowledge the message on '${p.subject}' in time`;
  return `Publishing to NATS subject '${p.subject}' failed: ${e.message || String(err)}`;
}
