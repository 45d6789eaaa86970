#!/usr/bin/env node
/** The `thicket` command. */
import { Command } from 'commander';
import { tuneRuntime } from './runtime-tuning.js';
import { registerServe } from './commands/serve.js';
import { registerCerts } from './commands/certs.js';
import { registerProvision } from './commands/provision.js';
import { registerRegistry } from './commands/registry.js';
import { registerAccounts } from './commands/accounts.js';
import { registerAuthorizers } from './commands/authorizers.js';
import { registerDomains } from './commands/domains.js';
import { registerShadow } from './commands/shadow.js';
import { registerFiles } from './commands/files.js';
import { registerJobs } from './commands/jobs.js';
import { registerRoles } from './commands/roles.js';
import { registerTemplates } from './commands/templates.js';
import { registerSimulate } from './commands/simulate.js';
import { registerFunctions } from './commands/functions.js';
import { registerRules } from './commands/rules.js';
import { registerData } from './commands/data.js';

tuneRuntime();
// The AWS SDK warns on every run that its 2027 releases need Node 22; Thicket pins a release that runs on 20.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const program = new Command();
program.name('thicket').description('Self-hosted IoT platform, wire-compatible with AWS IoT Core').version('0.1.0');
registerServe(program);
registerRegistry(program);
registerCerts(program);
registerProvision(program);
registerAccounts(program);
registerAuthorizers(program);
registerDomains(program);
registerShadow(program);
registerFiles(program);
registerJobs(program);
registerRoles(program);
registerTemplates(program);
registerSimulate(program);
registerFunctions(program);
registerRules(program);
registerData(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`thicket: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
