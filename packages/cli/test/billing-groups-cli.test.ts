/** `thicket billing-groups` against a running server, and `thicket groups list --parent` (children only). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliWithHttpServer } from './helpers.js';

const { thicket, fails } = cliWithHttpServer();

test('billing groups: create, list, add (moving a thing), things, describe, remove, delete', async () => {
  await thicket('billing-groups', 'create', 'cc-1', '--description', 'first');
  await thicket('billing-groups', 'create', 'cc-2');
  await thicket('billing-groups', 'create', 'other');
  await thicket('things', 'create', 'bg-lamp');
  const list = await thicket('billing-groups', 'list', '--prefix', 'cc-');
  assert.match(list, /^GROUPNAME\s+GROUPARN/m);
  assert.match(list, /cc-1\s+arn:aws:iot:[a-z0-9-]+:\d{12}:billinggroup\/cc-1/);
  assert.doesNotMatch(list, /other/);
  await thicket('billing-groups', 'add', 'cc-1', 'bg-lamp');
  await thicket('billing-groups', 'add', 'cc-2', 'bg-lamp');
  assert.equal((await thicket('billing-groups', 'things', 'cc-1')).trim(), '(none)');
  assert.equal((await thicket('billing-groups', 'things', 'cc-2')).trim(), 'bg-lamp');
  assert.match(await thicket('things', 'describe', 'bg-lamp'), /billingGroupName\s+cc-2/);
  const described = JSON.parse(await thicket('billing-groups', 'describe', 'cc-1', '--json')) as Record<string, unknown>;
  assert.deepEqual(described.billingGroupProperties, { billingGroupDescription: 'first' });
  await thicket('billing-groups', 'remove', 'cc-2', 'bg-lamp');
  assert.equal((await thicket('billing-groups', 'things', 'cc-2')).trim(), '(none)');
  await thicket('billing-groups', 'delete', 'cc-2');
  assert.match(await fails('billing-groups', 'describe', 'cc-2'), /ResourceNotFoundException: Billing group cc-2 cannot be found/);
});

test('groups list --parent lists the children; --recursive all descendants', async () => {
  await thicket('groups', 'create', 'p-root');
  await thicket('groups', 'create', 'p-child', '--parent', 'p-root');
  await thicket('groups', 'create', 'p-grandchild', '--parent', 'p-child');
  const children = JSON.parse(await thicket('groups', 'list', '--parent', 'p-root', '--json')) as {
    thingGroups: Array<{ groupName: string }>;
  };
  assert.deepEqual(
    children.thingGroups.map((g) => g.groupName),
    ['p-child'],
  );
  const all = JSON.parse(await thicket('groups', 'list', '--parent', 'p-root', '--recursive', '--json')) as {
    thingGroups: Array<{ groupName: string }>;
  };
  assert.deepEqual(
    all.thingGroups.map((g) => g.groupName),
    ['p-child', 'p-grandchild'],
  );
});
