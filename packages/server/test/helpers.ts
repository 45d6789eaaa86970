/** Test helpers: an in-process server on ephemeral ports, and `thicket serve` as a child process. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'node:https';
import { createInterface } from 'node:readline';
import { after } from 'node:test';
import {
  adminRequest,
  resolveConfig,
  startServer,
  type AccessKey,
  type ConfigInput,
  type ServerPorts,
  type ThicketServer,
} from '@thicket/server';

export const REPO = resolve(import.meta.dirname, '../../..');

const tempDirs: string[] = [];
// Directories a test did not remove itself go when its file's process ends, whatever the outcome.
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = 'thicket-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export interface TestServer extends ThicketServer {
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 with every listener on a free port and its own data directory. */
export async function startTestServer(overrides: ConfigInput = {}): Promise<TestServer> {
  const dataDir = tempDir();
  const config = resolveConfig({
    host: '127.0.0.1',
    mqttPort: 0,
    mqttsPort: 0,
    httpPort: 0,
    httpsPort: 0,
    dataDir,
    logLevel: 'silent',
    ...overrides,
  });
  const server = await startServer(config);
  return Object.assign(server, {
    async close() {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

export interface ServerProcess {
  proc: ChildProcess;
  ports: ServerPorts;
  /** Everything the process printed on stdout so far. */
  output: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const spawned: ChildProcess[] = [];
// A failed assertion must not leave a server running (and the test file hanging on it).
after(() => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** Runs `thicket serve` from the sources and waits for its "listening" log line. */
export function spawnServer(args: string[], timeoutMs = 20_000): Promise<ServerProcess> {
  const proc = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', join(REPO, 'packages/cli/src/main.ts'), 'serve', '--host', '127.0.0.1', ...args],
    { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  spawned.push(proc);
  const output: string[] = [];
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    proc.on('exit', (code, signal) => r({ code, signal })),
  );
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`server did not start in ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening; stderr: ${stderr}`));
    });
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      output.push(line);
      if (!line.startsWith('{')) return;
      try {
        const entry = JSON.parse(line) as { msg?: string; ports?: ServerPorts };
        if (entry.msg === 'listening' && entry.ports) {
          clearTimeout(timer);
          resolvePromise({ proc, ports: entry.ports, output, exited });
        }
      } catch {
        /* not a log line */
      }
    });
  });
}

export function once<T>(
  emitter: { once(event: string, cb: (...args: never[]) => void): unknown },
  event: string,
  timeoutMs = 5000,
): Promise<T> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${event}`)), timeoutMs);
    emitter.once(event, ((...args: unknown[]) => {
      clearTimeout(timer);
      resolvePromise(args[0] as T);
    }) as never);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export const ALLOW_ALL = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }] });

export interface Device {
  thingName: string;
  certificateArn: string;
  certificateId: string;
  cert: string;
  key: string;
  policyName: string;
}

let provisioned = 0;

/** Creates a thing, an ACTIVE certificate with keys, a policy attached to the certificate, and attaches the certificate to the thing, through the API. */
export async function provision(
  server: ThicketServer,
  thingName: string,
  policyDocument = ALLOW_ALL,
  opts: { exclusive?: boolean; region?: string; credentials?: { accessKeyId: string; secretAccessKey: string } } = {},
): Promise<Device> {
  const {
    IoTClient,
    CreateThingCommand,
    CreateKeysAndCertificateCommand,
    CreatePolicyCommand,
    AttachPolicyCommand,
    AttachThingPrincipalCommand,
  } = await import('@aws-sdk/client-iot');
  const iot = new IoTClient({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: opts.region ?? 'us-east-1',
    credentials: opts.credentials ?? server.adminKey,
  });
  try {
    await iot.send(new CreateThingCommand({ thingName }));
    const c = await iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true }));
    const policyName = `p-${thingName}-${++provisioned}`;
    await iot.send(new CreatePolicyCommand({ policyName, policyDocument }));
    await iot.send(new AttachPolicyCommand({ policyName, target: c.certificateArn }));
    await iot.send(
      new AttachThingPrincipalCommand({
        thingName,
        principal: c.certificateArn,
        thingPrincipalType: opts.exclusive ? 'EXCLUSIVE_THING' : undefined,
      }),
    );
    return {
      thingName,
      certificateArn: c.certificateArn!,
      certificateId: c.certificateId!,
      cert: c.certificatePem!,
      key: c.keyPair!.PrivateKey!,
      policyName,
    };
  } finally {
    iot.destroy();
  }
}

/** mqtt.js options for connecting with a device's certificate. */
export function tlsOptions(
  server: ThicketServer,
  d: { cert: string; key: string },
): { cert: string; key: string; ca: string; servername: string } {
  return { cert: d.cert, key: d.key, ca: server.pki.caCertPem, servername: 'localhost' };
}

/** An HTTPS request to the server with a device's certificate (none: no client certificate) and no signature. */
export function certificateRequest<T = Record<string, unknown>>(
  server: ThicketServer,
  d: { cert: string; key: string } | undefined,
  method: string,
  path: string,
  payload?: unknown,
): Promise<{ status: number; body: T }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: server.ports.https!,
        method,
        path,
        ...(d ? tlsOptions(server, d) : { ca: server.pki.caCertPem, servername: 'localhost' }),
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as T }));
      },
    );
    req.on('error', reject);
    req.end(payload === undefined ? undefined : JSON.stringify(payload));
  });
}

/** The AWS error a call ends with: its name, message and HTTP status ('no error' when it succeeds). */
export async function awsError(p: Promise<unknown>): Promise<{ name: string; message: string; status?: number }> {
  return p.then(
    () => ({ name: 'no error', message: '' }),
    (e: { name: string; message: string; $metadata?: { httpStatusCode?: number } }) => ({
      name: e.name,
      message: e.message,
      status: e.$metadata?.httpStatusCode,
    }),
  );
}

/** Creates another account with the server's root key; resolves to its first access key. */
export async function createAccount(server: ThicketServer, accountId: string, name = 'other'): Promise<AccessKey> {
  const created = await adminRequest<{ accountId: string; accessKey: AccessKey }>({
    endpoint: `http://127.0.0.1:${server.ports.http}`,
    region: 'us-east-1',
    credentials: server.adminKey,
    method: 'POST',
    path: '/_thicket/accounts',
    body: { accountId, name },
  });
  return created.accessKey;
}
