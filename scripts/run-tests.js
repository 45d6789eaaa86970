#!/usr/bin/env node
// Runs every test file (node:test through tsx, against the TypeScript sources) in parallel processes.
// Usage: node scripts/run-tests.js [file-or-dir ...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

function collect(path, out) {
  const st = statSync(path);
  if (st.isDirectory()) {
    for (const name of readdirSync(path)) {
      if (name === 'node_modules' || name === 'dist') continue;
      collect(join(path, name), out);
    }
  } else if (path.endsWith('.test.ts')) out.push(path);
}

const args = process.argv.slice(2);
const files = [];
if (args.length) for (const a of args) collect(resolve(a), files);
else
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const dir = join(root, 'packages', pkg, 'test');
    try {
      collect(dir, files);
    } catch {
      /* package without tests */
    }
  }
files.sort();

const child = spawn(
  process.execPath,
  [
    '--conditions=source',
    '--import',
    'tsx',
    '--test',
    `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 4}`,
    '--test-timeout=240000',
    '--test-reporter=tap',
    '--test-reporter-destination=stdout',
    `--test-reporter=${join(root, 'scripts', 'failure-summary.js')}`,
    '--test-reporter-destination=stderr',
    ...files,
  ],
  { stdio: 'inherit', cwd: root },
);
child.on('exit', (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
