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
