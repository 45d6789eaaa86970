/**
 * The README's "Testing your IoT application against Thicket" examples (examples/testing), run for
 * real against a `--test-mode` server: pytest with boto3, and vitest with the AWS SDK for JavaScript.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO, spawnServer, tempDir, type ServerProcess } from './helpers.js';

const run = promisify(execFile);
let server: ServerProcess;
let dataDir: string;
let env: NodeJS.ProcessEnv;

function available(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  dataDir = tempDir();
  server = await spawnServer([
    '--test-mode',
    '--dev',
    '--data-dir',
    dataDir,
    '--mqtt-port',
    '0',
    '--mqtts-port',
    'off',
    '--http-port',
    '0',
    '--https-port',
    'off',
  ]);
  env = {
    ...process.env,
    THICKET_ENDPOINT: `http://127.0.0.1:${server.ports.http}`,
    THICKET_MQTT: `mqtt://127.0.0.1:${server.ports.mqtt}`,
    THICKET_DATA_DIR: dataDir,
    AWS_SHARED_CREDENTIALS_FILE: join(dataDir, 'credentials'),
    AWS_CONFIG_FILE: '/dev/null',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
});
after(async () => {
  server.proc.kill('SIGTERM');
  await server.exited;
  rmSync(dataDir, { recursive: true, force: true });
});

test(
  'the pytest fixture with boto3',
  { skip: !available('python3', ['-c', 'import boto3, pytest']) && 'needs python3 with boto3 and pytest' },
  async () => {
    const { stdout } = await run('python3', ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', join(REPO, 'examples/testing/pytest')], {
      env,
      cwd: dataDir,
    });
    assert.match(stdout, /2 passed/);
  },
);

test('the vitest beforeEach with @aws-sdk/client-iot and mqtt.js', async () => {
  const { stdout } = await run(
    process.execPath,
    [join(REPO, 'node_modules/vitest/vitest.mjs'), 'run', '--root', join(REPO, 'examples/testing/vitest')],
    {
      env,
      cwd: REPO,
    },
  );
  assert.match(stdout, /2 passed/);
});
