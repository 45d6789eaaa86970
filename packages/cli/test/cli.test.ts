/** The thicket command against a running server: provisioning in one command, management commands, output formats. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { cliWithHttpServer, MAIN } from './helpers.js';

const run = promisify(execFile);
const ctx = cliWithHttpServer({
  serveArgs: ['--mqtt-port', '0', '--mqtts-port', '0', '--https-port', '0', '--hostname', 'localhost'],
});
const { thicket, fails } = ctx;

test('`thicket provision` onboards a device in one command; it can use its own topics and nothing else', async () => {
  const out = join(ctx.dataDir(), 'devices', 'sensor-9');
  const text = await thicket('provision', 'sensor-9', '--out', out);
  assert.match(text, /Provisioned sensor-9/);
  assert.match(text, /connect\.sh/);
  assert.equal(statSync(join(out, 'private.key')).mode & 0o777, 0o600);
  assert.match(readFileSync(join(out, 'connect.sh'), 'utf8'), /npx --yes mqtt sub .* -l mqtts .*--cert/);
  const policy = JSON.parse(readFileSync(join(out, 'policy.json'), 'utf8')) as { Statement: Array<{ Resource: string | string[] }> };
  assert.ok(JSON.stringify(policy).includes('client/sensor-9'));

  const opts = {
    cert: readFileSync(join(out, 'certificate.pem')),
    key: readFileSync(join(out, 'private.key')),
    ca: readFileSync(join(out, 'ca.pem')),
    protocolVersion: 5 as const,
    reconnectPeriod: 0,
  };
  const url = `mqtts://localhost:${ctx.server().ports.mqtts}`;
  const device = await mqtt.connectAsync(url, { ...opts, clientId: 'sensor-9' });
  await device.subscribeAsync('things/sensor-9/#', { qos: 1 });
  const got = new Promise<string>((r) => device.on('message', (_t, p) => r(p.toString())));
  await device.publishAsync('things/sensor-9/temp', '21.5', { qos: 1 });
  assert.equal(await got, '21.5');
  await assert.rejects(device.publishAsync('things/other-device/temp', 'x', { qos: 1 }), (e: { code?: number }) => e.code === 0x87);
  await device.endAsync();
  await assert.rejects(mqtt.connectAsync(url, { ...opts, clientId: 'not-sensor-9' }), (e: { code?: number }) => e.code === 0x87);
});

test('management commands print tables, or the API response with --json, and AWS errors in one line', async () => {
  await thicket('thing-types', 'create', 'Lamp', '--description', 'a lamp');
  await thicket('things', 'create', 'lamp-1', '--type', 'Lamp', '--attr', 'room=hall', 'floor=1');
  const list = await thicket('things', 'list');
  assert.match(list, /^THINGNAME\s+THINGTYPENAME\s+VERSION\s+ATTRIBUTES/m);
  assert.match(list, /lamp-1\s+Lamp\s+1\s+\{"room":"hall","floor":"1"\}/);
  const json = JSON.parse(await thicket('things', 'describe', 'lamp-1', '--json')) as {
    thingName: string;
    attributes: Record<string, string>;
  };
  assert.deepEqual([json.thingName, json.attributes.room], ['lamp-1', 'hall']);
  await thicket('groups', 'create', 'hall');
  await thicket('groups', 'add', 'hall', 'lamp-1');
  assert.equal((await thicket('groups', 'things', 'hall')).trim(), 'lamp-1');
  const doc = join(ctx.dataDir(), 'ro.json');
  writeFileSync(doc, JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Receive', Resource: '*' }] }));
  await thicket('policies', 'create', 'read-only', doc);
  await thicket('policies', 'attach', 'read-only', 'group:hall');
  assert.match(await thicket('policies', 'get', 'read-only'), /"iot:Receive"/);
  const bad = await fails('policies', 'create', 'broken', '{"Version": "2012-10-17", "Statement": [}');
  assert.match(bad, /MalformedPolicyException: .*line 1/);
  assert.match(await fails('things', 'describe', 'nope'), /ResourceNotFoundException: Thing nope cannot be found/);
});

test('accounts, keys, authorizers and CA commands', async () => {
  const created = await thicket('accounts', 'create', '--account-id', '555555555555', '--name', 'tenant', '--json');
  const account = JSON.parse(created) as { accountId: string; accessKey: { accessKeyId: string; secretAccessKey: string } };
  assert.equal(account.accountId, '555555555555');
  assert.match(await thicket('accounts', 'list'), /555555555555\s+tenant/);
  const tenantCreds = join(ctx.dataDir(), 'tenant-credentials');
  writeFileSync(
    tenantCreds,
    `[default]\naws_access_key_id = ${account.accessKey.accessKeyId}\naws_secret_access_key = ${account.accessKey.secretAccessKey}\n`,
  );
  const asTenant = (...args: string[]): Promise<{ stdout: string }> =>
    run(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', MAIN, ...args, '--endpoint', `http://127.0.0.1:${ctx.server().ports.http}`],
      {
        env: { ...process.env, AWS_SHARED_CREDENTIALS_FILE: tenantCreds },
      },
    );
  await asTenant('things', 'create', 'tenant-thing');
  assert.match((await asTenant('things', 'list')).stdout, /tenant-thing/);
  assert.doesNotMatch(await thicket('things', 'list'), /tenant-thing/, "the default account does not see the tenant's things");
  assert.match((await asTenant('keys', 'create', '--read-only', '--description', 'dashboards')).stdout, /aws_secret_access_key = /);
  assert.match((await asTenant('keys', 'list')).stdout, /dashboards/);

  await thicket(
    'authorizers',
    'create',
    'jwt-auth',
    'thicket:jwt?hmacSecret=k1&policyNames=none',
    '--key',
    'k1=0123456789abcdef0123456789abcdef',
    '--signing-disabled',
  );
  assert.match(await thicket('authorizers', 'list'), /jwt-auth/);
  assert.match(await thicket('authorizers', 'test', 'jwt-auth', 'not-a-jwt'), /isAuthenticated\s+false/);
  assert.match(await thicket('cas', 'registration-code'), /^[0-9a-f]{64}\n$/);
});
