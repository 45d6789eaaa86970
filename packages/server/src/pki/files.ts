/** Writing PKI files so that a reader never sees a half-written one and a key is never readable by others. */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';

export async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Writes `data` to a temporary file created with `mode` (no moment where a key has wider rights),
 * then puts it in place. `create` links instead of renaming so that it fails rather than replaces
 * a file that another process created meanwhile — two processes initialising one data directory
 * must not end up with the key of one CA next to the certificate of the other.
 */
export async function writeFileAtomic(path: string, data: string, mode: number, how: 'create' | 'replace'): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const file = await open(tmp, 'wx', mode);
    try {
      // The umask may have narrowed `mode`; public certificates should still be readable.
      await file.chmod(mode);
      await file.writeFile(data);
      await file.sync();
    } finally {
      await file.close();
    }
    if (how === 'replace') await rename(tmp, path);
    else {
      try {
        await link(tmp, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new Error(`${path} appeared while it was being created; is another Thicket process using ${dirname(path)}?`, {
            cause: err,
          });
        }
        throw err;
      }
    }
  } finally {
    await rm(tmp, { force: true });
  }
  await syncDirectory(dirname(path));
}

/** Makes the new directory entry itself durable; best effort, as not every platform can open a directory. */
export async function syncDirectory(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {}
}
