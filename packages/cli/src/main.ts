#!/usr/bin/env node
/** The `thicket` command. */
import { Command } from 'commander';
import { tuneRuntime } from './runtime-tuning.js';
import { registerServe } from './commands/serve.js';
import { registerCerts } from './commands/certs.js';

tuneRuntime();
const program = new Command();
program.name('thicket').description('Self-hosted IoT platform, wire-compatible with AWS IoT Core').version('0.1.0');
registerServe(program);
registerCerts(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`thicket: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
