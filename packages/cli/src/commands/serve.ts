/** `thicket serve`: runs the platform until SIGTERM/SIGINT. */
import type { Command } from 'commander';
import {
  configFromEnv,
  configFromFile,
  createLogger,
  resolveConfig,
  startServer,
  type ConfigInput,
  type ThicketServer,
} from '@thicket/server';
import { relative } from 'node:path';

interface ServeFlags {
  config?: string;
  host?: string;
  mqttPort?: string;
  mqttsPort?: string;
  httpPort?: string;
  httpsPort?: string;
  dataDir?: string;
  dev?: boolean;
  devPolicy?: string;
  ephemeral?: boolean;
  testMode?: boolean;
  logLevel?: string;
  hostname?: string[];
  profile?: string;
  fsync?: boolean;
  commitDelayMs?: string;
  accountId?: string;
  region?: string;
  shadowMaxStateBytes?: string;
  shadowMaxDepth?: string;
  shadowRate?: string;
  shadowMaxNamed?: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the Thicket server (MQTT broker, HTTP APIs) in the foreground')
    .option('-c, --config <file>', 'configuration file (YAML or JSON)')
    .option('--host <address>', 'address to listen on (default 0.0.0.0)')
    .option('--mqtt-port <port>', 'MQTT over TCP port, 0 for any free port, "off" to disable (default 1883)')
    .option('--mqtts-port <port>', 'MQTT over TLS port (default 8883)')
    .option('--http-port <port>', 'HTTP port: APIs, MQTT over WebSocket on /mqtt, /metrics (default 8080)')
    .option('--https-port <port>', 'HTTPS port (default 8443)')
    .option('--data-dir <dir>', 'where state, keys and certificates live (default ./data)')
    .option('--dev', 'development mode: allow clients without credentials')
    .option(
      '--dev-policy <file>',
      'with --dev: an IoT policy document that decides for clients without credentials (instead of allowing everything)',
    )
    .option('--ephemeral', 'keep all state in memory; nothing survives a restart')
    .option('--test-mode', 'serve POST /_thicket/reset, which removes all state (for test suites)')
    .option('--log-level <level>', 'trace, debug, info, warn, error, fatal or silent (default info)')
    .option('--hostname <name...>', 'public host names of this server (certificate SANs, advertised endpoints)')
    .option('--profile <profile>', '"mqtt" (the MQTT standard, default) or "aws" (AWS IoT Core limits and deviations)')
    .option('--fsync', 'fsync every commit: survive power loss, not only a crash (slower)')
    .option('--account-id <id>', 'the first account (12 digits; default 123456789012)')
    .option('--region <region>', 'the region of development-mode clients (default us-east-1)')
    .option('--commit-delay-ms <ms>', 'group-commit window of the store (default 0: end of each event-loop turn)')
    .option('--shadow-max-state-bytes <n>', 'largest shadow state document, desired + reported (default 8192, as AWS)')
    .option('--shadow-max-depth <n>', 'deepest nesting in desired or reported (default 6, as AWS)')
    .option('--shadow-rate <n>', 'shadow requests per second per thing, 0 for no limit (default 0; 20 with --profile aws)')
    .option('--shadow-max-named <n>', 'named shadows per thing, 0 for no limit (default 0)')
    .action(async (flags: ServeFlags) => {
      const fromFlags: ConfigInput = {
        host: flags.host,
        mqttPort: flags.mqttPort,
        mqttsPort: flags.mqttsPort,
        httpPort: flags.httpPort,
        httpsPort: flags.httpsPort,
        dataDir: flags.dataDir,
        dev: flags.dev,
        devPolicy: flags.devPolicy,
        ephemeral: flags.ephemeral,
        testMode: flags.testMode,
        logLevel: flags.logLevel,
        hostnames: flags.hostname,
        profile: flags.profile,
        fsync: flags.fsync,
        commitDelayMs: flags.commitDelayMs,
        accountId: flags.accountId,
        region: flags.region,
        shadow: {
          maxStateBytes: flags.shadowMaxStateBytes,
          maxDepth: flags.shadowMaxDepth,
          requestsPerSecondPerThing: flags.shadowRate,
          maxNamedShadowsPerThing: flags.shadowMaxNamed,
        },
      };
      const config = resolveConfig(flags.config ? configFromFile(flags.config) : {}, configFromEnv(process.env), fromFlags);
      const log = createLogger(config);
      const server = await startServer(config, log);
      process.stdout.write(banner(server));
      let signals = 0;
      const shutdown = (signal: string): void => {
        if (++signals > 1) process.exit(1);
        log.info({ signal }, 'shutting down');
        server.stop().then(
          () => process.exit(0),
          (err: unknown) => {
            log.error({ err }, 'shutdown failed');
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      process.on('SIGINT', () => shutdown('SIGINT'));
    });
}

function banner(s: ThicketServer): string {
  const host = s.config.host === '0.0.0.0' || s.config.host === '::' ? 'localhost' : s.config.host;
  const rel = (p: string): string => {
    const r = relative(process.cwd(), p);
    return r.startsWith('..') ? p : r;
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
  lines.push(`  A device certificate:  npx thicket certs issue my-device --data-dir ${rel(s.dataDir)}`);
  lines.push('');
  return lines.join('\n') + '\n';
}
