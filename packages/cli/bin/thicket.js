#!/usr/bin/env node
// Committed launcher so npm links the `thicket` command on install, before the first build.
import { existsSync } from 'node:fs';

const main = new URL('../dist/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('thicket: not built yet; run `npm run build` in the repository first\n');
  process.exit(1);
}
await import(main.href);
