/**
 * The shadow client against the real shadow service: get, update, delete for classic and named
 * shadows, errors as AWS documents them, request timeouts, version tracking and the delta handler.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectDevice, RequestTimeoutError, ShadowClient, ShadowRejectedError, type DeviceClient } from '@thicket/sdk';
import { device, mtlsOptions, provision, startTestServer, until, type TestServer } from './helpers.js';

let server: TestServer;
let d1: DeviceClient;

before(async () => {
  server = await startTestServer({ dev: true });
  d1 = await connectDevice(mtlsOptions(server, await device(server, 'sh-1')));
});
after(async () => {
  await d1.close();
  await server.close();
});

test('get, update and delete the classic shadow; versions tracked; a missing shadow rejects with the 404 document', async () => {
  const shadow = new ShadowClient(d1, 'sh-1');
  await assert.rejects(shadow.get(), (e: unknown) => {
    assert.ok(e instanceof ShadowRejectedError);
    assert.equal(e.code, 404);
    assert.match(e.message, /No shadow exists with name: 'sh-1'/);
    assert.equal(typeof e.clientToken, 'string', 'the answer carried our clientToken back');
    return true;
  });
  const first = await shadow.update({ reported: { temp: 20 }, desired: { temp: 22 } });
  assert.equal(first.version, 1);
  assert.deepEqual(first.state, { reported: { temp: 20 }, desired: { temp: 22 } });
  assert.equal(shadow.version, 1);

  const got = await shadow.get();
  assert.deepEqual(got.state.delta, { temp: 22 });
  assert.equal(got.version, 1);

  await shadow.report({ temp: 22 });
  assert.equal(shadow.version, 2);
  // Optimistic locking: the stale version is refused with AWS's 409 document.
  await assert.rejects(
    shadow.update({ desired: { temp: 25 } }, { version: 1 }),
    (e: unknown) => e instanceof ShadowRejectedError && e.code === 409 && e.message === 'Version conflict',
  );
  const locked = await shadow.update({ desired: { temp: 25 } }, { version: 2 });
  assert.equal(locked.version, 3);

  const deleted = await shadow.delete();
  assert.equal(deleted.version, 3);
  await assert.rejects(shadow.get(), (e: unknown) => e instanceof ShadowRejectedError && e.code === 404);
});

test('named shadows are separate documents on their own topics', async () => {
  const config = new ShadowClient(d1, 'sh-1', { shadowName: 'config' });
  const classic = new ShadowClient(d1, 'sh-1');
  await config.update({ desired: { interval: 5 } });
  assert.deepEqual((await config.get()).state.desired, { interval: 5 });
  await classic.update({ reported: { on: true } });
  assert.deepEqual((await classic.get()).state, { reported: { on: true } });
  await assert.rejects(
    new ShadowClient(d1, 'sh-1', { shadowName: 'nope' }).get(),
    (e: unknown) => e instanceof ShadowRejectedError && e.code === 404,
  );
  assert.throws(() => new ShadowClient(d1, 'sh-1', { shadowName: 'bad/name' }), /Invalid shadow name/);
  await config.delete();
  await classic.delete();
});

test('the delta handler applies desired state and the client reports what it returns; it catches up on a delta from before it subscribed', async () => {
  const thing = await device(server, 'sh-delta');
  const dev = await connectDevice(mtlsOptions(server, thing));
  const app = await connectDevice(mtlsOptions(server, thing, { clientId: 'sh-delta-app' }));
  try {
    const appShadow = new ShadowClient(app, 'sh-delta', { shadowName: 'lamp' });
    await appShadow.update({ desired: { color: 'red', level: 1 } }); // before the device listens

    const applied: Array<Record<string, unknown>> = [];
    const devShadow = new ShadowClient(dev, 'sh-delta', { shadowName: 'lamp' });
    // The lamp only does levels up to 5: it reports what it really applied.
    await devShadow.onDelta((delta) => {
      applied.push(delta);
      const out: Record<string, string | number> = {};
      if (typeof delta.color === 'string') out.color = delta.color;
      if (typeof delta.level === 'number') out.level = Math.min(delta.level, 5);
      return out;
    });
    assert.deepEqual(applied, [{ color: 'red', level: 1 }], 'caught up from get');
    // onDelta resolves after the catch-up report was accepted.
    assert.deepEqual((await appShadow.get()).state.reported, { color: 'red', level: 1 });

    await appShadow.update({ desired: { level: 9 } });
    await until(() => applied.length === 2, 'the delta');
    assert.deepEqual(applied[1], { level: 9 });
    let doc = await appShadow.get();
    for (let i = 0; i < 50 && doc.state.reported?.level !== 5; i++) {
      await new Promise((r) => setTimeout(r, 20));
      doc = await appShadow.get();
    }
    assert.deepEqual(doc.state.reported, { color: 'red', level: 5 });
    assert.deepEqual(doc.state.delta, { level: 9 }, 'the device could not reach 9');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(applied.length, 2, 'reporting what was applied does not start a loop of deltas');
    assert.equal(devShadow.version, doc.version, 'version tracked');
  } finally {
    await dev.close();
    await app.close();
  }
});

test('a request whose answer never comes times out with a typed error', async () => {
  // The policy lets the device ask but not receive the answer, which the broker then drops silently.
  const thing = await provision(
    server,
    'sh-deaf',
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: ['iot:Connect', 'iot:Publish', 'iot:Subscribe'], Resource: '*' }],
    }),
  );
  const deaf = await connectDevice(mtlsOptions(server, thing));
  try {
    const started = Date.now();
    await assert.rejects(new ShadowClient(deaf, 'sh-deaf', { timeoutMs: 300 }).get(), (e: unknown) => {
      assert.ok(e instanceof RequestTimeoutError);
      assert.equal(e.topic, '$aws/things/sh-deaf/shadow/get');
      assert.equal(e.timeoutMs, 300);
      return true;
    });
    assert.ok(Date.now() - started >= 290);
  } finally {
    await deaf.close();
  }
});
