/**
 * `thicket simulate`: N virtual devices against a running server, each a real MQTT connection with
 * its own identity from fleet provisioning by claim, behaving as a profile says, for a bounded time;
 * a live display while it runs and a summary at the end.
 */
import type { Command } from 'commander';
import { apiOptions } from '../api-client.js';
import { SIMULATOR_TEMPLATE } from '../simulate/template.js';
import type { SimulateOptions } from '../simulate/run.js';

export function registerSimulate(program: Command): void {
  apiOptions(
    program.command('simulate').description('run virtual devices: provisioned by claim, sending telemetry, following shadows and jobs'),
  )
    .option('--devices <n>', 'how many devices', '10')
    .option('--duration <time>', 'how long the run lasts, provisioning included (e.g. 30s, 5m)', '60s')
    .option('--scenario <file>', 'telemetry profiles, shadow, jobs and churn behaviour (YAML or JSON); a temperature sensor when absent')
    .option('--template <name>', `the provisioning template (${SIMULATOR_TEMPLATE} is created when missing)`, SIMULATOR_TEMPLATE)
    .option('--prefix <text>', 'thing names are the prefix and a number', 'sim-')
    .option('--group <name>', 'every device is put in this thing group (created when missing)', 'simulated')
    .option('--concurrency <n>', 'devices provisioning or connecting at once', '25')
    .option('--interval <time>', 'how often progress is printed when not on a terminal', '5s')
    .option('--mqtt-url <url>', "the MQTT over TLS URL (the server's own when absent)")
    .action(async (o: SimulateOptions) => (await import('../simulate/run.js')).simulate(o));
}
