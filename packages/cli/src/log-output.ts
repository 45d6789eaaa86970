/**
 * How `thicket serve` writes to stdout. Piped or redirected, log lines stay JSON lines for
 * machines; on a terminal, or with `--log-format pretty`, each line is formatted for people with
 * pino-pretty, which is loaded only then so that a JSON start does not pay for it.
 *
 * Every log line and the banner go through the same `process.stdout.write`, which is synchronous
 * for files, terminals and (on Linux) pipes, so they appear in the order they were produced and
 * the banner, printed after the `listening` line, stays one block. pino's default destination
 * writes asynchronously and let later log lines land before the banner; a pino transport would
 * format on a worker thread and print whenever it got there; both are avoided for that reason.
 */
import type { createLogger, LogFormat } from '@thicket/server';

type DestinationStream = NonNullable<Parameters<typeof createLogger>[1]>;

export interface LogOutput {
  format: 'json' | 'pretty';
  /** The logger's destination: stdout, as JSON lines or formatted. */
  destination: DestinationStream;
}

/** `auto` is pretty exactly when stdout is a terminal. */
export function effectiveFormat(format: LogFormat, stdoutIsTTY: boolean): 'json' | 'pretty' {
  return format === 'auto' ? (stdoutIsTTY ? 'pretty' : 'json') : format;
}

export async function logOutput(format: LogFormat, stdout: NodeJS.WriteStream = process.stdout): Promise<LogOutput> {
  const chosen = effectiveFormat(format, stdout.isTTY === true);
  if (chosen === 'json') return { format: chosen, destination: { write: (line: string) => void stdout.write(line) } };
  const { prettyFactory } = await import('pino-pretty');
  const prettify = prettyFactory({
    // Colours only on a terminal that has them; hasColors() also honours NO_COLOR and FORCE_COLOR.
    colorize: stdout.isTTY === true && stdout.hasColors(),
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,component',
    messageFormat: '{if component}{component}: {end}{msg}',
    singleLine: true,
  });
  return { format: chosen, destination: { write: (line: string) => void stdout.write(prettify(line)) } };
}
