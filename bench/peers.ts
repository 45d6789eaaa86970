/** The brokers under test: how each is found, configured, started on a free port, and stopped. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { scratchDir, start, stop, within, type Pinning, type Tracked } from './processes.js';
import type { QoS } from './scenarios.js';

export const REPO = path.resolve(import.meta.dirname, '..');
export const HOST = '127.0.0.1';
const BROKER_CORE = 0;
const READY_TIMEOUT_MS = 20_000;

export type PeerName = 'thicket' | 'aedes' | 'mosquitto';
export const PEER_NAMES: PeerName[] = ['thicket', 'aedes', 'mosquitto'];

export interface RunningPeer {
  pid: number;
  port: number;
  /** Thicket with a durable store: its HTTP API and the admin credentials file. */
  api?: { httpPort: number; credentialsFile: string };
  stop(): Promise<void>;
}

export interface Peer {
  name: PeerName;
  /** Null if the peer can run here, else why not. */
  unavailable(): string | null;
  version(): string;
  /** The settings that matter for comparing it, for the report. */
  settings: string;
  start(opts: StartOptions): Promise<RunningPeer>;
}

export interface StartOptions {
  qos: QoS;
  pinning: Pinning;
  /** Authorize every client with an IoT policy (thicket only). */
  policy?: boolean;
  /** Keep state in a database file in a scratch directory rather than in memory (thicket only). */
  durable?: boolean;
  /** One node of a cluster (thicket only; implies `durable`): `serve --database ... --cluster ... --node-id ...`. */
  cluster?: { database: string; nats: string; nodeId: string };
}

/** Overrides the CLI entry point, to benchmark another build of thicket. */
const THICKET_MAIN = process.env.THICKET_BENCH_MAIN ?? path.join(REPO, 'packages/cli/dist/main.js');
/** Extra node flags for the thicket process, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile a scenario. */
const THICKET_NODE_ARGS = (process.env.THICKET_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const MOSQUITTO = [
  '/usr/sbin/mosquitto',
  '/usr/local/sbin/mosquitto',
  '/usr/bin/mosquitto',
  '/usr/local/bin/mosquitto',
  '/opt/homebrew/sbin/mosquitto',
].find((p) => existsSync(p));
const MOSQUITTO_INFLIGHT = 100;

/**
 * A device-style policy for the benchmark's clients: connect under any client id, publish, subscribe
 * and receive on the bench topics only — so every publish, subscribe and delivery is evaluated.
 */
function writePolicy(): { file: string; remove(): void } {
  const arn = 'arn:aws:iot:us-east-1:123456789012';
  const dir = mkdtempSync(path.join(os.tmpdir(), 'thicket-bench-'));
  const scratch = scratchDir(dir);
  const file = path.join(dir, 'policy.json');
  writeFileSync(
    file,
    JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:Connect', Resource: `${arn}:client/*` },
        { Effect: 'Allow', Action: ['iot:Publish', 'iot:Receive'], Resource: `${arn}:topic/bench/*` },
        { Effect: 'Allow', Action: 'iot:Subscribe', Resource: `${arn}:topicfilter/bench/*` },
        { Effect: 'Deny', Action: 'iot:Publish', Resource: `${arn}:topic/bench/forbidden/*` },
      ],
    }),
  );
  return { file, remove: () => scratch.remove() };
}

const thicket: Peer = {
  name: 'thicket',
  unavailable: () => (existsSync(THICKET_MAIN) ? null : `${path.relative(REPO, THICKET_MAIN)} not found (run npm run build)`),
  version: () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'packages/cli/package.json'), 'utf8')) as { version: string };
    let commit = '';
    try {
      commit =
        ' ' +
        execFileSync('git', ['describe', '--always', '--dirty'], {
          cwd: REPO,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'ignore'],
        }).trim();
    } catch {}
    return `${pkg.version}${commit}`;
  },
  settings: 'serve --dev --ephemeral; defaults: 100 in flight per client, 100,000 queued per session',
  async start({ pinning, policy: withPolicy, durable, cluster }) {
    const port = await freePort();
    const policy = withPolicy ? writePolicy() : undefined;
    const policyArgs = policy ? ['--dev-policy', policy.file] : [];
    const clusterArgs = cluster ? ['--database', cluster.database, '--cluster', cluster.nats, '--node-id', cluster.nodeId] : [];
    const dataDir = durable || cluster ? mkdtempSync(path.join(os.tmpdir(), 'thicket-bench-data-')) : undefined;
    const data = dataDir ? scratchDir(dataDir) : undefined;
    const storeArgs = dataDir ? ['--data-dir', dataDir] : ['--ephemeral'];
    // With a data directory the load generator may use the API: a known port and the admin key.
    const httpPort = dataDir ? await freePort() : 0;
    const args = [
      ...THICKET_NODE_ARGS,
      THICKET_MAIN,
      'serve',
      '--dev',
      ...storeArgs,
      '--host',
      HOST,
      '--mqtt-port',
      String(port),
      '--mqtts-port',
      '0',
      '--http-port',
      String(httpPort),
      '--https-port',
      '0',
      '--log-level',
      'warn',
      ...policyArgs,
      ...clusterArgs,
    ];
    const proc = start(process.execPath, args, BROKER_CORE, pinning, { cwd: REPO });
    const running = await ready(proc, port, async () => {
      await stop(proc);
      policy?.remove();
      data?.remove();
    });
    if (dataDir) running.api = { httpPort, credentialsFile: path.join(dataDir, 'credentials') };
    return running;
  },
};

const aedes: Peer = {
  name: 'aedes',
  unavailable: () => null,
  version: () => (JSON.parse(readFileSync(path.join(REPO, 'node_modules/aedes/package.json'), 'utf8')) as { version: string }).version,
  settings: 'in-memory defaults, TCP_NODELAY; no outbound in-flight limit (aedes has none)',
  async start({ pinning }) {
    const port = await freePort();
    const proc = start(
      process.execPath,
      ['--import', 'tsx', path.join(REPO, 'bench/peers/aedes-server.ts'), String(port)],
      BROKER_CORE,
      pinning,
      {
        cwd: REPO,
      },
    );
    return ready(proc, port, () => stop(proc));
  },
};

const mosquitto: Peer = {
  name: 'mosquitto',
  unavailable: () => (MOSQUITTO ? null : 'mosquitto is not installed'),
  version: () => {
    try {
      // mosquitto has no --version; -h prints it on the first line (and exits non-zero).
      execFileSync(MOSQUITTO!, ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? '');
      const m = /version (\S+)/.exec(out);
      if (m) return m[1]!;
    }
    return 'unknown';
  },
  settings: `max_inflight_messages ${MOSQUITTO_INFLIGHT}, set_tcp_nodelay true; QoS 1 scenarios: max_queued_messages 0 (unlimited)`,
  async start({ qos, pinning }) {
    const port = await freePort();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'thicket-bench-mosquitto-'));
    const scratch = scratchDir(dir);
    const conf = path.join(dir, 'mosquitto.conf');
    const lines = [
      `listener ${port} ${HOST}`,
      'allow_anonymous true',
      'persistence false',
      `max_inflight_messages ${MOSQUITTO_INFLIGHT}`,
      'set_tcp_nodelay true',
      'log_dest stderr',
      'log_type error',
      'log_type warning',
    ];
    // mosquitto's default limit of 1000 queued messages per client drops QoS 1 messages it has
    // already acknowledged to the publisher as soon as a fan-in outpaces the subscriber.
    if (qos === 1) lines.push('max_queued_messages 0');
    writeFileSync(conf, lines.join('\n') + '\n');
    const proc = start(MOSQUITTO!, ['-c', conf], BROKER_CORE, pinning);
    const cleanup = async (): Promise<void> => {
      await stop(proc);
      scratch.remove();
    };
    try {
      return await ready(proc, port, cleanup);
    } catch (err) {
      scratch.remove();
      throw err;
    }
  },
};

export const PEERS: Record<PeerName, Peer> = { thicket, aedes, mosquitto };

/** A port the kernel just handed out; it is closed again, then given to the broker. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once the port accepts a TCP connection; fails if the process exits or time runs out. */
async function ready(proc: Tracked, port: number, stopPeer: () => Promise<void>): Promise<RunningPeer> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (proc.hasExited) throw new Error(`broker ${proc.describeExit()} before listening: ${proc.output() || '(no output)'}`);
    if (await canConnect(port)) return { pid: proc.pid, port, stop: stopPeer };
    await within(proc.exited, 50);
  }
  await stopPeer();
  throw new Error(`broker not listening on ${port} after ${READY_TIMEOUT_MS} ms: ${proc.output() || '(no output)'}`);
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1000);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
