/** `thicket jobs watch` and `create --watch`: live progress while mqtt.js devices run the executions. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jobsCli, progress } from './jobs-cli-helpers.js';

const { ctx, start, device, startNext, finish, things, thingsInGroup } = jobsCli();
const { thicket } = ctx;

test('jobs watch, not on a terminal, prints a line per change while devices work, and exits 1 when one failed', async () => {
  const things = ['w-1', 'w-2', 'w-3'];
  await thingsInGroup('watched', things);
  await thicket('jobs', 'create', 'rollout', '--targets', 'watched', '--document', '{"op":"update"}');
  const watch = start(['jobs', 'watch', 'rollout']);
  const devices = await Promise.all(things.map(device));
  try {
    await watch.printed(1);
    let n = 1;
    const step = async (action: () => Promise<unknown>): Promise<void> => {
      await action();
      await watch.printed(++n);
    };
    await step(() => startNext(devices[0]!, 'w-1'));
    await step(() => finish(devices[0]!, 'w-1', 'rollout', 'SUCCEEDED'));
    await step(() => startNext(devices[1]!, 'w-2'));
    await step(() => finish(devices[1]!, 'w-2', 'rollout', 'FAILED'));
    await step(() => startNext(devices[2]!, 'w-3'));
    await step(() => finish(devices[2]!, 'w-3', 'rollout', 'SUCCEEDED'));
    assert.equal(await watch.exited, 1, watch.stderr());
    assert.deepEqual(watch.lines, [
      progress('....................', { queued: 3 }, 'IN_PROGRESS'),
      progress('>>>>>>>.............', { queued: 2, 'in progress': 1 }, 'IN_PROGRESS'),
      progress('#######.............', { queued: 2, succeeded: 1 }, 'IN_PROGRESS'),
      progress('#######>>>>>>>......', { queued: 1, 'in progress': 1, succeeded: 1 }, 'IN_PROGRESS'),
      progress('#######!!!!!!!......', { queued: 1, succeeded: 1, failed: 1 }, 'IN_PROGRESS'),
      progress('#######!!!!!!!>>>>>>', { 'in progress': 1, succeeded: 1, failed: 1 }, 'IN_PROGRESS'),
      progress('#############!!!!!!!', { succeeded: 2, failed: 1 }, 'COMPLETED'),
    ]);
    assert.equal(watch.stderr(), '');
  } finally {
    await Promise.all(devices.map((d) => d.endAsync()));
  }
});

test('jobs create --watch follows the rollout to COMPLETED and exits 0 when every execution succeeded', async () => {
  const things = ['auto-1', 'auto-2'];
  await thingsInGroup('auto', things);
  // Devices that run every job they are told about: start-next, then SUCCEEDED a moment later.
  const devices = await Promise.all(
    things.map(async (thing) => {
      const c = await device(thing);
      c.on('message', (topic, payload) => {
        if (topic !== `$aws/things/${thing}/jobs/notify-next`) return;
        if (!(JSON.parse(payload.toString()) as { execution?: unknown }).execution) return;
        void (async () => {
          const jobId = await startNext(c, thing);
          await new Promise((r) => setTimeout(r, 600));
          await finish(c, thing, jobId, 'SUCCEEDED');
        })();
      });
      await c.subscribeAsync(`$aws/things/${thing}/jobs/notify-next`, { qos: 1 });
      return c;
    }),
  );
  try {
    const run = start(['jobs', 'create', 'auto-update', '--targets', 'group/auto', '--document', '{"op":"update"}', '--watch']);
    assert.equal(await run.exited, 0, run.stderr());
    const [first, ...rest] = run.lines;
    assert.match(first!, /^created job auto-update \(arn:aws:iot:us-east-1:\d{12}:job\/auto-update\)$/);
    assert.equal(rest.at(-1), progress('####################', { succeeded: 2 }, 'COMPLETED'));
    assert.ok(rest.length >= 2, rest.join('\n'));
    for (const [i, line] of rest.entries()) {
      assert.match(line, /^\[[#>.]{20}\] queued \d {2}in progress \d {2}succeeded \d .* (IN_PROGRESS|COMPLETED)$/);
      if (i > 0) assert.notEqual(line, rest[i - 1], 'a line only when something changed');
    }
  } finally {
    await Promise.all(devices.map((d) => d.endAsync()));
  }
});

test('jobs watch ends when the job is canceled, in JSON with --json, and stops on Ctrl-C with 130', async () => {
  await things('idle-1');
  await thicket('jobs', 'create', 'stays', '--targets', 'idle-1', '--document', '{}');
  const json = start(['jobs', 'watch', 'stays', '--json']);
  await json.printed(1);
  await thicket('jobs', 'cancel', 'stays');
  assert.equal(await json.exited, 0, json.stderr());
  const docs = json.lines.map((l) => JSON.parse(l) as { jobId: string; status: string; jobProcessDetails: Record<string, number> });
  assert.deepEqual(
    docs.map((d) => [d.jobId, d.status, d.jobProcessDetails.numberOfQueuedThings, d.jobProcessDetails.numberOfCanceledThings]),
    [
      ['stays', 'IN_PROGRESS', 1, 0],
      ['stays', 'CANCELED', 0, 1],
    ],
  );

  await thicket('jobs', 'create', 'waits', '--targets', 'idle-1', '--document', '{}');
  const watch = start(['jobs', 'watch', 'waits']);
  await watch.printed(1);
  watch.proc.kill('SIGINT');
  assert.equal(await watch.exited, 130);
  assert.deepEqual(watch.lines, [progress('....................', { queued: 1 }, 'IN_PROGRESS')]);
  assert.equal(watch.stderr(), '');
});
