/** `thicket shadow get|update|delete|list` and `get --watch` against a running server. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cliWithHttpServer } from './helpers.js';

const { args: cliArgs, thicket, fails } = cliWithHttpServer();

test('update, get, list and delete shadows from the command line, with AWS errors as one line', async () => {
  const accepted = JSON.parse(await thicket('shadow', 'update', 'fan', '--desired', '{"speed":3}')) as { version: number };
  assert.equal(accepted.version, 1);
  await thicket('shadow', 'update', 'fan', '--reported', '{"speed":1}', '--expected-version', '1');
  const doc = JSON.parse(await thicket('shadow', 'get', 'fan')) as { state: unknown; version: number };
  assert.deepEqual(doc.state, { desired: { speed: 3 }, reported: { speed: 1 }, delta: { speed: 3 } });
  assert.equal(doc.version, 2);

  await thicket('shadow', 'update', 'fan', '--name', 'schedule', '--document', '{"state":{"desired":{"at":"07:00"}}}');
  assert.equal(await thicket('shadow', 'list', 'fan'), 'schedule\n');
  assert.match(
    await thicket('shadow', 'delete', 'fan', '--name', 'schedule'),
    /deleted the shadow of fan \(shadow schedule\) at version 1/,
  );
  assert.equal(await thicket('shadow', 'list', 'fan'), '(none)\n');

  assert.match(
    await fails('shadow', 'update', 'fan', '--reported', '{"speed":2}', '--expected-version', '1'),
    /ConflictException: Version conflict/,
  );
  assert.match(await fails('shadow', 'get', 'fan', '--name', 'nope'), /ResourceNotFoundException: No shadow exists with name: 'fan~nope'/);
  assert.match(await fails('shadow', 'update', 'fan', '--desired', '{oops'), /--desired is not valid JSON/);
  assert.match(await fails('shadow', 'update', 'fan'), /give --desired, --reported or --document/);
});

test('shadow get --watch prints the document, then each delta live, and stops on Ctrl-C', async () => {
  await thicket('shadow', 'update', 'heater', '--reported', '{"temp":18}');
  const watcher = spawn(process.execPath, cliArgs(['shadow', 'get', 'heater', '--watch']), { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const ready = new Promise<void>((resolveReady, reject) => {
      const timer = setTimeout(() => reject(new Error('the watcher did not start')), 15_000);
      createInterface({ input: watcher.stderr }).on('line', (line) => {
        if (line.startsWith('watching deltas of $aws/things/heater/shadow')) {
          clearTimeout(timer);
          resolveReady();
        }
      });
    });
    const lines: string[] = [];
    createInterface({ input: watcher.stdout }).on('line', (l) => lines.push(l));
    await ready;
    await thicket('shadow', 'update', 'heater', '--desired', '{"temp":21}');
    await thicket('shadow', 'update', 'heater', '--desired', '{"mode":"eco"}');
    const deadline = Date.now() + 5000;
    while (lines.filter((l) => l.includes('delta')).length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const deltas = lines.filter((l) => / version \d+ {2}delta /.test(l));
    assert.equal(deltas.length, 2, lines.join('\n'));
    assert.match(deltas[0]!, /version 2 {2}delta {"temp":21}$/);
    assert.match(deltas[1]!, /version 3 {2}delta {"temp":21,"mode":"eco"}$/);
    assert.ok(lines.join('\n').includes('"temp": 18'), 'the current document is printed first');
  } finally {
    const exited = new Promise<number | null>((r) => watcher.once('exit', (code) => r(code)));
    watcher.kill('SIGINT');
    assert.equal(await exited, 0);
  }
});
