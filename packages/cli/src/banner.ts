/**
 * What `thicket serve` prints once every listener is up: the endpoints, where the keys are, and
 * the command that onboards a device. The README's quick start shows this text; keep them in step
 * (packages/cli/test/banner.test.ts compares them).
 */
import { relative, resolve } from 'node:path';
import type { ThicketServer } from '@thicket/server';

export type BannerInput = Pick<ThicketServer, 'ports' | 'dataDir' | 'caPath' | 'credentialsPath' | 'adminKey'> & {
  config: Pick<ThicketServer['config'], 'host' | 'dev' | 'ephemeral'>;
};

/** Where the management commands look when given no flags (api-client.ts). */
const CLI_DEFAULT_ENDPOINT = 'http://localhost:8080';
const CLI_DEFAULT_DATA_DIR = './data';

export function banner(s: BannerInput, cwd: string = process.cwd()): string {
  const host = s.config.host === '0.0.0.0' || s.config.host === '::' ? 'localhost' : s.config.host;
  const rel = (p: string): string => {
    const r = relative(cwd, p);
    return r === '' ? '.' : r.startsWith('..') ? p : r;
  };
  const lines = ['', `Thicket is running${s.config.dev ? ' in DEVELOPMENT MODE (anonymous clients allowed)' : ''}`, ''];
  const row = (name: string, value: string): void => {
    lines.push(`  ${name.padEnd(18)}${value}`);
  };
  if (s.ports.mqtt !== null) row('MQTT', `mqtt://${host}:${s.ports.mqtt}`);
  if (s.ports.mqtts !== null) row('MQTT over TLS', `mqtts://${host}:${s.ports.mqtts}  (client certificate required)`);
  if (s.ports.http !== null) row('MQTT over WS', `ws://${host}:${s.ports.http}/mqtt`);
  if (s.ports.https !== null) row('MQTT over WSS', `wss://${host}:${s.ports.https}/mqtt`);
  if (s.ports.http !== null) row('HTTP', `http://${host}:${s.ports.http}  (/healthz, /metrics, /ca.pem)`);
  if (s.ports.https !== null) row('HTTPS', `https://${host}:${s.ports.https}`);
  lines.push('');
  row('Data directory', s.config.ephemeral ? '(in memory: --ephemeral)' : rel(s.dataDir));
  row('CA certificate', rel(s.caPath));
  row('Admin access key', `${s.adminKey.accessKeyId}  (secret in ${rel(s.credentialsPath)}, AWS credentials-file format)`);
  lines.push('');
  if (s.ports.http !== null) {
    // The command must work as printed, so it names the endpoint and data directory only when
    // they are not what the CLI assumes by default.
    const endpoint = `http://${host}:${s.ports.http}`;
    const flags = [
      ...(endpoint === CLI_DEFAULT_ENDPOINT ? [] : ['--endpoint', endpoint]),
      ...(resolve(cwd, s.dataDir) === resolve(cwd, CLI_DEFAULT_DATA_DIR) ? [] : ['--data-dir', shellWord(rel(s.dataDir))]),
    ];
    lines.push(`  Onboard a device:  ${['npx thicket provision my-device', ...flags].join(' ')}`);
    lines.push('');
  }
  return lines.join('\n') + '\n';
}

/** A word a POSIX shell reads back unchanged: quoted when it has anything but plain path characters. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
