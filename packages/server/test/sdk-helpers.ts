/** Test helpers for the official device SDKs (aws-iot-device-sdk v1 and aws-iot-device-sdk-v2) against a test server. */
import { EventEmitter, once as onceEvent } from 'node:events';
import { iot, mqtt, mqtt5 } from 'aws-iot-device-sdk-v2';
import type { ThicketServer } from '@thicket/server';

/** The next `name` event of an SDK emitter, or a timeout error. */
export const once = (emitter: EventEmitter, name: string, ms: number): Promise<unknown[]> =>
  onceEvent(emitter, name, { signal: AbortSignal.timeout(ms) });

interface DeviceCredentials {
  cert: string;
  key: string;
  thingName: string;
}

/** The v1 SDK's options for a device connecting over mutual TLS, its thing name as client id. */
export function v1Options(server: ThicketServer, d: DeviceCredentials): Record<string, unknown> {
  return {
    privateKey: Buffer.from(d.key),
    clientCert: Buffer.from(d.cert),
    caCert: Buffer.from(server.pki.caCertPem),
    clientId: d.thingName,
    host: 'localhost',
    port: server.ports.mqtts,
    protocol: 'mqtts',
    enableMetrics: true,
  };
}

/** An MQTT 5 client of the v2 SDK connected with the device's certificate. */
export async function mqtt5Client(server: ThicketServer, d: DeviceCredentials): Promise<mqtt5.Mqtt5Client> {
  const builder = iot.AwsIotMqtt5ClientConfigBuilder.newDirectMqttBuilderWithMtlsFromMemory('localhost', d.cert, d.key)
    .withPort(server.ports.mqtts!)
    .withCertificateAuthority(server.pki.caCertPem)
    .withConnectProperties({ clientId: d.thingName, keepAliveIntervalSeconds: 60 });
  const client = new mqtt5.Mqtt5Client(builder.build());
  const connected = once(client, 'connectionSuccess', 10_000);
  client.start();
  await connected;
  return client;
}

/** Stops and releases a v2 MQTT 5 client. */
export async function stopMqtt5(client: mqtt5.Mqtt5Client): Promise<void> {
  const stopped = once(client, 'stopped', 5000);
  client.stop();
  await stopped;
  client.close();
}

/** An MQTT 3.1.1 connection of the v2 SDK with the device's certificate, connected. */
export async function mqtt311Connection(server: ThicketServer, d: DeviceCredentials): Promise<mqtt.MqttClientConnection> {
  const config = iot.AwsIotMqttConnectionConfigBuilder.new_mtls_builder(d.cert, d.key)
    .with_endpoint('localhost')
    .with_port(server.ports.mqtts!)
    .with_certificate_authority(server.pki.caCertPem)
    .with_client_id(d.thingName)
    .with_clean_session(true)
    .build();
  const connection = new mqtt.MqttClient().new_connection(config);
  await connection.connect();
  return connection;
}

/** The modeled error (the `/rejected` document) a v2 SDK request failed with. */
export async function modeledError<T = Record<string, unknown>>(p: Promise<unknown>): Promise<T> {
  try {
    await p;
  } catch (err) {
    return ((err as { modeledError?: object }).modeledError ?? {}) as T;
  }
  throw new Error('the request succeeded');
}

/** Request-response client options of the v2 service clients. */
export const rrOptions = { maxRequestResponseSubscriptions: 4, maxStreamingSubscriptions: 4, operationTimeoutInSeconds: 10 };
