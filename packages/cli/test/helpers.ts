/** Runs the `thicket` command from the sources against a test server. */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { after, before } from 'node:test';
import { promisify } from 'node:util';
import { spawnServer, tempDir, type ServerProcess } from '../../server/test/helpers.js';

const run = promisify(execFile);
export const MAIN = resolve(import.meta.dirname, '../src/main.ts');

export interface Cli {
  /** Node arguments that run `thicket <args>` against the server. */
  args(args: string[]): string[];
  /** Runs `thicket <args>`; resolves to its stdout. */
  thicket(...args: string[]): Promise<string>;
  /** Runs `thicket <args>`, which must fail; resolves to its stderr. */
  fails(...args: string[]): Promise<string>;
}

/** `target` is read at each call: the server starts after the test file loads. */
export function cli(target: () => { httpPort: number | null; dataDir: string }): Cli {
  const args = (a: string[]): string[] => {
    const t = target();
    return ['--conditions=source', '--import', 'tsx', MAIN, ...a, '--endpoint', `http://127.0.0.1:${t.httpPort}`, '--data-dir', t.dataDir];
  };
  const thicket = async (...a: string[]): Promise<string> => (await run(process.execPath, args(a))).stdout;
  const fails = async (...a: string[]): Promise<string> => {
    try {
      await thicket(...a);
    } catch (err) {
      return (err as { stderr: string }).stderr;
    }
    throw new Error(`expected "thicket ${a.join(' ')}" to fail`);
  };
  return { args, thicket, fails };
}

export interface CliServer extends Cli {
  /** The running server (valid once the file's tests run). */
  server(): ServerProcess;
  dataDir(): string;
}

/**
 * `thicket serve` in a data directory of its own, started before the test file's tests and removed
 * after them, and the CLI against it. By default only the HTTP listener runs; `serveArgs` come last,
 * so they override (`--mqtt-port 0`, `--dev`). `setup` runs once the server is up and `teardown`
 * before it stops: root-level hooks of node:test do not wait for one another.
 */
export function cliWithHttpServer(
  o: {
    serveArgs?: string[];
    setup?: (s: ServerProcess, dataDir: string) => Promise<void> | void;
    teardown?: () => Promise<void> | void;
  } = {},
): CliServer {
  let server: ServerProcess | undefined;
  let dataDir = '';
  before(async () => {
    dataDir = tempDir();
    const defaults = ['--mqtt-port', 'off', '--mqtts-port', 'off', '--http-port', '0', '--https-port', 'off'];
    server = await spawnServer(['--data-dir', dataDir, ...defaults, ...(o.serveArgs ?? [])]);
    await o.setup?.(server, dataDir);
  });
  after(async () => {
    await o.teardown?.();
    server?.proc.kill('SIGTERM');
    await server?.exited;
    rmSync(dataDir, { recursive: true, force: true });
  });
  return { ...cli(() => ({ httpPort: server!.ports.http, dataDir })), server: () => server!, dataDir: () => dataDir };
}
