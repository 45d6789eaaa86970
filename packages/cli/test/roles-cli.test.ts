/** `thicket roles ...` and `thicket role-aliases ...` against a running server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliWithHttpServer } from './helpers.js';

const { thicket, fails, dataDir } = cliWithHttpServer();

const POLICY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:DescribeThing', Resource: '*' }] });

test('roles: create from @file, list, describe, update, delete; AWS errors as one line', async () => {
  const file = join(dataDir(), 'policy.json');
  writeFileSync(file, POLICY);
  assert.equal(
    await thicket('roles', 'create', 'edge-role', '--policy', `@${file}`, '--description', 'edge devices'),
    'created role arn:aws:iam::123456789012:role/edge-role\n',
  );
  const list = await thicket('roles', 'list');
  assert.match(list, /^ROLENAME\s+ROLEARN\s+MAXSESSIONDURATION\s+DESCRIPTION\n/);
  assert.match(list, /edge-role\s+arn:aws:iam::123456789012:role\/edge-role\s+3600\s+edge devices/);
  const described = await thicket('roles', 'describe', 'edge-role');
  assert.match(described, /roleArn\s+arn:aws:iam::123456789012:role\/edge-role/);
  assert.match(described, /roleId\s+AROA[A-Z2-7]{17}\n/);
  assert.ok(described.includes(POLICY), 'the policy is shown');
  const updated = JSON.parse(await thicket('roles', 'update', 'edge-role', '--max-session-duration', '7200', '--json')) as {
    role: { maxSessionDuration: number };
  };
  assert.equal(updated.role.maxSessionDuration, 7200);

  assert.match(
    await fails('roles', 'create', 'broken', '--policy', '{"Statement":[{"Effect":"Allow","Action":"nope","Resource":"*"}]}'),
    /MalformedPolicyDocumentException: Statement: Invalid action "nope"/,
  );
  assert.equal(await thicket('roles', 'delete', 'edge-role'), 'deleted role edge-role\n');
  assert.match(await fails('roles', 'describe', 'edge-role'), /ResourceNotFoundException: The role with name edge-role cannot be found\./);
});

test('role-aliases: create with a role name, list, describe, delete', async () => {
  await thicket('roles', 'create', 'fleet', '--policy', POLICY);
  assert.equal(
    await thicket('role-aliases', 'create', 'fleet-alias', '--role', 'fleet', '--duration', '900'),
    'created role alias arn:aws:iot:us-east-1:123456789012:rolealias/fleet-alias for arn:aws:iam::123456789012:role/fleet\n',
  );
  assert.equal(await thicket('role-aliases', 'list'), 'ROLEALIAS\nfleet-alias\n');
  const d = await thicket('role-aliases', 'describe', 'fleet-alias');
  assert.match(d, /roleArn\s+arn:aws:iam::123456789012:role\/fleet\n/);
  assert.match(d, /credentialDurationSeconds\s+900\n/);
  assert.match(
    await fails('role-aliases', 'create', 'short', '--role', 'arn:aws:iam::123456789012:role/fleet', '--duration', '10'),
    /InvalidRequestException: 1 validation error detected: Value '10' at 'credentialDurationSeconds'/,
  );
  assert.equal(await thicket('role-aliases', 'delete', 'fleet-alias'), 'deleted role alias fleet-alias\n');
});
