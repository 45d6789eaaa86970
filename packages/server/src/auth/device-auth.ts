/**
 * Authentication until the registry exists: a client certificate that chains to the server's CA,
 * or, in development mode, nobody at all. The registry and policy engine replace this hook.
 */
import { createHash } from 'node:crypto';
import { RC, type AuthResult, type BrokerHooks, type ConnectRequest } from '@thicket/broker';

export interface DeviceAuthOptions {
  dev: boolean;
  /** Broker mount point of the namespace these clients belong to. */
  mount: string;
}

export function certificateIdOf(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex');
}

export function deviceAuthHooks(opts: DeviceAuthOptions): BrokerHooks {
  return {
    authenticate(req: ConnectRequest): AuthResult {
      const tls = req.transport.tls;
      if (tls?.peerCertificate) {
        const principal = certificateIdOf(tls.peerCertificate);
        if (tls.authorized) return { reasonCode: RC.SUCCESS, principal, mount: opts.mount };
        // Refused in development mode too: an untrusted certificate is a mistake worth a clear answer.
        return {
          reasonCode: RC.NOT_AUTHORIZED,
          reasonString: `client certificate not trusted: ${tls.authorizationError ?? 'unknown issuer'}`,
          principal,
        };
      }
      if (opts.dev) return { reasonCode: RC.SUCCESS, principal: req.username ?? 'anonymous', mount: opts.mount };
      return {
        reasonCode: RC.NOT_AUTHORIZED,
        reasonString: 'no credentials: connect over TLS with a client certificate issued by this server, or start the server with --dev',
      };
    },
  };
}
