/**
 * Picks the TLS certificate by SNI for the MQTT-over-TLS and HTTPS listeners: the host name of an
 * ENABLED domain configuration gets that configuration's certificate, a DISABLED one is refused
 * during the handshake (AWS: devices on a disabled domain get an authentication error), and any
 * other or absent name gets the server's default certificate. A configuration's security policy
 * refuses, also during the handshake, a client that negotiated an older TLS version than the
 * policy allows. Contexts are cached per host name and dropped whenever a configuration or
 * certificate changes, so changes reach new connections without a restart.
 */
import { constants } from 'node:crypto';
import tls from 'node:tls';
import { normalizeHost, type ConnectionDomain } from './domain-configurations.js';
import { meetsMinimum } from './security-policies.js';

/** Bounded so that clients sending made-up names cannot grow it without end. */
const MAX_CACHED = 1024;

type Entry = { domain: ConnectionDomain; context: tls.SecureContext | undefined } | null;

type Done = (err: Error | null, ctx?: tls.SecureContext) => void;

/**
 * For both TLS listeners: no session tickets. Resuming a session skips the SNI callback, where a
 * domain's policy and DISABLED state are checked, so a session from another host name would carry a
 * client past them. (Node keeps no server-side session cache, so tickets were the only way to resume.)
 */
export const NO_SESSION_TICKETS = constants.SSL_OP_NO_TICKET;

/** The listeners' own oldest version (Node's default minimum; app.ts sets it too): no policy check needed at it. */
const LISTENER_MIN_VERSION = 'TLSv1.2';

export class SniContexts {
  private cache = new Map<string, Entry>();

  /**
   * For tls.createServer's SNICallback. A plain function: Node calls it as a method of the TLS
   * socket being set up (undocumented, hence the fail-closed check), the one place that tells it
   * the negotiated version. Setting minVersion on the SNI context would do nothing (Node takes only
   * its certificate, key and chain), and OpenSSL has settled the version by the time the callback
   * runs, so a policy's minimum is a refusal here.
   */
  readonly callback: (servername: string, done: Done) => void;

  constructor(
    private readonly lookup: (host: string) => ConnectionDomain | undefined,
    /** The CAs client certificates are checked against, as in the default context. */
    private readonly caCertPem: string,
    private readonly onError: (host: string, err: Error) => void = () => {},
  ) {
    const select = (socket: unknown, servername: string, done: Done): void => this.select(socket, servername, done);
    this.callback = function (this: unknown, servername: string, done: Done): void {
      select(this, servername, done);
    };
  }

  /** Forget every cached answer (a configuration or certificate changed). */
  invalidate(): void {
    this.cache.clear();
  }

  private entry(host: string): Entry {
    const key = normalizeHost(host);
    let entry = this.cache.get(key);
    if (entry !== undefined) return entry;
    const domain = this.lookup(key);
    entry = null;
    if (domain) {
      let context: tls.SecureContext | undefined;
      if (domain.certificate) {
        try {
          const c = domain.certificate;
          context = tls.createSecureContext({ key: c.privateKeyPem, cert: c.certificatePem + c.chainPem, ca: [this.caCertPem] });
        } catch (err) {
          this.onError(key, err as Error);
        }
      }
      entry = { domain, context };
    }
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(key, entry);
    return entry;
  }

  /** The domain configuration a host name belongs to, if any (for the authenticate hook). */
  domainOf(host: string | undefined): ConnectionDomain | undefined {
    return host ? (this.entry(host)?.domain ?? undefined) : undefined;
  }

  private select(socket: unknown, servername: string, done: Done): void {
    let entry: Entry;
    try {
      entry = this.entry(servername);
    } catch (err) {
      // A database error must not take the listener down; the default certificate still works.
      this.onError(servername, err as Error);
      done(null);
      return;
    }
    if (!entry) return done(null);
    if (!entry.domain.enabled) return done(new Error(`domain configuration ${entry.domain.name} is DISABLED`));
    const tooOld = versionRefusal(entry.domain, socket);
    if (tooOld) return done(new Error(tooOld));
    if (!entry.context) return done(new Error(`domain configuration ${entry.domain.name} has no usable certificate`));
    done(null, entry.context);
  }
}

/** Why a connection's TLS version is below its domain's policy, or undefined when it is not. */
function versionRefusal(domain: ConnectionDomain, socket: unknown): string | undefined {
  const { name: policy, minVersion } = domain.securityPolicy;
  if (minVersion === LISTENER_MIN_VERSION) return undefined;
  // Should Node stop handing over the socket, a policy stricter than the listener fails closed.
  const negotiated = socket instanceof tls.TLSSocket ? socket.getProtocol() : null;
  if (negotiated === null)
    return `domain configuration ${domain.name} requires ${minVersion} (${policy}); the negotiated version is unknown`;
  if (meetsMinimum(negotiated, minVersion)) return undefined;
  return `domain configuration ${domain.name} requires ${minVersion} (${policy}), not ${negotiated}`;
}
