/** Helpers of the rules tests: a development-mode server, the IoT client, MQTT clients that capture what they receive. */
import mqtt, { type MqttClient } from 'mqtt';
import { IoTClient } from '@aws-sdk/client-iot';
import type { ConfigInput } from '@thicket/server';
import { startTestServer, type TestServer } from './helpers.js';
import { Capture } from './dataplane-helpers.js';

export { Capture };

export interface RulesFixture {
  server: TestServer;
  iot: IoTClient;
  clients: MqttClient[];
  /** A connected MQTT 5 client in the default namespace (development mode: anonymous). */
  client(clientId?: string): Promise<MqttClient>;
  /** A client subscribed to `filter`, capturing what arrives. */
  subscriber(filter: string): Promise<Capture>;
  close(): Promise<void>;
}

export async function rulesFixture(overrides: ConfigInput = {}): Promise<RulesFixture> {
  const server = await startTestServer({ dev: true, ...overrides });
  const iot = new IoTClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: server.adminKey,
    maxAttempts: 1,
  });
  const clients: MqttClient[] = [];
  const client = async (clientId?: string): Promise<MqttClient> => {
    const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.ports.mqtt}`, { protocolVersion: 5, reconnectPeriod: 0, clientId });
    clients.push(c);
    return c;
  };
  return {
    server,
    iot,
    clients,
    client,
    async subscriber(filter) {
      const c = await client();
      const capture = new Capture(c);
      await c.subscribeAsync(filter, { qos: 1 });
      return capture;
    },
    async close() {
      iot.destroy();
      for (const c of clients) c.end(true);
      await server.close();
    },
  };
}
