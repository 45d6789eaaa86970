/**
 * The shape DESIGN §3 asks for: capabilities listed in platform.ts, each bringing its own routes and
 * resources, and no import circles in the broker or the server.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Broker } from '@thicket/broker';
import pino from 'pino';
import { openDatabase } from '../src/store/database.js';
import { sqliteEngine } from '../src/store/sql/sqlite-engine.js';
import { Platform } from '../src/platform/assemble.js';
import { defineCapability, type PlatformOptions } from '../src/platform/capability.js';
import { CAPABILITIES } from '../src/platform.js';
import { importCircles } from './import-circles.js';
import { REPO } from './helpers.js';

test('no import circles in the broker, the server, the SQL engine or the CLI', () => {
  for (const pkg of ['broker', 'server', 'iot-sql', 'shadow', 'cli']) {
    assert.deepEqual(importCircles(join(REPO, 'packages', pkg, 'src')), [], `import circles in packages/${pkg}/src`);
  }
});

test('the circle finder finds a circle (so the test above can fail)', () => {
  // a.ts imports b.ts; b.ts imports a.ts for a type only, which ties them as well.
  const circles = importCircles(join(REPO, 'packages', 'server', 'test', 'fixtures', 'circle'));
  assert.deepEqual(circles, [['a.ts', 'b.ts']]);
});

test('each capability is listed once, under its own name', () => {
  const names = CAPABILITIES.map((c) => c.name);
  assert.equal(new Set(names).size, names.length);
  for (const name of ['accounts', 'registry', 'policies', 'certificates', 'shadow', 'jobs', 'rules'])
    assert.ok(names.includes(name as never), name);
});

function options(): PlatformOptions {
  const db = openDatabase(null);
  // The test capabilities below use none of the PKI or the settings.
  return { db, sql: sqliteEngine(db), log: pino({ level: 'silent' }) } as unknown as PlatformOptions;
}

declare module '../src/platform/capability.js' {
  interface Services {
    testFirst: { calls: string[] };
    testSecond: { greet(): string };
  }
}

test('capabilities: services by name, routes in list order, start/undo/stop, reset inside one transaction', async () => {
  const calls: string[] = [];
  const first = defineCapability('testFirst', (ctx) => {
    // Named while running, though listed later: looked up at call time.
    const greet = (): string => ctx.use('testSecond').greet();
    ctx.options.db!.exec('CREATE TABLE first_rows (v TEXT)');
    return {
      services: { calls },
      routes: [{ method: 'GET', path: '/first', action: 'First', handler: () => ({ greeting: greet() }) } as never],
      resources: { thing: (_ns, name) => name === 'known' },
      start: () => {
        calls.push('first started');
        return () => calls.push('first undone');
      },
      clear: () => {
        ctx.options.db!.exec('DELETE FROM first_rows');
        calls.push(`first cleared (in transaction: ${ctx.options.db!.inTransaction})`);
      },
      cleared: () => calls.push('first after commit'),
      stop: () => void calls.push('first stopped'),
    };
  });
  const second = defineCapability('testSecond', (ctx) => {
    assert.throws(() => ctx.use('testSecond'), /no capability named testSecond/);
    return {
      services: { greet: () => 'hello' },
      routes: [{ method: 'GET', path: '/second', action: 'Second', handler: () => ({}) } as never],
      stop: async () => void calls.push('second stopped'),
    };
  });
  const platform = await Platform.assemble(options(), [first, second]);
  assert.deepEqual(
    platform.routes.map((r) => r.path),
    ['/first', '/second'],
  );
  assert.equal(platform.use('testSecond').greet(), 'hello');
  assert.equal(platform.resourceExists('arn:aws:iot:us-east-1:123456789012:thing/known'), true);
  assert.equal(platform.resourceExists('arn:aws:iot:us-east-1:123456789012:thing/other'), false);
  assert.equal(platform.resourceExists('arn:aws:iot:us-east-1:123456789012:policy/known'), false, 'a kind no capability owns');
  const broker = new Broker();
  platform.connect(broker);
  await platform.reset();
  await platform.stop();
  broker.close();
  assert.deepEqual(calls, [
    'first started',
    'first cleared (in transaction: true)',
    'first after commit',
    'first undone',
    'second stopped',
    'first stopped',
  ]);
});
