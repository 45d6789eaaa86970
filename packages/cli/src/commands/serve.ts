/** `thicket serve`: runs the platform until SIGTERM/SIGINT. */
import type { Command } from 'commander';
import type { ConfigInput } from '@thicket/server';
import { banner } from '../banner.js';
import { logOutput } from '../log-output.js';
import { settleHeap } from '../runtime-tuning.js';

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
  logFormat?: string;
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
  mqttMaxQueued?: string;
  mqttMaxQueuedBytes?: string;
  mqttQueueDropPolicy?: string;
  mqttReceiveMaximumExceeded?: string;
  rulesTrustedUrlPrefix?: string[];
  database?: string;
  cluster?: string[];
  nodeId?: string;
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
    .option('--log-format <format>', 'json, pretty, or auto: pretty on a terminal, JSON lines otherwise (default auto)')
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
    .option('--mqtt-max-queued <n>', 'QoS 1/2 messages queued per session, e.g. while its client is offline (default 100000)')
    .option('--mqtt-max-queued-bytes <n>', 'bytes (payload + topic) queued per session, 0 for no limit (default 268435456)')
    .option('--mqtt-queue-drop-policy <policy>', 'what a full queue drops: "newest" (the arriving message, default) or "oldest"')
    .option(
      '--mqtt-receive-maximum-exceeded <action>',
      'an MQTT 5 client over the Receive Maximum: "disconnect" (0x93; default) or "pause" reading (default with --profile aws)',
    )
    .option(
      '--rules-trusted-url-prefix <url...>',
      'URL prefixes whose http rule action destinations need no confirmation (created ENABLED)',
    )
    .option(
      '--database <url>',
      'postgres://USER:PASSWORD@HOST:PORT/DB: keep state in PostgreSQL (default: embedded SQLite in the data dir)',
    )
    .option('--cluster <url...>', 'NATS servers (nats://HOST:PORT) linking this node to the others sharing --database')
    .option('--node-id <name>', "this node's name in the cluster (default: the host name)")
    .action(async (flags: ServeFlags) => {
      // Loaded here, not at the top: every other command would pay for loading the whole server.
      const { configFromEnv, configFromFile, createLogger, resolveConfig, startServer } = await import('@thicket/server');
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
        logFormat: flags.logFormat,
        hostnames: flags.hostname,
        profile: flags.profile,
        fsync: flags.fsync,
        commitDelayMs: flags.commitDelayMs,
        accountId: flags.accountId,
        region: flags.region,
        database: flags.database,
        cluster: flags.cluster,
        nodeId: flags.nodeId,
        shadow: {
          maxStateBytes: flags.shadowMaxStateBytes,
          maxDepth: flags.shadowMaxDepth,
          requestsPerSecondPerThing: flags.shadowRate,
          maxNamedShadowsPerThing: flags.shadowMaxNamed,
        },
        mqtt: {
          maxQueued: flags.mqttMaxQueued,
          maxQueuedBytes: flags.mqttMaxQueuedBytes,
          queueDropPolicy: flags.mqttQueueDropPolicy,
          receiveMaximumExceeded: flags.mqttReceiveMaximumExceeded,
        },
        ...(flags.rulesTrustedUrlPrefix ? { rules: { trustedUrlPrefixes: flags.rulesTrustedUrlPrefix } } : {}),
      };
      const config = resolveConfig(flags.config ? configFromFile(flags.config) : {}, configFromEnv(process.env), fromFlags);
      const output = await logOutput(config.logFormat);
      const log = createLogger(config, output.destination);
      const server = await startServer(config, log);
      settleHeap();
      // After the `listening` line, through the same synchronous stdout as the log lines: one block.
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
