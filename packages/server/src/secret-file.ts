/**
 * Secrets a server keeps in its data directory (32 random bytes as 64 hex digits, mode 0600),
 * created at first start. The file is written under a temporary name and fsynced before it is
 * linked into place, so it is never seen half written, and a process that loses a race to create
 * it uses the winner's.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

function readSecret(path: string, what: string, ifRemoved: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const hex = text.trim();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new Error(`${path} does not hold ${what} (64 hex digits); remove it to have a new one created${ifRemoved}`);
  return Buffer.from(hex, 'hex');
}

/**
 * Returns the secret at `path`, creating it when there is none. `what` names it in the error about a
 * damaged file ("a URL-signing secret"); `ifRemoved` says what replacing it costs (" (...)").
 */
export function ensureSecretFile(path: string, what: string, ifRemoved = ''): Buffer {
  const existing = readSecret(path, what, ifRemoved);
  if (existing) return existing;
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(32).toString('hex') + '\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    try {
      linkSync(temp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } finally {
    rmSync(temp, { force: true });
  }
  return readSecret(path, what, ifRemoved)!;
}
