/** Runs the `thicket` command from the sources against a test server. */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

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
