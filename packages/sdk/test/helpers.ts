/** Test helpers: a real Thicket server (the server package's helpers), devices provisioned on it, and a plain mqtt.js observer. */
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceClientOptions } from '@thicket/sdk';
import { provision, tempDir, type Device, type TestServer } from '../../server/test/helpers.js';

export { provision, sleep, startTestServer, tempDir, ALLOW_ALL, type Device, type TestServer } from '../../server/test/helpers.js';

/** Options for a device connecting over mutual TLS with its certificate. */
export function mtlsOptions(server: TestServer, d: Device, extra: Partial<DeviceClientOptions> = {}): DeviceClientOptions {
  return {
    url: `mqtts://127.0.0.1:${server.ports.mqtts}`,
    clientId: d.thingName,
    tls: { cert: d.cert, key: d.key, ca: server.pki.caCertPem, servername: 'localhost' },
    reconnect: { minDelayMs: 50, maxDelayMs: 200 },
    ...extra,
  };
}

/** Provisions a thing with an allow-all policy and returns it. */
export const device = (server: TestServer, thingName: string): Promise<Device> => provision(server, thingName);

/** Closes the client's connection from the server side, as an administrator or a network failure would. */
export function dropConnection(server: TestServer, clientId: string): number {
  return server.broker.disconnectWhere((c) => c.clientId === clientId, 'SERVER_INITIATED_DISCONNECT', 0x98, 'dropped by the test');
}

/** Waits until `check` returns something truthy. */
export async function until<T>(check: () => T | undefined | false, what: string, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A plain mqtt.js client (anonymous: the server runs in dev mode) that records what arrives on its filters. */
export class Observer {
  readonly received: Array<{ topic: string; payload: string }> = [];
  private constructor(readonly client: MqttClient) {
    client.on('message', (topic, payload) => this.received.push({ topic, payload: payload.toString() }));
  }

  static async start(
    server: TestServer,
    filters: string[],
    clientId = `observer-${Math.random().toString(36).slice(2)}`,
  ): Promise<Observer> {
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { clientId, reconnectPeriod: 0, protocolVersion: 5 });
    if (filters.length) await client.subscribeAsync(filters, { qos: 1 });
    return new Observer(client);
  }

  payloads(topic?: string): string[] {
    return this.received.filter((m) => topic === undefined || m.topic === topic).map((m) => m.payload);
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** A scratch directory removed when the test process ends. */
export const scratch = (): string => tempDir('thicket-sdk-');
