import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { configFromEnv, configFromFile, resolveConfig } from '@thicket/server';
import { tempDir } from './helpers.js';

test('flags override the environment, which overrides the file, which overrides the defaults', () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'thicket.yaml');
    writeFileSync(file, 'mqttPort: 1999\nhttpPort: 9000\nlogLevel: debug\nmqtt:\n  maxInflight: 20\n');
    const cfg = resolveConfig(configFromFile(file), configFromEnv({ THICKET_HTTP_PORT: '9100', THICKET_DEV: 'true' }), { httpPort: '0' });
    assert.equal(cfg.mqttPort, 1999);
    assert.equal(cfg.httpPort, 0);
    assert.equal(cfg.dev, true);
    assert.equal(cfg.logLevel, 'debug');
    assert.equal(cfg.mqtt.maxInflight, 20);
    assert.equal(cfg.mqttsPort, 8883);
    assert.equal(resolveConfig({ httpsPort: 'off' }).httpsPort, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad settings are refused with a message that names them', () => {
  assert.throws(() => resolveConfig({ mqttPort: '70000' }), /MQTT port: "70000" is not a port number/);
  assert.throws(() => resolveConfig({ logLevel: 'loud' }), /log level: "loud"/);
  assert.throws(() => resolveConfig({ profile: 'azure' }), /profile: "azure"/);
  assert.throws(() => resolveConfig({ dev: 'maybe' }), /dev: "maybe" is not a boolean/);
  const dir = tempDir();
  try {
    const file = join(dir, 'bad.json');
    writeFileSync(file, '{"mqttPort": 1883, "colour": "green"}');
    assert.throws(() => configFromFile(file), /unknown setting "colour"/);
    writeFileSync(file, '{"mqttPort": ');
    assert.throws(() => configFromFile(file), /bad\.json/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('queue and Receive Maximum settings: file, THICKET_MQTT_* variables and flags merge key by key', () => {
  const dir = tempDir();
  try {
    const file = join(dir, 'thicket.yaml');
    writeFileSync(file, 'mqtt:\n  maxInflight: 20\n  maxQueued: 5000\n  queueDropPolicy: oldest\n');
    const env = configFromEnv({ THICKET_MQTT_MAX_QUEUED_BYTES: '1048576', THICKET_MQTT_RECEIVE_MAXIMUM_EXCEEDED: 'pause' });
    assert.deepEqual(env.mqtt, { maxQueuedBytes: '1048576', receiveMaximumExceeded: 'pause' });
    // Flags not given arrive as undefined and keep what the file and the environment said.
    const flags = {
      mqtt: { maxQueued: '200000', maxQueuedBytes: undefined, queueDropPolicy: undefined, receiveMaximumExceeded: undefined },
    };
    const cfg = resolveConfig(configFromFile(file), env, flags);
    assert.deepEqual(cfg.mqtt, {
      maxInflight: 20,
      maxQueued: 200_000,
      queueDropPolicy: 'oldest',
      maxQueuedBytes: 1_048_576,
      receiveMaximumExceeded: 'pause',
    });
    assert.deepEqual(resolveConfig({}).mqtt, {}, 'the profile decides what is not set');
    assert.deepEqual(configFromEnv({}).mqtt, undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad broker settings are refused with a message that names them', () => {
  assert.throws(
    () => resolveConfig({ mqtt: { queueDropPolicy: 'random' } }),
    /^Error: mqtt\.queueDropPolicy: "random" is not one of newest, oldest$/,
  );
  assert.throws(
    () => resolveConfig(configFromEnv({ THICKET_MQTT_RECEIVE_MAXIMUM_EXCEEDED: 'ignore' })),
    /^Error: mqtt\.receiveMaximumExceeded: "ignore" is not one of disconnect, pause$/,
  );
  assert.throws(
    () => resolveConfig(configFromEnv({ THICKET_MQTT_MAX_QUEUED: '-1' })),
    /^Error: mqtt\.maxQueued: "-1" is not a whole number of at least 0$/,
  );
  assert.throws(() => resolveConfig({ mqtt: { maxQueuedBytes: '1e999' } }), /mqtt\.maxQueuedBytes: "1e999" is not a whole number/);
  assert.throws(() => resolveConfig({ mqtt: { maxQueued: '10 messages' } }), /mqtt\.maxQueued: "10 messages"/);
  assert.throws(() => resolveConfig({ mqtt: { maxQueued: 1.5 } }), /mqtt\.maxQueued: "1\.5"/);
  assert.throws(() => resolveConfig({ mqtt: { maxQueue: 10 } }), /mqtt: unknown setting "maxQueue" \(known: .*maxQueued, maxQueuedBytes/);
  assert.throws(() => resolveConfig({ mqtt: { retainAvailable: 'perhaps' } }), /mqtt\.retainAvailable: "perhaps" is not a boolean/);
  assert.throws(() => resolveConfig({ mqtt: ['maxQueued'] }), /mqtt: expected a mapping of broker limits/);
  assert.equal(resolveConfig({ mqtt: { retainAvailable: 'false' } }).mqtt.retainAvailable, false);
});

test('cluster settings: --database, --cluster and --node-id from flags, THICKET_* variables or the file', () => {
  const env = configFromEnv({
    THICKET_DATABASE: 'postgres://thicket:pw@127.0.0.1:5432/iot',
    THICKET_CLUSTER: 'nats://10.0.0.1:4222, nats://10.0.0.2:4222',
    THICKET_NODE_ID: 'node-a',
  });
  const cfg = resolveConfig(env);
  assert.equal(cfg.database, 'postgres://thicket:pw@127.0.0.1:5432/iot');
  assert.deepEqual(cfg.cluster, ['nats://10.0.0.1:4222', 'nats://10.0.0.2:4222']);
  assert.equal(cfg.nodeId, 'node-a');
  // A flag wins over the environment; the database alone is one node on PostgreSQL.
  const single = resolveConfig({ database: 'postgresql://u:p@db/iot' });
  assert.deepEqual([single.cluster, single.nodeId], [[], '']);
  // A cluster node without a name takes the host name (made fit for subjects and labels).
  assert.match(resolveConfig({ database: 'postgres://u:p@db/iot', cluster: ['nats://n:4222'] }).nodeId, /^[A-Za-z0-9_-]{1,64}$/);
  assert.equal(resolveConfig().database, null);
});

test('bad cluster settings are refused with a message that names them', () => {
  assert.throws(() => resolveConfig({ database: 'mysql://u:p@db/iot' }), /database: "mysql:" URLs are not supported/);
  assert.throws(() => resolveConfig({ database: 'not a url' }), /database: not a URL/);
  assert.throws(() => resolveConfig({ database: 'postgres://u:p@db' }), /database: the URL names no database/);
  assert.throws(() => resolveConfig({ cluster: 'nats://n:4222' }), /cluster: .*give --database/);
  assert.throws(
    () => resolveConfig({ database: 'postgres://u:p@db/iot', cluster: 'http://n:4222' }),
    /cluster: "http:\/\/n:4222" is not a NATS server URL/,
  );
  assert.throws(() => resolveConfig({ database: 'postgres://u:p@db/iot', nodeId: 'a b' }), /node id: "a b"/);
  assert.throws(() => resolveConfig({ database: 'postgres://u:p@db/iot', ephemeral: true }), /cannot be combined with --database/);
  // The database URL carries a password: an error about it must not repeat it.
  assert.throws(
    () => resolveConfig({ database: 'mysql://u:secret-pw@db/iot' }),
    (err: Error) => !err.message.includes('secret-pw'),
  );
});
