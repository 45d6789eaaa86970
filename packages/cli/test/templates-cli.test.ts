/** `thicket templates ...` and `thicket claims create` against a running server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { cliWithHttpServer } from './helpers.js';

const { thicket, fails, dataDir } = cliWithHttpServer();

const ROLE = 'arn:aws:iam::123456789012:role/Provisioning';
const BODY = JSON.stringify({ Resources: { thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: 'a' } } } });

test('templates: create from @file, list, describe, version, update, delete; errors as one line', async () => {
  const file = join(dataDir(), 'template.json');
  writeFileSync(file, BODY);
  assert.equal(
    await thicket('templates', 'create', 'lamps', '--body', `@${file}`, '--role-arn', ROLE, '--description', 'the lamps'),
    'created provisioning template arn:aws:iot:us-east-1:123456789012:provisioningtemplate/lamps (disabled: enable it with --enabled true)\n',
  );
  assert.match(
    await thicket('templates', 'list'),
    /^TEMPLATENAME\s+TYPE\s+ENABLED\s+DESCRIPTION\nlamps\s+FLEET_PROVISIONING\s+false\s+the lamps\n$/,
  );
  assert.equal(await thicket('templates', 'version', 'lamps', '--body', BODY, '--set-default'), 'created version 2 of lamps (default)\n');
  assert.equal(await thicket('templates', 'update', 'lamps', '--enabled', 'true'), 'updated provisioning template lamps\n');
  const d = await thicket('templates', 'describe', 'lamps');
  assert.match(d, /enabled\s+true\n/);
  assert.match(d, /versions\s+1 2\*\n/);
  assert.ok(d.includes('"ThingName": "a"'), 'the default body is shown');
  assert.match(
    await fails('templates', 'create', 'bad', '--body', '{"Resources":{}}', '--role-arn', ROLE),
    /InvalidRequestException: .*at least one resource/,
  );
  assert.match(await fails('templates', 'update', 'lamps', '--enabled', 'maybe'), /--enabled takes true or false/);
  assert.equal(await thicket('templates', 'delete', 'lamps'), 'deleted provisioning template lamps\n');
  assert.match(await fails('templates', 'describe', 'lamps'), /ResourceNotFoundException: The provisioning template lamps does not exist/);
});

test('claims create writes a five-minute claim certificate and a 0600 key', async () => {
  await thicket('templates', 'create', 'fleet', '--body', BODY, '--role-arn', ROLE, '--enabled');
  const out = join(dataDir(), 'claim');
  const said = await thicket('claims', 'create', 'fleet', '--out', out);
  assert.match(said, /^claim certificate [0-9a-f]{64} \(expires .*\) written to /);
  const cert = new X509Certificate(readFileSync(join(out, 'certificate.pem')));
  assert.ok(new Date(cert.validTo).getTime() - Date.now() <= 5 * 60_000 + 1000);
  assert.equal(statSync(join(out, 'private.key')).mode & 0o777, 0o600);
  assert.match(readFileSync(join(out, 'ca.pem'), 'utf8'), /BEGIN CERTIFICATE/);
  assert.match(await fails('claims', 'create', 'nope'), /ResourceNotFoundException/);
});
