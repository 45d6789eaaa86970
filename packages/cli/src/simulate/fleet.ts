/**
 * A simulated fleet: the provisioning template and thing group it needs (made when missing), a
 * claim certificate from the API (renewed before its five minutes run out), each device provisioned
 * by claim with a key it made itself (a CSR: the server only signs), then connected and left to
 * behave for the run's duration, a bounded number of TLS handshakes at a time.
 */
import { KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AddThingToThingGroupCommand,
  CreateProvisioningClaimCommand,
  CreateProvisioningTemplateCommand,
  CreateThingGroupCommand,
  DescribeProvisioningTemplateCommand,
  DescribeThingGroupCommand,
  type IoTClient,
} from '@aws-sdk/client-iot';
// @peculiar/x509 needs the Reflect polyfill loaded before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { provisionByClaim } from '@thicket/sdk';
import { SimulatedDevice, type Identity } from './device.js';
import { SIMULATOR_TEMPLATE, simulatorTemplate } from './template.js';
import type { Profile } from './profile.js';
import type { Stats } from './stats.js';

export interface FleetOptions {
  iot: IoTClient;
  /** The MQTT over TLS URL and the CA the server's certificate chains to. */
  url: string;
  ca: string;
  servername?: string;
  devices: number;
  prefix: string;
  template: string;
  group: string;
  profile: Profile;
  stats: Stats;
  /** How many devices provision or connect at once. */
  concurrency: number;
  signal: AbortSignal;
}

/** Runs `fn` over `items`, at most `limit` at a time; stops taking new ones once `signal` aborts. */
async function pool<T>(items: T[], limit: number, signal: AbortSignal, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !signal.aborted) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class SimulatedFleet {
  readonly devices: SimulatedDevice[] = [];
  private claim: { cert: string; key: string; until: number } | undefined;
  private readonly downloads = mkdtempSync(join(tmpdir(), 'thicket-simulate-'));

  constructor(private readonly o: FleetOptions) {}

  /** Makes the group and the simulator's template when they are missing. */
  async prepare(): Promise<void> {
    const { iot } = this.o;
    const group = await iot.send(new CreateThingGroupCommand({ thingGroupName: this.o.group })).catch(async (err: Error) => {
      if (err.name !== 'ResourceAlreadyExistsException') throw err;
      return iot.send(new DescribeThingGroupCommand({ thingGroupName: this.o.group }));
    });
    // The caller's account and region, as the API names them.
    const [, , , region, accountId] = group.thingGroupArn!.split(':');
    const namespace = { accountId: accountId!, region: region! };
    const exists = await iot.send(new DescribeProvisioningTemplateCommand({ templateName: this.o.template })).catch((err: Error) => {
      if (err.name === 'ResourceNotFoundException') return undefined;
      throw err;
    });
    if (!exists) {
      if (this.o.template !== SIMULATOR_TEMPLATE) throw new Error(`the provisioning template ${this.o.template} does not exist`);
      await iot.send(
        new CreateProvisioningTemplateCommand({
          templateName: SIMULATOR_TEMPLATE,
          description: 'devices of thicket simulate',
          templateBody: simulatorTemplate(namespace.accountId, namespace.region),
          provisioningRoleArn: `arn:aws:iam::${namespace.accountId}:role/thicket-simulator`,
          enabled: true,
        }),
      );
    }
  }

  /** A claim certificate valid for at least another minute. */
  private async claimCertificate(): Promise<{ cert: string; key: string }> {
    if (!this.claim || this.claim.until - Date.now() < 60_000) {
      const r = await this.o.iot.send(new CreateProvisioningClaimCommand({ templateName: this.o.template }));
      this.claim = { cert: r.certificatePem!, key: r.keyPair!.PrivateKey!, until: r.expiration!.getTime() };
    }
    return this.claim;
  }

  /** A device's identity, by claim, with a P-256 key made here. */
  private async provision(index: number): Promise<Identity> {
    const thingName = `${this.o.prefix}${String(index).padStart(4, '0')}`;
    const keys = await globalThis.crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=${thingName}`,
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    });
    const claim = await this.claimCertificate();
    const parameters: Record<string, string> = { DeviceId: thingName };
    if (this.o.template === SIMULATOR_TEMPLATE) parameters.Group = this.o.group;
    const device = await provisionByClaim({
      url: this.o.url,
      claim: { cert: claim.cert, key: claim.key, ca: this.o.ca, servername: this.o.servername },
      templateName: this.o.template,
      parameters,
      clientId: `${thingName}-provisioning`,
      csr: csr.toString('pem'),
    });
    if (this.o.template !== SIMULATOR_TEMPLATE) {
      await this.o.iot.send(new AddThingToThingGroupCommand({ thingGroupName: this.o.group, thingName: device.thingName }));
    }
    const key = KeyObject.from(keys.privateKey).export({ type: 'pkcs8', format: 'pem' }) as string;
    return { thingName: device.thingName, cert: device.certificatePem, key };
  }

  /** Provisions and connects every device. */
  async start(): Promise<void> {
    const { stats } = this.o;
    const indexes = Array.from({ length: this.o.devices }, (_, i) => i + 1);
    await pool(indexes, this.o.concurrency, this.o.signal, async (index) => {
      try {
        const identity = await this.provision(index);
        stats.counts.provisioned++;
        const device = new SimulatedDevice({
          index,
          identity,
          url: this.o.url,
          ca: this.o.ca,
          servername: this.o.servername,
          profile: this.o.profile,
          stats,
          downloadDir: this.downloads,
        });
        this.devices.push(device);
        await device.start();
      } catch (err) {
        stats.error(err);
      }
    });
  }

  async stop(): Promise<void> {
    await Promise.all(this.devices.map((d) => d.stop().catch(() => undefined)));
    rmSync(this.downloads, { recursive: true, force: true });
  }
}
