/** The `thicket serve` banner: what the README's quick start shows, and an onboarding command that works as printed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { banner, type BannerInput } from '../src/banner.js';
import { effectiveFormat } from '../src/log-output.js';

const REPO = resolve(import.meta.dirname, '../../..');
const CWD = '/srv/thicket';

function server(overrides: { host?: string; http?: number | null; dataDir?: string; dev?: boolean } = {}): BannerInput {
  const dataDir = overrides.dataDir ?? join(CWD, 'data');
  return {
    config: { host: overrides.host ?? '0.0.0.0', dev: overrides.dev ?? false, ephemeral: false },
    ports: { mqtt: 1883, mqtts: 8883, http: overrides.http === undefined ? 8080 : overrides.http, https: 8443 },
    dataDir,
    caPath: join(dataDir, 'ca.pem'),
    credentialsPath: join(dataDir, 'credentials'),
    adminKey: { accessKeyId: 'TKIA...', secretAccessKey: 'never printed' },
  };
}

const onboarding = (text: string): string | undefined => /^ {2}Onboard a device: {2}(.*)$/m.exec(text)?.[1];

test("the README's quick start shows exactly what `npm start` prints with the defaults", () => {
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  const quickStart = readme.slice(readme.indexOf('## Quick start'), readme.indexOf('\n## ', readme.indexOf('## Quick start') + 1));
  const shown = /`npm start` prints[^`]*```\n([\s\S]*?)```/.exec(quickStart)?.[1];
  assert.ok(shown, 'the quick start has the banner block');
  const printed = banner(server(), CWD);
  assert.equal(printed.trim(), shown.trim());
  assert.ok(!printed.includes('never printed'), 'the secret is not printed');

  // And the onboarding command the README tells people to run is the one the banner names.
  assert.equal(onboarding(printed), 'npx thicket provision my-device');
  assert.match(quickStart, /^npx thicket provision my-device {2,}# after `npm start` in another terminal$/m);
});

test('the onboarding command names --endpoint and --data-dir only when the CLI would not find them by default', () => {
  assert.equal(onboarding(banner(server({ host: '::' }), CWD)), 'npx thicket provision my-device');
  assert.equal(onboarding(banner(server({ dataDir: './data' }), CWD)), 'npx thicket provision my-device');
  assert.equal(onboarding(banner(server({ http: 9090 }), CWD)), 'npx thicket provision my-device --endpoint http://localhost:9090');
  assert.equal(onboarding(banner(server({ host: '10.0.0.5' }), CWD)), 'npx thicket provision my-device --endpoint http://10.0.0.5:8080');
  assert.equal(onboarding(banner(server({ dataDir: join(CWD, 'state') }), CWD)), 'npx thicket provision my-device --data-dir state');
  assert.equal(
    onboarding(banner(server({ dataDir: "/var/lib/my thicket's data" }), CWD)),
    `npx thicket provision my-device --data-dir '/var/lib/my thicket'\\''s data'`,
  );
  // Without the HTTP API there is no command to print.
  assert.equal(onboarding(banner(server({ http: null }), CWD)), undefined);
});

test('development mode says so in the first line', () => {
  assert.equal(banner(server({ dev: true }), CWD).split('\n')[1], 'Thicket is running in DEVELOPMENT MODE (anonymous clients allowed)');
});

test('--log-format auto is pretty on a terminal and JSON otherwise; json and pretty are taken as asked', () => {
  assert.equal(effectiveFormat('auto', true), 'pretty');
  assert.equal(effectiveFormat('auto', false), 'json');
  assert.equal(effectiveFormat('json', true), 'json');
  assert.equal(effectiveFormat('pretty', false), 'pretty');
});
