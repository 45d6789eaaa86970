/**
 * Picks the TLS certificate by SNI for the MQTT-over-TLS and HTTPS listeners: the host name of an
 * ENABLED domain configuration gets that configuration's certificate, a DISABLED one is refused
 * during the handshake (AWS: devices on a disabled domain get an authentication error), and any
 * other or absent name gets the server's default certificate. Contexts are cached per host name
 * and dropped whenever a configuration or certificate changes, so changes reach new connections
 * without a restart.
 */
import tls from 'node:tls';
import { normalizeHost, type ConnectionDomain } from './domain-configurations.js';

/** Bounded so that clients sending made-up names cannot grow it without end. */
const MAX_CACHED = 1024;

type Entry = { domain: ConnectionDomain; context: tls.SecureContext | undefined } | null;

export class SniContexts {
  private cache = new Map<string, Entry>();

  constructor(
    private readonly lookup: (host: string) => ConnectionDomain | undefined,
    /** The CAs client certificates are checked against, as in the default context. */
    private readonly caCertPem: string,
    private readonly onError: (host: string, err: Error) => void = () => {},
  ) {}

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

  /** For tls.createServer's SNICallback. */
  readonly callback = (servername: string, done: (err: Error | null, ctx?: tls.SecureContext) => void): void => {
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
    if (!entry.context) return done(new Error(`domain configuration ${entry.domain.name} has no usable certificate`));
    done(null, entry.context);
  };
}
