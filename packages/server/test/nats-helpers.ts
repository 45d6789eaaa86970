/** A throwaway nats-server for a test file: a scratch directory, a free loopback port, stopped by its PID. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServer {
  port: number;
  url: string;
  /** Stops the server (SIGTERM); `start()` brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its directory. */
  close(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startNats(opts: { jetstream?: boolean; maxPayload?: number } = {}): Promise<NatsServer> {
  const dir = mkdtempSync(join(tmpdir(), 'thicket-nats-'));
  const port = await freePort();
  const conf = join(dir, 'nats.conf');
  let text = `listen: 127.0.0.1:${port}\n`;
  if (opts.maxPayload !== undefined) text += `max_payload: ${opts.maxPayload}\n`;
  if (opts.jetstream) text += `jetstream { store_dir: "${join(dir, 'js')}" }\n`;
  writeFileSync(conf, text);
  let proc: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const p = spawn('/usr/sbin/nats-server', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc = p;
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`nats-server did not start: ${out}`)), 10_000);
      p.stderr!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('Server is ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      p.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code}): ${out}`));
      });
    });
  };
  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    process.kill(p.pid!, 'SIGTERM');
    await exited;
  };
  await start();
  return {
    port,
    url: `nats://127.0.0.1:${port}`,
    stop,
    start,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Resolves once every node has heard what every other node announced before the call (the filters
 * its clients subscribed to): a round trip to NATS from each node makes the server hold everything
 * sent so far, and a second one makes each node have read what the server passed on before it.
 */
export async function settleNodes(nodes: Array<{ flush(): Promise<void> } | undefined>): Promise<void> {
  for (let round = 0; round < 2; round++) for (const n of nodes) await n?.flush();
}
