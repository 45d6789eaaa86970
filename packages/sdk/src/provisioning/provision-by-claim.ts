/**
 * Provisioning by claim: connect with the claim certificate, get a certificate (a new key pair, or
 * one for the device's CSR), run the template, disconnect. The device then connects with what this
 * returns (reference dataplane §6).
 */
import { connectDevice } from '../connection/device-client.js';
import type { DeviceClientOptions, TlsOptions } from '../connection/connection-options.js';
import { ProvisioningClient } from './provisioning-client.js';

export interface ProvisionByClaimOptions {
  /** The broker, e.g. `mqtts://host:8883`. */
  url: string;
  /** The claim certificate and key, and the CA that signed the server's certificate. */
  claim: { cert: string | Buffer; key: string | Buffer; ca?: TlsOptions['ca']; servername?: string };
  templateName: string;
  parameters?: Record<string, string>;
  /** Default: `provisioning-` and a random suffix. */
  clientId?: string;
  /** A PEM CSR: the certificate is made for it and no private key is returned. */
  csr?: string;
  timeoutMs?: number;
  /** More connection options (protocol version, ALPN…). */
  connection?: Partial<DeviceClientOptions>;
}

export interface ProvisionedDevice {
  thingName: string;
  certificateId: string;
  certificatePem: string;
  /** Absent when a CSR was given (the key stays where the CSR was made). */
  privateKey?: string;
  deviceConfiguration: Record<string, string>;
}

export async function provisionByClaim(o: ProvisionByClaimOptions): Promise<ProvisionedDevice> {
  const device = await connectDevice({
    url: o.url,
    clientId: o.clientId ?? `provisioning-${Math.random().toString(36).slice(2, 10)}`,
    tls: { cert: o.claim.cert, key: o.claim.key, ca: o.claim.ca, servername: o.claim.servername },
    reconnect: false,
    requestTimeoutMs: o.timeoutMs,
    ...o.connection,
  });
  try {
    const provisioning = new ProvisioningClient(device);
    const cert = o.csr ? await provisioning.createCertificateFromCsr(o.csr) : await provisioning.createKeysAndCertificate();
    const registered = await provisioning.registerThing(o.templateName, {
      certificateOwnershipToken: cert.certificateOwnershipToken,
      ...(o.parameters ? { parameters: o.parameters } : {}),
    });
    const out: ProvisionedDevice = {
      thingName: registered.thingName,
      certificateId: cert.certificateId,
      certificatePem: cert.certificatePem,
      deviceConfiguration: registered.deviceConfiguration ?? {},
    };
    if ('privateKey' in cert && typeof cert.privateKey === 'string') out.privateKey = cert.privateKey;
    return out;
  } finally {
    await device.close();
  }
}
