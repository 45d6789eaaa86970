/** `thicket simulate`, loaded only when it runs (the SDK and mqtt.js are not needed by other commands). */
import { readFileSync } from 'node:fs';
import { withClient, type ApiOptions } from '../api-client.js';
import { numberOption } from '../arguments.js';
import { listeners } from '../commands/provision.js';
import { SimulatedFleet } from './fleet.js';
import { DEFAULT_PROFILE, durationMs, parseProfile } from './profile.js';
import { showProgress, Stats, summaryText } from './stats.js';

export interface SimulateOptions extends ApiOptions {
  devices: string;
  duration: string;
  scenario?: string;
  template: string;
  prefix: string;
  group: string;
  concurrency: string;
  interval: string;
  mqttUrl?: string;
}

export async function simulate(o: SimulateOptions): Promise<void> {
  const devices = numberOption(o.devices, '--devices')!;
  if (!Number.isInteger(devices) || devices < 1) throw new Error('--devices must be a whole number of at least 1');
  const runMs = durationMs(o.duration, '--duration');
  const profile = o.scenario ? parseProfile(readFileSync(o.scenario, 'utf8')) : DEFAULT_PROFILE;
  const concurrency = numberOption(o.concurrency, '--concurrency')!;
  await withClient(o, async (iot) => {
    const url = o.mqttUrl ?? (await listeners(o)).mqtts;
    if (!url) throw new Error('the server has no MQTT over TLS listener; give one with --mqtt-url');
    const ca = await fetch(new URL('/ca.pem', o.endpoint));
    if (!ca.ok) throw new Error(`could not fetch the CA certificate from ${o.endpoint}/ca.pem: HTTP ${ca.status}`);
    const stats = new Stats(devices);
    const stopShowing = showProgress(stats, process.stdout, { json: o.json === true, intervalMs: durationMs(o.interval, '--interval') });
    const aborted = new AbortController();
    const fleet = new SimulatedFleet({
      iot,
      url,
      ca: await ca.text(),
      servername: new URL(url).hostname === '127.0.0.1' ? 'localhost' : undefined,
      devices,
      prefix: o.prefix,
      template: o.template,
      group: o.group,
      profile,
      stats,
      concurrency,
      signal: aborted.signal,
    });
    let onSigint: () => void = () => undefined;
    const interrupted = new Promise<void>((resolve) => process.once('SIGINT', (onSigint = resolve)));
    // Not unref'd: with every device failed nothing else keeps the process alive until the end of the run.
    let clock: NodeJS.Timeout | undefined;
    const timer = new Promise<void>((resolve) => (clock = setTimeout(resolve, runMs)));
    try {
      await fleet.prepare();
      // The run lasts --duration from now, provisioning included; Ctrl-C ends it early.
      await Promise.race([fleet.start(), timer, interrupted]);
      await Promise.race([timer, interrupted]);
    } finally {
      clearTimeout(clock);
      process.off('SIGINT', onSigint);
      aborted.abort();
      await fleet.stop();
      stopShowing();
    }
    const summary = stats.summary();
    if (o.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    else process.stdout.write(summaryText(summary));
    if (stats.counts.provisioned < devices) process.exitCode = 1;
  });
}
