// Testing an AWS IoT application against Thicket with vitest and the official AWS SDK.
// Start the server once: npx thicket serve --test-mode --dev --data-dir .thicket-test
import { beforeEach, expect, test } from 'vitest';
import { CreateThingCommand, IoTClient, ListThingsCommand } from '@aws-sdk/client-iot';
import mqtt from 'mqtt';

const endpoint = process.env.THICKET_ENDPOINT ?? 'http://127.0.0.1:8080';
process.env.AWS_SHARED_CREDENTIALS_FILE ??= `${process.env.THICKET_DATA_DIR ?? '.thicket-test'}/credentials`;
const iot = new IoTClient({ endpoint, region: 'us-east-1' });

beforeEach(async () => {
  // Every test starts from an empty server.
  const res = await fetch(`${endpoint}/_thicket/reset`, { method: 'POST' });
  expect(res.ok).toBe(true);
});

test('a thing is created', async () => {
  await iot.send(new CreateThingCommand({ thingName: 'lamp' }));
  const { things } = await iot.send(new ListThingsCommand({}));
  expect(things?.map((t) => t.thingName)).toEqual(['lamp']);
});

test('each test starts empty, MQTT included', async () => {
  expect((await iot.send(new ListThingsCommand({}))).things).toEqual([]);
  const mqttUrl = process.env.THICKET_MQTT ?? 'mqtt://127.0.0.1:1883';
  const client = await mqtt.connectAsync(mqttUrl, { protocolVersion: 5 });
  await client.subscribeAsync('lamp/state', { qos: 1 });
  const received = new Promise<string>((resolve) => client.on('message', (_t, p) => resolve(p.toString())));
  await client.publishAsync('lamp/state', 'on', { qos: 1 });
  expect(await received).toBe('on');
  await client.endAsync();
});
